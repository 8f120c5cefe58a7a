"""Boot tier: boot what the guest tier installed, under qemu (TCG), with the kernel, initramfs
and options taken from the BLS entry onn wrote. Runs after `make guest` (it needs its disks)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from boot import boot_default_entry, boot_uefi


def test_boot_installed_layer_reaches_multi_user_on_its_lv() -> None:
    demo = Path(os.environ["ONN_VM_WORK"]) / "demo"
    disks = [demo / "pv0.img", demo / "pv1.img"]
    boot_disk = demo / "boot.img"
    missing = [str(p) for p in [boot_disk, *disks] if not p.exists()]
    assert not missing, f"no installed demo disks {missing}: run the guest tier (make guest) first"
    result = boot_default_entry(disks, boot_disk, timeout=900, log=demo / "boot.log")
    # The default entry is the layer of the newest base (the guest test added base 1.1 last).
    layer = "onn-node-demo-1.1-0.20261125.0+1"
    assert result.entry["options"].split()[-1] == f"img.bootid={layer}"
    assert result.report is not None, f"no boot report; console tail:\n{result.log[-3000:]}"
    assert result.report["lv"] == f"onn/{layer}"
    assert result.report["target"] == "multi-user:active"
    assert result.report["state"] in ("running", "degraded"), result.report
    assert result.report["initramfs"] == "image"  # onn's CLI copies the image's


def test_boot_uefi_firmware_starts_the_bootloader_onn_put_on_the_esp() -> None:
    """OVMF (Debian's UEFI firmware) with nothing but the ESP the demo install filled: it finds
    the fallback loader (EFI/BOOT/BOOTX64.EFI, shim), shim starts GRUB, and GRUB reads its
    configuration from the ESP, which says so and stops. Debian's GRUB has no blscfg, so the boot
    goes no further here; an EL boot.iso's GRUB boots onn's BLS entry (README: Manual checks)."""
    esp = Path(os.environ["ONN_VM_WORK"]) / "demo" / "esp.img"
    assert esp.exists(), f"no {esp}: run the guest tier (make guest) first"
    console = boot_uefi(esp, timeout=300, log=esp.with_suffix(".log"))
    assert "ONN-ESP-GRUB started from the EFI system partition" in console, console[-3000:]


def test_boot_layer_installed_in_anacondas_order() -> None:
    """The disk the install-order driver left (tests/guest/test_vm_anaconda_order.py): /boot is
    its second partition, the VG the installer's; the default entry is onn's, not Anaconda's,
    with the host's initramfs."""
    work = Path(os.environ["ONN_VM_WORK"]) / "anaconda"
    disk = work / "disk.img"
    assert disk.exists(), f"no {disk}: run the guest tier (make guest) first"
    layout = json.loads((work / "layout.json").read_text())
    result = boot_default_entry(
        [disk], disk, timeout=900, log=work / "boot.log", boot_partition=layout["boot_partition"]
    )
    assert result.entry["options"].split()[-1] == f"img.bootid={layout['layer']}"
    assert result.report is not None, f"no boot report; console tail:\n{result.log[-3000:]}"
    assert result.report["lv"] == f"{layout['vg']}/{layout['layer']}"
    assert result.report["target"] == "multi-user:active"
    assert result.report["state"] in ("running", "degraded"), result.report
    # The system came up from the initramfs the host's dracut made in the layer (its mark).
    assert result.report["initramfs"] == "host"
