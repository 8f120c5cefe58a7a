"""Run a command as root inside a User-Mode-Linux guest.

The host kernel has no device-mapper, so anything that needs LVM runs in a
UML guest whose root filesystem is the host's / (read-only, over hostfs).
Host binaries, the host Python and the repository are therefore visible at
the same paths in the guest.

    result = run(["lvm", "version"], cwd=Path.cwd(), disks=[disk_img])
    result.returncode, result.log

The command is handed over in a job directory on the host (job.json with
argv, cwd, env and rw_dirs); tests/support/guest-init prepares the guest and
starts tests/support/guest_exec.py, which runs the command with an argument
list (no shell) and writes its exit status back into the job directory.

CLI::

    python3 tests/support/uml.py [--disk FILE]... [--rw DIR]... [--mem 3G] \
        [--timeout S] [--env K=V]... [--log FILE] -- CMD ARGS...

See tests/support/README.md.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import hashlib
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
GUEST_INIT = HERE / "guest-init"
GUEST_EXEC = HERE / "guest_exec.py"
UML_BINARY = Path("/usr/bin/linux.uml")
XSTATE_SHIM = HERE / "uml-xstate.c"

#: status reported when the guest did not report one (panic, timeout, ...)
HARNESS_FAILURE = 125
#: UML supports at most 16 ubd devices
MAX_DISKS = 16
#: directories every guest command finds on PATH (after the Python bin dir)
SYSTEM_PATH = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")

#: guest-private mounts that hide the host's directories of the same name
GUEST_PRIVATE = ("/tmp", "/run", "/dev", "/proc", "/sys")

# Anything put on the kernel command line must survive its whitespace
# splitting and UML's option parsing (ubd uses ',' and ':' as separators).
_SAFE_PATH = re.compile(r"/[A-Za-z0-9._/+@%~-]*")
_MEM = re.compile(r"([0-9]+)([KMG]?)")


class UmlError(RuntimeError):
    """The guest could not be started (bad arguments, missing files)."""


@dataclass(frozen=True)
class GuestResult:
    returncode: int
    log: str
    duration: float = 0.0
    timed_out: bool = False


def _cmdline_path(path: Path, what: str) -> str:
    text = str(path)
    if not _SAFE_PATH.fullmatch(text):
        raise UmlError(
            f"{what} path {text!r} cannot be passed to UML: use only letters, digits and ._/+@%~- characters"
        )
    return text


def _hidden_in_guest(path: Path, rw_dirs: Sequence[Path]) -> bool:
    """True if ``path`` is shadowed by a guest-private mount (and no rw_dir)."""
    if any(path == d or d in path.parents for d in rw_dirs):
        return False
    return any(path == Path(p) or Path(p) in path.parents for p in GUEST_PRIVATE)


def _mem_bytes(mem: str) -> int:
    m = _MEM.fullmatch(mem)
    if not m:
        raise UmlError(f"bad memory size {mem!r}, expected e.g. 3G or 512M")
    scale = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2)]
    return int(m.group(1)) * scale


def _noexec_mounts() -> set[str]:
    result: set[str] = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) >= 4 and "noexec" in fields[3].split(","):
                result.add(fields[1])
    return result


def uml_tmpdir(mem_bytes: int) -> str:
    """Host directory for UML's memory file ($TMPDIR of the UML process).

    The file is as large as the guest RAM (sparse).  A tmpfs (/dev/shm) is
    fastest since nothing is written back to disk, but it must have room
    and allow exec mappings; otherwise fall back to /tmp, then /var/tmp.
    ONN_UML_TMPDIR overrides the choice.
    """
    override = os.environ.get("ONN_UML_TMPDIR")
    if override:
        return override
    noexec = _noexec_mounts()
    margin = 512 << 20
    for d in ("/dev/shm", "/tmp", "/var/tmp"):
        if d in noexec or not os.path.isdir(d) or not os.access(d, os.W_OK):
            continue
        st = os.statvfs(d)
        if st.f_bavail * st.f_frsize >= mem_bytes + margin:
            return d
    raise UmlError(f"no directory with {mem_bytes >> 20} MiB free for UML's memory file; set ONN_UML_TMPDIR")


def xstate_shim() -> Path:
    """The LD_PRELOAD library that lets Debian 12's UML save and restore FP registers on a
    host with a larger XSAVE area (AVX-512, AMX); see uml-xstate.c. Built with the host's gcc
    once per source version, in the cache the test images use."""
    source = XSTATE_SHIM.read_bytes()
    cache = Path(os.environ.get("ONN_CACHE") or Path.home() / ".cache/onn")
    lib = cache / "uml" / f"uml-xstate-{hashlib.sha256(source).hexdigest()[:12]}.so"
    if not lib.exists():
        lib.parent.mkdir(parents=True, exist_ok=True)
        tmp = lib.with_suffix(f".{os.getpid()}.tmp")
        proc = subprocess.run(
            ["/usr/bin/gcc", "-O2", "-Wall", "-shared", "-fPIC", "-o", str(tmp), str(XSTATE_SHIM), "-ldl"],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise UmlError(f"building {XSTATE_SHIM.name} failed: {proc.stderr.strip()}")
        tmp.rename(lib)
    return lib


def guest_env(env: Mapping[str, str]) -> dict[str, str]:
    """The command's environment: defaults, overridden by ``env``.

    PATH always ends up containing the host Python's bin dir and the system
    directories (missing ones are appended to a caller-provided PATH).
    LVM_SYSTEM_DIR is added in the guest unless given here.
    """
    py_bin = str(Path(sys.executable).parent)
    merged = {
        "PATH": ":".join((py_bin, *SYSTEM_PATH)),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "TMPDIR": "/tmp",
        "DM_DISABLE_UDEV": "1",
        "LVM_SUPPRESS_FD_WARNINGS": "1",
    }
    merged.update(env)
    parts = [p for p in merged["PATH"].split(":") if p]
    for p in (py_bin, *SYSTEM_PATH):
        if p not in parts:
            parts.append(p)
    merged["PATH"] = ":".join(parts)
    return merged


def _session_members(sid: int) -> list[int]:
    pids: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp session ...; comm may contain spaces
        fields = stat[stat.rfind(")") + 2 :].split()
        # zombies are dead already (the session leader stays one until reaped)
        if len(fields) >= 4 and int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def kill_session(sid: int, wait: float = 10.0) -> list[int]:
    """SIGKILL every process of session ``sid``; return the survivors."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(sid, signal.SIGKILL)
    deadline = time.monotonic() + wait
    while True:
        left = _session_members(sid)
        if not left or time.monotonic() > deadline:
            return left
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


