"""The bootloader of a firmware disk (boot.FIRMWARE_TABLE), a stand-in for what Anaconda's
bootloader step and EL's grub2-mkconfig leave on a machine; run in a UML guest with the disk as
its first ubd device (boot.install_bootloader starts it):

- GRUB for BIOS, installed as Anaconda installs it (`grub2-install --no-floppy DISK`): Debian's
  grub-install writes boot.img to the protective MBR and core.img to the BIOS boot partition;
  its modules and configuration go onto the ESP (Debian's GRUB looks in `grub/`). A ubd disk,
  since grub-install finds no BIOS drive for a loop device's partitions; it reads no partition
  map off a ubd disk either, so GPT's module is named.
- GRUB's configuration (boot.grub_menu), made from the BLS entry files of /boot as GRUB reads
  that filesystem: mounted with its journal not replayed. It goes where Debian's GRUB for BIOS
  and its signed EFI image read it on the ESP; for UEFI the image's shim and GRUB are on the ESP
  already (`onn install --efi`), started from the fallback path as by a machine with no boot
  entry in its NVRAM.

    python3 bootloader.py /dev/ubda
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import programs
from boot import FIRMWARE_BOOT, FIRMWARE_ESP, MENU_PATHS, grub_menu


def run(argv: list[str]) -> str:
    return programs.run(argv).stdout


def main() -> int:
    disk = sys.argv[1]
    esp, boot = f"{disk}{FIRMWARE_ESP}", f"{disk}{FIRMWARE_BOOT}"
    uuid = run(["blkid", "-p", "-o", "value", "-s", "UUID", boot]).strip()
    with tempfile.TemporaryDirectory() as tmp:
        boot_at, esp_at = Path(tmp, "boot"), Path(tmp, "esp")
        boot_at.mkdir()
        esp_at.mkdir()
        run(["mount", "-o", "ro,norecovery", boot, str(boot_at)])
        try:
            menu = grub_menu(boot_at, uuid)
        finally:
            run(["umount", str(boot_at)])
        run(["mount", esp, str(esp_at)])
        try:
            # grub-install reads no partition map off a ubd disk: GPT's is named for its core.
            boot_dir = f"--boot-directory={esp_at}"
            run(["grub-install", "--target=i386-pc", "--no-floppy", "--modules=part_gpt", boot_dir, disk])
            for path in MENU_PATHS:
                (esp_at / path).parent.mkdir(parents=True, exist_ok=True)
                (esp_at / path).write_text(menu)
        finally:
            run(["umount", str(esp_at)])
    print(menu, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
