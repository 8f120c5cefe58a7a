#!/usr/bin/env python3
"""Thin-pool space a base costs: write each image's root filesystem onto a fresh thin LV the way
onn does, and the way plain `dd` would, and compare the pool data allocated with the blocks the
filesystem itself marks in use. Runs inside the User-Mode-Linux guest (real lvm2):

    python3 tests/vm/uml.py --mem 6G --rw vm-work --env ONN_IMAGES=vm-work/bench-images.json \
        --env ONN_VM_WORK=vm-work -- python3 bench/alloc.py COPY_BENCH

(`make bench` does this.) A script, not a test: it prints, it asserts nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

MIB = 1 << 20
GIB = 1 << 30


def run(*argv: str) -> str:
    return subprocess.run(
        list(argv), check=True, capture_output=True, text=True, env=dict(os.environ, LC_ALL="C")
    ).stdout


def pool_used(vg: str, pool: str) -> int:
    row = json.loads(
        run(
            "lvm",
            "lvs",
            "--reportformat",
            "json",
            "--units",
            "b",
            "--nosuffix",
            "-o",
            "lv_size,data_percent",
            f"{vg}/{pool}",
        )
    )["report"][0]["lv"][0]
    return round(int(row["lv_size"]) * float(row["data_percent"]) / 100)


def fs_used(dev: str, fs: str) -> int:
    """Blocks in use according to the filesystem's own accounting, in bytes."""
    if fs == "ext4":
        head = run("dumpe2fs", "-h", dev)
        field = {k: int(v) for k, v in re.findall(r"^(Block count|Free blocks|Block size):\s+(\d+)$", head, re.M)}
        return (field["Block count"] - field["Free blocks"]) * field["Block size"]
    sb = run("xfs_db", "-r", "-c", "sb 0", "-c", "p dblocks fdblocks blocksize", dev)
    field = {k: int(v) for k, v in re.findall(r"^(\w+) = (\d+)$", sb, re.M)}
    return (field["dblocks"] - field["fdblocks"]) * field["blocksize"]


def main() -> int:
    copy_bench = sys.argv[1]
    images = json.loads(Path(os.environ["ONN_IMAGES"]).read_text())
    # The disk file lives in the shared work directory: the guest's /tmp is RAM, too small for
    # the 2.2 GiB images written twice.
    work = Path(tempfile.mkdtemp(dir=os.environ["ONN_VM_WORK"]))
    disk = work / "pv.img"
    with disk.open("wb") as f:
        f.truncate(64 * GIB)
    loop = run("losetup", "--find", "--show", str(disk)).strip()
    vg, pool = "onnbench", "pool00"
    print(f"{'image':10} {'fs used MiB':>12} {'onn MiB':>8} {'ratio':>6} {'dd MiB':>8} {'ratio':>6}")
    try:
        run("lvm", "vgcreate", vg, loop)
        run("lvm", "lvcreate", "--type", "thin-pool", "-L", "40G", "--chunksize", "64k", "-n", pool, vg)
        for name, img in images.items():
            size = f"{-(-int(img['rootfs_size']) // MIB)}m"
            used, fs = {}, 0
            for method in ("onn", "dd"):
                lv = f"{name}-{method}"
                before = pool_used(vg, pool)
                run("lvm", "lvcreate", "--thin", "-V", size, "-n", lv, f"{vg}/{pool}")
                dev = f"/dev/{vg}/{lv}"
                if method == "onn":
                    run(copy_bench, str(img["path"]), dev)
                else:
                    sq = work / "sq"
                    sq.mkdir(exist_ok=True)
                    run("mount", "-o", "ro,loop", str(img["path"]), str(sq))
                    try:
                        run("dd", f"if={sq}/LiveOS/rootfs.img", f"of={dev}", "bs=4M", "conv=fsync")
                    finally:
                        run("umount", str(sq))
                used[method] = pool_used(vg, pool) - before
                if method == "onn":
                    fs = fs_used(dev, str(img["fs"]))
                run("lvm", "lvremove", "--yes", f"{vg}/{lv}")
            print(
                f"{name:10} {fs / MIB:12.0f} {used['onn'] / MIB:8.0f} {used['onn'] / fs:6.3f} "
                f"{used['dd'] / MIB:8.0f} {used['dd'] / fs:6.3f}",
                flush=True,
            )
    finally:
        subprocess.run(["lvm", "vgremove", "--yes", vg], capture_output=True)
        subprocess.run(["losetup", "-d", loop], capture_output=True)
        shutil.rmtree(work)
    print("\nratio: thin-pool data allocated by the write / blocks the filesystem marks in use.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
