"""Drives the Node spoke as a user would, in real GTK 3 (under Xvfb in the tests): the hub
stand-in initializes it, the spoke is entered, choices are clicked, Done is pressed. Prints
what was on screen at each stage as JSON; with --screenshots DIR, saves PNGs of the default,
verifying, mismatch and ready states (and the hub).

Needs the addon's service on DBUS_STARTER_ADDRESS, the pyanaconda stand-ins on PYTHONPATH,
and ONN_TEST_IMAGE (path and sha256 as JSON) for the image typed into the URL field."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import cairo
import gi

gi.require_version("Gtk", "3.0")
from gi.repository import GLib, Gtk  # noqa: E402
from org_ovirt_node.gui.spokes.ovirt_node import OvirtNodeSpoke  # noqa: E402
from pyanaconda.ui.gui import MainWindow  # noqa: E402
from pyanaconda.ui.gui.hubs import Hub  # noqa: E402

IMAGE = json.loads(os.environ["ONN_TEST_IMAGE"])


def pump(until, what: str, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not until():
        if time.monotonic() > end:
            raise TimeoutError(what)
        while GLib.MainContext.default().iteration(False):
            pass
        time.sleep(0.02)


def drawn(widget: Gtk.Widget, what: str) -> None:
    """Run the main loop until GTK has laid out and drawn the widget once."""
    frames: list[int] = []
    handler = widget.connect("draw", lambda *_a: frames.append(1))
    widget.queue_draw()
    pump(lambda: bool(frames), what)
    widget.disconnect(handler)


def snapshot(widget: Gtk.Widget, path: Path | None) -> None:
    """Render the toplevel as it is now (layout done synchronously) into a PNG."""
    if path is None:
        return
    window = widget.get_toplevel()
    window.check_resize()
    alloc = window.get_allocation()
    surface = cairo.ImageSurface(cairo.FORMAT_ARGB32, alloc.width, alloc.height)
    window.draw(cairo.Context(surface))
    surface.write_to_png(str(path))


def screen(spoke: OvirtNodeSpoke, hub: Hub) -> dict[str, object]:
    get = spoke.builder.get_object
    grid = get("imageGrid")
    rows = {}
    row = 0
    while (name := grid.get_child_at(0, row)) is not None:
        rows[name.get_text()] = grid.get_child_at(1, row).get_text()
        row += 1
    return {
        "title": spoke.window.props.window_name,
        "headings": [get(h).get_text() for h in ("imageHeading", "volumesHeading", "planHeading")],
        "image": rows,
        "plan": get("planLabel").get_text(),
        "volume_choices": [b.get_label() for b in spoke._volume_buttons.values()],
        "info_bar": spoke.window.info_text,
        "spinning": get("verifySpinner").props.active,
        "ready": spoke.ready,
        "completed": spoke.completed,
        "status": spoke.status,
        "hub_status": hub.selector_status(spoke),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--screenshots", type=Path)
    ap.add_argument("--only-default", action="store_true", help="stop after the first screen")
    args = ap.parse_args()
    shots = args.screenshots
    if shots:
        shots.mkdir(parents=True, exist_ok=True)

    def shot(name: str) -> Path | None:
        return shots / f"{name}.png" if shots else None

    # Screenshots show states, not the theme's transitions between them.
    Gtk.Settings.get_default().props.gtk_enable_animations = False
    seen: dict[str, object] = {}
    window = MainWindow.get()
    hub = Hub(None, None, None)
    window.setCurrentAction(hub)
    window.show()
    spoke = OvirtNodeSpoke(None, None, None)
    hub.add_spoke(spoke)
    seen["hub_while_checking"] = hub.selector_status(spoke)
    pump(lambda: spoke.ready and spoke._model.preview is not None, "the first check")
    hub._updateCompleteness(spoke)

    # The spoke as first opened: the install media's image, default volumes, onn's plan.
    hub._on_spoke_clicked(spoke)
    drawn(spoke.window, "the spoke to show")
    seen["default"] = screen(spoke, hub)
    snapshot(spoke.window, shot("default"))
    if args.only_default:
        print(json.dumps(seen))
        return

    # An image by URL with a wrong checksum: verifying, then the mismatch.
    get = spoke.builder.get_object
    get("urlRadio").set_active(True)
    get("urlEntry").set_text(f"file://{IMAGE['path']}")
    get("shaEntry").set_text("0" * 64)
    show = spoke._show

    def show_and_capture() -> None:
        show()
        if spoke._model.checking and "verifying" not in seen:
            seen["verifying"] = screen(spoke, hub)
            snapshot(spoke.window, shot("verifying"))

    spoke._show = show_and_capture  # type: ignore[method-assign]
    get("verifyButton").clicked()
    pump(lambda: spoke.ready, "the check of the wrong checksum")
    seen["mismatch"] = screen(spoke, hub)
    snapshot(spoke.window, shot("mismatch"))

    # The right checksum: verified, then the data volumes changed to minimal.
    get("shaEntry").set_text(IMAGE["sha256"])
    get("verifyButton").clicked()
    pump(lambda: spoke.ready and spoke._model.preview is not None, "the check of the right checksum")
    seen["verified"] = screen(spoke, hub)
    before = get("planLabel").get_text()
    spoke._volume_buttons["minimal"].clicked()
    pump(lambda: get("planLabel").get_text() != before, "the plan to change")
    seen["minimal"] = screen(spoke, hub)

    # Done: the hub applies the spoke (the payload becomes active) and shows its status.
    spoke.window.button.clicked()
    pump(lambda: spoke.completed, "the spoke to be complete")
    seen["hub_after_done"] = hub.selector_status(spoke)
    drawn(hub.window, "the hub to show")
    snapshot(hub.window, shot("hub"))
    hub._on_spoke_clicked(spoke)
    drawn(spoke.window, "the spoke to show again")
    seen["ready"] = screen(spoke, hub)
    snapshot(spoke.window, shot("ready"))
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
