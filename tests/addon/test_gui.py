"""The graphical spoke in real GTK 3 under Xvfb, on the private bus with the addon's service:
tests/addon/gui_driver.py clicks through it as a user would and reports what was on screen.
`make screenshots` runs the walk with ONN_SCREENSHOTS=docs/screenshots."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_service import GOOD_LAYOUT, ROOT, Anaconda
from testdata import Image

# An image the installed host can update (one it could not: test_spoke_model.py).
IMAGE = Image("node-tiny")
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", "1", "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert xvfb.stdout is not None
    yield ":" + xvfb.stdout.readline().strip()
    xvfb.terminate()
    xvfb.wait()


def _start(tmp: Path, lang: str = "") -> Anaconda:
    """The service with the image on the "install media" (a directory the service is told)."""
    media = tmp / "media"
    media.mkdir()
    (media / "node.squashfs.img").symlink_to(IMAGE["path"])
    return Anaconda(tmp, GOOD_LAYOUT, env=_locale_env(tmp, lang) | {"ONN_ADDON_MEDIA": str(media)})


@pytest.fixture
def anaconda(tmp_path: Path) -> Iterator[Anaconda]:
    a = _start(tmp_path)
    yield a
    a.close()


@pytest.fixture
def anaconda_de(tmp_path: Path) -> Iterator[Anaconda]:
    a = _start(tmp_path, "de_DE.UTF-8")
    yield a
    a.close()


def _locale_env(tmp: Path, lang: str) -> dict[str, str]:
    """The build's .mo files (msgfmt of po/*.po, as `make install` does) and the language,
    for the service and the spoke alike."""
    if not lang:
        return {"LANG": "C.UTF-8", "LANGUAGE": "", "LC_ALL": ""}
    localedir = tmp / "locale"
    for po in (ROOT / "po").glob("*.po"):
        mo = localedir / po.stem / "LC_MESSAGES/onn-anaconda-addon.mo"
        mo.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["msgfmt", "--check", "-o", str(mo), str(po)], check=True)
    return {"LANG": lang, "LANGUAGE": "", "LC_ALL": "", "ONN_LOCALEDIR": str(localedir)}


def _drive(anaconda: Anaconda, display: str, *args: str) -> dict:  # type: ignore[type-arg]
    env = {
        **anaconda.env,
        "DISPLAY": display,
        "ONN_TEST_IMAGE": json.dumps({"path": IMAGE["path"], "sha256": IMAGE["sha256"]}),
    }
    out = subprocess.run(
        [sys.executable, str(ROOT / "tests/addon/gui_driver.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    assert "Gtk-CRITICAL" not in out.stderr and "Traceback" not in out.stderr, out.stderr
    return json.loads(out.stdout)


def test_the_spoke_shows_the_image_its_check_and_onns_plan_and_follows_the_users_choices(
    anaconda: Anaconda, display: str, tmp_path: Path
) -> None:
    shots = Path(os.environ.get("ONN_SCREENSHOTS") or tmp_path / "shots")
    seen = _drive(anaconda, display, "--screenshots", str(shots))
    nvr = IMAGE["nvr"]

    # Opened after the hub's check: the media's image, verified, with onn's plan.
    assert seen["hub_while_checking"] == "Verifying the Node image…"
    default = seen["default"]
    assert default["image"]["Source"] == "The image on the installation media"
    assert (default["image"]["Version (NVR)"], default["image"]["Kernel"]) == (nvr, IMAGE["kernel_versions"][0])
    assert default["image"]["Check"] == "Read and checked (no checksum given)"
    assert default["image"]["Signed by"] == "not checked: no key given (--gpgkey)"
    assert default["plan"].splitlines()[:3] == [
        "Volume group onn, thin pool pool00 (40 GiB)",
        f"Base {nvr}: the image, written once and kept read-only",
        f"First layer {nvr}+1: the system that boots, writable",
    ]
    assert "/var/crash  10 GiB" in default["plan"] and "Space left in the pool" in default["plan"]
    # Not complete until the user has been here (no kickstart: the payload is not active).
    assert (default["completed"], default["status"]) == (False, f"{nvr} verified; open this screen to confirm it")

    # Another image by URL with a wrong checksum: verifying (nothing blocks), then a mismatch.
    verifying = seen["verifying"]
    assert (verifying["image"]["Check"], verifying["ready"]) == ("Verifying…", False)
    assert verifying["plan"] == "The storage plan is shown once the image is verified."
    mismatch = seen["mismatch"]
    assert mismatch["image"]["Check"] == "Mismatch: The image's SHA-256 checksum does not match the one given."
    assert mismatch["info_bar"] == "The image's SHA-256 checksum does not match the one given."
    assert (mismatch["ready"], mismatch["completed"]) == (True, False)

    # The right checksum, then minimal volumes: the plan shown changes to /var only.
    assert seen["verified"]["image"]["Check"] == "Verified: the SHA-256 checksum matches"
    minimal = seen["minimal"]["plan"]
    assert minimal != seen["verified"]["plan"]
    assert "    /var  15 GiB" in minimal and "/var/crash" not in minimal and "/home" not in minimal

    # Done: the payload is active, the spoke complete, the hub says what will be installed.
    assert seen["hub_after_done"] == f"{nvr}, data volumes: minimal"
    assert seen["ready"]["completed"] is True and seen["ready"]["info_bar"] == ""
    assert ["ActivatePayload"] == [c[0] for c in anaconda.recorded() if c[0] == "ActivatePayload"]
    pngs = {p.name: p.read_bytes() for p in shots.glob("*.png")}
    assert set(pngs) == {"default.png", "verifying.png", "mismatch.png", "ready.png", "hub.png"}
    assert all(b.startswith(PNG) for b in pngs.values())
    assert len(set(pngs.values())) == len(pngs)


def test_the_spoke_speaks_german_in_a_german_locale(anaconda_de: Anaconda, display: str) -> None:
    seen = _drive(anaconda_de, display, "--only-default")["default"]
    # From the .glade file (translated by Gtk.Builder) and from Python alike.
    assert seen["title"] == "NODE-ABBILD"
    assert seen["headings"] == ["Zu installierendes Abbild", "Datenvolumes", "Speicherplan"]
    assert seen["image"]["Quelle"] == "Das Abbild auf dem Installationsmedium"
    assert seen["volume_choices"][1] == "Minimal: nur /var"
    assert seen["plan"].startswith("Volume-Gruppe onn, Thin-Pool pool00 (40 GiB)")
