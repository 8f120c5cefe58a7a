"""Anaconda's installation order replayed on real disks with real lvm2, the addon's steps at
its hooks (docs/anaconda.md has the order with citations). The disk stays for the boot tier,
which boots the layer with the entry written."""

from __future__ import annotations

import json
import os
import tarfile
from collections.abc import Sequence
from pathlib import Path

from guestlib import (
    GIB,
    Disks,
    Mounted,
    blkid,
    initramfs_names,
    lvs,
    onn,
    run,
    selinux_file_contexts,
    tree_manifest,
    unlabelled,
)
from onn import Recording
from org_ovirt_node import runner as addon_runner
from org_ovirt_node.installer import NodeInstaller
from org_ovirt_node.kickstart import parse_section
from org_ovirt_node.preview import Device, installer_storage, storage_preview
from org_ovirt_node.structures import PREVIEW_READY

VG = "onn"
# Anaconda's autopart names thin LVs after their mount points (blivet).
VOLUMES = {"var": ("/var", "6g"), "var_log": ("/var/log", "2g")}
MACHINE_ID = "0123456789abcdef0123456789abcdef"


def lvm(*args: str) -> None:
    run(["lvm", *args])


def write_grubenv(path: Path, **values: str) -> None:
    """What grub2-editenv writes: a 1024-byte block padded with '#'."""
    text = "# GRUB Environment Block\n" + "".join(f"{k}={v}\n" for k, v in values.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode().ljust(1024, b"#"))


def anaconda_fstab(boot_uuid: str) -> str:
    """What Anaconda's FSSet.write() puts in <sysroot>/etc/fstab for this layout."""
    lines = [f"/dev/mapper/{VG}-root / ext4 defaults 1 1", f"UUID={boot_uuid} /boot ext4 defaults 1 2"]
    lines += [f"/dev/mapper/{VG}-{lv} {mount} ext4 defaults 1 2" for lv, (mount, _size) in VOLUMES.items()]
    return "# Created by anaconda\n" + "\n".join(lines) + "\n"


#: What Anaconda's SetContextsTask relabels at the end of an install (pyanaconda/modules/boss/
#: installation.py, `restorecon -ir`).
ANACONDA_RELABELS = [
    "/boot", "/dev", "/etc", "/lib64", "/root", "/usr/lib", "/usr/lib64", "/var/cache/yum", "/var/home",
    "/var/lib", "/var/lock", "/var/log", "/var/media", "/var/mnt", "/var/opt", "/var/roothome", "/var/run",
    "/var/spool", "/var/srv",
]  # fmt: skip


def relabelled(line: str) -> str:
    """The path of a `Would relabel PATH from A to B` line of setfiles."""
    return line.removeprefix("Would relabel ").rsplit(" from ", 1)[0]


def written_by_onn(path: str, layer: str) -> bool:
    """Whether onn writes `path` on a host: the layer's own files, the data volumes' roots and
    lost+found, imgbased's state, and /boot's layer directory, entries and grubenv."""
    mine = ("/etc/fstab", "/etc/default/grub", "/etc/lvm/profile", "/var/imgbased", f"/boot/{layer}")
    mine += ("/boot/loader", "/boot/grub2")
    volume_roots = {m for _lv, (m, _s) in VOLUMES.items()}
    return path.startswith(mine) or path in volume_roots or path.removesuffix("/lost+found") in volume_roots | {"/boot"}


def anaconda_restorecon(layer: str, mounts: dict[str, str], at: Path, paths: list[str]) -> None:
    """A stand-in for Anaconda's `restorecon -ir PATHS` in the target, which does nothing while
    SELinux is off (the guest): the layer's setfiles with its file contexts, on the paths that
    exist, the host's filesystems mounted where it mounts them."""
    at.mkdir(parents=True, exist_ok=True)
    fc = selinux_file_contexts(layer, at)
    run(["mount", layer, str(at)])
    try:
        for mount, dev in sorted(mounts.items()):
            run(["mount", dev, str(at / mount.lstrip("/"))])
        run(["mount", "-t", "proc", "proc", str(at / "proc")])
        existing = [p for p in paths if (at / p.lstrip("/")).exists()]
        run(["chroot", str(at), "setfiles", fc, *existing])
    finally:
        run(["umount", "--recursive", str(at)])


