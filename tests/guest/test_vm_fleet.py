"""What a fleet of Nodes needs of onn (guest tier, real lvm2): one onn writing at a time, a
machine-readable report of each install and layer add, and reinstalling a Node on purpose
(`--wipe`; its refusals are in the bad-input corpus, tests/bad/cases.toml)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import jsonschema
from guestlib import GIB, Disks, Mounted, assert_imgbased_layout, lvs, onn, stopped_onn, vg_tags

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs/install-report.schema.json").read_text())

IMAGE = "tiny-ext4"


def install_argv(img: dict[str, object], pvs: list[str], boot: str, *extra: str) -> list[str]:
    argv = ["install", "--image", str(img["path"]), "--sha256", str(img["sha256"]), "--boot", boot]
    for pv in pvs:
        argv += ["--pv", pv]
    return [*argv, "--volumes", "minimal", *extra]


def busy(proc: subprocess.CompletedProcess[str], holder: subprocess.Popen[str], doing: str) -> None:
    """The run was refused at once because `holder` writes: exit 2, id busy, its pid and
    command named."""
    assert proc.returncode == 2, proc.stderr
    m = re.search(r"^onn: error \(busy\): another onn is running \(pid (\d+): (.*)\); run this", proc.stderr, re.M)
    assert m, proc.stderr
    assert int(m.group(1)) == holder.pid and doing in m.group(2), proc.stderr


def test_vm_onn_recover_and_a_second_install_are_refused_busy_while_an_install_copies(
    disks: Disks, images: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    img = images[IMAGE]
    boot, pv0, pv1 = disks.boot(), disks.add("pv0", 12 * GIB), disks.add("pv1", 12 * GIB)
    first = install_argv(img, [pv0], boot)
    # The install stops itself halfway through the base's copy: its VG is still unfinished,
    # what `onn recover` removes when the onn that made it was killed.
    with stopped_onn(first, "copied") as install:
        assert "onn:unfinished" in vg_tags()
        # The stopped install's own disk aside (its thin pool may still commit what it wrote).
        before = {name: d for name, d in disks.digests().items() if name != "pv0.img"}
        busy(onn("recover", "--boot", boot, check=False), install, f"install --image {img['path']}")
        busy(onn(*install_argv(img, [pv1], boot), check=False), install, f"--pv {pv0}")
        assert {n: d for n, d in disks.digests().items() if n != "pv0.img"} == before, "a refused onn wrote"
        assert "onn:unfinished" in vg_tags()
        # --wait: it waits, says for whom, and starts once the install has ended.
        waiting = subprocess.Popen(
            [os.environ["ONN_BIN"], "recover", "--wait", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(2)
        assert waiting.poll() is None, waiting.communicate()
        install.send_signal(signal.SIGCONT)
        _out, err = install.communicate(timeout=600)
        assert install.returncode == 0, err
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert f"onn: waiting for another onn to end (pid {install.pid}: " in err
    # It came after the install: nothing was left unfinished.
    assert '"removed_vgs": []' in out
    with Mounted(boot, tmp_path / "boot") as b:
        check = onn("check", "--boot", str(b), check=False)
        assert check.returncode == 0, check.stdout
    assert "onn:unfinished" not in vg_tags()


def test_vm_a_killed_onn_leaves_the_lock_free(disks: Disks, images: dict[str, dict[str, object]]) -> None:
    img = images[IMAGE]
    boot, pv = disks.boot(), disks.add("pv0", 12 * GIB)
    with stopped_onn(install_argv(img, [pv], boot), "copied") as install:
        install.kill()
        install.wait()
    # The kill left an unfinished VG and the lock file; the lock itself ended with the process.
    recovered = onn("recover", "--boot", boot)
    assert "Removed:    volume group onn" in recovered.stdout


def valid_report(text: str) -> dict[str, object]:
    """A report as the schema has it (docs/install-report.schema.json)."""
    report = json.loads(text)
    jsonschema.validate(report, SCHEMA, format_checker=jsonschema.FormatChecker())
    return report


def test_vm_install_and_layer_add_report_in_json_and_in_the_layer(
    disks: Disks, images: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    img = images[IMAGE]
    boot, pv0, pv1 = disks.boot(), disks.add("pv0", 8 * GIB), disks.add("pv1", 8 * GIB)
    argv = install_argv(img, [pv0, pv1], boot, "--kernel-arg", "console=ttyS1")
    planned = json.loads(onn(*argv, "--dry-run", "--json").stdout)
    report = valid_report(onn(*argv, "--json").stdout)
    nvr = str(img["nvr"])
    layer = f"{nvr}+1"
    assert (report["action"], report["outcome"], report["base"], report["layer"]) == ("install", "success", nvr, layer)
    assert report["image"] == {
        "source": img["path"],
        "path": img["path"],
        "nvr": nvr,
        "sha256": img["sha256"],
        "verified": True,
        "size": Path(str(img["path"])).stat().st_size,
        "signer": None,
        "package": None,
    }
    assert [(d["device"], d["size"]) for d in report["disks"]] == [(pv0, 8 * GIB), (pv1, 8 * GIB)]
    assert (report["vg"], report["pool"], [v["mount"] for v in report["volumes"]]) == ("onn", "pool00", ["/var"])
    kver = img["kernel_versions"][0]  # type: ignore[index]
    assert report["boot_entry"] == f"loader/entries/{layer}-{kver}.conf" and report["kernel"] == kver
    assert report["kernel_args"] == ["console=ttyS1"]
    assert f"console=ttyS1 rd.lvm.lv=onn/{layer} " in str(report["boot_options"])
    # Every step of the plan but the report's own, in order, each timed.
    steps = report["steps"]
    assert [s["step"] for s in steps] == [s["step"] for s in planned["steps"]][:-1]  # type: ignore[union-attr]
    assert sum(s["seconds"] for s in steps) <= report["seconds"]  # type: ignore[union-attr]
    assert "onn" in report["created"] and f"onn/{layer}" in report["created"]
    # The same document in the layer, on the /var volume (--volumes minimal), where the host
    # finds it as /var/log/onn/<start>-<layer>.json.
    name = Path(str(report["file"])).name
    assert str(report["file"]) == f"/var/log/onn/{name}" and name.endswith(f"Z-{layer}.json")
    with Mounted("/dev/onn/var", tmp_path / "var") as var:
        assert valid_report((var / "log/onn" / name).read_text()) == report

    with Mounted(boot, tmp_path / "boot", "rw") as b:
        added = valid_report(onn("layer", "add", "--boot", str(b), "--json").stdout)
    layer2 = f"{nvr}+2"
    assert (added["action"], added["layer"], added["image"], added["copy"]) == ("add-layer", layer2, None, None)
    assert [s["step"] for s in added["steps"]] == ["layer.create", "layer.configure", "boot.entry"]
    with Mounted(f"/dev/onn/{layer2}", tmp_path / "layer2") as root, Mounted("/dev/onn/var", root / "var"):
        kept = sorted(p.name for p in (root / "var/log/onn").iterdir())
        assert kept == sorted([name, Path(str(added["file"])).name])
        assert valid_report((root / "var/log/onn" / kept[-1]).read_text()) == added


def old_node(disks: Disks, images: dict[str, dict[str, object]]) -> tuple[str, str, str]:
    """A Node on two disks, with a second layer: what a rebuild in Foreman finds."""
    boot, pv0, pv1 = disks.boot(), disks.add("pv0", 12 * GIB), disks.add("pv1", 12 * GIB)
    onn(*install_argv(images[IMAGE], [pv0, pv1], boot))
    onn("layer", "add", "--boot", boot)
    return boot, pv0, pv1


def assert_reinstalled(new: dict[str, object], old: dict[str, object], boot: str, where: Path) -> None:
    """Only the new Node is there, on disk and in /boot, and it checks clean."""
    nvr, layer = str(new["nvr"]), f"{new['nvr']}+1"
    assert sorted(lvs()) == sorted([nvr, layer, "pool00", "var"])
    assert_imgbased_layout(nvr, layer, ["var"])
    assert "onn:unfinished" not in vg_tags()
    kver = new["kernel_versions"][0]  # type: ignore[index]
    with Mounted(boot, where / "boot") as b:
        assert [e.name for e in (b / "loader/entries").iterdir()] == [f"{layer}-{kver}.conf"]
        assert not any((b / f"{old['nvr']}+{n}").exists() for n in (1, 2)), "the old layers' kernels"
        check = onn("check", "--boot", str(b), check=False)
        assert check.returncode == 0, check.stdout


def test_vm_a_node_on_two_disks_is_reinstalled_with_wipe_and_checks_clean(
    disks: Disks, images: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    old, new = images[IMAGE], images["tiny-1.1"]
    boot, pv0, pv1 = old_node(disks, images)
    argv = install_argv(new, [pv0, pv1], boot, "--wipe")
    # --dry-run lists what would go, and removes nothing.
    dry = onn(*argv, "--dry-run").stdout
    layers = f"{old['nvr']}+1, {old['nvr']}+2"
    assert f"1. removing the boot entries and kernels of the Node in onn from /boot (layers {layers})" in dry, dry
    assert f"2. removing the Node in volume group onn from {pv0}, {pv1} (" in dry, dry
    assert f"3. creating volume group onn on {pv0}, {pv1}" in dry, dry
    assert f"{old['nvr']}+2" in lvs()
    report = valid_report(onn(*argv, "--json").stdout)
    assert report["removed"] == ["onn"] and report["base"] == new["nvr"]
    assert [s["step"] for s in report["steps"]][:3] == ["node.boot-remove", "node.remove", "vg.create"]  # type: ignore[index]
    assert_reinstalled(new, old, boot, tmp_path)


def test_vm_a_wipe_killed_midway_is_finished_by_running_it_again(
    disks: Disks, images: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    """Killed right after the old volume group is gone, before its disks' labels are: run
    again, the install takes the labelled disks (a label without a VG holds nothing)."""
    old, new = images[IMAGE], images["tiny-1.1"]
    boot, pv0, pv1 = old_node(disks, images)
    argv = install_argv(new, [pv0, pv1], boot, "--wipe")
    killed = onn("-v", *argv, check=False, env={"ONN_KILL_WHEN": "vgremove"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-1500:]
    assert re.search(r"fault point \d+: lvm vgremove --yes --force onn\n*$", killed.stderr), killed.stderr[-500:]
    onn(*argv)
    assert_reinstalled(new, old, boot, tmp_path)
