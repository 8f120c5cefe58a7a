"""The one way the tests, the benchmarks and the image builds run a program: an argv list (never
a shell string), LC_ALL=C, stdin closed unless `input` is given, output captured as text. A
program that cannot start, times out or (with `check`) exits non-zero raises CommandFailed,
which names the command, its status and the tail of what it printed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

#: How much of a failed program's output an error carries.
TAIL = 3000


class CommandFailed(Exception):
    def __init__(self, argv: Sequence[str], why: str, stdout: str = "", stderr: str = "", returncode: int = -1):
        self.argv, self.returncode, self.stdout, self.stderr = list(argv), returncode, stdout, stderr
        output = "\n".join(part.strip()[-TAIL:] for part in (stdout, stderr) if part.strip())
        super().__init__(f"{' '.join(self.argv)}: {why}" + (f"\n{output}" if output else ""))


def run(
    argv: Sequence[str | Path],
    *,
    check: bool = True,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    replace_env: bool = False,
    cwd: Path | str | None = None,
    timeout: float | None = None,
    echo: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run one program. `env` is added to this process's environment (with `replace_env`, it is
    the whole environment). `echo`: say the command on stderr and let its output go there as it
    comes (a long build), instead of capturing it."""
    argv = [str(a) for a in argv]
    full_env = dict(env or {}) if replace_env else dict(os.environ, **(env or {}))
    full_env["LC_ALL"] = "C"
    if echo:
        print("+", " ".join(argv), file=sys.stderr, flush=True)
    try:
        proc = subprocess.run(
            argv,
            input=input,
            stdin=subprocess.DEVNULL if input is None else None,
            stdout=sys.stderr if echo else subprocess.PIPE,
            stderr=None if echo else subprocess.PIPE,
            text=True,
            errors="replace",
            env=full_env,
            cwd=cwd,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise CommandFailed(argv, f"timed out after {timeout:g} s") from e
    except OSError as e:
        raise CommandFailed(argv, f"cannot run it: {e}") from e
    if check and proc.returncode != 0:
        raise CommandFailed(argv, f"failed with status {proc.returncode}", proc.stdout, proc.stderr, proc.returncode)
    return proc
