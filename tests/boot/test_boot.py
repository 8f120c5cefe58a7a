"""Boot tier: boot what the guest tier installed, under qemu (TCG), with the kernel, initramfs
and options taken from the BLS entry onn wrote. Runs after `make guest` (it needs its disks)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vm"))

from boot import boot_default_entry  # noqa: E402


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


def test_boot_layer_installed_in_anacondas_order() -> None:
    """The disk the install-order driver left (tests/guest/test_vm_anaconda_order.py): /boot is
    its first partition, the VG the installer's; the default entry is onn's, not Anaconda's."""
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
