"""A person at Anaconda's graphical installer: reads the screen through the accessibility tree
(AT-SPI, as a screen reader does), clicks with the mouse and types on the keyboard (synthesized
by the AT-SPI registry on the X display). Started by tests/anaconda/gui_session.py beside
Anaconda in the guest.

The walk (the scenario's texts are those on the screen, in the run's language): wait for the
hub; open the Node spoke from its selector; choose the image at a URL, type the URL and the
SHA-256 beside their labels, press Verify and wait for the check; leave with Done; then begin
the installation and follow its progress, or quit the installer. What was on the screen at each
stage goes to OUT/gui.json, a screenshot of each to OUT/gui-STAGE.png.

    python3 gui_driver.py --scenario scenario.json --out DIR --pid ANACONDA_PID
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import gi

gi.require_version("Atspi", "2.0")
gi.require_version("Gdk", "3.0")
from gi.repository import Atspi, Gdk, GLib  # noqa: E402

T = TypeVar("T")
POLL = 0.5


class Gone(Exception):
    """Anaconda is no longer running."""


class Seen(dict):  # type: ignore[type-arg]
    """What was on the screen, by stage, written to OUT/gui.json as each stage is seen (a guest
    that times out keeps how far the person got)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def __setitem__(self, stage: str, screen: object) -> None:
        super().__setitem__(stage, screen)
        self.path.write_text(json.dumps(self, indent=1, ensure_ascii=False))


