"""The addon's one way to run a program: an argv list, never a shell string; tools resolved in
fixed system directories; `LC_ALL=C`; stdin closed. A failure names the command and carries
the tail of its stderr."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence

TOOL_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
STDERR_TAIL = 2000

Runner = Callable[[Sequence[str]], str]


class CommandError(Exception):
    def __init__(self, argv: Sequence[str], returncode: int | None, stderr: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr_tail = stderr[-STDERR_TAIL:]
        super().__init__(f"{' '.join(self.argv)} failed (status {returncode}): {self.stderr_tail.strip()}")


def run(argv: Sequence[str]) -> str:
    """Run argv and return its stdout; raise CommandError when it fails."""
    if isinstance(argv, str):
        raise TypeError("argv must be a list of arguments, not a command string")
    tool = argv[0] if os.path.isabs(argv[0]) else shutil.which(argv[0], path=TOOL_PATH)
    if tool is None:
        raise CommandError(argv, None, f"{argv[0]} is not installed in {TOOL_PATH}")
    env = {"PATH": TOOL_PATH, "LC_ALL": "C"}
    try:
        done = subprocess.run(
            [tool, *argv[1:]], stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, check=False
        )
    except OSError as e:
        raise CommandError(argv, None, str(e)) from e
    if done.returncode != 0:
        raise CommandError(argv, done.returncode, done.stderr)
    return done.stdout
