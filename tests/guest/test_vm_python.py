"""The Python module installs for real (guest tier): same result as the CLI, progress events,
cancel mid-copy and exceptions from the callback undo everything."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import onn
import pytest
from guestlib import GIB, Disks, Ticker, blkid, lvs, run, vg_tags
from guestlib import onn as onn_cli


def plan_tiny(images: dict[str, dict[str, object]], disks: Disks, name: str = "tiny-ext4") -> onn.Plan:
    boot = disks.boot()
    pv = disks.add("pv0", 12 * GIB)
    return onn.plan("install", image=str(images[name]["path"]), pvs=[pv], boot=boot, volumes="minimal")


def test_vm_python_apply_installs_like_the_cli(disks: Disks, images: dict[str, dict[str, object]]) -> None:
    img = images["demo-1.0"]
    boot = disks.boot()
    pv = disks.add("pv0", 16 * GIB)
    plan = onn.plan("install", image=str(img["path"]), sha256=str(img["sha256"]), pvs=[pv], boot=boot)
    # The same plan as the CLI's dry run.
    cli = onn_cli(
        "install",
        "--image",
        str(img["path"]),
        "--sha256",
        str(img["sha256"]),
        "--pv",
        pv,
        "--boot",
        boot,
        "--dry-run",
        "--json",
    )
    assert onn.Plan.from_json(cli.stdout) == plan

    events: list[onn.Event] = []
    with Ticker() as t:
        outcome = onn.apply(plan, progress=events.append)
    assert t.ran_freely(), (t.ticks, t.elapsed)  # the GIL was released while disks were written
    elapsed = t.elapsed

    nvr = str(img["nvr"])
    assert outcome.layer == f"{nvr}+1"
    assert outcome.boot_entry == f"loader/entries/{nvr}+1-{img['kernel_versions'][0]}.conf"  # type: ignore[index]
    lv = lvs()
    assert "imgbased:vg" in vg_tags()
    assert lv[nvr]["lv_tags"] == "imgbased:base" and lv[nvr]["lv_permissions"] == "read-only"
    assert lv[f"{nvr}+1"]["lv_tags"] == "imgbased:layer" and lv[f"{nvr}+1"]["origin"] == nvr
    assert blkid(f"/dev/onn/{nvr}", "UUID") != blkid(f"/dev/onn/{nvr}+1", "UUID")

    ids = [e.step for e in events]
    assert ids[0] == "vg.create" and ids[-2:] == ["boot.entry", "report.write"]
    # The install report, as in the layer (the CLI's --json).
    report = json.loads(str(outcome.report))
    assert (report["layer"], report["outcome"], report["boot_entry"]) == (outcome.layer, "success", outcome.boot_entry)
    copies = [e for e in events if e.step == "base.copy"]
    assert copies[-1].done == copies[-1].size == img["rootfs_size"]
    assert all(e.total == len(plan.step_ids) for e in events)
    # Throttled: a few events a second at most.
    assert len(copies) <= 5 * elapsed + 2


def test_vm_cancel_mid_copy_leaves_nothing(disks: Disks, images: dict[str, dict[str, object]]) -> None:
    plan = plan_tiny(images, disks, "tiny-xfs")
    token = onn.CancelToken()

    def progress(e: onn.Event) -> None:
        if e.step == "base.copy" and e.done > 0:
            token.cancel()

    with pytest.raises(onn.CancelledError) as err:
        onn.apply(plan, progress=progress, cancel=token)
    assert err.value.id == "cancelled"
    assert run(["lvm", "vgs", "onn"], check=False).returncode != 0
    assert blkid(plan.pvs[0], "TYPE") == ""


def test_vm_exception_in_progress_callback_cancels_and_is_reraised(
    disks: Disks, images: dict[str, dict[str, object]]
) -> None:
    plan = plan_tiny(images, disks)

    class Boom(Exception):
        pass

    def progress(e: onn.Event) -> None:
        if e.step == "base.write":
            raise Boom("stop here")

    with pytest.raises(Boom, match="stop here"):
        onn.apply(plan, progress=progress)
    assert run(["lvm", "vgs", "onn"], check=False).returncode != 0


def test_vm_stale_plan_is_refused(disks: Disks, images: dict[str, dict[str, object]], tmp_path: Path) -> None:
    plan = plan_tiny(images, disks)
    onn.apply(plan)
    with pytest.raises(onn.PreconditionError) as err:
        onn.apply(plan)  # the system changed: the VG exists now
    assert err.value.id == "plan.stale"
    layout = onn.inspect()["layout"]
    assert layout["vg"] == "onn" and layout["bases"][0]["layers"] == [f"{plan.base}+1"]


def test_vm_cli_progress_fd_emits_the_same_events_as_python(disks: Disks, images: dict[str, dict[str, object]]) -> None:
    img = images["tiny-ext4"]
    boot = disks.boot()
    pv = disks.add("pv0", 12 * GIB)
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        [
            os.environ["ONN_BIN"],
            "install",
            "--image",
            str(img["path"]),
            "--pv",
            pv,
            "--boot",
            boot,
            "--volumes",
            "minimal",
            "--progress-fd",
            str(write_end),
        ],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    with os.fdopen(read_end) as lines:
        cli_events = [json.loads(line) for line in lines]
    assert proc.wait() == 0
    assert {e["v"] for e in cli_events} == {1}
    assert set(cli_events[0]) == {"v", "step", "index", "total", "done", "size", "message"}
    copy = [e for e in cli_events if e["step"] == "base.copy"]
    assert copy[-1]["done"] == copy[-1]["size"] == img["rootfs_size"]

    # The same install from Python, on fresh disks, reports the same step sequence.
    disks.release()
    py_events: list[onn.Event] = []
    onn.apply(plan_tiny(images, disks), progress=py_events.append)
    assert [e.step for e in py_events if e.step != "base.copy"] == [
        e["step"] for e in cli_events if e["step"] != "base.copy"
    ]
