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

import programs

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
#: Kernel arguments of every test boot: a TCG guest on a busy machine can take minutes to start
#: a unit, past systemd's 90 s default for a start job, in the initramfs as after it (a
#: device's own 90 s, which systemd 252 takes only from system.conf, the test image raises in
#: its system.conf.d: tests/images/build.py). Appended by qemu's -kernel boots; an install that a
#: firmware boots through GRUB carries them as its own `--kernel-arg`s.
TEST_APPEND = ("systemd.default_timeout_start_sec=900",)
#: SELinux enforcing on Debian's kernel, whose default security module is AppArmor (an EL
#: kernel runs SELinux without them): the demo Node's kernel arguments where it boots as an EL
#: Node runs.
ENFORCING = ("selinux=1", "security=selinux", "enforcing=1")
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
    """A short external program (argument list, absolute path) through the one runner
    (programs.py); a failure is a BootError naming the command and the tail of its output."""
    argv = list(argv)
    if not os.path.isabs(argv[0]):
        raise BootError(f"program path must be absolute: {argv[0]!r}")
    try:
        return programs.run(argv, timeout=timeout, check=check)
    except programs.CommandFailed as e:
        raise BootError(str(e)) from e


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


# --- the bootloader's configuration (a stand-in) ----------------------------

#: A disk a machine's firmware boots (tests/support/guestlib.py makes it, bootloader.py puts
#: GRUB on it): GPT, a BIOS boot partition for GRUB's core, an ESP, /boot.
FIRMWARE_TABLE = "label: gpt\n,1MiB,21686148-6449-6E6F-744E-656564454649\n,64MiB,U\n,1GiB,L\n"
FIRMWARE_ESP = 2
FIRMWARE_BOOT = 3

#: Where Debian's GRUB looks for its configuration on the ESP of a firmware disk: the BIOS
#: core's prefix (bootloader.py's grub-install puts it there) and the signed EFI image's
#: directory.
MENU_PATHS = ("grub/grub.cfg", "EFI/debian/grub.cfg")

MENU_HEADER = """\
# A stand-in for EL's grub2-mkconfig where blscfg is off (Debian's GRUB has no blscfg), made by
# tests/support/boot.py from the BLS entry files of /boot and nothing else. GRUB reads grubenv
# itself, at boot.
if [ "$grub_platform" = pc ]; then
\tserial --unit=0 --speed=115200
\tterminal_input serial
\tterminal_output serial
fi
search --no-floppy --fs-uuid --set=root {uuid}
load_env -f ($root)/grub2/grubenv
set default="${{saved_entry}}"
set timeout=2
"""


def _grub_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def grub_menu(boot_root: Path, boot_uuid: str) -> str:
    """GRUB's configuration for the /boot filesystem at `boot_root`: a menu entry for each BLS
    entry, with the entry's id (its file name), title, kernel, initramfs and options, as EL's
    grub2-mkconfig writes them without blscfg; the default is grubenv's `saved_entry`."""
    out = [MENU_HEADER.format(uuid=boot_uuid)]
    for conf in sorted((boot_root / BLS_DIR).glob("*.conf")):
        entry = parse_bls(conf.read_text(encoding="utf-8"))
        out.append(
            f"menuentry {_grub_quote(entry.get('title', conf.stem))} --id {_grub_quote(conf.stem)} {{\n"
            f"\tlinux {entry['linux']} {entry.get('options', '')}\n"
            f"\tinitrd {entry['initrd']}\n}}\n"
        )
    return "".join(out)


