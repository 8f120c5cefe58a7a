"""The Python module `onn` on the host: image reading on real squashfs files, the exception
tree, the GIL released during real work, no process-wide side effects."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
from pathlib import Path

import onn
import pytest
from guestlib import Ticker
from testdata import IMAGE_NAMES, IMAGES


@pytest.mark.parametrize("name", IMAGE_NAMES)
def test_read_image_matches_the_cli(name: str) -> None:
    img = IMAGES[name]
    info = onn.read_image(str(img["path"]), sha256=str(img["sha256"]))
    assert info.nvr == img["nvr"]
    assert f"{info.name}-{info.version}-{info.release}" == info.nvr
    assert info.layout == img["layout"]
    assert info.kernels == img["kernel_versions"]
    assert info.sha256 == img["sha256"]
    cli = subprocess.run([os.environ["ONN_BIN"], "image", str(img["path"]), "--json"], capture_output=True, check=True)
    facts = json.loads(cli.stdout)
    facts["sha256"] = info.sha256  # the CLI was not given a checksum
    assert json.loads(info.to_json()) == facts


def test_exceptions_form_one_tree_with_stable_ids(tmp_path: Path) -> None:
    for cls in (onn.PreconditionError, onn.CommandError, onn.NotFoundError, onn.CancelledError, onn.RollbackError):
        assert issubclass(cls, onn.Error) and issubclass(cls, Exception)
    img = str(IMAGES["tiny-ext4"]["path"])
    with pytest.raises(onn.PreconditionError) as e:
        onn.read_image(img, sha256="0" * 64)
    assert e.value.id == "sha256.mismatch" and "checksum mismatch" in str(e.value)
    with pytest.raises(onn.NotFoundError) as nf:
        onn.read_image(str(tmp_path / "missing.img"))
    assert nf.value.id == "image.missing"
    # A squashfs whose superblock is sound but whose tables are zeros fails when mounted: a
    # command error carrying argv, status, stderr.
    cut = tmp_path / "cut.img"
    data = Path(img).read_bytes()
    cut.write_bytes(data[:96] + bytes(len(data) - 96))
    with pytest.raises(onn.CommandError) as ce:
        onn.read_image(str(cut))
    assert ce.value.argv[0] == "mount" and str(cut) in ce.value.argv
    assert ce.value.returncode not in (None, 0)
    assert ce.value.stderr_tail


def test_gil_is_released_while_hashing() -> None:
    """Another Python thread keeps running while onn verifies a 230 MB image."""
    img = IMAGES["demo-1.0"]
    with Ticker() as t:
        onn.read_image(str(img["path"]), sha256=str(img["sha256"]))
    assert t.ran_freely(), (t.ticks, t.elapsed)


def test_importing_and_using_onn_has_no_process_wide_side_effects() -> None:
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD)}
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    mnt_ns = os.readlink("/proc/self/ns/mnt")
    onn.read_image(str(IMAGES["tiny-ext4"]["path"]))
    assert {s: signal.getsignal(s) for s in handlers} == handlers
    assert (list(root.handlers), root.level) == before
    assert os.readlink("/proc/self/ns/mnt") == mnt_ns
    # Nothing of ours stays mounted.
    assert "onn-mnt." not in Path("/proc/self/mountinfo").read_text()


def test_plan_json_round_trips_and_sizes_parse() -> None:
    assert onn.parse_size("5G") == 5 << 30
    with pytest.raises(onn.PreconditionError):
        onn.parse_size("five")
    with pytest.raises(onn.PreconditionError) as e:
        onn.Plan.from_json("{}")
    assert "not an onn plan" in str(e.value)
    golden = Path(__file__).resolve().parents[2] / "rust/onn-core/tests/golden/plan-install.json"
    plan = onn.Plan.from_json(golden.read_text())
    assert json.loads(plan.to_json()) == json.loads(golden.read_text())
    assert plan == onn.Plan.from_json(plan.to_json())
    assert plan.step_ids[0] == "vg.create" and plan.step_ids[-3:] == ["vg.finish", "boot.entry", "report.write"]
    assert [v["mount"] for v in plan.volumes][:2] == ["/var", "/var/crash"]
    assert hashlib.sha256(plan.to_json().encode()).hexdigest()  # serializable text


def _image_file(img: dict[str, object], inner: str, tmp: Path) -> bytes:
    """A file's bytes read from the image with squashfs-tools and debugfs, not with onn."""
    path = str(img["path"])
    if img["layout"] == "tree":
        return subprocess.run(["unsquashfs", "-cat", path, inner], capture_output=True, check=True).stdout
    rootfs = tmp / "rootfs.img"
    with rootfs.open("wb") as out:
        subprocess.run(["unsquashfs", "-cat", path, "LiveOS/rootfs.img"], stdout=out, check=True)
    return subprocess.run(["debugfs", "-R", f"cat /{inner}", str(rootfs)], capture_output=True, check=True).stdout


@pytest.mark.parametrize("name", ["tiny-ext4", "tiny-tree"])
def test_export_boot_copies_each_kernel_and_initramfs_exactly(name: str, tmp_path: Path) -> None:
    img = IMAGES[name]
    dest = tmp_path / "payload"
    written = onn.export_boot(str(img["path"]), str(dest), sha256=str(img["sha256"]))
    info = onn.read_image(str(img["path"]))
    (kver,) = info.kernels
    assert written == [f"boot/vmlinuz-{kver}", f"boot/initramfs-{kver}.img"]
    assert sorted(p.name for p in (dest / "boot").iterdir()) == sorted(Path(w).name for w in written)
    initramfs = str(img["initramfs"]).lstrip("/")
    assert (dest / written[1]).read_bytes() == _image_file(img, initramfs, tmp_path)
    assert (dest / written[0]).read_bytes() == _image_file(img, f"boot/vmlinuz-{kver}", tmp_path)
    with pytest.raises(onn.PreconditionError):
        onn.export_boot(str(img["path"]), str(tmp_path / "never"), sha256="0" * 64)
    assert not (tmp_path / "never").exists()


def test_one_onn_writes_at_a_time_python_and_the_cli_alike() -> None:
    """The lock the addon's tasks take (`onn.lock`) is the CLI's: `onn recover` is refused
    while Python holds it, naming this process, and runs once it is let go."""
    with onn.lock("the host test holds the lock") as held:
        assert held.held
        with pytest.raises(onn.PreconditionError) as e:
            onn.lock("a second taker")
        assert e.value.id == "busy" and f"pid {os.getpid()}: the host test holds the lock" in str(e.value)
        cli = subprocess.run([os.environ["ONN_BIN"], "recover"], capture_output=True, text=True)
        assert cli.returncode == 2, cli.stderr
        assert f"onn: error (busy): another onn is running (pid {os.getpid()}: the host test holds" in cli.stderr
    assert not held.held
    # Free again: the CLI gets past the lock (an install of an image that does not exist is
    # refused for that, before anything is read, and not for the lock).
    argv = ["install", "--image", "/onn-no-such.img", "--pv", "/dev/vdb", "--boot", "/boot"]
    cli = subprocess.run([os.environ["ONN_BIN"], *argv], capture_output=True, text=True)
    assert "(image.missing)" in cli.stderr, cli.stderr
