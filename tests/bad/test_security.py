"""No shell strings anywhere: every program onn, the addon, the tests and the scripts run is
started from an argv list (one runner per language), never through a shell that would
interpret a path, an NVR or a kickstart value."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What starts a shell or interprets a command string, in Python and in Rust.
SHELL_INVOCATIONS = re.compile(
    r"""\b(?:ba|z|da)?sh["']?\s*,?\s*["']-c\b"""  # sh -c, bash -c, ["sh", "-c", …]
    r"""|shell\s*=\s*True"""
    r"""|\bos\.(?:system|popen|exec[lv]p?e?|spawn[lv]p?e?)\s*\("""
    r"""|\bsubprocess\.(?:getoutput|getstatusoutput)\s*\("""
    r"""|\bpty\.spawn\s*\("""
    r"""|Command::new\(\s*"(?:/bin/|/usr/bin/)?(?:ba|z|da)?sh"\s*\)"""
    r"""|\bCmd::new\(\s*"(?:ba|z|da)?sh"\s*\)"""
)
# This file names the patterns it looks for.
EXEMPT = {"tests/bad/test_security.py"}


def tracked_sources() -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--", "*.py", "*.rs"], capture_output=True, check=True
    ).stdout
    return [p for p in out.decode().split("\0") if p]


def test_there_are_sources_to_check() -> None:
    files = tracked_sources()
    assert "rust/onn-core/src/ground/runner.rs" in files and "addon/org_ovirt_node/runner.py" in files


def test_no_source_starts_a_shell() -> None:
    found = [
        f"{path}:{n}: {line.strip()}"
        for path in tracked_sources()
        if path not in EXEMPT
        for n, line in enumerate((ROOT / path).read_text().splitlines(), start=1)
        if SHELL_INVOCATIONS.search(line)
    ]
    assert found == []


def test_the_pattern_finds_what_it_must() -> None:
    for line in [
        'subprocess.run(["sh", "-c", cmd])',
        "subprocess.run(['/bin/bash', '-c', cmd])",
        "subprocess.run(cmd, shell=True)",
        "os.system(cmd)",
        "os.popen(cmd)",
        "subprocess.getoutput(cmd)",
        'Command::new("sh").arg("-c")',
        'Command::new("/bin/bash")',
        'Cmd::new("sh").args(["-c", s])',
    ]:
        assert SHELL_INVOCATIONS.search(line), line
    for line in ['Cmd::new("mount").args(["-o", "ro"])', 'run(["lvm", "vgchange", "-an", vg])', "os.environ"]:
        assert not SHELL_INVOCATIONS.search(line), line
