"""Host tier: what needs no LVM — reading real images (their refusals: tests/bad)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

IMAGES = json.loads(Path(os.environ["ONN_IMAGES"]).read_text())


def onn(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([os.environ["ONN_BIN"], *args], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_image_facts_match_what_was_built(name: str) -> None:
    img = IMAGES[name]
    proc = onn("image", str(img["path"]), "--sha256", str(img["sha256"]), "--json")
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout)
    nvr = facts["nvr"]
    assert f"{nvr['name']}-{nvr['version']}-{nvr['release']}" == img["nvr"]
    assert facts["layout"] == img["layout"]
    assert facts["sha256"] == img["sha256"]
    assert [k["version"] for k in facts["kernels"]] == img["kernel_versions"]
    if img["layout"] == "liveos":
        assert facts["fs"] == img["fs"]
        assert facts["rootfs_size"] == img["rootfs_size"]


def test_a_log_reader_that_goes_away_does_not_break_onn() -> None:
    """If whoever reads onn's stderr dies (a closed pipe), onn still finishes and cleans up."""
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        [os.environ["ONN_BIN"], "-vv", "image", str(IMAGES["tiny-ext4"]["path"])],
        stdout=subprocess.DEVNULL,
        stderr=write_end,
    )
    os.close(write_end)
    assert os.read(read_end, 64)  # the first log line arrived
    os.close(read_end)
    assert proc.wait() == 0
    assert "onn-mnt." not in Path("/proc/self/mountinfo").read_text()
