#!/usr/bin/env python3
"""A whole install from the command line, timed side by side in the User-Mode-Linux guest (real
lvm2): (c) `onn install` against (d) the flow it replaces done by hand, as Anaconda's `liveimg`
and the kickstart's `%post imgbase layout --init` do it, with the image's own imgbased:

(c) `onn install --image IMAGE --sha256 … --pv PV --boot BOOT`: checksum, VG, pool, base,
    first layer, data volumes, boot entry; one command.
(d) the checksum (`sha256sum`, as Anaconda's `liveimg --checksum`); `pvcreate`, `vgcreate`, a
    thin pool, thin LVs for / and /var (imgbased refuses a host without a separate /var),
    `mkfs.ext4` of both, mounted with /boot as Anaconda mounts the target; the image's root file
    system mounted from the squashfs and copied with Anaconda's `rsync` (its options and
    excludes: pyanaconda/modules/payloads/payload/live_image/installation.py); the fstab
    Anaconda writes; then `imgbase layout --init` in a chroot of the new root with its fstab
    mounted, as the kickstart's %post runs it: imgbased's checkout on PYTHONPATH
    (tests/support/hostlib.py) and the pool's LVM profile its RPM installs; stand-ins for EL's
    grubby and systemctl (the compat image's), grub2-mkconfig (tests/anaconda/standins) and the
    boot entry Anaconda's bootloader step writes (bench/standins/el-boot-entries).
    imgbased makes the base and layer snapshots and the NIST volumes, migrates /etc and /var,
    copies the layer's kernel and writes its boot entry.

Each on a fresh sparse 32 GiB disk and 1 GiB /boot, runs alternating c, d, c, d…, the guest's page
cache dropped before each. Then (c) alone on the bigger images, for how it grows with the image.
A script, not a test: it prints, it asserts only that each flow made what it should.

    python3 tests/support/uml.py --mem 3G --rw vm-work --env ONN_IMAGES=vm-work/bench-install.json \
        --env ONN_VM_WORK=vm-work --env IMGBASED_SRC=… --env NODECTL_SRC=… -- python3 bench/install.py

(`make bench-install IMGBASED_SRC=… NODECTL_SRC=…` does this.)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from guestlib import GIB, Disks, Mounted, lvs, run
from hostlib import Host, python_packages
from run import drop_caches

RELEASE = Path(__file__).resolve().parents[1] / "target/release"
GRUB2_MKCONFIG = Path(__file__).resolve().parents[1] / "tests/anaconda/standins/target/grub2-mkconfig"
EL_BOOT_ENTRIES = Path(__file__).resolve().parent / "standins/el-boot-entries"
#: The LVM profile imgbased's RPM installs in /etc/lvm/profile, which it sets on the pool.
POOL_PROFILE = Path(os.environ.get("IMGBASED_SRC", "/nonexistent")) / "data/imgbased-pool.profile"
VG = "onn"
#: Anaconda's live-image copy (anaconda 45.21, InstallFromImageTask): options, then excludes.
RSYNC = ["rsync", "-pogAXtlHrDx", "--stats"]
RSYNC_EXCLUDES = ["/dev/", "/proc/", "/tmp/*", "/sys/", "/run/", "/boot/*rescue*", "/boot/loader/", "/boot/efi/",
                  "/etc/machine-id", "/etc/machine-info"]  # fmt: skip


@contextmanager
def disks(work: Path) -> Iterator[tuple[str, str]]:
    """A fresh sparse PV disk and an ext4 /boot, on loop devices; gone afterwards."""
    made = Disks(work)
    try:
        yield made.add("pv", 32 * GIB), made.boot()
    finally:
        made.release()


class Steps:
    """Each step's wall time, in order."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self.start = time.monotonic()
        self._last = self.start

    def done(self, step: str) -> None:
        now = time.monotonic()
        self.times[step] = now - self._last
        self._last = now

    @property
    def total(self) -> float:
        return self._last - self.start


def with_onn(img: dict[str, object], work: Path) -> Steps:
    """(c): one command."""
    with disks(work) as (pv, boot):
        steps = Steps()
        run([str(RELEASE / "onn"), "install", "--image", str(img["path"]), "--sha256", str(img["sha256"]),
             "--pv", pv, "--vg", VG, "--boot", boot])  # fmt: skip
        run(["sync"])
        steps.done("onn install")
        layers = [name for name in lvs(VG) if name.endswith("+1")]
        assert layers == [f"{img['nvr']}+1"], layers
    return steps


