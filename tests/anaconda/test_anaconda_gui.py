"""The real Anaconda in graphical mode: a person picks the image in the Node spoke, sees onn's
plan and installs.

Anaconda 45.21's own pyanaconda.ui.gui from its checkout, with the addon, in the UML guest under
Xvfb (tests/anaconda/gui_session.py), from the minimal PXE kickstart with an `%addon
org_ovirt_node` section that names no image (as on the installation media: the image is chosen
in the spoke). Only the C widget library is a stand-in (tests/anaconda/standins/
anaconda_widgets.py). A person (tests/anaconda/gui_driver.py) reads the screen through the
accessibility tree and clicks and types; what was on the screen at each stage is asserted
here, and the screenshots are kept in the case's out/ (with ONN_SCREENSHOTS=DIR, the ones
docs/screenshots shows are copied there).

Run by `make anaconda-e2e … PYTEST_ARGS="-k gui"` (these cases only) or with the whole tier.
"""

from __future__ import annotations

import gettext
import json
import os
import re
import shutil
from pathlib import Path

from test_anaconda_e2e import REPO, assert_installed, install

#: The addon's strings as the screen shows them, in the run's language (the build's .mo files,
#: `make mo`); Anaconda's own (the Done, Begin Installation, Quit and Yes buttons) are English
#: in every run: its translations are not in its source tree.
ADDON_TEXTS = {
    "selector": "_Node Image",
    "spoke_title": "NODE IMAGE",
    "url_radio": "An image at this _URL (file://, http://, https:// or nfs:)",
    "url_label": "URL:",
    "sha_label": "SHA-256:",
    "verify": "_Verify",
    "plan_heading": "Storage plan",
    "verifying": "Verifying…",
}
ROWS = ["Source", "File", "Version (NVR)", "Size", "Kernel", "Check"]
ANACONDA_TEXTS = {
    "storage": "Installation Destination",
    "done": "_Done",
    "begin": "Begin Installation",
    "quit": "Quit",
    "yes": "Yes",
}
#: The hub's info bar while a mandatory spoke is incomplete (pyanaconda/ui/gui/hubs/__init__.py).
INCOMPLETE = "Please complete items marked with this icon before continuing to the next step."
#: docs/screenshots/: the case's screenshot (out/gui-STAGE.png) kept under each name.
DOCS_SHOTS = {
    "gui": {"hub": "anaconda-hub.png", "spoke": "anaconda-spoke.png", "verifying": "anaconda-verifying.png",
            "checked": "anaconda-verified.png", "hub-after": "anaconda-hub-ready.png",
            "progress": "anaconda-progress.png"},
    "gui-wrong-sha256": {"checked": "anaconda-mismatch.png", "hub-after": "anaconda-hub-mismatch.png"},
    "gui-de": {"checked": "anaconda-verified-de.png"},
}  # fmt: skip


def scenario(image: dict[str, object], sha256: str, then: str, lang: str = "") -> dict[str, object]:
    tr = gettext.translation("onn-anaconda-addon", REPO / "build" / "locale", [lang] if lang else [], fallback=True)
    labels: dict[str, object] = {key: tr.gettext(text).replace("_", "") for key, text in ADDON_TEXTS.items()}
    labels["rows"] = [tr.gettext(row) for row in ROWS]
    labels.update(ANACONDA_TEXTS)
    return {"labels": labels, "url": f"file://{image['path']}", "sha256": sha256, "then": then}


def run(case: str, toolchain: Path, image: dict[str, object], walk: dict[str, object]) -> tuple[dict, dict, Path]:
    report, disk = install(case, toolchain, image, scenario=walk)
    out = disk.parent / "out"
    seen = json.loads((out / "gui.json").read_text()) if (out / "gui.json").exists() else {}
    assert report["gui_error"] is None, f"{report['gui_error']}\n(seen: {seen}; screenshots and logs in {out})"
    keep = os.environ.get("ONN_SCREENSHOTS")
    for stage, name in DOCS_SHOTS[case].items() if keep else ():
        shutil.copyfile(out / f"gui-{stage}.png", Path(keep) / name)
    return report, seen, out


