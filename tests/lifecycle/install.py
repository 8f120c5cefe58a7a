"""The install of `make lifecycle`, in a UML guest: the firmware disk (boot.FIRMWARE_TABLE) as
/dev/ubda gets an ESP and a /boot, the PV is /dev/ubdb, and onn installs the image with the
kernel arguments given.

    install.py IMAGE ARG...
"""

from __future__ import annotations

import sys

from guestlib import format_firmware_disk, kernel_args, onn, run

DISK, PV = "/dev/ubda", "/dev/ubdb"


def main() -> int:
    image, *args = sys.argv[1:]
    esp, boot = format_firmware_disk(DISK)
    done = onn("install", "--image", image, "--pv", PV, "--boot", boot, "--efi", esp, *kernel_args(args))
    print(done.stdout, done.stderr, flush=True)
    run(["lvm", "vgchange", "--activate", "n", "onn"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