def by_hand(img: dict[str, object], work: Path, packages: Path) -> Steps:
    """(d): Anaconda's liveimg storage and copy, then `imgbase layout --init` as %post runs it."""
    image = Path(str(img["path"]))
    root, source = work / "root", work / "source"
    with disks(work) as (pv, boot):
        steps = Steps()
        digest = run(["sha256sum", str(image)]).stdout.split()[0]
        assert digest == img["sha256"], "the image's checksum"
        steps.done("checksum")
        run(["lvm", "pvcreate", "--yes", pv])
        run(["lvm", "vgcreate", VG, pv])
        # minimal-pxe.ks's sizes: a 16 GiB pool with 1 GiB of metadata, / 6 GiB, /var 8 GiB
        run(["lvm", "lvcreate", "--type", "thin-pool", "-L", "16G", "--poolmetadatasize", "1G", "-n", "pool00", VG])
        for name, size in (("root", "6G"), ("var", "8G")):
            run(["lvm", "lvcreate", "--thin", "-V", size, "-n", name, f"{VG}/pool00"])
            run(["mkfs.ext4", "-q", f"/dev/{VG}/{name}"])
        steps.done("storage")
        with ExitStack() as mounted:
            for dev, at in ((f"/dev/{VG}/root", root), (boot, root / "boot"), (f"/dev/{VG}/var", root / "var")):
                mounted.enter_context(Mounted(dev, at, "rw"))
            squashfs = mounted.enter_context(Mounted(str(image), source / "squashfs", "ro,loop"))
            rootfs = mounted.enter_context(Mounted(str(squashfs / "LiveOS/rootfs.img"), source / "rootfs", "ro,loop"))
            # Anaconda has its special file systems mounted in the target (blivet) before the copy.
            for special in ("dev", "proc", "sys", "run"):
                (root / special).mkdir(exist_ok=True)
            excludes = [arg for pattern in RSYNC_EXCLUDES for arg in ("--exclude", pattern)]
            run([*RSYNC, *excludes, f"{rootfs}/", f"{root}/"])
            (root / "etc/fstab").write_text(
                f"/dev/mapper/{VG}-root / ext4 defaults,discard 1 1\n{boot} /boot ext4 defaults 1 2\n"
                f"/dev/mapper/{VG}-var /var ext4 defaults,discard 1 2\n"
            )
            # The rest of the image's own imgbased, as its RPM installs it beside the Python package.
            (root / "etc/lvm/profile").mkdir(parents=True, exist_ok=True)
            shutil.copy2(POOL_PROFILE, root / "etc/lvm/profile")
            # EL's grub2-mkconfig, which imgbased runs at `layout --init` (the stand-in the
            # Anaconda cases bind into the target), and what Anaconda's bootloader step leaves.
            for standin in (GRUB2_MKCONFIG, EL_BOOT_ENTRIES):
                shutil.copy2(standin, root / "usr/local/sbin")
        with Host("root", work / "chroot", packages, image.parent, vg=VG) as host:
            host.run("systemd-machine-id-setup")  # as Anaconda does before the boot loader
            host.run(EL_BOOT_ENTRIES.name)
            steps.done("liveimg copy")
            host.imgbase("--debug", "layout", "--init")
            run(["sync"])
            steps.done("imgbase layout --init")
        names = lvs(VG)
        assert {str(img["nvr"]), f"{img['nvr']}+1"} <= set(names), list(names)
    return steps


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--image", default="compat-1.0", help="the node-style image both flows install")
    ap.add_argument("--grow", action="append", default=[], help="a bigger image (c) installs too")
    args = ap.parse_args()
    images = json.loads(Path(os.environ["ONN_IMAGES"]).read_text())
    img = images[args.image]
    # The disks live in the shared work directory: the guest's /tmp is RAM.
    work = Path(tempfile.mkdtemp(dir=os.environ["ONN_VM_WORK"], prefix="bench-install-"))
    try:
        packages = python_packages(work / "packages")
        sizes = f"squashfs {int(img['image_size']) >> 20} MiB, rootfs {int(img['rootfs_size']) >> 20} MiB"
        print(f"image {img['nvr']}: {sizes}; {args.runs} runs each, alternating", flush=True)
        results: dict[str, list[Steps]] = {"c": [], "d": []}
        for i in range(args.runs):
            for flow in ("c", "d"):
                drop_caches()
                steps = with_onn(img, work) if flow == "c" else by_hand(img, work, packages)
                results[flow].append(steps)
                detail = ", ".join(f"{k} {v:.1f}" for k, v in steps.times.items())
                print(f"run {i + 1} ({flow}): {steps.total:.1f} s ({detail})", flush=True)
        table(results)
        grow = {args.image: statistics.median(s.total for s in results["c"])}
        for name in args.grow:
            walls = []
            for i in range(args.runs):
                drop_caches()
                walls.append(with_onn(images[name], work).total)
                print(f"run {i + 1} (c, {name}): {walls[-1]:.1f} s", flush=True)
            grow[name] = statistics.median(walls)
        print("\n(c) as the image grows (median wall s):")
        for name, wall in grow.items():
            size = int(images[name]["rootfs_size"]) >> 20
            print(f"  {name:12} rootfs {size:5} MiB  {wall:7.1f} s  {wall / grow[args.image]:5.2f}x  "
                  f"{size / wall:6.1f} MiB/s")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def table(results: dict[str, list[Steps]]) -> None:
    c, d = (statistics.median(s.total for s in results[f]) for f in ("c", "d"))
    print("\nflow                                              min s   median s")
    for flow, label in (("c", "(c) onn install"), ("d", "(d) liveimg by hand + imgbase layout --init")):
        walls = [s.total for s in results[flow]]
        print(f"{label:48} {min(walls):7.1f} {statistics.median(walls):9.1f}")
        for step in results[flow][0].times:
            print(f"    {step:44} {'':7} {statistics.median(s.times[step] for s in results[flow]):9.1f}")
    print(f"\n(d)/(c) = {d / c:.2f} (median wall)")


if __name__ == "__main__":
    sys.exit(main())
