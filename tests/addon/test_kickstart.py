"""The %addon org_ovirt_node section through pykickstart's real parser: every example parses
and round-trips. Invalid kickstarts are cases of the bad-input corpus (tests/bad)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from org_ovirt_node.kickstart import NodeKickstart, SectionError, format_size, parse_section, parse_size
from org_ovirt_node.ksvalidate import validate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "kickstart").glob("*.ks"))


def test_there_are_examples() -> None:
    assert {p.name for p in EXAMPLES} >= {"interactive-defaults.ks", "minimal-pxe.ks", "full-nist.ks"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_parses_and_round_trips(path: Path) -> None:
    errors, data = validate(path.read_text())
    assert errors == []
    assert data.seen
    # parse -> str -> parse gives the same data and the same text.
    text = str(data)
    errors2, again = validate("lang en_US.UTF-8\n" + text)
    assert errors2 == []
    assert again == data
    assert str(again) == text


def test_full_example_carries_every_setting() -> None:
    _, data = validate((ROOT / "kickstart/full-nist.ks").read_text())
    assert data.image == "nfs:nfs.example:/exports/node/ovirt-node-ng.squashfs.img"
    assert (data.volumes, data.vg, data.pool) == ("default", "onn", "pool00")
    assert (data.pool_metadata, data.root_size) == (2 << 30, 20 << 30)
    assert data.kernel_args == ["console=ttyS0,115200n8", "crashkernel=auto"]
    assert data.strict


def run_validator(path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "addon"))
    return subprocess.run(
        [sys.executable, "-m", "org_ovirt_node.ksvalidate", str(path)], capture_output=True, text=True, env=env
    )


def test_validator_cli_exit_status_and_output(tmp_path: Path) -> None:
    ok = run_validator(ROOT / "kickstart/minimal-pxe.ks")
    assert (ok.returncode, ok.stdout) == (0, "")
    ks = tmp_path / "unknown-key.ks"
    ks.write_text("lang en_US.UTF-8\n%addon org_ovirt_node\ncolour = blue\n%end\n")
    bad = run_validator(ks)
    assert bad.returncode == 1
    assert bad.stdout.startswith(f"{ks}:3: unknown key 'colour'")


def test_several_errors_are_all_reported(tmp_path: Path) -> None:
    ks = tmp_path / "many.ks"
    ks.write_text("lang en_US.UTF-8\n%addon org_ovirt_node\nvolumes = x\nroot-size = y\nfoo = 1\n%end\n")
    out = run_validator(ks)
    assert out.returncode == 1
    assert [line.split(":")[1] for line in out.stdout.splitlines()] == ["3", "4", "5"]


def test_sizes_agree_with_the_engine() -> None:
    import onn  # the engine's own parser (Rust)

    for text in ["1", "4096", "64k", "512M", "512MiB", "5G", "5GiB", "1T", "2gb"]:
        assert parse_size(text) == onn.parse_size(text), text
    assert parse_size("five") is None
    # What the engine refuses, the section refuses too: digits of other scripts, overflow.
    for text in ["١٢G", "99999999999999T", "-1"]:
        assert parse_size(text) is None, text
    assert [format_size(s) for s in (1 << 30, 3 << 29, 1536, 1000)] == ["1GiB", "1536MiB", "1536", "1000"]


def test_section_absent_writes_nothing() -> None:
    assert str(NodeKickstart()) == ""


def test_addon_logic_does_not_import_pyanaconda() -> None:
    assert "pyanaconda" not in sys.modules


@pytest.mark.parametrize("text", ["%en='ue\n%end", "%addon org_ovirt_node --image='file:///x\nvolumes = none\n%end"])
def test_fuzz_found_unclosed_quote_is_a_kickstart_error(text: str) -> None:
    """fuzz/python section: shlex's ValueError escaped parse_section."""
    with pytest.raises(SectionError) as e:
        parse_section(text)
    assert e.value.id == "ks.header-option" and "close its quotes" in e.value.message