class Person:
    def __init__(self, out: Path, pid: int, app_name: str) -> None:
        self.out = out
        self.pid = pid
        self.app_name = app_name
        self.display = Gdk.Display.open(os.environ["DISPLAY"])
        self._app: Atspi.Accessible | None = None

    # -- looking ------------------------------------------------------------------------------

    def alive(self) -> bool:
        """Anaconda runs and has had no unhandled exception (whose handler writes the
        traceback to /tmp/anaconda-tb-* and then may wait for a person forever)."""
        try:
            # Anaconda's parent reaps it only once this driver has ended: an Anaconda that
            # exited is a zombie until then (its state, after its name, in /proc/PID/stat).
            state = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return False
        return state != "Z" and not any(Path("/tmp").glob("anaconda-tb-*"))

    def app(self) -> Atspi.Accessible | None:
        if self._app is None:
            desktop = Atspi.get_desktop(0)
            for i in range(desktop.get_child_count()):
                app = desktop.get_child_at_index(i)
                if app is not None and app.get_name() == self.app_name:
                    self._app = app
        return self._app

    def shown(self, root: Atspi.Accessible | None = None) -> Iterator[Atspi.Accessible]:
        """Every object on the screen (showing), depth first in the widgets' order."""
        root = root or self.app()
        if root is None:
            return
        for i in range(root.get_child_count()):
            child = root.get_child_at_index(i)
            if child is not None and child.get_state_set().contains(Atspi.StateType.SHOWING):
                yield child
                yield from self.shown(child)

    def find(self, role: Atspi.Role, name: str | None = None) -> list[Atspi.Accessible]:
        return [a for a in self.shown() if a.get_role() == role and (name is None or a.get_name() == name)]

    def wait(self, what: str, look: Callable[[], T | None], timeout: float = 300) -> T:
        """What `look` finds, as soon as it finds something."""
        start = time.monotonic()
        end, shown = start + timeout, start
        while True:
            if time.monotonic() - shown > 30:  # what the person is looking at, while it waits
                self.shot("waiting")
                shown = time.monotonic()
            try:
                found = look()
            except GLib.Error:  # an object that went away while being read
                found = None
            if found:
                return found
            if not self.alive():
                raise Gone(f"Anaconda ended or failed (/tmp/anaconda-tb-*) while the person waited for {what}")
            if time.monotonic() > end:
                self.shot("timeout")
                raise TimeoutError(f"{what}: not on the screen within {timeout} s (gui-timeout.png)")
            time.sleep(POLL)

    def one(self, role: Atspi.Role, name: str, timeout: float = 300) -> Atspi.Accessible:
        return self.wait(f"{role.value_nick} {name!r}", lambda: next(iter(self.find(role, name)), None), timeout)

    @staticmethod
    def extents(acc: Atspi.Accessible) -> Atspi.Rect:
        return acc.get_extents(Atspi.CoordType.SCREEN)

    def beside(self, label: str, role: Atspi.Role) -> Atspi.Accessible | None:
        """The object of `role` on the same line as the label `label` and right of it, as a
        person pairs a form's label with its field (or a table's name with its value)."""
        labels = self.find(Atspi.Role.LABEL, label)
        if not labels:
            return None
        at = self.extents(labels[0])
        row = [
            a
            for a in self.find(role)
            if a is not labels[0]
            and at.y <= (e := self.extents(a)).y + e.height // 2 <= at.y + at.height
            and e.x >= at.x + at.width
        ]
        return min(row, key=lambda a: self.extents(a).x, default=None)

    @staticmethod
    def sensitive(acc: Atspi.Accessible) -> bool:
        return acc.get_state_set().contains(Atspi.StateType.SENSITIVE)

    @staticmethod
    def states(acc: Atspi.Accessible) -> list[str]:
        return sorted(Atspi.StateType(s).value_nick for s in acc.get_state_set().get_states())

    def info_bar(self) -> str:
        """The text of the info bar at the bottom of the screen, "" when there is none."""
        for bar in self.find(Atspi.Role.INFO_BAR):
            texts = [a.get_name() for a in self.shown(bar) if a.get_role() == Atspi.Role.LABEL]
            return " ".join(t for t in texts if t)
        return ""

    def shot(self, stage: str) -> None:
        root = self.display.get_default_screen().get_root_window()
        pixbuf = Gdk.pixbuf_get_from_window(root, 0, 0, root.get_width(), root.get_height())
        pixbuf.savev(str(self.out / f"gui-{stage}.png"), "png", [], [])

    # -- acting ---------------------------------------------------------------------------------

    def click(self, acc: Atspi.Accessible) -> None:
        e = self.extents(acc)
        Atspi.generate_mouse_event(e.x + e.width // 2, e.y + e.height // 2, "b1c")

    def type_into(self, field: Atspi.Accessible, text: str) -> None:
        self.click(field)
        self.wait("the field's focus", lambda: field.get_state_set().contains(Atspi.StateType.FOCUSED), 30)
        Atspi.generate_keyboard_event(0, text, Atspi.KeySynthType.STRING)
        self.wait(f"{text!r} in the field", lambda: field.get_text(0, -1) == text, 60)


def spoke_screen(person: Person, labels: dict[str, str]) -> dict[str, object]:
    """The Node spoke as it is now: the image's rows, the storage plan, the info bar."""
    rows = {}
    for row in labels["rows"]:
        value = person.beside(row, Atspi.Role.LABEL)
        rows[row] = value.get_name() if value is not None else None
    heading = person.find(Atspi.Role.LABEL, labels["plan_heading"])[0]
    parent = heading.get_parent()
    plan = parent.get_child_at_index(heading.get_index_in_parent() + 1)
    verify = person.one(Atspi.Role.PUSH_BUTTON, labels["verify"])
    return {
        "rows": rows,
        "plan": plan.get_name(),
        "info_bar": person.info_bar(),
        "verify_sensitive": person.sensitive(verify),
    }


def hub_screen(person: Person, labels: dict[str, str]) -> dict[str, object]:
    selector = find_selector(person, labels["selector"])
    begin = person.one(Atspi.Role.PUSH_BUTTON, labels["begin"])
    return {
        "selector": {
            "name": selector.get_name(),
            "status": selector.get_description(),
            "states": person.states(selector),
        },
        "begin_sensitive": person.sensitive(begin),
        "info_bar": person.info_bar(),
    }


def find_selector(person: Person, title: str) -> Atspi.Accessible:
    """A spoke's selector on the hub: the object named by the spoke's title that takes focus
    (its title label, named the same, does not)."""

    def look() -> Atspi.Accessible | None:
        for acc in person.shown():
            if acc.get_name() == title and acc.get_state_set().contains(Atspi.StateType.FOCUSABLE):
                return acc
        return None

    return person.wait(f"the hub's selector {title!r}", look, 1800)


def walk(person: Person, scenario: dict, seen: Seen) -> None:  # type: ignore[type-arg]
    labels = scenario["labels"]
    selector = find_selector(person, labels["selector"])
    # The spoke checks the install media's image when the hub starts, the storage spoke the
    # kickstart's storage (which onn's plan is for): their selectors are insensitive until then.
    storage = find_selector(person, labels["storage"])
    person.wait("the Node spoke to be ready", lambda: person.sensitive(selector), 600)
    person.wait("the storage spoke to be ready", lambda: person.sensitive(storage), 600)
    seen["hub"] = hub_screen(person, labels)
    person.shot("hub")

    person.click(selector)
    person.one(Atspi.Role.LABEL, labels["spoke_title"])
    person.one(Atspi.Role.PUSH_BUTTON, labels["verify"])
    seen["spoke"] = spoke_screen(person, labels)
    person.shot("spoke")

    person.click(person.one(Atspi.Role.RADIO_BUTTON, labels["url_radio"]))
    url = person.wait("the URL field", lambda: person.beside(labels["url_label"], Atspi.Role.TEXT), 60)
    person.wait("the URL field to take input", lambda: person.sensitive(url), 60)
    person.type_into(url, scenario["url"])
    sha = person.wait("the SHA-256 field", lambda: person.beside(labels["sha_label"], Atspi.Role.TEXT), 60)
    person.type_into(sha, scenario["sha256"])
    person.shot("typed")

    verify = person.one(Atspi.Role.PUSH_BUTTON, labels["verify"])
    check = person.wait("the check's row", lambda: person.beside(labels["rows"][-1], Atspi.Role.LABEL), 60)
    before = check.get_name()
    person.click(verify)

    def checked() -> bool:
        text = check.get_name()
        if text == labels["verifying"] and "verifying" not in seen:
            # The screenshot first (a check can take a second only), kept if the check still
            # runs after it.
            person.shot("verifying")
            if check.get_name() == labels["verifying"]:
                seen["verifying"] = spoke_screen(person, labels)
            else:
                (person.out / "gui-verifying.png").unlink()
        return person.sensitive(verify) and text not in (before, labels["verifying"])

    person.wait("the image's check", checked, 900)
    seen["checked"] = spoke_screen(person, labels)
    person.shot("checked")

    person.click(person.one(Atspi.Role.PUSH_BUTTON, labels["done"]))
    find_selector(person, labels["selector"])
    person.one(Atspi.Role.PUSH_BUTTON, labels["begin"])
    seen["hub_after"] = hub_screen(person, labels)
    person.shot("hub-after")

    if scenario["then"] == "begin":
        begin = person.one(Atspi.Role.PUSH_BUTTON, labels["begin"])
        person.wait("Begin Installation to be sensitive", lambda: person.sensitive(begin), 60)
        person.click(begin)
        person.wait("the progress bar", lambda: person.find(Atspi.Role.PROGRESS_BAR), 600)
        person.shot("progress")
        follow_progress(person, seen)
    else:
        person.click(person.one(Atspi.Role.PUSH_BUTTON, labels["quit"]))
        person.click(person.one(Atspi.Role.PUSH_BUTTON, labels["yes"], 60))


def follow_progress(person: Person, seen: Seen) -> None:
    """Every step the progress screen names (the label above its bar) until the installer ends
    (a kickstart's `reboot` makes it go on by itself once the installation is complete). Read
    every few seconds only: the person shares the guest's one core with the installation."""
    bar = person.find(Atspi.Role.PROGRESS_BAR)[0]
    top = person.extents(bar).y
    above = [a for a in person.find(Atspi.Role.LABEL) if (e := person.extents(a)).y + e.height <= top]
    label = max(above, key=lambda a: person.extents(a).y)
    steps: list[str] = []
    shown = time.monotonic()
    while person.alive():
        try:
            text = label.get_name()
        except GLib.Error:  # the installer closes its window
            break
        if text and text not in steps:
            steps.append(text)
            seen["progress"] = steps
        if time.monotonic() - shown > 60:
            person.shot("progress-last")
            shown = time.monotonic()
        time.sleep(5)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--pid", type=int, required=True)
    args = ap.parse_args()
    scenario = json.loads(args.scenario.read_text())
    person = Person(args.out, args.pid, scenario.get("app", "anaconda.py"))
    walk(person, scenario, Seen(args.out / "gui.json"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
