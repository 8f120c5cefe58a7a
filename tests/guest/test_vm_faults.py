"""Every interruption converges (guest tier, real lvm2).

An install is killed (SIGKILL: no undo, no unmount, like a crash or an OOM kill) at each of its
fault points in turn: every program it runs, every file it writes, the middle of the copy
(the onn under test is built with `fault-injection`; see rust/onn-core/src/ground/fault.rs). Run
again, the same command must end as a correct install; `onn recover` instead must leave
clean disks. A pool that fills up while the base is written must fail clearly, keep nothing
registered and give back what it wrote."""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from guestlib import (
    GIB,
    Disks,
    Mounted,
    assert_imgbased_layout,
    blkid,
    lvs,
    onn,
    pool_used,
    run,
    stopped_onn,
    tree_manifest,
    vg_tags,
)

IMAGE = "tiny-ext4"


def install_argv(img: dict[str, object], pv: str, boot: str) -> list[str]:
    return [
        "install",
        "--image",
        str(img["path"]),
        "--sha256",
        str(img["sha256"]),
        "--pv",
        pv,
        "--boot",
        boot,
        "--volumes",
        "minimal",
    ]


Manifests = tuple[dict[str, tuple[object, ...]], dict[str, tuple[object, ...]]]


@pytest.fixture(scope="module")
def want(images: dict[str, dict[str, object]], tmp_path_factory: pytest.TempPathFactory) -> Manifests:
    """The image's root and /var: what every install must reproduce."""
    where = tmp_path_factory.mktemp("image")
    with Mounted(str(images[IMAGE]["path"]), where / "sq", "ro,loop") as sq:
        with Mounted(str(sq / "LiveOS/rootfs.img"), where / "root", "ro,loop,noload") as root:
            return tree_manifest(root), tree_manifest(root / "var")


def fault_points(img: dict[str, object], tmp_path: Path, want: Manifests | None = None) -> list[tuple[int, int, str]]:
    """(point, plan step, what) of every fault point of the install, from a run that is not
    killed (step 0: before the first step); `want` given, that run is checked as an install.
    It is the second of two such runs: the first install a guest sees also writes LVM's
    imgbased-pool profile into the guest's profile directory, a fault point that the later
    (killed) runs do not have."""
    for name in ("first", "listing"):
        where = tmp_path / name
        where.mkdir()
        d = Disks(where)
        try:
            boot, pv = d.boot(), d.add("pv0", 12 * GIB)
            proc = onn("-v", *install_argv(img, pv, boot), env={"ONN_KILL_AT": "0"})
            if want is not None:
                assert_installed(img, boot, want, where)
        finally:
            d.release()
    points, step = [], 0
    for line in proc.stderr.splitlines():
        if m := re.search(r"\[(\d+)/\d+\] ", line):
            step = int(m.group(1))
        elif m := re.search(r"fault point (\d+): (.*)", line):
            points.append((int(m.group(1)), step, m.group(2)))
    assert [n for n, _, _ in points] == list(range(1, len(points) + 1)), proc.stderr[-1500:]
    return points


def kill_points(points: list[tuple[int, int, str]], offset: int, step: int) -> list[int]:
    """The points to kill at. ONN_KILL_POINTS=all (make test-full): every step-th point.
    Otherwise (make test) one point of every plan step, chosen by ONN_KILL_SEED + offset: the
    same for the same seed, another for the next, so that CI runs rotate through them all."""
    if os.environ.get("ONN_KILL_POINTS") == "all":
        return [n for n, _, _ in points][::step]
    seed = int(os.environ.get("ONN_KILL_SEED", "0")) + offset
    by_step: dict[int, list[int]] = {}
    for n, s, _ in points:
        by_step.setdefault(s, []).append(n)
    return [ns[seed % len(ns)] for _, ns in sorted(by_step.items())]