class _ConsoleReader(threading.Thread):
    """Collects (and optionally echoes/saves) the guest console output."""

    def __init__(self, fd: int, stream: IO[str] | None, log: IO[str] | None):
        super().__init__(daemon=True)
        self.fd = fd
        self.stream = stream
        self.logfile = log
        self.parts: list[str] = []
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def _emit(self, text: str) -> None:
        text = text.replace("\r", "")
        if not text:
            return
        self.parts.append(text)
        for out in (self.stream, self.logfile):
            if out is not None:
                out.write(text)
                out.flush()

    def run(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                break
            if not data:
                break
            self._emit(self._decoder.decode(data))
        self._emit(self._decoder.decode(b"", final=True))

    def text(self) -> str:
        return "".join(self.parts)


def run(
    argv: list[str],
    *,
    disks: Sequence[Path] = (),
    cwd: Path,
    env: Mapping[str, str] = {},
    rw_dirs: Sequence[Path] = (),
    mem: str = "3G",
    timeout: float = 1800,
    log: Path | None = None,
    stream: bool = False,
    nic: bool = False,
) -> GuestResult:
    """Run ``argv`` as root in a UML guest and return its status and console.

    ``disks`` are attached read-write as ubd0.. (/dev/ubda, /dev/ubdb, ...).
    ``rw_dirs`` are host directories mounted read-write at the same paths in
    the guest; everything else of the host is read-only and /tmp is a tmpfs
    in guest RAM.  ``nic`` gives the guest an Ethernet device, eth0, on UML's
    multicast transport (no host device or privilege; TTL 0 keeps its frames on this
    host), for what needs a network card rather than a network.  The returncode is the
    command's, or 125 when the guest died without reporting one (kernel panic, timeout,
    setup failure).
    """
    if not argv or not all(isinstance(a, str) for a in argv):
        raise UmlError("argv must be a non-empty list of strings")
    cwd = Path(cwd).resolve()
    if not cwd.is_dir():
        raise UmlError(f"cwd {cwd} is not a directory")
    if len(disks) > MAX_DISKS:
        raise UmlError(f"at most {MAX_DISKS} disks, got {len(disks)}")
    if not UML_BINARY.exists():
        raise UmlError(f"{UML_BINARY} not found (apt-get install user-mode-linux)")
    mem_bytes = _mem_bytes(mem)

    ubd: list[str] = []
    for i, disk in enumerate(disks):
        path = Path(disk).resolve()
        if not path.exists():
            raise UmlError(f"disk {path} does not exist")
        ubd.append(f"ubd{i}={_cmdline_path(path, 'disk')}")
    rw: list[str] = []
    for d in rw_dirs:
        path = Path(d).resolve()
        if not path.is_dir():
            raise UmlError(f"rw dir {path} is not a directory")
        rw.append(_cmdline_path(path, "rw dir"))

    if _hidden_in_guest(cwd, [Path(d) for d in rw]):
        # A checkout under /tmp (CI clones anywhere) would be shadowed by the guest's private
        # tmpfs: mount the working directory itself over hostfs, at the same path.
        rw.insert(0, _cmdline_path(cwd, "cwd"))

    jobdir = Path(tempfile.mkdtemp(prefix="onn-uml-"))
    try:
        job = {
            "argv": list(argv),
            "cwd": str(cwd),
            "env": guest_env(env),
            "rw_dirs": rw,
        }
        (jobdir / "job.json").write_text(json.dumps(job, indent=1), encoding="utf-8")
        cmd = [
            str(UML_BINARY),
            f"mem={mem}",
            "root=/dev/root",
            "rootfstype=hostfs",
            "rootflags=/",
            "ro",
            "quiet",
            "con=null",
            "con0=fd:0,fd:1",
            *ubd,
            *(["eth0=mcast,,239.255.77.1,1102,0"] if nic else []),
            f"onn_job={_cmdline_path(jobdir, 'job dir')}",
            # The job runner needs only the standard library: start it with the real
            # interpreter, not a venv's link that may sit under the guest-private /tmp.
            f"onn_py={_cmdline_path(Path(sys.executable).resolve(), 'python')}",
            f"onn_exec={_cmdline_path(GUEST_EXEC, 'guest_exec.py')}",
            # /bin/sh runs the script, so it needs no exec bit
            "init=/bin/sh",
            "--",
            _cmdline_path(GUEST_INIT, "guest-init"),
        ]
        tmp = uml_tmpdir(mem_bytes)
        uml_env = {
            "PATH": ":".join(SYSTEM_PATH),
            "HOME": os.environ.get("HOME", "/root"),
            "TMPDIR": tmp,
            "TMP": tmp,
            "TEMP": tmp,
            "LD_PRELOAD": str(xstate_shim()),
        }
        return _run_uml(cmd, uml_env, jobdir, timeout, log, stream)
    finally:
        shutil.rmtree(jobdir, ignore_errors=True)


def _run_uml(
    cmd: list[str],
    uml_env: dict[str, str],
    jobdir: Path,
    timeout: float,
    log: Path | None,
    stream: bool,
) -> GuestResult:
    start = time.monotonic()
    timed_out = False
    logfile = open(log, "w", encoding="utf-8") if log is not None else None  # noqa: SIM115
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=uml_env,
            start_new_session=True,
        )
        assert proc.stdout is not None
        reader = _ConsoleReader(proc.stdout.fileno(), sys.stdout if stream else None, logfile)
        reader.start()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            # UML runs as many host processes (one per guest process plus
            # helper threads); leave none behind, whatever happened.
            survivors = kill_session(proc.pid)
            proc.wait()
            reader.join(timeout=10)
            proc.stdout.close()
        duration = time.monotonic() - start

        notes: list[str] = []
        if survivors:
            notes.append(f"uml.py: WARNING: processes left behind: {survivors}")
        status_file = jobdir / "status"
        returncode: int | None = None
        if status_file.exists():
            with contextlib.suppress(ValueError):
                returncode = int(status_file.read_text().strip())
        if returncode is None:
            returncode = HARNESS_FAILURE
            if timed_out:
                why = f"timed out after {timeout:g} s"
            else:
                why = (
                    f"exited (UML status {proc.returncode}) without reporting a "
                    "status: kernel panic or init failure, see the log above"
                )
            notes.append(f"uml.py: guest {why}; reporting {HARNESS_FAILURE}")
        elif timed_out:
            notes.append(f"uml.py: guest killed after {timeout:g} s timeout")
        text = "".join(f"{n}\n" for n in notes)
        if text:
            reader._emit(text)
        return GuestResult(returncode, reader.text(), duration, timed_out)
    finally:
        if logfile is not None:
            logfile.close()