def install_bootloader(disk: Path, log: Path | None = None) -> str:
    """Install GRUB and its configuration for the /boot of a firmware disk (bootloader.py, in a
    UML guest), from the entries /boot holds now: blscfg reads them at each boot, this stand-in
    before each boot. Returns the menu."""
    from uml import run as in_guest

    here = Path(__file__).resolve().parent
    result = in_guest(
        [sys.executable, str(here / "bootloader.py"), "/dev/ubda"],
        disks=[disk],
        cwd=here,
        env={"PYTHONPATH": str(here)},
        mem="1G",
        timeout=300,
        log=log,
    )
    if result.returncode != 0:
        raise BootError(f"installing the bootloader on {disk} failed:\n{_tail(result.log)}")
    return result.log


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
    cmd: Sequence[str], timeout: float, log: Path | None = None, stream: bool = False, grace: float = POWEROFF_GRACE
) -> tuple[int, str, bool]:
    """Run qemu until it exits, or the report appeared and it did not power
    off within `grace` seconds, or the boot reached emergency mode (no report
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
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=min(grace, max(0.0, deadline - time.monotonic())))
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


@dataclass(frozen=True)
class FirmwareBoot:
    """A machine started by its firmware from its disk: what GRUB chose, the kernel's command
    line, the boot report and the AVC denials it listed."""

    console: str
    #: the title GRUB printed as it booted it ("Booting `…'")
    booted: str | None
    #: the kernel's command line ("Command line: …")
    cmdline: str | None
    report: dict[str, str] | None
    returncode: int
    timed_out: bool
    duration: float
    emergency: tuple[str, ...] | None

    def denials(self) -> list[str]:
        """The AVC denials the boot report listed (its `ONN-AVC …` lines)."""
        return [line.split("ONN-AVC ", 1)[1].strip() for line in self.console.splitlines() if "ONN-AVC " in line]


_AVC_FIELD = re.compile(r'(\w+)=("[^"]*"|\S+)')
_AVC_PERMS = re.compile(r"\{ ([^}]*) \}")


def denial_kind(line: str) -> str:
    """What a denial is about, without the boot's particulars (pid, inode, time): the permissions,
    the program, the source and target types and the class, e.g. `getattr lvm lvm_t→lvm_runtime_t
    fifo_file`; the same kinds of two boots are the same denial."""
    fields = {k: v.strip('"') for k, v in _AVC_FIELD.findall(line)}
    perms = _AVC_PERMS.search(line)
    stype, ttype = (fields.get(k, "?:?:?").split(":")[2] for k in ("scontext", "tcontext"))
    return f"{perms.group(1) if perms else '?'} {fields.get('comm', '?')} {stype}→{ttype} {fields.get('tclass', '?')}"


def denial_target(line: str) -> tuple[set[str], str]:
    """The file names a denial gives (its `name=`, and the last part of its `path=`), and the
    type of its target (`unlabeled_t`: a file without a label)."""
    fields = {k: v.strip('"') for k, v in _AVC_FIELD.findall(line)}
    names = {fields[k].rsplit("/", 1)[-1] for k in ("name", "path") if k in fields}
    return names, (fields.get("tcontext", "?:?:?").split(":") + ["?"])[2]


_BOOTING = re.compile(r"Booting `([^']*)'")
_CMDLINE = re.compile(r"Command line: ([^\n]*)")


def boot_firmware(
    disks: Sequence[Path],
    firmware: str,
    timeout: float = 900,
    *,
    log: Path | None = None,
    stream: bool = False,
    after_report: float = POWEROFF_GRACE,
) -> FirmwareBoot:
    """Start a machine with `firmware` ("bios": SeaBIOS, qemu's own; "uefi": OVMF, with no boot
    entries in its NVRAM, so from the ESP's fallback loader) from the first of `disks`, as a
    machine boots: no kernel is handed to qemu. Ends when the booted system powers off or
    reboots (a reboot is a new call: install_bootloader first, as blscfg reads the entries at
    each boot), or as boot_default_entry's boots end; `after_report`: how long what the
    booted system does after its report (it powers off, or goes on) may take."""
    if firmware not in ("bios", "uefi"):
        raise BootError(f"firmware {firmware!r}: bios or uefi")
    cmd = [QEMU, *QEMU_MACHINE, "-m", QEMU_MEM, "-smp", QEMU_SMP, "-nographic", "-serial", "mon:stdio"]
    cmd += ["-nic", "none", "-no-reboot"]
    if firmware == "uefi":
        cmd += ["-bios", OVMF]
    for d in disks:
        cmd += ["-drive", _qemu_drive(Path(d).resolve())]
    start = time.monotonic()
    status, console, timed_out = run_qemu(cmd, timeout, log, stream, grace=after_report)
    console, emergency = _annotate(console, timed_out, timeout)
    booted = _BOOTING.findall(console)
    cmdline = _CMDLINE.findall(console)
    return FirmwareBoot(
        console=console,
        booted=booted[-1] if booted else None,
        cmdline=cmdline[-1].strip() if cmdline else None,
        report=parse_report(console),
        returncode=status,
        timed_out=timed_out,
        duration=time.monotonic() - start,
        emergency=emergency,
    )


def _annotate(console: str, timed_out: bool, timeout: float) -> tuple[str, tuple[str, ...] | None]:
    """The console with a closing line saying why the boot ended early, and what failed."""
    emergency = failed_units(console)
    if emergency is not None:
        console += "\nboot.py: the boot reached emergency mode, qemu stopped; what failed:\n"
        console += "".join(f"  {line}\n" for line in emergency) or "  (no failed unit named)\n"
    elif timed_out:
        console += f"\nboot.py: no report after {timeout:g} s, qemu killed\n"
    return console, emergency


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
    console, emergency = _annotate(console, timed_out, timeout)
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
        description="Boot an installed system under qemu (TCG) and check its ONN-BOOT-REPORT line: "
        "with --firmware, from its firmware disk (the first --disk) through GRUB; else the default "
        "BLS entry of --boot, its kernel handed to qemu.",
    )
    parser.add_argument("--boot", type=Path, help="boot filesystem image (without --firmware)")
    parser.add_argument("--firmware", choices=("bios", "uefi"), help="boot the first --disk, a firmware disk")
    parser.add_argument("--disk", action="append", default=[], type=Path)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument(
        "--append", action="append", default=[], metavar="ARG",
        help="extra kernel argument after the entry's options (e.g. console=ttyS0; without --firmware)",
    )  # fmt: skip
    parser.add_argument("--log", type=Path, help="save the whole console log here")
    parser.add_argument("--stream", action="store_true", help="echo the console live")
    parser.add_argument("--tail", type=int, default=40, help="log lines to print")
    ns = parser.parse_args(args)
    if bool(ns.firmware) == bool(ns.boot) or (ns.firmware and not ns.disk):
        parser.error("give --boot, or --firmware with the firmware disk as the first --disk")
    try:
        if ns.firmware:
            install_bootloader(ns.disk[0])
            fw = boot_firmware(ns.disk, ns.firmware, ns.timeout, log=ns.log, stream=ns.stream)
            log, report, duration, status = fw.console, fw.report, fw.duration, fw.returncode
            what = f"GRUB booted {fw.booted!r}; kernel command line: {fw.cmdline}"
        else:
            result = boot_default_entry(
                ns.disk, ns.boot, ns.timeout,
                extra_append=ns.append, log=ns.log, stream=ns.stream,
            )  # fmt: skip
            log, report, duration, status = result.log, result.report, result.duration, result.returncode
            what = f"entry: {result.entry}"
    except BootError as exc:
        print(f"boot.py: {exc}", file=sys.stderr)
        return 2
    if not ns.stream:
        print(_tail(log, ns.tail))
    print(f"boot.py: {what}")
    print(f"boot.py: qemu status {status}, {duration:.1f} s")
    print(f"boot.py: report: {report}")
    if report_ok(report):
        print("boot.py: OK")
        return 0
    print("boot.py: FAILED (need state running|degraded, target multi-user:active, lv)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