def test_gui_an_operator_chooses_the_image_in_the_node_spoke_sees_the_plan_and_installs(
    toolchain: Path,
    demo: dict[str, object],
) -> None:
    nvr = str(demo["nvr"])
    walk = scenario(demo, str(demo["sha256"]), "begin")
    report, seen, out = run("gui", toolchain, demo, walk)

    # The hub: the Node spoke incomplete (no image on the media), Begin Installation insensitive.
    # (Its warning emblem and red status are drawn only: the screenshot shows them.)
    hub = seen["hub"]
    assert hub["selector"]["name"] == "Node Image"
    assert hub["selector"]["status"].startswith("the install media hold 0 Node images"), hub
    assert (hub["begin_sensitive"], hub["info_bar"]) == (False, INCOMPLETE), hub

    # The spoke after Verify: the image's NVR, onn's plan for the kickstart's storage.
    checked = seen["checked"]
    rows = checked["rows"]
    assert rows["Source"] == walk["url"] and rows["Version (NVR)"] == nvr, rows
    assert rows["Check"] == "Verified: the SHA-256 checksum matches", rows
    plan = checked["plan"].splitlines()
    assert plan[0].startswith("Volume group onn, thin pool pool00 ("), plan
    assert plan[1:3] == [
        f"Base {nvr}: the image, written once and kept read-only",
        f"First layer {nvr}+1: the system that boots, writable",
    ], plan
    assert "    /var  8 GiB" in plan and any(line.startswith("Space left in the pool:") for line in plan), plan
    assert checked["info_bar"] == "", checked

    # Done: the hub shows the spoke complete and lets the installation begin.
    after = seen["hub_after"]
    assert after["selector"]["status"] == f"{nvr}, data volumes: default", after
    assert (after["begin_sensitive"], after["info_bar"]) == (True, ""), after

    assert report["returncode"] == 0, f"Anaconda exited {report['returncode']}; logs in {out}"
    assert_installed(report, demo, disk=out.parent / "disk0.img", work_log=out)
    assert f"--image=file://{demo['path']}" in report["found"]["kickstart_copy"]


def test_gui_a_wrong_sha256_is_refused_in_the_spoke_and_the_disk_stays_untouched(
    toolchain: Path,
    demo: dict[str, object],
) -> None:
    walk = scenario(demo, "0" * 64, "quit")
    report, seen, out = run("gui-wrong-sha256", toolchain, demo, walk)
    refusal = "The image's SHA-256 checksum does not match the one given."
    checked = seen["checked"]
    assert checked["rows"]["Check"] == f"Mismatch: {refusal}", checked
    assert checked["info_bar"] == refusal, checked
    assert checked["plan"] == "The storage plan is shown once the image is verified.", checked
    after = seen["hub_after"]
    assert after["selector"]["status"] == refusal, after
    assert (after["begin_sensitive"], after["info_bar"]) == (False, INCOMPLETE), after
    # Quit: nothing was written.
    assert "lvs" not in report["found"], "a VG was made"
    disk = out.parent / "disk0.img"
    assert os.stat(disk).st_blocks == 0, "the disk was written"


def test_gui_the_hub_and_the_node_spoke_speak_german(
    toolchain: Path,
    demo: dict[str, object],
) -> None:
    """`lang de_DE.UTF-8`: the real GUI loads the addon's German for the spoke's .glade file and
    its Python alike (Anaconda's own strings stay English here, see ANACONDA_TEXTS)."""
    walk = scenario(demo, str(demo["sha256"]), "quit", lang="de")
    _report, seen, _out = run("gui-de", toolchain, demo, walk)
    checked = seen["checked"]
    assert checked["rows"]["Prüfung"] == "Geprüft: die SHA-256-Prüfsumme stimmt", checked
    assert re.match(r"Volume-Gruppe onn, Thin-Pool pool00 \(", checked["plan"]), checked
    assert seen["hub_after"]["selector"]["name"] == "Node-Abbild"
