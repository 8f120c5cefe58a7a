"""The bad-input corpus (tests/bad/cases.toml): loading, checking its shape, and reading onn's errors.

Shared by the host runner (tests/bad/test_bad_host.py) and the guest runner
(tests/guest/test_vm_bad.py)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

CASES_TOML = Path(__file__).resolve().parents[1] / "bad" / "cases.toml"
TIERS = ("kickstart", "image", "guest")
# Disk preparations the guest runner implements (tests/guest/test_vm_bad.py).
DISK_SETUPS = (
    "free",
    "mounted",
    "swap",
    "dm-holder",
    "loop-holder",
    "exclusive",
    "xfs",
    "partitioned",
    "other-vg",
    "small-disk",
    "small-boot",
    "installed",
    "adopt-no-var",
    "node-three-disks",
    "node-foreign-lv",
    "node-storage-domain",
)
# The download directory is the case's own: an RPM's image is unpacked there (the guest's
# /var/tmp is read-only), and a refused one leaves nothing (checked on the host).
DEFAULT_ARGV = [
    "install", "--image", "{image}", "--pv", "{pv}", "--boot", "{boot}", "--volumes", "minimal",
    "--download-dir", "{tmp}",
]  # fmt: skip
# How the CLI reports an error: `onn: error (ID): MESSAGE` (rust/onn-cli).
_CLI_ERROR = re.compile(r"^onn: error \(([a-z0-9.-]+)\): (.*)$", re.M)


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    tier: str
    exit: int
    id: str
    message: str
    kickstart: str | None = None
    line: int | None = None
    image: str = "tiny-ext4"
    disks: str = "free"
    args: list[str] = field(default_factory=list)
    argv: list[str] | None = None

    def command(self) -> list[str]:
        """The onn argv of a guest run (placeholders not yet filled in)."""
        if self.argv is not None:
            return list(self.argv)
        return [*DEFAULT_ARGV, *self.args]


def load() -> list[Case]:
    raw = tomllib.loads(CASES_TOML.read_text())["case"]
    return [Case(**c) for c in raw]


def cli_error(stderr: str) -> tuple[str, str]:
    """(id, message) of the error onn printed; fails the test when there is none."""
    m = _CLI_ERROR.search(stderr)
    assert m, f"no `onn: error (ID): …` line in:\n{stderr}"
    return m.group(1), m.group(2)


def check_refusal(case: Case, returncode: int, stderr: str) -> None:
    """The run gave the case's exit status, id and message."""
    error_id, message = cli_error(stderr)
    assert (returncode, error_id) == (case.exit, case.id), stderr
    assert re.search(case.message, message), f"{case.message!r} not in {message!r}"


def image_path(
    spec: str,
    images: dict[str, dict[str, object]],
    bad_images: dict[str, str],
    tmp: Path,
    signed: dict[str, str] | None = None,
) -> str:
    """A case's image: a tests/images name, `bad:NAME` (tests/bad/images.py), `signed:NAME`
    (tests/images/signed.py), or a path."""
    if spec.startswith("bad:"):
        return bad_images[spec[len("bad:") :]]
    if spec.startswith("signed:"):
        assert signed is not None, spec
        return signed[spec[len("signed:") :]]
    if spec in images:
        return str(images[spec]["path"])
    return spec.format(tmp=tmp)


def fill(argv: list[str], values: dict[str, object]) -> list[str]:
    """The argv with its placeholders filled in; `{signed[NAME]}` names the signed material."""
    return [a.format(**values) for a in argv]
