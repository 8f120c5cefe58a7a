"""Host tier: what needs no LVM — reading real images (their refusals: tests/bad)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from testdata import IMAGE_NAMES, IMAGES


def onn(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([os.environ["ONN_BIN"], *args], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("name", IMAGE_NAMES)
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


def test_onn_image_lists_the_efi_boot_files_an_esp_gets() -> None:
    """The demo image carries shim, GRUB and the BOOT fallback in /boot/efi/EFI (Debian's
    signed builds); a tiny test tree has none: BIOS only."""
    facts = json.loads(onn("image", str(IMAGES["demo-1.0"]["path"]), "--json").stdout)
    files = {f["path"]: f["size"] for f in facts["efi_files"]}
    for path in ("EFI/BOOT/BOOTX64.EFI", "EFI/BOOT/grubx64.efi", "EFI/debian/shimx64.efi", "EFI/debian/grub.cfg"):
        assert files.get(path, 0) > 0, (path, files)
    assert files["EFI/BOOT/BOOTX64.EFI"] == files["EFI/debian/shimx64.efi"]  # shim is the fallback
    text = onn("image", str(IMAGES["demo-1.0"]["path"])).stdout
    assert f"efi:     {len(files)} files" in text
    assert "efi:     none (BIOS only)" in onn("image", str(IMAGES["tiny-ext4"]["path"])).stdout


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


# node-tiny-no-<item> and node-tiny-with-dev-urandom: images built to lack one thing each
# (tests/images/build.py) → the item of onn's warning.
UPDATE_WARNED = {
    name: name.removeprefix("node-tiny-").removeprefix("no-").removeprefix("with-")
    for name in IMAGE_NAMES
    if name.startswith("node-tiny-")
}


@pytest.mark.parametrize("name", ["demo-1.0", "node-tiny"])
def test_an_image_with_what_imgbased_reads_has_no_warning(name: str) -> None:
    proc = onn("image", str(IMAGES[name]["path"]), "--strict")
    assert proc.returncode == 0, proc.stderr
    assert "warning:" not in proc.stdout


@pytest.mark.parametrize("name", sorted(UPDATE_WARNED))
def test_onn_image_names_what_imgbased_would_lack_to_update_it(name: str) -> None:
    item = UPDATE_WARNED[name]
    facts = json.loads(onn("image", str(IMAGES[name]["path"]), "--json").stdout)
    assert [w["id"] for w in facts["warnings"]] == [f"image.update.{item}"]
    (message,) = [w["message"] for w in facts["warnings"]]
    assert message.startswith("the image installs, but the host's imgbased will not be able to update it, because ")
    text = onn("image", str(IMAGES[name]["path"]))
    assert text.returncode == 0 and f"warning: {message} (image.update.{item})" in text.stdout
    # --strict makes it a refusal, with the same id.
    strict = onn("image", str(IMAGES[name]["path"]), "--strict")
    assert strict.returncode == 2
    assert f"error (image.update.{item}): {message} (refused: strict)" in strict.stderr