def test_vm_anaconda_install_order_lands_every_write_in_the_layer(
    disks: Disks, images: dict[str, dict[str, object]], work: Path, tmp_path: Path
) -> None:
    img = images["demo-1.0"]
    nvr, kver = str(img["nvr"]), str(img["kernel_versions"][0])  # type: ignore[index]
    layer = f"{nvr}+1"
    disks.where = work / "anaconda"
    disks.keep = True
    disks.where.mkdir(parents=True, exist_ok=True)
    sysimage, sysroot = tmp_path / "sysimage", tmp_path / "sysroot"

    # The kickstart: storage commands plus the addon's section (no payload command).
    ks = parse_section(
        f"%addon org_ovirt_node --image=file://{img['path']} --sha256={img['sha256']}\n"
        "kernel-arg = console=ttyS0\nkernel-arg = systemd.show_status=1\n%end"
    )
    # What the addon's hooks cost: the engine's programs and hash passes (onn.Recording, entered
    # around each hook), and the addon's own programs (its runner, recording).
    at_hooks = Recording()
    addon_ran: list[list[str]] = []

    def recording_runner(argv: Sequence[str]) -> str:
        addon_ran.append(list(argv))
        return addon_runner.run(argv)

    installer = NodeInstaller(
        ks, sysroot=str(sysroot), sysimage=str(sysimage), workdir=str(tmp_path / "onn"), runner=recording_runner
    )

    # The spoke's CheckImageWithTask, in the service that runs the hooks' tasks too: the image
    # found, verified and read; its handle stays with the installer.
    with at_hooks:
        checked = installer.verify_image()
    assert checked.sha256 == img["sha256"]

    # 0. Kickstart processed: the addon makes its payload the active one, and Anaconda sets up
    # that payload's source right away, before any task runs (a LIVE_TAR source must exist):
    # the tarball is there, an empty archive.
    reserved = installer.reserve_payload()
    assert reserved.startswith("file://")
    with tarfile.open(reserved[len("file://") :]) as tar:
        assert tar.getnames() == []

    # 1. Addon ConfigureWithTasks: image verified, onn's plan of the device tree the installer
    # will create (the engine's rules), boot files exported.
    with at_hooks:
        image = installer.verify_image()
    m = VG.replace("-", "--")
    thin_lvs = {"root": ("/", 10), **{lv: (mount, int(size[:-1])) for lv, (mount, size) in VOLUMES.items()}}
    tree = [
        Device("disk", "disk", "vda", "/dev/vda", 30 * GIB, (), ("boot", "pv")),
        Device("boot", "partition", "vda2", "/dev/vda2", GIB, ("disk",)),
        Device("pv", "partition", "vda3", "/dev/vda3", 28 * GIB, ("disk",), ("vg",)),
        Device("vg", "lvmvg", VG, f"/dev/{VG}", 28 * GIB, ("pv",), ("pool",)),
        Device("pool", "lvmthinpool", f"{m}-pool00", "", 24 * GIB, ("vg",), tuple(thin_lvs)),
        *(
            Device(lv, "lvmthinlv", f"{m}-{lv}", f"/dev/mapper/{m}-{lv}", size * GIB, ("pool",), (), "ext4")
            for lv, (_mount, size) in thin_lvs.items()
        ),
    ]
    mounts = {"/boot": "boot", **{mount: lv for lv, (mount, _size) in thin_lvs.items()}}
    preview = storage_preview(installer.ks, image, installer_storage(mounts, {d.id: d for d in tree}))
    assert preview.state == PREVIEW_READY, preview.message
    with at_hooks:
        tarball = installer.export_payload()
    assert f"file://{tarball}" == reserved

    # 2. Early storage: a partitioned disk, an ESP, /boot, a VG with a thin pool and thin LVs
    # (small pool metadata, as autopart makes it), mounted at the physical root and bound to
    # sysroot; the ESP as Anaconda mounts it (umask=0077).
    disk = disks.partitioned(
        "disk", 30 * GIB, "label: gpt\nsize=64MiB, type=U, name=esp\nsize=1GiB, name=boot\nname=lvm\n"
    )
    esp, boot, pv = f"{disk}p1", f"{disk}p2", f"{disk}p3"
    run(["mkfs.vfat", esp])
    run(["mkfs.ext4", "-q", boot])
    lvm("vgcreate", VG, pv)
    lvm("lvcreate", "--type", "thin-pool", "--size", "24g", "--poolmetadatasize", "64m", "--name", "pool00", VG)
    for lv, size in [("root", "10g"), *((lv, s) for lv, (_m, s) in VOLUMES.items())]:
        lvm("lvcreate", "--type", "thin", "--virtualsize", size, "--thinpool", "pool00", "--name", lv, VG)
        run(["mkfs.ext4", "-q", f"/dev/{VG}/{lv}"])
    mounts = [
        (f"/dev/{VG}/root", "", "defaults"),
        (boot, "boot", "defaults"),
        (esp, "boot/efi", "umask=0077,shortname=winnt"),
        *((f"/dev/{VG}/{lv}", m[1:], "defaults") for lv, (m, _s) in VOLUMES.items()),
    ]
    try:
        for dev, rel, options in mounts:
            (sysimage / rel).mkdir(parents=True, exist_ok=True)
            run(["mount", "-o", options, dev, str(sysimage / rel)])
        for api in ("dev", "proc", "sys", "run"):
            (sysimage / api).mkdir(exist_ok=True)
            run(["mount", "--rbind", f"/{api}", str(sysimage / api)])
        sysroot.mkdir()
        run(["mount", "--rbind", str(sysimage), str(sysroot)])

        # 3. Payload (LIVE_TAR): unpack the tarball, kernel versions from its members.
        with tarfile.open(tarball) as tar:
            names = tar.getnames()
        kernel_versions = [n.split("/")[-1][8:] for n in names if "boot/vmlinuz-" in n]
        assert kernel_versions == [kver]
        run(["tar", "--numeric-owner", "--xattrs", "--exclude", "./boot/loader", "-xaf", tarball, "-C", str(sysroot)])
        # 4. Late storage: fstab into the system root (still the installer's root LV).
        (sysroot / "etc").mkdir(exist_ok=True)
        boot_uuid = blkid(boot, "UUID")
        (sysroot / "etc/fstab").write_text(anaconda_fstab(boot_uuid))

        # 5. Addon ConfigureBootloaderWithTasks: base + layer, system root switched to the layer,
        # storage configuration written again (into the layer).
        steps: list[str] = []
        with at_hooks:
            outcome = installer.install_image(progress=steps.append)
            bound = installer.switch_sysroot()
        assert outcome.layer == layer
        assert "Writing the Node image" in steps
        # onn's install report, where a provisioning system's kickstart posts it from.
        report = json.loads(installer.report_path.read_text())
        assert (report["layer"], report["outcome"]) == (layer, "success")
        assert report["image"]["source"] == ks.image and report["image"]["verified"]
        assert set(bound) >= {"boot", "var", "dev", "proc", "sys", "run"}
        (sysroot / "etc/fstab").write_text(anaconda_fstab(boot_uuid))

        # 6. Bootloader install: CreateBLSEntriesTask deletes the entries, adds the installer's
        # own for each kernel; grub2-set-default points at it.
        entries = sysroot / "boot/loader/entries"
        for e in entries.glob("*.conf"):
            e.unlink()
        anaconda_entry = f"{MACHINE_ID}-{kver}.conf"
        (entries / anaconda_entry).write_text(
            f"title Installer's entry\nversion {kver}\nlinux /vmlinuz-{kver}\ninitrd /initramfs-{kver}.img\n"
            f"options root=/dev/mapper/{VG}-root ro rd.lvm.lv={VG}/root\n"
        )
        write_grubenv(sysroot / "boot/grub2/grubenv", saved_entry=anaconda_entry[:-5])

        # 7. System configuration: a user, network, through the system root; and what makes a
        # host's initramfs its own (as multipath or iSCSI configuration would): a dracut module
        # that leaves a mark in /run, which the boot tier reads.
        run(["useradd", "--root", str(sysroot), "--create-home", "nodeadmin"])
        module = sysroot / "usr/lib/dracut/modules.d/99onnhost"
        module.mkdir(parents=True)
        (module / "module-setup.sh").write_text(
            "#!/bin/bash\ncheck() { return 255; }\ndepends() { return 0; }\n"
            'install() { inst_hook pre-pivot 99 "$moddir/onn-host-mark.sh"; }\n'
        )
        (module / "onn-host-mark.sh").write_text("#!/bin/sh\necho host > /run/onn-initramfs\n")
        (sysroot / "etc/dracut.conf.d/99-onn-host.conf").write_text('add_dracutmodules+=" onnhost "\n')
        nm = sysroot / "etc/NetworkManager/system-connections/ens3.nmconnection"
        nm.parent.mkdir(parents=True, exist_ok=True)
        nm.write_text("[connection]\nid=ens3\ntype=ethernet\n[ipv4]\nmethod=auto\n")

        # 8. Addon InstallWithTasks: onn's entry and default again, its initramfs made by the
        # host's dracut in the layer; the installer's entry removed.
        with at_hooks:
            assert installer.finish() == [anaconda_entry]
        host_initramfs = sysroot / "boot" / layer / f"initramfs-{kver}.img"
        hooks = [n for n in initramfs_names(host_initramfs) if n.endswith("/pre-pivot/99-onn-host-mark.sh")]
        assert hooks, "the entry's initramfs is not the host's"
        assert host_initramfs.stat().st_size > 1 << 20

        # 9. Initramfs, kickstart copy, %post: still through the system root.
        run(["chroot", str(sysroot), "dracut", "--force", "--no-hostonly", f"/boot/initramfs-{kver}.img", kver])
        (sysroot / "root/anaconda-ks.cfg").write_text(str(ks))
        run(["chroot", str(sysroot), "touch", "/etc/post-script-ran"])
    finally:
        for target in (sysroot, sysimage):
            run(["umount", "--recursive", str(target)], check=False)

    # One image, one read: the spoke's check hashed it; nothing after it hashed it again. The
    # image was mounted twice, the fewest the steps need: by that check (its facts: the kernels,
    # the NVR, the rootfs inside) and by the configure task's export of the boot files (another
    # hook: nothing stays mounted between hooks); plan and apply mount nothing of it, and the
    # base is written from the squashfs's blocks.
    image_mounts = [argv for argv in at_hooks.commands + addon_ran if argv[0] == "mount" and str(img["path"]) in argv]
    print(f"hash passes: {at_hooks.hash_passes}; mounts of the image: {len(image_mounts)}: {image_mounts}")
    assert at_hooks.hash_passes == 1
    assert len(image_mounts) == 2, image_mounts

    # SELinux: every file onn wrote has the label the image's policy gives it; what is left to
    # label is Anaconda's own later writes, which its restorecon calls label (the new user's
    # home, then SetContextsTask's directories, at the very end). Without SELinux on, as in the
    # guest, restorecon does nothing: here setfiles does what it does on a boot.iso.
    host_mounts = {"/boot": boot, **{m: f"/dev/{VG}/{lv}" for lv, (m, _s) in VOLUMES.items()}}
    layer_dev = f"/dev/{VG}/{layer}"
    reported = [relabelled(line) for line in unlabelled(layer_dev, host_mounts, tmp_path / "labels")]
    onns = [p for p in reported if written_by_onn(p, layer)]
    assert onns == [], onns
    print(f"left for Anaconda's restorecon: {reported}")
    anaconda_restorecon(layer_dev, host_mounts, tmp_path / "labels", ["/home/nodeadmin", *ANACONDA_RELABELS])
    assert unlabelled(layer_dev, host_mounts, tmp_path / "labels") == []

    # The base is the image's filesystem, untouched; every write after the payload is in the layer.
    lv = lvs(VG)
    assert lv[nvr]["lv_tags"] == "imgbased:base" and lv[layer]["origin"] == nvr
    assert (lv[nvr]["lv_permissions"], lv[nvr]["lv_skip_activation"]) == ("read-only", "skip activation")
    assert int(lv["pool00"]["lv_metadata_size"]) >= GIB
    with Mounted(str(img["path"]), tmp_path / "sq", "ro,loop") as sq:
        with Mounted(str(sq / "LiveOS/rootfs.img"), tmp_path / "img", "ro,loop,noload") as image_root:
            want = tree_manifest(image_root)
    run(["lvm", "lvchange", "--activate", "y", "--ignoreactivationskip", f"{VG}/{nvr}"])
    with Mounted(f"/dev/{VG}/{nvr}", tmp_path / "base", "ro,noload") as base:
        assert tree_manifest(base) == want
        image_efi = {
            p.relative_to(base / "boot/efi"): p.read_bytes() for p in (base / "boot/efi").rglob("*") if p.is_file()
        }
    run(["lvm", "lvchange", "--activate", "n", f"{VG}/{nvr}"])
    later = ["etc/NetworkManager/system-connections/ens3.nmconnection", "root/anaconda-ks.cfg", "etc/post-script-ran"]
    with Mounted(f"/dev/{VG}/{layer}", tmp_path / "layer") as root:
        for rel in later:
            assert (root / rel).is_file(), rel
        assert "nodeadmin:" in (root / "etc/passwd").read_text()
        assert (root / "home/nodeadmin").is_dir()
        fstab = (root / "etc/fstab").read_text().splitlines()
        assert f"/dev/{VG}/{layer} / ext4 defaults,discard 1 1" in fstab
        assert not any(line.split()[:2] == [f"/dev/mapper/{VG}-root", "/"] for line in fstab if line.strip())
        assert f"/dev/{VG}/var /var ext4 defaults,discard 1 2" in fstab
        assert f"/dev/{VG}/var_log /var/log ext4 defaults,discard 1 2" in fstab
    with Mounted(f"/dev/{VG}/root", tmp_path / "anaroot") as anaroot:
        # The installer's root LV got only its own fstab (late storage) and mount points.
        files = [str(p.relative_to(anaroot)) for p in anaroot.rglob("*") if not p.is_dir()]
        assert files == ["etc/fstab"]
    with Mounted(f"/dev/{VG}/var", tmp_path / "var") as var:
        assert (var / "lib/dpkg/status").stat().st_size > 0  # /var got the image's content
    # The payload put the image's EFI boot files onto the ESP, before the bootloader step.
    with Mounted(esp, tmp_path / "esp") as e:
        assert {p.relative_to(e): p.read_bytes() for p in e.rglob("*") if p.is_file()} == image_efi
    assert any(str(p) == "EFI/BOOT/BOOTX64.EFI" for p in image_efi)
    with Mounted(boot, tmp_path / "boot") as b:
        assert sorted(p.name for p in (b / "loader/entries").iterdir()) == [f"{layer}-{kver}.conf"]
        assert f"saved_entry={layer}-{kver}\n" in (b / "grub2/grubenv").read_text()
        assert (b / f"initramfs-{kver}.img").stat().st_size > 1 << 20  # the initramfs step's
        assert onn("check", "--boot", str(b)).returncode == 0
    (disks.where / "layout.json").write_text(json.dumps({"layer": layer, "vg": VG, "boot_partition": 2}))
    os.sync()
