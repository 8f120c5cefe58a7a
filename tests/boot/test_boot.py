"""Boot tier: what the guest tier installed, started under qemu (TCG) as a machine starts: its
firmware (SeaBIOS, or OVMF for UEFI), GRUB from its disk, the entry grubenv names, SELinux
enforcing. GRUB's configuration is a stand-in for EL's grub2-mkconfig without blscfg, made from
the BLS entry files alone before each boot (tests/support/bootloader.py). One boot still hands
the entry's kernel to qemu: the install in Anaconda's order, whose disk has no firmware parts.
Runs after `make guest` (it needs its disks)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from boot import (
    ENFORCING,
    FIRMWARE_TABLE,
    OK_STATES,
    OK_TARGET,
    QEMU,
    QEMU_MACHINE,
    TEST_APPEND,
    FirmwareBoot,
    boot_default_entry,
    boot_firmware,
    denial_kind,
    denial_target,
    install_bootloader,
    mounted_ro,
    parse_report,
    run_qemu,
)
from testdata import IMAGES
from uml import run as in_guest

HERE = Path(__file__).resolve().parent
DEMO_NVR = ("onn-node-demo-1.0-0.20261125.0", "onn-node-demo-1.1-0.20261125.0")
#: The files onn writes on a host, by the names an AVC denial gives them (its `name=`, the end
#: of its `path=`): the layer's, the data volume's and /boot's.
ONN_WRITES = {
    "fstab", "grub", "profile", "imgbased-pool.profile", "imgbased", ".skip-volumes", "grub2", "grubenv",
    "loader", "entries",
}  # fmt: skip
#: The types of a file without a label, or with one the policy does not know.
NO_LABEL = {"unlabeled_t", "file_t", "default_t"}


def onns_doing(denial: str, layers: list[str]) -> bool:
    """A denial onn would have caused: on a file it wrote (a layer's kernel and entry too),
    or on any file without a label (what onn writes and does not label is `unlabeled_t`)."""
    names, target = denial_target(denial)
    kernels = {n for n in names if n.startswith(("vmlinuz-", "initramfs-", *layers))}
    return bool(names & ONN_WRITES or kernels) or target in NO_LABEL


def vm_work() -> Path:
    return Path(os.environ["ONN_VM_WORK"])


def assert_multi_user(fw: FirmwareBoot, layer: str) -> None:
    """The machine ran `layer`, as GRUB chose it, and systemd reached multi-user on its LV."""
    assert fw.report is not None, f"no boot report; console tail:\n{fw.console[-3000:]}"
    assert fw.cmdline is not None and f"img.bootid={layer}" in fw.cmdline.split(), fw.cmdline
    assert fw.report["lv"] == f"onn/{layer}", fw.report
    assert fw.report["target"] == OK_TARGET and fw.report["state"] in OK_STATES, fw.report


def boot_reference(image: dict[str, object], work: Path, log: Path) -> tuple[dict[str, str] | None, list[str]]:
    """The same image, its tree as the image build labelled it with setfiles and nothing of
    onn's: its rootfs.img as the root disk, its own kernel and initramfs, enforcing. Its boot
    report and denials: what the policy denies on this image anyway."""
    subprocess.run(
        ["unsquashfs", "-q", "-n", "-d", str(work / "sq"), str(image["path"]), "LiveOS/rootfs.img"],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    rootfs = work / "sq/LiveOS/rootfs.img"
    kver = str(image["kernel_versions"][0])  # type: ignore[index]
    with mounted_ro(rootfs) as root:
        kernel, initrd = work / "vmlinuz", work / "initrd.img"
        shutil.copyfile(root / f"boot/vmlinuz-{kver}", kernel)
        shutil.copyfile(root / str(image["initramfs"]).lstrip("/"), initrd)
    append = " ".join(["console=ttyS0", "root=/dev/vda", "rw", *ENFORCING, *TEST_APPEND])
    cmd = [QEMU, *QEMU_MACHINE, "-m", "2048", "-smp", "2", "-nographic", "-serial", "mon:stdio", "-nic", "none"]
    cmd += ["-no-reboot", "-kernel", str(kernel), "-initrd", str(initrd), "-append", append]
    cmd += ["-drive", f"file={rootfs},format=raw,if=virtio"]
    _status, console, _timed_out = run_qemu(cmd, 900, log)
    denials = [line.split("ONN-AVC ", 1)[1].strip() for line in console.splitlines() if "ONN-AVC " in line]
    return parse_report(console), denials


def test_boot_bios_firmware_starts_grub_which_boots_the_default_entry_enforcing(tmp_path: Path) -> None:
    """SeaBIOS starts GRUB from the demo's disk; of the two entries (demo 1.0's layer and, the
    default, demo 1.1's) GRUB boots the one grubenv names, SELinux enforcing, and no AVC
    denial names a file onn wrote. Beside it the same image boots from its own labelled tree
    (no onn), so the policy's own denials are told apart: both lists are printed."""
    demo = vm_work() / "demo"
    disks = [demo / "disk.img", demo / "pv0.img", demo / "pv1.img"]
    missing = [str(p) for p in disks if not p.exists()]
    assert not missing, f"no installed demo disks {missing}: run the guest tier (make guest) first"
    reference: dict[str, object] = {}

    def boot_the_reference() -> None:
        report, denials = boot_reference(IMAGES["demo-1.1"], tmp_path, demo / "reference.log")
        reference.update(report=report, denials=denials)

    ref = threading.Thread(target=boot_the_reference)
    ref.start()
    menu = install_bootloader(disks[0])
    layers = [f"{nvr}+1" for nvr in DEMO_NVR]
    assert all(f"img.bootid={layer}" in menu for layer in layers), menu
    fw = boot_firmware(disks, "bios", 900, log=demo / "bios.log")
    ref.join()
    print(f"BIOS boot: {fw.duration:.0f} s; GRUB: Booting `{fw.booted}'; kernel: {fw.cmdline}")
    print(f"report: {fw.report}")
    ours = fw.denials()
    theirs = {denial_kind(d) for d in reference["denials"]}  # type: ignore[union-attr]
    print(f"{len(ours)} AVC denials booting onn's layer, {len(theirs)} kinds booting the image's own tree")
    for d in ours:
        print(("  (also the reference's) " if denial_kind(d) in theirs else "  NEW ") + d)
    print(f"reference: {reference['report']}")
    for d in reference["denials"]:  # type: ignore[union-attr]
        print("  reference " + d)
    assert fw.booted is not None and fw.booted.startswith(f"{DEMO_NVR[1]} ("), fw.booted
    assert_multi_user(fw, layers[1])
    assert fw.report["selinux"] == "Enforcing", fw.report  # type: ignore[index]
    assert [d for d in ours if onns_doing(d, layers)] == []
    assert reference["report"] and reference["report"]["selinux"] == "Enforcing", reference  # type: ignore[index]


def test_boot_a_power_cut_right_after_success_still_boots_the_new_layer_through_uefi(tmp_path: Path) -> None:
    """GRUB never replays a journal: what onn wrote to /boot last must be on the disk when it
    says the install is done. In the guest, /boot mounted as an installer has it: `onn install`,
    the power cut the moment it exits 0; GRUB's view of /boot (no journal replay) has onn's
    entry, the default; then `onn layer add`, cut again; OVMF starts shim, GRUB boots the new
    layer. A file written after onn and not flushed is not in GRUB's view: the cut is real."""
    work = vm_work() / "powercut"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    disk, pv = work / "disk.img", work / "pv0.img"
    for path, size in ((disk, 2 << 30), (pv, 20 << 30)):
        with path.open("wb") as f:
            f.truncate(size)
    subprocess.run(["sfdisk", "-q", str(disk)], input=FIRMWARE_TABLE, text=True, check=True)
    image = IMAGES["demo-1.0"]
    args = [*ENFORCING, *TEST_APPEND]
    support = os.pathsep.join(str(HERE.parent / d) for d in ("support", "images"))
    env = {k: os.environ[k] for k in ("ONN_BIN", "ONN_IMAGES")} | {"PYTHONPATH": support}

    def guest(*argv: str, log: str) -> None:
        result = in_guest(
            [sys.executable, str(HERE / "powercut.py"), *argv], disks=[disk, pv], cwd=HERE, env=env,
            rw_dirs=[work], mem="3G", timeout=900, log=work / log,
        )  # fmt: skip
        # The guest stops without reporting a status: its power was cut.
        assert "powercut: the power goes now" in result.log, result.log[-3000:]

    guest("install", str(image["path"]), str(work / "install.json"), *args, log="install.log")
    installed = json.loads((work / "install.json").read_text())["install"]
    guest("layer-add", str(work / "layer-add.json"), *args, log="layer-add.log")
    done = json.loads((work / "layer-add.json").read_text())
    seen = done["grub_after_install"]
    entry = Path(installed["boot_entry"]).stem
    assert seen["saved_entry"] == entry and f"{entry}.conf" in seen["entries"], seen
    layer1 = installed["layer"]
    assert any(f.startswith(f"{layer1}/initramfs-") and size > 1 << 20 for f, size in seen["files"].items()), seen
    assert not seen["canary"], "a file never flushed was seen after the power cut: the cut is not real"
    layer2 = done["layer_add"]["layer"]
    assert layer2 == layer1.replace("+1", "+2")
    install_bootloader(disk)
    fw = boot_firmware([disk, pv], "uefi", 900, log=work / "uefi.log")
    print(f"UEFI boot: {fw.duration:.0f} s; GRUB: Booting `{fw.booted}'; kernel: {fw.cmdline}\nreport: {fw.report}")
    assert_multi_user(fw, layer2)
    assert fw.report["selinux"] == "Enforcing", fw.report  # type: ignore[index]
    for image in (disk, pv):  # their 4 GiB; the logs stay
        image.unlink()


def test_boot_layer_installed_in_anacondas_order() -> None:
    """The disk the install-order driver left (tests/guest/test_vm_anaconda_order.py): /boot is
    its second partition, the VG the installer's; the default entry is onn's, not Anaconda's,
    with the host's initramfs. Its kernel is handed to qemu (the disk has no BIOS boot
    partition; the firmware boots are the tests above)."""
    work = vm_work() / "anaconda"
    disk = work / "disk.img"
    assert disk.exists(), f"no {disk}: run the guest tier (make guest) first"
    layout = json.loads((work / "layout.json").read_text())
    result = boot_default_entry(
        [disk], disk, timeout=900, log=work / "boot.log", boot_partition=layout["boot_partition"]
    )
    assert result.entry["options"].split()[-1] == f"img.bootid={layout['layer']}"
    assert result.report is not None, f"no boot report; console tail:\n{result.log[-3000:]}"
    assert result.report["lv"] == f"{layout['vg']}/{layout['layer']}"
    assert result.report["target"] == OK_TARGET
    assert result.report["state"] in OK_STATES, result.report
    # The system came up from the initramfs the host's dracut made in the layer (its mark).
    assert result.report["initramfs"] == "host"
