"""Host tier: what needs no LVM — reading real images, checksums, refusals before any disk."""

from __future__ import annotations

import hashlib
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


def test_checksum_mismatch_is_refused_with_both_sums() -> None:
    img = IMAGES["tiny-ext4"]
    wrong = hashlib.sha256(b"something else").hexdigest()
    proc = onn("image", str(img["path"]), "--sha256", wrong)
    assert proc.returncode == 2
    assert f"expected {wrong}, got {img['sha256']}" in proc.stderr


def test_truncated_image_is_refused(tmp_path: Path) -> None:
    data = Path(str(IMAGES["tiny-ext4"]["path"])).read_bytes()
    cut = tmp_path / "cut.squashfs.img"
    cut.write_bytes(data[: len(data) // 2])
    proc = onn("image", str(cut))
    assert proc.returncode != 0
    assert "onn: error (image.truncated):" in proc.stderr and str(cut) in proc.stderr


def test_not_an_image_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "notes.txt"
    f.write_text("hello\n")
    proc = onn("image", str(f))
    assert proc.returncode == 2
    assert "is not a squashfs image" in proc.stderr


def test_dry_run_refuses_a_regular_file_as_disk_before_anything(tmp_path: Path) -> None:
    img = IMAGES["tiny-ext4"]
    fake = tmp_path / "disk.img"
    fake.write_bytes(b"\0" * 4096)
    proc = onn("install", "--image", str(img["path"]), "--pv", str(fake), "--boot", str(tmp_path), "--dry-run")
    assert proc.returncode == 2
    assert "is not a block device" in proc.stderr
    assert fake.read_bytes() == b"\0" * 4096


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