def at_kills(
    img: dict[str, object],
    tmp_path: Path,
    points: list[tuple[int, int, str]],
    kills: list[int],
    then: Callable[[Path, str, str], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """For each point in `kills`: run the install on fresh disks, killed there; then
    `then(where, pv, boot)` checks what comes next. The points are printed, so that a run
    can be repeated with its ONN_KILL_SEED."""
    with capsys.disabled():
        print(f"\nkilling at fault points {kills} of {len(points)}")
    for n in kills:
        where = tmp_path / f"n{n}"
        where.mkdir()
        d = Disks(where)
        try:
            boot, pv = d.boot(), d.add("pv0", 12 * GIB)
            proc = onn("-v", *install_argv(img, pv, boot), check=False, env={"ONN_KILL_AT": str(n)})
            killed = re.findall(r"fault point (\d+): (.*)", proc.stderr)
            assert proc.returncode == -signal.SIGKILL and killed[-1][0] == str(n), proc.stderr[-1500:]
            try:
                then(where, pv, boot)
            except AssertionError as e:
                raise AssertionError(f"killed at point {n} ({killed[-1][1]}): {e}") from e
        finally:
            d.release()


def stale_mounts() -> list[str]:
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines() if "onn-mnt." in line]


def assert_installed(img: dict[str, object], boot: str, want: Manifests, where: Path) -> None:
    """What a user checks after an install: imgbased's layout, no leftovers, a base that is the
    image, a layer of its own, /var with the image's content, one boot entry, the default."""
    nvr = str(img["nvr"])
    layer = f"{nvr}+1"
    lv = assert_imgbased_layout(nvr, layer, ["var"])
    assert "onn:unfinished" not in vg_tags()
    assert sorted(lv) == sorted([nvr, layer, "pool00", "var"])
    assert not stale_mounts()
    run(["lvm", "lvchange", "--activate", "y", "--ignoreactivationskip", f"onn/{nvr}"])
    assert blkid(f"/dev/onn/{nvr}", "UUID") != blkid(f"/dev/onn/{layer}", "UUID")
    with Mounted(f"/dev/onn/{nvr}", where / "base", "ro,noload") as base:
        assert tree_manifest(base) == want[0]
    with Mounted("/dev/onn/var", where / "var", "ro,noload") as var:
        # The image's /var, imgbased's mark of a host with /var only (--volumes minimal), and
        # the install report of the run that completed it (and of one killed while it was
        # unmounting what it wrote the report with: its report is whole, written at once).
        got = tree_manifest(var)
        assert got.pop("imgbased/.skip-volumes")[0] == "file" and got.pop("imgbased")[0] == "dir"
        reports = [k for k in got if k.startswith("log/onn/")]
        assert reports and all(r.endswith(f"Z-{layer}.json") for r in reports), reports
        for made in [*reports, "log/onn", *([] if "log" in want[1] else ["log"])]:
            got.pop(made)
        assert got == want[1]
    kver = img["kernel_versions"][0]  # type: ignore[index]
    with Mounted(boot, where / "boot") as b:
        assert [e.name for e in (b / "loader/entries").iterdir()] == [f"{layer}-{kver}.conf"]
        assert onn("check", "--boot", str(b)).returncode == 0


def test_vm_an_install_killed_at_any_point_is_finished_by_running_it_again(
    images: dict[str, dict[str, object]], want: Manifests, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    img = images[IMAGE]

    def rerun(where: Path, pv: str, boot: str) -> None:
        again = onn(*install_argv(img, pv, boot), check=False)
        assert again.returncode == 0, again.stderr[-1500:]
        assert_installed(img, boot, want, where)

    points = fault_points(img, tmp_path, want)
    assert len(points) > 20
    kills = kill_points(points, 0, 1)
    # Every plan step has a point killed, in CI's sample as in the full run.
    assert {s for n, s, _ in points if n in kills} == {s for _, s, _ in points}
    at_kills(img, tmp_path, points, kills, rerun, capsys)


def test_vm_onn_recover_after_a_kill_leaves_clean_disks(
    images: dict[str, dict[str, object]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    img = images[IMAGE]
    layer = f"{img['nvr']}+1"

    def recover(where: Path, pv: str, boot: str) -> None:
        if "onn:unfinished" not in vg_tags():
            # Killed while the boot entry, the last step, was written: the layout is complete,
            # recover keeps it, and running the install again writes the entry.
            assert json.loads(onn("recover", "--boot", boot, "--json").stdout)["removed_vgs"] == []
            onn(*install_argv(img, pv, boot))
            with Mounted(boot, where / "boot") as b:
                assert onn("check", "--boot", str(b)).returncode == 0
            return
        recovered = json.loads(onn("recover", "--boot", boot, "--json").stdout)
        assert recovered["removed_vgs"] == ["onn"]
        # The disk holds no VG and no LVM label; /boot holds nothing of the layer.
        assert run(["lvm", "vgs", "onn"], check=False).returncode != 0
        assert blkid(pv, "TYPE") == ""
        assert not stale_mounts()
        with Mounted(boot, where / "boot") as b:
            entries = b / "loader/entries"
            assert not (entries.is_dir() and any(entries.iterdir()))
            assert not (b / layer).exists()
            env = (b / "grub2/grubenv").read_text() if (b / "grub2/grubenv").exists() else ""
            assert "saved_entry=" not in env
        # Nothing is left to recover.
        assert json.loads(onn("recover", "--json").stdout) == {
            "unmounted": [],
            "removed_vgs": [],
            "removed_lvs": [],
            "removed_boot_files": [],
        }

    # The full run takes every third point (with the rerun test above, every point is a kill
    # of some test); CI's sample takes another point of each step than the rerun test does.
    points = fault_points(img, tmp_path)
    assert len(points) > 20
    at_kills(img, tmp_path, points, kill_points(points, 1, 3), recover, capsys)


def test_vm_a_pool_filled_during_the_copy_fails_clearly_and_gives_back_what_was_written(
    disks: Disks, images: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    img = images["tiny-1.1"]
    pv = disks.add("pv0", 12 * GIB)
    onn("layout", "--pv", pv, "--volumes", "minimal", "--pool-size", "1G")
    # `base add` stops itself at its first fault point: the base LV has just been created,
    # nothing copied yet. Something else then fills the pool under it.
    with stopped_onn(["base", "add", str(img["path"])], 1) as proc:
        nvr = str(img["nvr"])
        assert nvr in lvs() and lvs()[nvr]["lv_tags"] == ""
        run(["lvm", "lvcreate", "--type", "thin", "-V", "2g", "--thinpool", "pool00", "--name", "hog", "onn"])
        size, used = pool_used()
        free_mib = int(size * (100 - used) / 100) >> 20
        run(["dd", "if=/dev/zero", "of=/dev/onn/hog", "bs=1M", f"count={free_mib - 4}", "oflag=direct"])
        # Fail writes to a full pool at once (the default queues them for 60 s first).
        run(["lvm", "lvchange", "--errorwhenfull", "y", "onn/pool00"])
        before = pool_used()[1]
        proc.send_signal(signal.SIGCONT)
        _out, err = proc.communicate(timeout=600)
    assert proc.returncode == 2, err
    assert "ran out of space while base" in err and "Free space in the pool or grow it" in err, err
    # Nothing half-written stays registered, and what the copy took is given back.
    assert nvr not in lvs()
    assert pool_used()[1] <= before + 0.5
    run(["lvm", "lvremove", "--yes", "onn/hog"])
    assert pool_used()[1] < 50


def test_vm_ctrl_c_during_an_install_undoes_it(disks: Disks, images: dict[str, dict[str, object]]) -> None:
    """SIGINT (Ctrl-C) is a cancel, not a crash: onn stops, undoes what it made and exits 5."""
    img = images[IMAGE]
    pv = disks.add("pv0", 12 * GIB)
    # Point 5: the VG, the pool and /var exist, the base is being made.
    with stopped_onn(install_argv(img, pv, disks.boot()), 5) as proc:
        assert "onn" in run(["lvm", "vgs", "--noheadings", "-o", "vg_name"]).stdout
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGCONT)
        _out, err = proc.communicate(timeout=600)
    assert proc.returncode == 5 and "cancelled" in err, err
    assert run(["lvm", "vgs", "onn"], check=False).returncode != 0
    assert blkid(pv, "TYPE") == ""
    assert not stale_mounts()
