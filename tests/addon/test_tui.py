"""The text spoke on an 80×24 terminal in tmux (a serial console's size), on the private bus
with the addon's service: choices are typed, the screen is captured and read."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_service import GOOD_LAYOUT, ROOT, Anaconda
from testdata import Image

IMAGE = Image("tiny-ext4")
PROMPT = "Please make a selection from the above"


class Terminal:
    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name = name
        argv = ["env", *(f"{k}={v}" for k, v in env.items()), sys.executable, str(ROOT / "tests/addon/tui_driver.py")]
        subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "80", "-y", "24", *argv], check=True)

    def screen(self) -> str:
        out = subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True)
        return out.stdout

    def wait_for(self, text: str, timeout: float = 30) -> str:
        """The screen once `text` is on its last lines and a prompt waits there for input
        (its last line ends with a colon, nothing typed after it)."""
        end = time.monotonic() + timeout
        while True:
            screen = self.screen()
            last = screen.rstrip().splitlines()[-3:]
            if text in "\n".join(last) and last[-1].endswith(":"):
                return screen
            if time.monotonic() > end:
                raise TimeoutError(f"{text!r} not on screen:\n{screen}")
            time.sleep(0.1)

    def type(self, text: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, "-l", text], check=True)
        subprocess.run(["tmux", "send-keys", "-t", self.name, "Enter"], check=True)

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], check=False)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[tuple[Terminal, Anaconda]]:
    media = tmp_path / "media"
    media.mkdir()
    (media / "node.squashfs.img").symlink_to(IMAGE["path"])
    anaconda = Anaconda(tmp_path, GOOD_LAYOUT, env={"ONN_ADDON_MEDIA": str(media), "LANG": "C.UTF-8"})
    keep = ("DBUS_STARTER_ADDRESS", "PYTHONPATH", "LANG", "ONN_LOCALEDIR")
    term = Terminal(f"onn-tui-{tmp_path.name}", {k: v for k, v in anaconda.env.items() if k in keep})
    yield term, anaconda
    term.close()
    anaconda.close()


def _menu(screen: str) -> str:
    """The last drawing of the spoke (the screen keeps the earlier ones above it)."""
    return screen[screen.rindex("Node image") :]


def test_the_text_spoke_is_driven_by_typed_choices_on_a_serial_sized_terminal(
    terminal: tuple[Terminal, Anaconda],
) -> None:
    term, anaconda = terminal
    nvr = IMAGE["nvr"]
    first = _menu(term.wait_for(PROMPT))
    assert "1) [x] The image on the installation media" in first
    assert f"Image: {nvr}, 20 MiB, kernel {IMAGE['kernel_versions'][0]}" in first
    assert "5) Signing keys: (none)" in first
    assert "Volume group onn, thin pool pool00 (40 GiB)" in first
    assert "/var/crash  10 GiB" in first

    term.type("2")
    term.wait_for("Image URL")
    term.type(f"file://{IMAGE['path']}")
    term.wait_for(PROMPT)
    term.type("3")
    term.wait_for("SHA-256 of the image")
    term.type("0" * 64)
    mismatch = _menu(term.wait_for(PROMPT))
    assert "2) [x] An image at a URL: file://" in mismatch
    assert "Image: Mismatch: The image's SHA-256 checksum does not match the one given." in mismatch
    assert "The storage plan is shown once the image is verified." in mismatch

    term.type("3")
    term.wait_for("SHA-256 of the image")
    term.type(IMAGE["sha256"])
    verified = _menu(term.wait_for(PROMPT))
    assert f"Image: {nvr}, 20 MiB" in verified and "/var/crash  10 GiB" in verified

    term.type("4")
    minimal = _menu(term.wait_for(PROMPT))
    assert "4) Data volumes: Minimal: /var only" in minimal
    assert "Data volumes, shared by all layers: /var  15 GiB\n" in minimal and "/var/crash" not in minimal

    term.type("c")
    left = term.wait_for("LEFT")
    assert f"LEFT completed=True status={nvr}, data volumes: minimal" in left
    assert "ActivatePayload" in [c[0] for c in anaconda.recorded()]
