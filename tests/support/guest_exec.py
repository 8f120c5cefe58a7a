"""Job runner inside the User-Mode-Linux guest (started by tests/support/guest-init).

Usage (guest only): python3 -I guest_exec.py JOBDIR

JOBDIR is the host job directory mounted read-write over hostfs.  It holds
``job.json`` written by tests/support/uml.py::

    {"argv": [...], "cwd": "/abs", "env": {...}, "rw_dirs": ["/abs", ...]}

The runner mounts every rw_dir read-write at the same path, runs argv (an
argument list, never through a shell) with the given cwd and environment,
flushes everything to the host and writes the exit status to JOBDIR/status.
It uses the standard library only and must not import anything from the repo.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

PREFIX = "onn-guest:"


def say(msg: str) -> None:
    print(f"{PREFIX} {msg}", flush=True)


def mount_rw_dirs(dirs: list[str]) -> list[str]:
    """Mount host dirs read-write at the same guest paths; parents first."""
    mounted: list[str] = []
    for d in sorted(dirs, key=lambda p: (p.count("/"), p)):
        os.makedirs(d, exist_ok=True)
        proc = subprocess.run(
            ["/usr/bin/mount", "-t", "hostfs", "none", d, "-o", d],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"mount of rw dir {d} failed: {proc.stderr.strip()}")
        mounted.append(d)
    return mounted


def umount_all(dirs: list[str]) -> None:
    for d in reversed(dirs):
        subprocess.run(
            ["/usr/bin/umount", d],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )


def run_job(job: dict[str, object]) -> int:
    argv = job["argv"]
    cwd = job["cwd"]
    env = job["env"]
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv)
    assert isinstance(cwd, str)
    assert isinstance(env, dict)
    env = dict(env)
    # set up by guest-init; the job may override
    for key in ("LVM_SYSTEM_DIR",):
        if key not in env and key in os.environ:
            env[key] = os.environ[key]
    # the modprobe wrapper that knows where the UML modules are
    if os.path.isdir("/run/onn/bin"):
        env["PATH"] = "/run/onn/bin:" + env.get("PATH", "/usr/sbin:/usr/bin")
    if not os.path.isdir(cwd):
        say(f"cwd {cwd} does not exist in the guest")
        return 125
    say(f"run {argv!r} in {cwd}")
    try:
        proc = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, check=False)
    except FileNotFoundError as exc:
        say(f"cannot execute {argv[0]!r}: {exc}")
        return 127
    except PermissionError as exc:
        say(f"cannot execute {argv[0]!r}: {exc}")
        return 126
    except OSError as exc:
        say(f"cannot start {argv[0]!r}: {exc}")
        return 126
    rc = proc.returncode
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = str(-rc)
        say(f"command killed by signal {name}")
        rc = 128 - rc
    return rc


def write_status(jobdir: Path, rc: int) -> None:
    tmp = jobdir / "status.tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{rc}\n")
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, jobdir / "status")


def main() -> int:
    if len(sys.argv) != 2:
        say("usage: guest_exec.py JOBDIR")
        return 2
    jobdir = Path(sys.argv[1])
    mounted: list[str] = []
    try:
        job = json.loads((jobdir / "job.json").read_text(encoding="utf-8"))
        rw_dirs = job.get("rw_dirs", [])
        assert isinstance(rw_dirs, list)
        mounted = mount_rw_dirs([str(d) for d in rw_dirs])
        rc = run_job(job)
    except Exception as exc:  # noqa: BLE001 - report anything as status 125
        say(f"job setup failed: {type(exc).__name__}: {exc}")
        rc = 125
    # Data written to hostfs and ubd goes through the guest page cache:
    # flush it before reporting, the init powers off without syncing again.
    os.sync()
    umount_all(mounted)
    say(f"exit status {rc}")
    write_status(jobdir, rc)
    os.sync()
    return 0


if __name__ == "__main__":
    sys.exit(main())
