"""Tests of tests/support/boot.py: grubenv/BLS/report parsing, the qemu command
line, and reading a real boot filesystem image.

The image tests need root (loop mount) and mkfs.ext4; the qemu tests need
qemu-system-x86_64. Real boots of installed systems are in tests/boot.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import boot
import pytest

# --- grubenv ---------------------------------------------------------------


def grubenv_block(*lines: str) -> bytes:
    text = "# GRUB Environment Block\n" + "".join(f"{line}\n" for line in lines)
    assert len(text) <= 1024
    return (text + "#" * (1024 - len(text))).encode()


def test_grubenv_basic() -> None:
    data = grubenv_block("saved_entry=onn-4.5-1", "boot_success=1")
    assert len(data) == 1024
    assert boot.parse_grubenv(data) == {
        "saved_entry": "onn-4.5-1",
        "boot_success": "1",
    }


def test_grubenv_value_with_equals_and_spaces() -> None:
    env = boot.parse_grubenv(grubenv_block("kernelopts=root=/dev/x ro a=b"))
    assert env == {"kernelopts": "root=/dev/x ro a=b"}


def test_grubenv_escapes() -> None:
    # grub-editenv writes a backslash or newline in a value as \\ and \<NL>
    data = grubenv_block("a=x\\\\y", "b=one\\\ntwo", "c=3")
    assert boot.parse_grubenv(data) == {"a": "x\\y", "b": "one\ntwo", "c": "3"}


def test_grubenv_padding_only() -> None:
    assert boot.parse_grubenv(grubenv_block()) == {}


def test_grubenv_ignores_lines_without_equals() -> None:
    assert boot.parse_grubenv(grubenv_block("junk", "k=v")) == {"k": "v"}


def test_grubenv_str_input() -> None:
    assert boot.parse_grubenv("# GRUB Environment Block\nk=v\n###") == {"k": "v"}


def test_grubenv_bad_header() -> None:
    with pytest.raises(boot.BootError, match="GRUB environment block"):
        boot.parse_grubenv(b"saved_entry=x\n")


# --- BLS -------------------------------------------------------------------

BLS = """\
# written by onn
title oVirt Node 4.5.0 (onn-4.5.0-1)
version 5.14.0-1.el9.x86_64

