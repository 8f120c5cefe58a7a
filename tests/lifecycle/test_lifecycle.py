"""The Node's life after onn (`make lifecycle IMGBASED_SRC=… NODECTL_SRC=…`, opt-in: it needs
imgbased's and nodectl's checkouts, and takes about half an hour under TCG).

onn installs lifecycle-1.0 onto a disk a machine's firmware boots (tests/lifecycle/install.py,
in a UML guest); the machine starts from it (SeaBIOS, GRUB from the disk, the default entry);
on the running host its own imgbased updates to lifecycle-1.1 (`imgbase update --format
liveimg`), and the host reboots into the layer imgbased made, with the install's kernel argument
and what was written in onn's layer's /etc; there `imgbase rollback`, and the host reboots into
onn's layer. Each step runs on the host itself (tests/lifecycle/step.py, from a driver disk).
Between boots GRUB's menu is made again from the BLS entries (tests/support/bootloader.py, the
stand-in for EL's grub2-mkconfig without blscfg: blscfg reads them at each boot). Real: the
firmware, GRUB, the kernel, systemd, lvm2, the host's dracut (less its multipath module) and
imgbased. Stand-ins (tests/lifecycle/standins): EL's grubby (its BLS subset) and dracut's
multipath module, each recording its calls in /var/log/onn-standins.jsonl, and the VDSM units a
Node runs, which imgbased stops around an update (they do nothing).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from boot import FIRMWARE_TABLE, TEST_APPEND, FirmwareBoot, boot_firmware, install_bootloader
from hostlib import python_packages
from testdata import IMAGES
from uml import run as in_guest

HERE = Path(__file__).resolve().parent
#: The install's own kernel argument, which must reach the layer imgbased makes.
KERNEL_ARG = "onn.lifecycle=1"
#: SELinux on, as on an EL Node, where imgbased's update expects it (it binds /sys/fs/selinux
#: into the new layer and relabels it with the layer's setfiles); permissive, since Debian's
#: reference policy is not EL's and would deny an EL tool its ways.
SELINUX_PERMISSIVE = ("selinux=1", "security=selinux", "enforcing=0")


def lifecycle(console: str) -> dict[str, object]:
    """The step the host reported (its `ONN-LIFECYCLE` line)."""
    lines = [line.split("ONN-LIFECYCLE ", 1)[1] for line in console.splitlines() if "ONN-LIFECYCLE " in line]
    assert lines, f"the host reported no step; console tail:\n{console[-4000:]}"
    return json.loads(lines[-1])


def start(disks: list[Path], work: Path, name: str) -> tuple[FirmwareBoot, dict[str, object]]:
    """One boot of the machine, GRUB's menu made from the entries /boot holds now."""
    install_bootloader(disks[0], log=work / f"{name}-bootloader.log")
    # The step runs after the boot report and ends with a reboot or a power-off.
    fw = boot_firmware(disks, "bios", 2700, log=work / f"{name}.log", after_report=2400)
    step = lifecycle(fw.console)
    print(f"{name}: {fw.duration:.0f} s; GRUB booted `{fw.booted}'; {json.dumps(step, indent=2)}")
    return fw, step


def ok(result: object) -> None:
    assert isinstance(result, dict) and result["returncode"] == 0, result


def test_lifecycle_update_reboot_rollback_reboot(tmp_path: Path) -> None:
    work = Path(os.environ["ONN_VM_WORK"]) / "lifecycle"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    disk, pv, driver = work / "disk.img", work / "pv0.img", work / "driver.img"
    for path, size in ((disk, 2 << 30), (pv, 40 << 30)):
        with path.open("wb") as f:
            f.truncate(size)
    subprocess.run(["sfdisk", "-q", str(disk)], input=FIRMWARE_TABLE, text=True, check=True)
    old, new = IMAGES["lifecycle-1.0"], IMAGES["lifecycle-1.1"]
    layer1, layer2 = f"{old['nvr']}+1", f"{new['nvr']}+1"

    # The driver disk: this step script, imgbased and nodectl, the next image.
    tree = tmp_path / "driver"
    (tree / "images").mkdir(parents=True)
    shutil.copy(HERE / "step.py", tree)
    python_packages(tree / "python")
    shutil.copy(str(new["path"]), tree / "images")
    size = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file()) + (256 << 20)
    with driver.open("wb") as f:
        f.truncate(size)
    subprocess.run(["mkfs.ext4", "-q", "-L", "ONNLIFE", "-d", str(tree), str(driver)], check=True)

    started = time.monotonic()
    support = os.pathsep.join(str(HERE.parent / d) for d in ("support", "images"))
    result = in_guest(
        [sys.executable, str(HERE / "install.py"), str(old["path"]), KERNEL_ARG, *SELINUX_PERMISSIVE, *TEST_APPEND],
        disks=[disk, pv], cwd=HERE, env={"ONN_BIN": os.environ["ONN_BIN"], "PYTHONPATH": support},
        mem="3G", timeout=1800, log=work / "install.log",
    )  # fmt: skip
    assert result.returncode == 0, result.log[-3000:]
    print(f"install: {time.monotonic() - started:.0f} s")
    disks = [disk, pv, driver]

    # 1. onn's layer, booted from the disk: the host's imgbased updates it.
    fw, step = start(disks, work, "boot-1-update")
    assert step["w"] == f"You are on {layer1}", step
    assert KERNEL_ARG in str(step["cmdline"]).split(), step
    assert step["selinux"] == "Permissive", step
    ok(step["check"])
    ok(step["update"])
    assert {"grubby", "dracut"} <= set(step["standins"]), step["standins"]  # type: ignore[arg-type]
    assert fw.report is not None and fw.report["lv"] == f"onn/{layer1}", fw.report

    # 2. Rebooted: GRUB boots the layer imgbased made, with the install's kernel argument and
    # the file written in onn's layer's /etc; the host's imgbased rolls back.
    fw, step = start(disks, work, "boot-2-rollback")
    assert step["w"] == f"You are on {layer2}", step
    assert f"img.bootid={layer2}" in str(step["cmdline"]).split(), step
    assert KERNEL_ARG in str(step["cmdline"]).split(), step
    assert step["etc_mark"] is True, step
    ok(step["check"])
    ok(step["rollback"])
    assert fw.report is not None and fw.report["lv"] == f"onn/{layer2}", fw.report

    # 3. Rebooted: onn's layer again.
    fw, step = start(disks, work, "boot-3-rolled-back")
    assert step["w"] == f"You are on {layer1}", step
    assert f"img.bootid={layer1}" in str(step["cmdline"]).split(), step
    ok(step["check"])
    print(f"lifecycle: {time.monotonic() - started:.0f} s in all")
