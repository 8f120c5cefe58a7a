"""NodeInstaller's pure parts: the sysroot switch as argv (golden, beside the real run in
tests/guest/test_vm_anaconda_order.py) and which boot entries boot the installer's root."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import onn
from org_ovirt_node.installer import NodeInstaller, _entry_boots
from org_ovirt_node.ksdata import NodeKickstart


def _mountinfo(tmp: Path, rows: list[tuple[str, str, str]]) -> str:
    lines = [
        f"{i} 1 253:{i} / {target} rw,relatime shared:{i} - {fstype} {source} rw"
        for i, (target, source, fstype) in enumerate(rows, 20)
    ]
    path = tmp / "mountinfo"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_switching_the_sysroot_runs_these_commands(tmp_path: Path) -> None:
    img, root = f"{tmp_path}/sysimage", f"{tmp_path}/sysroot"
    rows = [
        ("/", "/dev/vda3", "ext4"),
        (img, "/dev/mapper/onn-root", "ext4"),
        (f"{img}/boot", "/dev/vda1", "ext4"),
        (f"{img}/var", "/dev/mapper/onn-var", "ext4"),
        (f"{img}/var/log", "/dev/mapper/onn-var_log", "ext4"),
        (f"{img}/dev", "devtmpfs", "devtmpfs"),
        (f"{img}/dev/pts", "devpts", "devpts"),
        (f"{img}/proc", "proc", "proc"),
        (root, "/dev/mapper/onn-root", "ext4"),
        (f"{root}/boot", "/dev/vda1", "ext4"),
        (f"{img}.old", "/dev/vdb1", "ext4"),  # a sibling whose name starts alike
    ]
    calls: list[list[str]] = []

    def record(argv: Sequence[str]) -> str:
        calls.append(list(argv))
        return ""

    inst = NodeInstaller(
        NodeKickstart(), sysroot=root, sysimage=img, runner=record, mountinfo=_mountinfo(tmp_path, rows)
    )
    inst.outcome = SimpleNamespace(vg="onn", layer="onn-node-1.0-1+1")  # type: ignore[assignment]
    bound = inst.switch_sysroot()
    assert bound == ["boot", "var", "dev", "proc"]
    assert calls == [
        ["mount", "--make-rprivate", root],
        ["umount", "--recursive", root],
        ["mount", "/dev/onn/onn-node-1.0-1+1", root],
        ["mount", "--rbind", f"{img}/boot", f"{root}/boot"],
        ["mount", "--rbind", f"{img}/var", f"{root}/var"],
        ["mount", "--rbind", f"{img}/dev", f"{root}/dev"],
        ["mount", "--rbind", f"{img}/proc", f"{root}/proc"],
    ]
    assert all(isinstance(c, list) and all(isinstance(a, str) for a in c) for c in calls)


def test_only_entries_booting_the_installers_root_are_the_installers(tmp_path: Path) -> None:
    def entry(options: str) -> Path:
        path = tmp_path / f"e{len(list(tmp_path.iterdir()))}.conf"
        path.write_text(f"title x\nlinux /vmlinuz\noptions {options}\n")
        return path

    root = "/dev/mapper/onn-root"
    assert _entry_boots(entry("root=/dev/mapper/onn-root ro rd.lvm.lv=onn/root"), root)
    assert _entry_boots(entry("root=/dev/onn/root ro"), root)
    assert _entry_boots(entry("ro rd.lvm.lv=onn/root quiet"), root)
    assert not _entry_boots(entry("root=/dev/onn/onn-node-1.0-1+1 rd.lvm.lv=onn/onn-node-1.0-1+1"), root)
    assert not _entry_boots(entry("root=/dev/mapper/onn-rootfs"), root)
    # Dashes in VG and LV names are doubled in device-mapper names.
    assert _entry_boots(entry("rd.lvm.lv=my-vg/root-lv"), "/dev/mapper/my--vg-root--lv")


def test_the_mount_table_undoes_octal_escapes_and_keeps_utf8(tmp_path: Path) -> None:
    path = tmp_path / "mountinfo"
    path.write_text("36 35 98:0 / /mnt/my\\040disk-é rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n")
    (m,) = onn.mount_table(str(path))
    assert (m["target"], m["source"], m["fstype"]) == ("/mnt/my disk-é", "/dev/root", "ext3")