linux   /onn-4.5.0-1+1/vmlinuz-5.14.0-1.el9.x86_64
initrd  /onn-4.5.0-1+1/initramfs-5.14.0-1.el9.x86_64.img
options root=/dev/onn/onn-4.5.0-1+1 ro  rd.lvm.lv=onn/onn-4.5.0-1+1
options console=ttyS0
grub_users $grub_users
"""


def test_bls_parse() -> None:
    entry = boot.parse_bls(BLS)
    assert entry == {
        "title": "oVirt Node 4.5.0 (onn-4.5.0-1)",
        "version": "5.14.0-1.el9.x86_64",
        "linux": "/onn-4.5.0-1+1/vmlinuz-5.14.0-1.el9.x86_64",
        "initrd": "/onn-4.5.0-1+1/initramfs-5.14.0-1.el9.x86_64.img",
        # repeated options are joined; inner spacing kept verbatim
        "options": "root=/dev/onn/onn-4.5.0-1+1 ro  rd.lvm.lv=onn/onn-4.5.0-1+1 console=ttyS0",
        "grub_users": "$grub_users",
    }


def test_bls_multiple_initrd_and_bare_key() -> None:
    entry = boot.parse_bls("initrd /a.img\ninitrd /b.img\nflag\n")
    assert entry == {"initrd": "/a.img /b.img", "flag": ""}


def test_bls_crlf_and_tabs() -> None:
    assert boot.parse_bls("linux\t/vmlinuz\r\n") == {"linux": "/vmlinuz"}


def test_expand_options() -> None:
    env = {"kernelopts": "root=/dev/x ro", "tuned_params": "a=1"}
    assert boot.expand_options("$kernelopts ${tuned_params} $missing x$y", env) == "root=/dev/x ro a=1 $missing x$y"
    assert boot.expand_options("console=ttyS0", env) == "console=ttyS0"


# --- report ----------------------------------------------------------------


def test_parse_report() -> None:
    log = (
        "[  OK  ] Reached target multi-user.target\n"
        "ONN-BOOT-REPORT state=running root=/dev/mapper/onn-a lv=onn/a "
        "target=multi-user:active\n"
        "[   12.0] reboot: Power down\n"
    )
    report = boot.parse_report(log)
    assert report == {
        "state": "running",
        "root": "/dev/mapper/onn-a",
        "lv": "onn/a",
        "target": "multi-user:active",
    }
    assert boot.report_ok(report)


def test_parse_report_mid_line_and_first_wins() -> None:
    log = (
        "[ 3.1] foo ONN-BOOT-REPORT state=degraded lv=vg/lv target=multi-user:active"
        " junk\nONN-BOOT-REPORT state=failed\n"
    )
    report = boot.parse_report(log)
    assert report == {"state": "degraded", "lv": "vg/lv", "target": "multi-user:active"}
    assert boot.report_ok(report)


def test_parse_report_absent() -> None:
    assert boot.parse_report("no report here\nONN-BOOT-REPORTER x=1\n") is None
    assert not boot.report_ok(None)


@pytest.mark.parametrize(
    "report",
    [
        {"state": "failed", "lv": "a/b", "target": "multi-user:active"},
        {"state": "running", "lv": "", "target": "multi-user:active"},
        {"state": "running", "target": "multi-user:active"},
        {"state": "running", "lv": "a/b", "target": "multi-user:inactive"},
    ],
)
def test_report_not_ok(report: dict[str, str]) -> None:
    assert not boot.report_ok(report)


# --- qemu command line -----------------------------------------------------


def test_qemu_command() -> None:
    cmd = boot.qemu_command(
        Path("/k/vmlinuz"),
        Path("/k/initrd"),
        "root=/dev/x console=ttyS0",
        [Path("/d/boot.img"), Path("/d/a,b.img")],
    )
    assert cmd[0] == boot.QEMU
    joined = " ".join(cmd)
    assert "-accel tcg" in joined
    assert "-machine pc" in joined
    assert "kvm" not in joined
    assert "-no-reboot" in cmd
    assert cmd[cmd.index("-append") + 1] == "root=/dev/x console=ttyS0"
    assert cmd[cmd.index("-kernel") + 1] == "/k/vmlinuz"
    assert cmd[cmd.index("-initrd") + 1] == "/k/initrd"
    drives = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-drive"]
    assert drives == [
        "file=/d/boot.img,format=raw,if=virtio",
        "file=/d/a,,b.img,format=raw,if=virtio",
    ]


def test_run_names_command_and_stderr() -> None:
    failed = r"(?s)/usr/bin/ls /nonexistent-onn: failed with status 2\n.*nonexistent-onn"
    with pytest.raises(boot.BootError, match=failed):
        boot.run(["/usr/bin/ls", "/nonexistent-onn"])
    with pytest.raises(boot.BootError, match="absolute"):
        boot.run(["true"])


# --- real boot filesystem images -------------------------------------------


def make_bootfs(
    tmp: Path,
    kernel: bytes | Path,
    initrd: bytes,
    options: str = "console=ttyS0 panic=-1 $kernelopts",
    saved: str = "onn-test-1",
) -> Path:
    """ext4 image laid out like an installed /boot."""
    root = tmp / "bootfs"
    (root / "grub2").mkdir(parents=True)
    (root / "loader/entries").mkdir(parents=True)
    (root / "onn-test-1").mkdir()
    (root / "grub2/grubenv").write_bytes(grubenv_block(f"saved_entry={saved}", "kernelopts=quiet"))
    (root / "loader/entries/onn-test-1.conf").write_text(
        f"title onn test\nlinux /onn-test-1/vmlinuz\ninitrd /onn-test-1/initrd.img\noptions {options}\n"
    )
    (root / "loader/entries/other.conf").write_text("linux /x\ninitrd /y\n")
    if isinstance(kernel, Path):
        shutil.copyfile(kernel, root / "onn-test-1/vmlinuz")
    else:
        (root / "onn-test-1/vmlinuz").write_bytes(kernel)
    (root / "onn-test-1/initrd.img").write_bytes(initrd)
    image = tmp / "boot.img"
    with image.open("wb") as f:
        f.truncate(64 << 20)
    subprocess.run(
        ["mkfs.ext4", "-q", "-F", "-d", str(root), str(image)],
        check=True,
        capture_output=True,
    )
    return image


def test_read_default_entry(tmp_path: Path) -> None:
    image = make_bootfs(tmp_path, b"KERNEL", b"INITRD")
    dest = tmp_path / "out"
    dest.mkdir()
    entry, kernel, initrd = boot.read_default_entry(image, dest)
    assert entry["linux"] == "/onn-test-1/vmlinuz"
    assert entry["options"] == "console=ttyS0 panic=-1 quiet"
    assert kernel.read_bytes() == b"KERNEL"
    assert initrd.read_bytes() == b"INITRD"
    # unmounted again
    assert str(image) not in Path("/proc/self/mountinfo").read_text()


def test_read_default_entry_missing_entry(tmp_path: Path) -> None:
    image = make_bootfs(tmp_path, b"K", b"I", saved="nope")
    with pytest.raises(boot.BootError, match="nope"):
        boot.read_default_entry(image, tmp_path)


def test_read_default_entry_path_escape(tmp_path: Path) -> None:
    image = make_bootfs(tmp_path, b"K", b"I", saved="../../../etc/passwd")
    with pytest.raises(boot.BootError, match="leaves the boot filesystem"):
        boot.read_default_entry(image, tmp_path)


def test_qemu_version() -> None:
    out = boot.run([boot.QEMU, "--version"]).stdout
    assert "QEMU emulator version" in out


def test_bogus_kernel_fails_cleanly(tmp_path: Path) -> None:
    image = make_bootfs(tmp_path, os.urandom(65536), b"I")
    result = boot.boot_default_entry([], image, timeout=60)
    assert result.returncode != 0
    assert not result.timed_out
    assert result.report is None
    assert not result.ok()
    assert result.entry["options"] == "console=ttyS0 panic=-1 quiet"


EMERGENCY_CONSOLE = """\
[  OK  ] Reached target local-fs-pre.target - Preparation for Local File Systems.
[ TIME ] Timed out waiting for device dev-onn-var_tmp.device - /dev/onn/var_tmp.
[DEPEND] Dependency failed for var-tmp.mount - /var/tmp.
[FAILED] Failed to start systemd-fsck@dev-onn-var.service - File System Check on /dev/onn/var.
You are in emergency mode. After logging in, type "journalctl -xb" to view
"""


def test_a_boot_in_emergency_mode_ends_at_once_naming_what_failed() -> None:
    # A stand-in for qemu: prints a console that reached emergency mode, then waits forever,
    # as the guest's sulogin would.
    fake = [
        sys.executable,
        "-c",
        f"import sys, time; sys.stdout.write({EMERGENCY_CONSOLE!r}); sys.stdout.flush(); time.sleep(600)",
    ]
    start = time.monotonic()
    _status, console, timed_out = boot.run_qemu(fake, timeout=300)
    assert time.monotonic() - start < 30 and not timed_out
    assert boot.failed_units(console) == (
        "[ TIME ] Timed out waiting for device dev-onn-var_tmp.device - /dev/onn/var_tmp.",
        "[DEPEND] Dependency failed for var-tmp.mount - /var/tmp.",
        "[FAILED] Failed to start systemd-fsck@dev-onn-var.service - File System Check on /dev/onn/var.",
    )


def test_a_boot_that_did_not_reach_emergency_mode_names_no_failure() -> None:
    assert boot.failed_units(EMERGENCY_CONSOLE.replace("emergency mode", "rescue")) is None
