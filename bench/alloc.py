#!/usr/bin/env python3
"""Thin-pool space a base costs: write each image's root filesystem onto a fresh thin LV the way
onn does, and the way plain `dd` would, and compare the pool data allocated with the blocks the
filesystem itself marks in use. Then a whole `onn install` of each image onto a fresh disk: its
peak memory and the pool data it allocates. Runs inside the User-Mode-Linux guest (real lvm2),
with the release builds of `onn` and of onn-core's `copy_bench` example:

    python3 tests/support/uml.py --mem 3G --rw vm-work --env ONN_IMAGES=vm-work/bench-images.json \
        --env ONN_VM_WORK=vm-work -- python3 bench/alloc.py

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
import time
from pathlib import Path

import programs

MIB = 1 << 20
GIB = 1 << 30
RELEASE = Path(__file__).resolve().parents[1] / "target/release"


def run(*argv: str) -> str:
    return programs.run(argv).stdout


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
    images = json.loads(Path(os.environ["ONN_IMAGES"]).read_text())
    # The disk files live in the shared work directory: the guest's /tmp is RAM, too small for
    # the 2.2 GiB images written twice.
    work = Path(tempfile.mkdtemp(dir=os.environ["ONN_VM_WORK"]))
    try:
        allocation(images, work)
        print("\nratio: thin-pool data allocated by the write / blocks the filesystem marks in use.\n")
        print(f"{'onn install':10} {'wall s':>7} {'peak RSS MiB':>13} {'pool data MiB':>14}")
        for name, img in images.items():
            wall, rss, data = whole_install(img, work)
            print(f"{name:10} {wall:7.1f} {rss / MIB:13.1f} {data / MIB:14.0f}", flush=True)
    finally:
        shutil.rmtree(work)
    print("\nwall: in the UML guest (its disk and CPU are slower than the host's). pool data: base, layer")
    print("and the data volumes it populates from the image.")
    return 0


def allocation(images: dict[str, dict[str, object]], work: Path) -> None:
    """The table of pool data allocated by onn's base write and by dd, against the fs's use."""
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
                    run(str(RELEASE / "examples/copy_bench"), str(img["path"]), dev)
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
        disk.unlink()


def whole_install(img: dict[str, object], work: Path) -> tuple[float, int, int]:
    """`onn install` of the image (checksum verified) onto a fresh 32 GiB disk, with a fresh
    1 GiB ext4 /boot: (wall s, onn's peak RSS bytes, pool data bytes)."""
    disks = {work / "install.img": 32 * GIB, work / "boot.img": GIB}
    loops = []
    for path, size in disks.items():
        with path.open("wb") as f:
            f.truncate(size)
        loops.append(run("losetup", "--find", "--show", str(path)).strip())
    pv, boot = loops
    run("mkfs.ext4", "-q", boot)
    vg, log = "onnrss", work / "install.log"
    argv = [
        str(RELEASE / "onn"), "install", "--image", str(img["path"]), "--sha256", str(img["sha256"]),
        "--pv", pv, "--vg", vg, "--boot", boot,
    ]  # fmt: skip
    try:
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log.open("w"))
        # onn's own high-water mark, sampled until it exits (GNU time's would be the largest of
        # its children's too: lvm locks some 40 MiB).
        own = 0
        while proc.poll() is None:
            status = Path(f"/proc/{proc.pid}/status").read_text(errors="replace")
            own = max([own, *(int(v) * 1024 for v in re.findall(r"^VmHWM:\s+(\d+) kB", status, re.M))])
            time.sleep(0.02)
        wall = time.monotonic() - start
        if proc.returncode != 0:
            raise RuntimeError(f"{argv} failed ({proc.returncode}): {log.read_text()[-800:]}")
        return wall, own, pool_used(vg, "pool00")
    finally:
        subprocess.run(["lvm", "vgremove", "--yes", vg], capture_output=True)
        for loop in loops:
            subprocess.run(["losetup", "-d", loop], capture_output=True)
        for path in disks:
            path.unlink()


if __name__ == "__main__":
    sys.exit(main())
