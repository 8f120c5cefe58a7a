"""Tests of tests/support/uml.py: pure helpers always, real guests when
User-Mode-Linux is installed and we are root (each guest takes ~3-5 s).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
import uml

REPO = Path(__file__).resolve().parents[2]


def guest_script(tmp_path: Path, body: str) -> list[str]:
    """argv of a Python script in tmp_path (give tmp_path as an rw dir): the guest runs
    programs, never shell strings."""
    script = tmp_path / "job.py"
    script.write_text("import os, subprocess, sys, time\n" + body)
    return [sys.executable, str(script)]


def sparse(path: Path, size: int) -> Path:
    with path.open("wb") as f:
        f.truncate(size)
    return path


# --- helpers ---------------------------------------------------------------


def test_guest_env_defaults_and_override() -> None:
    env = uml.guest_env({"FOO": "bar", "PATH": "/opt/x/bin"})
    assert env["FOO"] == "bar"
    parts = env["PATH"].split(":")
    assert parts[0] == "/opt/x/bin"
    for p in (
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
        str(Path(sys.executable).parent),
    ):
        assert p in parts
    assert env["HOME"]


def test_mem_parsing() -> None:
    assert uml._mem_bytes("3G") == 3 << 30
    assert uml._mem_bytes("512M") == 512 << 20
    with pytest.raises(uml.UmlError):
        uml._mem_bytes("3 GB")


def test_unsafe_paths_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "a b"
    bad.mkdir()
    with pytest.raises(uml.UmlError, match="cannot be passed"):
        uml.run(["true"], cwd=tmp_path, rw_dirs=[bad])
    disk = sparse(tmp_path / "x,y.img", 1 << 20)
    with pytest.raises(uml.UmlError, match="cannot be passed"):
        uml.run(["true"], cwd=tmp_path, disks=[disk])
    with pytest.raises(uml.UmlError, match="does not exist"):
        uml.run(["true"], cwd=tmp_path, disks=[tmp_path / "missing.img"])


def test_cwd_under_guest_private_dir_is_mounted(tmp_path: Path) -> None:
    """A checkout under /tmp (where CI may clone) is made visible in the guest."""
    assert uml._hidden_in_guest(Path("/tmp/x"), [])
    assert uml._hidden_in_guest(Path("/run"), [])
    assert not uml._hidden_in_guest(Path("/tmpfoo"), [])
    assert not uml._hidden_in_guest(Path("/work/main"), [])
    assert not uml._hidden_in_guest(Path("/tmp/x/y"), [Path("/tmp/x")])
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "marker").write_text("visible-in-guest\n")
    result = uml.run(["cat", "marker"], cwd=sub)
    assert result.returncode == 0, result.log[-2000:]
    assert "visible-in-guest" in result.log


def test_cli_requires_command() -> None:
    with pytest.raises(SystemExit):
        uml.main(["--mem", "1G"])


# --- real guests -----------------------------------------------------------


def test_exit_status_cwd_env(tmp_path: Path) -> None:
    argv = guest_script(
        tmp_path,
        "e = os.environ\nprint(f\"cwd={os.getcwd()} foo={e['FOO']} lvm={e['LVM_SYSTEM_DIR']}\")\nsys.exit(3)\n",
    )
    result = uml.run(
        argv,
        cwd=REPO,
        env={"FOO": "it works"},
        rw_dirs=[tmp_path],
        mem="1G",
        timeout=120,
        log=tmp_path / "console.log",
    )
    assert result.returncode == 3, result.log
    assert f"cwd={REPO} foo=it works lvm=/run/lvm/etc" in result.log
    assert "\r" not in result.log
    assert (tmp_path / "console.log").read_text() == result.log


def test_a_guest_asked_for_a_card_has_an_ethernet_one(tmp_path: Path) -> None:
    body = (
        "print('eth0 type', open('/sys/class/net/eth0/type').read().strip())\n"
        "subprocess.run(['ip', 'link', 'set', 'eth0', 'up'], check=True)\n"
        "print('eth0', open('/sys/class/net/eth0/operstate').read().strip())\n"
    )
    result = uml.run(guest_script(tmp_path, body), cwd=REPO, rw_dirs=[tmp_path], nic=True, mem="1G", timeout=120)
    assert result.returncode == 0, result.log
    assert "eth0 type 1\n" in result.log, result.log  # ARPHRD_ETHER: NetworkManager's "ethernet"
    without = uml.run(["ls", "/sys/class/net"], cwd=REPO, mem="1G", timeout=120)
    assert without.returncode == 0 and "eth0" not in without.log, without.log


def test_missing_program_is_127() -> None:
    result = uml.run(["/nonexistent/prog"], cwd=REPO, mem="1G", timeout=120)
    assert result.returncode == 127


def test_rw_dir_thin_pool_on_ubd(tmp_path: Path) -> None:
    disk = sparse(tmp_path / "disk.img", 2 << 30)
    out = tmp_path / "out"
    out.mkdir()
    script = tmp_path / "job.sh"
    script.write_text(
        "set -e\n"
        "pvcreate -q /dev/ubda\n"
        "vgcreate -q vgt /dev/ubda\n"
        "lvcreate -q --type thin-pool -L 1G -n pool vgt\n"
        "lvcreate -q -V 2G --thinpool vgt/pool -n data\n"
        "mkfs.ext4 -q /dev/vgt/data\n"
        "mkdir /tmp/m && mount /dev/vgt/data /tmp/m && echo hi > /tmp/m/f\n"
        "umount /tmp/m\n"
        f"lvs --noheadings -o lv_name vgt > {out}/lvs.txt\n"
        "vgchange -q -an vgt\n"
    )
    result = uml.run(["sh", str(script)], cwd=REPO, disks=[disk], rw_dirs=[tmp_path], mem="1G")
    assert result.returncode == 0, result.log
    assert (out / "lvs.txt").read_text().split() == ["data", "pool"]
    # the thin pool metadata reached the host file
    assert disk.stat().st_blocks > 0


def test_loop_device_on_rw_dir(tmp_path: Path) -> None:
    backing = sparse(tmp_path / "loop.img", 1 << 30)
    body = (
        "def run(*a):\n    return subprocess.run(a, check=True, capture_output=True, text=True).stdout.strip()\n"
        f"d = run('losetup', '-f', '--show', {str(backing)!r})\n"
        "run('pvcreate', '-q', d)\nrun('vgcreate', '-q', 'vgl', d)\n"
        "run('lvcreate', '-q', '-L', '64M', '-n', 'lv', 'vgl')\n"
        "run('test', '-b', '/dev/vgl/lv')\nrun('vgchange', '-q', '-an', 'vgl')\nrun('losetup', '-d', d)\n"
    )
    result = uml.run(
        guest_script(tmp_path, body),
        cwd=REPO,
        rw_dirs=[tmp_path],
        mem="1G",
    )
    assert result.returncode == 0, result.log
    assert backing.read_bytes()[512:520] == b"LABELONE"


def test_timeout_kills_everything(tmp_path: Path) -> None:
    start = time.monotonic()
    argv = guest_script(tmp_path, "subprocess.Popen(['sleep', '1000'])\ntime.sleep(1000)\n")
    result = uml.run(argv, cwd=REPO, rw_dirs=[tmp_path], mem="1G", timeout=10)
    assert result.returncode == uml.HARNESS_FAILURE
    assert result.timed_out
    assert "timed out" in result.log
    assert "left behind" not in result.log
    assert time.monotonic() - start < 40


def test_guest_panic_reports_125(tmp_path: Path) -> None:
    argv = guest_script(tmp_path, "open('/proc/sysrq-trigger', 'w').write('c')\n")
    result = uml.run(argv, cwd=REPO, rw_dirs=[tmp_path], mem="1G", timeout=120)
    assert result.returncode == uml.HARNESS_FAILURE
    assert "without reporting a status" in result.log


def test_guest_threads_keep_their_vector_registers(tmp_path: Path) -> None:
    """Six threads of one guest process hash and copy the same data over and over (SHA-512,
    BLAKE2b, CRC-32 and memcpy use the vector registers). On a host with AVX-512 or AMX, UML
    saves each thread's registers only through uml-xstate.c; a thread that got another's
    vector state back would compute a wrong digest."""
    body = """
import hashlib, threading, zlib
data = os.urandom(4 << 20)
def digests(b):
    return hashlib.sha512(b).hexdigest(), hashlib.blake2b(b).hexdigest(), zlib.crc32(b)
want, bad = digests(data), []
def work():
    for _ in range(12):
        if digests(bytes(data)) != want:
            bad.append(1)
threads = [threading.Thread(target=work) for _ in range(6)]
for t in threads: t.start()
for t in threads: t.join()
print(f"wrong digests: {len(bad)} of 72")
"""
    result = uml.run(guest_script(tmp_path, body), cwd=REPO, rw_dirs=[tmp_path], mem="1G")
    assert result.returncode == 0, result.log[-2000:]
    assert "wrong digests: 0 of 72" in result.log