def main(args: list[str] | None = None) -> int:
    args = sys.argv[1:] if args is None else args
    if "--" in args:
        split = args.index("--")
        opts, command = args[:split], args[split + 1 :]
    else:
        opts, command = args, []
    parser = argparse.ArgumentParser(
        prog="uml.py",
        usage="%(prog)s [--disk FILE]... [--rw DIR]... [--mem 3G] "
        "[--timeout S] [--env K=V]... [--log FILE] -- CMD ARGS...",
        description="Run CMD as root in a User-Mode-Linux guest (cwd = current directory); exit with its status.",
    )
    parser.add_argument("--disk", action="append", default=[], type=Path)
    parser.add_argument("--rw", action="append", default=[], type=Path)
    parser.add_argument("--mem", default="3G")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--env", action="append", default=[], metavar="K=V")
    parser.add_argument("--log", type=Path)
    ns = parser.parse_args(opts)
    if not command:
        parser.error("no command given (put it after --)")
    env: dict[str, str] = {}
    for item in ns.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"--env wants K=V, got {item!r}")
        env[key] = value
    try:
        result = run(
            command,
            disks=ns.disk,
            cwd=Path.cwd(),
            env=env,
            rw_dirs=ns.rw,
            mem=ns.mem,
            timeout=ns.timeout,
            log=ns.log,
            stream=True,
        )
    except UmlError as exc:
        print(f"uml.py: {exc}", file=sys.stderr)
        return HARNESS_FAILURE
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
