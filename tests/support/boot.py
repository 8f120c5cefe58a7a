"""Boot an installed system's default boot entry under qemu (TCG).

The boot disk holds a filesystem directly (ext4 or xfs, no partition
table) laid out like /boot of an oVirt-Node-style system:

    grub2/grubenv             GRUB environment block, key saved_entry
    loader/entries/ID.conf    BLS entries ("key value" lines)
    <kernel and initrd>       paths in the entry, relative to this fs

GRUB itself is not run: the entry named by saved_entry is read on the host
and its kernel and initrd are booted directly with the entry's options
(qemu -kernel/-initrd/-append).  The booted system is expected to print

    ONN-BOOT-REPORT state=running root=... lv=VG/LV target=multi-user:active

on the serial console and power off.

CLI::

    python3 tests/support/boot.py --boot BOOTDISK [--disk F]... [--timeout S]
        [--append ARG]... [--log FILE]

See tests/support/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

MOUNT = "/usr/bin/mount"
UMOUNT = "/usr/bin/umount"
SFDISK = "/usr/sbin/sfdisk"
QEMU = "/usr/bin/qemu-system-x86_64"
# Debian's UEFI firmware for x86_64 (package ovmf), code and an empty variable store in one.
OVMF = "/usr/share/ovmf/OVMF.fd"

REPORT_MARKER = "ONN-BOOT-REPORT"
GRUBENV_HEADER = "# GRUB Environment Block"
GRUBENV_PATH = "grub2/grubenv"
BLS_DIR = "loader/entries"
OK_STATES = ("running", "degraded")
OK_TARGET = "multi-user:active"

# qemu settings that work on this host: KVM hangs, so TCG on the plain
# i440fx "pc" machine.
QEMU_MACHINE = ("-machine", "pc", "-accel", "tcg", "-cpu", "max")
QEMU_MEM = "2048"
QEMU_SMP = "2"
#: seconds to wait for qemu to power off once the report was printed
POWEROFF_GRACE = 60.0
#: Kernel arguments of every test boot (never of what onn installs): a TCG guest on a busy
#: machine can take minutes to find its LVs, past systemd's 90 s default for a device (and
#: every other start job), in the initramfs as after it.
TEST_APPEND = ("systemd.default_timeout_start_sec=900",)
#: What systemd or dracut prints when a boot gave up: the boot is over, whatever the timeout.
_EMERGENCY = re.compile(r"emergency mode")
#: Console lines that name what failed on the way there.
_FAILED = re.compile(
    r"\[FAILED\]|Timed out waiting for device|Dependency failed|Failed to start|Warning: .* does not exist"
)


class BootError(RuntimeError):
    """The boot could not be attempted (bad boot disk, missing files, ...)."""


@dataclass(frozen=True)
class BootResult:
    entry: dict[str, str]
    log: str
    report: dict[str, str] | None
    returncode: int
    timed_out: bool = False
    duration: float = 0.0
    #: the console lines naming what failed, when the boot reached emergency mode
    emergency: tuple[str, ...] | None = None

    def ok(self) -> bool:
        return report_ok(self.report)


# --- external programs -----------------------------------------------------


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run(argv: Sequence[str], *, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a short external program (argument list, absolute path).

    Raises BootError naming the command and the tail of its stderr when it
    cannot be started, times out or (with check) exits non-zero.
    """
    argv = list(argv)
    if not os.path.isabs(argv[0]):
        raise BootError(f"program path must be absolute: {argv[0]!r}")
    try:
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except OSError as exc:
        raise BootError(f"cannot run {argv[0]}: {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise BootError(f"{' '.join(argv)}: timed out after {timeout:g} s") from exc
    if check and proc.returncode != 0:
        raise BootError(
            f"{' '.join(argv)} failed with status {proc.returncode}: {_tail(proc.stderr) or _tail(proc.stdout)}"
        )
    return proc


# --- parsing ---------------------------------------------------------------


def parse_grubenv(data: bytes | str) -> dict[str, str]:
    """Parse a GRUB environment block (``key=value`` lines, ``#`` padding).

    GRUB escapes a backslash or newline in a value with a backslash.
    """
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    if not text.startswith(GRUBENV_HEADER):
        raise BootError("not a GRUB environment block (missing header)")
    lines: list[str] = []
    cur: list[str] = []
    it = iter(text)
    for ch in it:
        if ch == "\\":
            cur.append(next(it, ""))
        elif ch == "\n":
            lines.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    lines.append("".join(cur))
    env: dict[str, str] = {}
    for line in lines:
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if sep and key:
            env[key] = value
    return env


def parse_bls(text: str) -> dict[str, str]:
    """Parse a Boot Loader Specification entry (``key value`` lines).

    Keys that may repeat (``options``, ``initrd``) are joined with a space.
    """
    entry: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        key = parts[0]
        value = parts[1].strip() if len(parts) > 1 else ""
        entry[key] = f"{entry[key]} {value}" if key in entry else value
    return entry


_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def expand_options(options: str, grubenv: Mapping[str, str]) -> str:
    """Expand ``$var``/``${var}`` from grubenv, as GRUB's blscfg does.

    References to variables grubenv does not define are left verbatim.
    """

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return grubenv.get(name, m.group(0))

    return _VAR.sub(sub, options)


_REPORT_LINE = re.compile(REPORT_MARKER + r" [^\n]*\n")


def parse_report(log: str) -> dict[str, str] | None:
    """key=value pairs of the first ``ONN-BOOT-REPORT`` console line."""
    for line in log.splitlines():
        idx = line.find(REPORT_MARKER + " ")
        if idx < 0:
            continue
        report: dict[str, str] = {}
        for token in line[idx + len(REPORT_MARKER) :].split():
            key, sep, value = token.partition("=")
            if sep and key:
                report[key] = value
        return report
    return None


def report_ok(report: Mapping[str, str] | None) -> bool:
    return (
        report is not None
        and report.get("state") in OK_STATES
        and report.get("target") == OK_TARGET
        and bool(report.get("lv"))
    )


# --- boot disk -------------------------------------------------------------


def _inside(root: Path, rel: str) -> Path:
    path = (root / rel.lstrip("/")).resolve()
    if path != root and root not in path.parents:
        raise BootError(f"path {rel!r} leaves the boot filesystem")
    return path


def partition_offset(disk: Path, number: int) -> int:
    """Byte offset of partition `number` of a partitioned disk image (sfdisk's JSON)."""
    table = json.loads(run([SFDISK, "--json", str(disk)]).stdout)["partitiontable"]
    part = next(p for p in table["partitions"] if p["node"].endswith(str(number)))
    return int(part["start"]) * int(table.get("sectorsize", 512))


@contextlib.contextmanager
def mounted_ro(image: Path, partition: int | None = None) -> Iterator[Path]:
    """Loop-mount a filesystem image (or one partition of a disk image) read-only on a temp dir."""
    mnt = Path(tempfile.mkdtemp(prefix="onn-bootfs-"))
    opts = "ro,loop" if partition is None else f"ro,loop,offset={partition_offset(image, partition)}"
    try:
        try:
            run([MOUNT, "-o", opts, str(image), str(mnt)])
        except BootError:
            # an unclean xfs/ext4 log cannot be replayed read-only
            run([MOUNT, "-o", f"{opts},norecovery", str(image), str(mnt)])
        try:
            yield mnt
        finally:
            run([UMOUNT, str(mnt)])
    finally:
        with contextlib.suppress(OSError):
            mnt.rmdir()


def read_default_entry(boot_disk: Path, dest: Path, partition: int | None = None) -> tuple[dict[str, str], Path, Path]:
    """Read the saved_entry BLS entry; copy its kernel and initrd to dest.

    Returns (entry, kernel, initrd).  Several initrds are concatenated
    into one, which the kernel accepts.
    """
    with mounted_ro(boot_disk, partition) as root:
        envfile = root / GRUBENV_PATH
        if not envfile.is_file():
            raise BootError(f"{boot_disk}: no {GRUBENV_PATH}")
        grubenv = parse_grubenv(envfile.read_bytes())
        saved = grubenv.get("saved_entry")
        if not saved:
            raise BootError(f"{boot_disk}: {GRUBENV_PATH} has no saved_entry")
        conf = _inside(root, f"{BLS_DIR}/{saved}.conf")
        if not conf.is_file():
            raise BootError(f"{boot_disk}: saved_entry {saved!r}: no {BLS_DIR}/{saved}.conf")
        entry = parse_bls(conf.read_text(encoding="utf-8"))
        for key in ("linux", "initrd"):
            if not entry.get(key):
                raise BootError(f"{boot_disk}: entry {saved!r} has no {key!r} line")
        if "options" in entry:
            entry["options"] = expand_options(entry["options"], grubenv)
        kernel = dest / "vmlinuz"
        shutil.copyfile(_inside(root, entry["linux"]), kernel)
        initrd = dest / "initrd.img"
        with open(initrd, "wb") as out:
            for part in entry["initrd"].split():
                with open(_inside(root, part), "rb") as src:
                    shutil.copyfileobj(src, out)
    return entry, kernel, initrd


# --- qemu ------------------------------------------------------------------


def _qemu_drive(path: Path) -> str:
    # a comma in a qemu option value is written as two
    return "file=" + str(path).replace(",", ",,") + ",format=raw,if=virtio"


def qemu_command(kernel: Path, initrd: Path, append: str, drives: Sequence[Path]) -> list[str]:
    cmd = [
        QEMU,
        *QEMU_MACHINE,
        "-m", QEMU_MEM,
        "-smp", QEMU_SMP,
        "-nographic",
        "-serial", "mon:stdio",
        "-nic", "none",
        "-no-reboot",
        "-kernel", str(kernel),
        "-initrd", str(initrd),
        "-append", append,
    ]  # fmt: skip
    for d in drives:
        cmd += ["-drive", _qemu_drive(d)]
    return cmd


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def failed_units(console: str) -> tuple[str, ...] | None:
    """The lines naming what failed, if the console shows a boot that reached emergency mode."""
    if not _EMERGENCY.search(console):
        return None
    return tuple(line.strip() for line in console.splitlines() if _FAILED.search(line))


def run_qemu(
    cmd: Sequence[str], timeout: float, log: Path | None = None, stream: bool = False
) -> tuple[int, str, bool]:
    """Run qemu until it exits, or the report appeared and it did not power
    off within POWEROFF_GRACE, or the boot reached emergency mode (no report
    can come then), or timeout.  Returns (status, console, timed_out).
    """
    parts: list[str] = []
    seen_report = threading.Event()
    # Set by the reader for the report or for emergency mode; `seen_report` tells which.
    seen_end = threading.Event()
    logfile = open(log, "w", encoding="utf-8") if log is not None else None  # noqa: SIM115
    try:
        try:
            proc = subprocess.Popen(
                list(cmd),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise BootError(f"cannot run {cmd[0]}: {exc}") from exc
        assert proc.stdout is not None
        out = proc.stdout

        def reader() -> None:
            pending = ""
            while True:
                data = os.read(out.fileno(), 65536)
                if not data:
                    break
                text = data.decode("utf-8", "replace").replace("\r", "")
                parts.append(text)
                for sink in (sys.stdout if stream else None, logfile):
                    if sink is not None:
                        sink.write(text)
                        sink.flush()
                pending = (pending + text)[-8192:]
                if _REPORT_LINE.search(pending):
                    seen_report.set()
                    seen_end.set()
                elif _EMERGENCY.search(pending):
                    seen_end.set()

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout
        timed_out = False
        try:
            while proc.poll() is None:
                now = time.monotonic()
                if now >= deadline:
                    timed_out = True
                    break
                if seen_end.wait(min(1.0, deadline - now)):
                    if not seen_report.is_set():
                        # emergency mode: a few seconds more for the failed units' lines
                        time.sleep(3)
                        break
                    grace = min(POWEROFF_GRACE, max(0.0, deadline - now))
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=grace)
                    break
        finally:
            if proc.poll() is None:
                _kill_group(proc)
            thread.join(timeout=10)
            out.close()
        return proc.returncode, "".join(parts), timed_out
    finally:
        if logfile is not None:
            logfile.close()


def boot_uefi(disk: Path, timeout: float = 300, *, log: Path | None = None) -> str:
    """Boot `disk` with the UEFI firmware, as a machine with no boot entries in its NVRAM
    does: from the ESP's fallback loader. Returns the console once qemu stops (the firmware or
    what it started powered off) or the timeout passed."""
    cmd = [
        QEMU, *QEMU_MACHINE, "-m", QEMU_MEM, "-nographic", "-serial", "mon:stdio", "-nic", "none",
        "-no-reboot", "-bios", OVMF, "-drive", _qemu_drive(disk),
    ]  # fmt: skip
    _status, console, _timed_out = run_qemu(cmd, timeout, log)
    return console


def boot_default_entry(
    disks: Sequence[Path],
    boot_disk: Path,
    timeout: float = 600,
    *,
    extra_append: Sequence[str] = (),
    log: Path | None = None,
    stream: bool = False,
    boot_partition: int | None = None,
) -> BootResult:
    """Boot boot_disk's saved_entry with qemu; boot_disk and disks attached.

    The kernel command line is the entry's ``options`` verbatim (grubenv
    variables expanded), then TEST_APPEND, then ``extra_append`` if given.
    """
    boot_disk = Path(boot_disk).resolve()
    if not boot_disk.is_file():
        raise BootError(f"boot disk {boot_disk} is not a file")
    drives = [boot_disk]
    for d in disks:
        path = Path(d).resolve()
        if not path.exists():
            raise BootError(f"disk {path} does not exist")
        if path not in drives:
            drives.append(path)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="onn-boot-") as tmp:
        entry, kernel, initrd = read_default_entry(boot_disk, Path(tmp), boot_partition)
        append = " ".join([entry.get("options", ""), *TEST_APPEND, *extra_append]).strip()
        cmd = qemu_command(kernel, initrd, append, drives)
        status, console, timed_out = run_qemu(cmd, timeout, log, stream)
    emergency = failed_units(console)
    if emergency is not None:
        console += "\nboot.py: the boot reached emergency mode, qemu stopped; what failed:\n"
        console += "".join(f"  {line}\n" for line in emergency) or "  (no failed unit named)\n"
    elif timed_out:
        console += f"\nboot.py: no report after {timeout:g} s, qemu killed\n"
    return BootResult(
        entry=entry,
        log=console,
        report=parse_report(console),
        returncode=status,
        timed_out=timed_out,
        duration=time.monotonic() - start,
        emergency=emergency,
    )


