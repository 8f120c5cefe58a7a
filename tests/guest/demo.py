"""The main job, run inside the guest by `make demo`: install the demo image onto two sparse
disks with real lvm2 and a disk a machine's firmware boots (its ESP and /boot), then show `onn
list` and `onn check`. The disks stay in the work directory so the host can boot them in qemu
next, through the firmware and GRUB, SELinux enforcing."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from boot import ENFORCING, TEST_APPEND
from guestlib import GIB, Disks, Mounted, kernel_args, onn
from testdata import IMAGES


def main() -> int:
    image = IMAGES["demo-1.0"]
    where = Path(os.environ["ONN_VM_WORK"]) / "demo-run"
    where.mkdir(parents=True, exist_ok=True)
    disks = Disks(where)
    disks.keep = True
    try:
        _disk, esp, boot = disks.firmware_disk()
        pvs = [disks.add("pv0", 20 * GIB), disks.add("pv1", 20 * GIB)]
        argv = ["install", "--image", str(image["path"]), "--sha256", str(image["sha256"]), "--boot", boot]
        argv += ["--efi", esp]
        for pv in pvs:
            argv += ["--pv", pv]
        argv += kernel_args([*ENFORCING, *TEST_APPEND])
        print("$ onn", " ".join(argv), "--dry-run", flush=True)
        print(onn(*argv, "--dry-run").stdout, flush=True)
        print("$ onn", " ".join(argv), flush=True)
        done = onn(*argv)
        sys.stdout.write(done.stderr + done.stdout)
        print("$ onn list", flush=True)
        print(onn("list").stdout, flush=True)
        with Mounted(boot, where / "boot-mnt") as b:
            print("$ onn check --boot", b, flush=True)
            print(onn("check", "--boot", str(b)).stdout, flush=True)
    finally:
        disks.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
