"""Host tier of the bad-input corpus: its shape, the kickstart cases through pykickstart's
real parser, the image cases through `onn image`, and README.md's list of every error id."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import onn
import pytest
from corpus import DISK_SETUPS, TIERS, Case, check_refusal, fill, image_path, load
from org_ovirt_node.ksvalidate import validate

ROOT = Path(__file__).resolve().parents[2]
CASES = load()


def of_tier(tier: str) -> list[Case]:
    return [c for c in CASES if c.tier == tier]


def test_the_corpus_is_well_formed() -> None:
    assert len(CASES) >= 30
    names = [c.name for c in CASES]
    assert len(set(names)) == len(names), "case names must be unique"
    for c in CASES:
        assert re.fullmatch(r"[a-z0-9-]+", c.name), c.name
        assert c.tier in TIERS, c.name
        assert c.what and c.message and re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", c.id), c.name
        re.compile(c.message)
        assert (c.tier == "kickstart") == (c.kickstart is not None) == (c.line is not None), c.name
        assert c.disks in DISK_SETUPS, c.name
        assert not (c.args and c.argv), f"{c.name}: give args (added to the default) or argv, not both"


@pytest.mark.parametrize("case", of_tier("kickstart"), ids=lambda c: c.name)
def test_kickstart_case_is_refused_on_its_line(case: Case, tmp_path: Path) -> None:
    assert case.kickstart is not None
    errors, _ = validate(case.kickstart)
    found = [e for e in errors if e.line == case.line and e.id == case.id and re.search(case.message, e.message)]
    assert found, errors
    # What a user runs before a deployment: exit status and `FILE:LINE: message`.
    ks = tmp_path / f"{case.name}.ks"
    ks.write_text(case.kickstart)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "addon"))
    proc = subprocess.run(
        [sys.executable, "-m", "org_ovirt_node.ksvalidate", str(ks)], capture_output=True, text=True, env=env
    )
    assert proc.returncode == case.exit
    where = f"{ks}:{case.line}: " if case.line else f"{ks}: "
    assert any(line.startswith(where) and re.search(case.message, line) for line in proc.stdout.splitlines())


@pytest.mark.parametrize("case", of_tier("image"), ids=lambda c: c.name)
def test_image_case_is_refused_by_onn_image(
    case: Case, images: dict, bad_images: dict, signed: dict, tmp_path: Path
) -> None:
    image = image_path(case.image, images, bad_images, tmp_path, signed)
    args = fill(case.args, {"tmp": str(tmp_path), "signed": signed})
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    proc = subprocess.run(
        [os.environ["ONN_BIN"], "image", image, *args, "--download-dir", str(downloads)], capture_output=True, text=True
    )
    check_refusal(case, proc.returncode, proc.stderr)
    assert "onn-mnt." not in Path("/proc/self/mountinfo").read_text()
    # An RPM's image is unpacked into a private directory: nothing is left of a refused one.
    assert list(downloads.iterdir()) == []


def _ids_in(pattern: str, paths: list[Path]) -> set[str]:
    return {m for p in paths for m in re.findall(pattern, p.read_text())}


def engine_ids() -> set[str]:
    """Every error id of the engine, and the image's warnings (refusals with --strict)."""
    return set(onn.ERROR_IDS)


def test_every_engine_id_has_a_translated_message_in_the_addon() -> None:
    """The addon shows each of onn's errors and warnings in the user's language, not onn's
    English (the download ids have their own messages, with the URL)."""
    from org_ovirt_node.installer import DOWNLOAD_ERRORS
    from org_ovirt_node.messages import ERROR_MESSAGES

    ids = engine_ids()
    assert len(ids) > 70
    assert sorted(ids - set(ERROR_MESSAGES) - set(DOWNLOAD_ERRORS)) == [], "ids without a message in messages.py"


def test_every_error_id_is_explained_in_the_readme() -> None:
    """README.md's "When things go wrong" lists every id the engine, the kickstart section and
    the corpus use, and nothing else."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## When things go wrong\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([a-z0-9.-]+)` \|", section, re.M))
    engine = engine_ids()
    sources = [ROOT / "addon/org_ovirt_node" / f for f in ("kickstart.py", "ksvalidate.py")]
    kickstart = _ids_in(r'"(ks\.[a-z0-9.-]+)"', sources)
    corpus = {c.id for c in CASES}
    assert len(engine) > 50 and len(kickstart) > 10
    assert sorted((engine | kickstart | corpus) - listed) == [], "ids missing in README.md's When things go wrong"
    assert sorted(listed - engine - kickstart) == [], "ids in README.md that nothing emits"