def main(args: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="boot.py",
        description="Boot the default BLS entry of an installed boot disk under "
        "qemu (TCG) and check its ONN-BOOT-REPORT line.",
    )
    parser.add_argument("--boot", required=True, type=Path, help="boot filesystem image")
    parser.add_argument("--disk", action="append", default=[], type=Path)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument(
        "--append", action="append", default=[], metavar="ARG",
        help="extra kernel argument after the entry's options (e.g. console=ttyS0)",
    )  # fmt: skip
    parser.add_argument("--log", type=Path, help="save the whole console log here")
    parser.add_argument("--stream", action="store_true", help="echo the console live")
    parser.add_argument("--tail", type=int, default=40, help="log lines to print")
    ns = parser.parse_args(args)
    try:
        result = boot_default_entry(
            ns.disk, ns.boot, ns.timeout,
            extra_append=ns.append, log=ns.log, stream=ns.stream,
        )  # fmt: skip
    except BootError as exc:
        print(f"boot.py: {exc}", file=sys.stderr)
        return 2
    if not ns.stream:
        print(_tail(result.log, ns.tail))
    print(f"boot.py: entry: {result.entry}")
    print(f"boot.py: qemu status {result.returncode}, {result.duration:.1f} s")
    print(f"boot.py: report: {result.report}")
    if result.ok():
        print("boot.py: OK")
        return 0
    print("boot.py: FAILED (need state running|degraded, target multi-user:active, lv)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
