"""pyanaconda/ui/gui/hubs/__init__.py: a hub of spoke selectors (title and status, as the
real SpokeSelector shows them). A click enters the spoke after refresh(); the spoke's Done
runs spoke_done(): apply() and execute() when changed, then the selectors are updated."""

import gi

gi.require_version("Gtk", "3.0")
from gi.repository import Gtk  # noqa: E402

from pyanaconda.ui import common  # noqa: E402
from pyanaconda.ui.gui import GUIObject  # noqa: E402


class _HubWindow(Gtk.Box):
    def __init__(self):
        super().__init__(orientation=Gtk.Orientation.VERTICAL, spacing=12, margin=24, visible=True)


class Hub(GUIObject, common.Hub):
    def __init__(self, data, storage, payload):
        common.Hub.__init__(self, storage, payload)
        self._data = data
        self.skipTo = None
        self.applyOnSkip = False
        self._window = _HubWindow()
        self._inSpoke = False
        self._selectors = {}

    @property
    def window(self):
        return self._window

    @property
    def data(self):
        return self._data

    def add_spoke(self, spoke):
        """What _createBox does for each collected spoke."""
        spoke.initialize()
        if not self._spokes:
            heading = Gtk.Label(label=spoke.category.get_title(), halign=Gtk.Align.START, visible=True)
            heading.get_style_context().add_class("dim-label")
            self._window.add(heading)
        self._spokes[spoke.__class__.__name__] = spoke
        button = Gtk.Button(visible=True, relief=Gtk.ReliefStyle.NONE)
        box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, visible=True)
        title = Gtk.Label(label=spoke.title.replace("_", ""), halign=Gtk.Align.START, visible=True)
        status = Gtk.Label(halign=Gtk.Align.START, visible=True)
        box.add(title)
        box.add(status)
        button.add(box)
        button.connect("clicked", lambda _b: self._on_spoke_clicked(spoke))
        self._window.add(button)
        self._selectors[spoke] = (button, status)
        self._updateCompleteness(spoke)

    def selector_status(self, spoke):
        return self._selectors[spoke][1].get_text()

    def _updateCompleteness(self, spoke):  # noqa: N802
        button, status = self._selectors[spoke]
        button.set_sensitive(spoke.ready)
        status.set_text(spoke.status)

    def _on_spoke_clicked(self, spoke):
        spoke.refresh()
        self.main_window.enterSpoke(spoke)
        self._inSpoke = True
        spoke.entered.emit(spoke)

    def spoke_done(self, spoke):
        if not self._inSpoke:
            return
        if spoke.changed and (not spoke.skipTo or (spoke.skipTo and spoke.applyOnSkip)):
            spoke.apply()
            spoke.execute()
        spoke.exited.emit(spoke)
        self._inSpoke = False
        for sp in self._spokes.values():
            self._updateCompleteness(sp)
        self.main_window.returnToHub()
