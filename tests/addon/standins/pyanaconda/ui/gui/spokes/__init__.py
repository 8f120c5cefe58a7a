"""pyanaconda/ui/gui/spokes/__init__.py: NormalSpoke."""

from pyanaconda.ui import common
from pyanaconda.ui.gui import GUIObject

__all__ = ["NormalSpoke"]


class NormalSpoke(GUIObject, common.NormalSpoke):
    def __init__(self, data, storage, payload):
        GUIObject.__init__(self, data)
        common.NormalSpoke.__init__(self, storage, payload)
        self._current_warning_message = ""

    def on_back_clicked(self, button):
        self.main_window.current_action.spoke_done(self)

    def clear_info(self):
        self._current_warning_message = ""
        super().clear_info()

    def show_warning_message(self, message):
        if not message:
            self.clear_info()
        elif self._current_warning_message != message:
            self.clear_info()
            self._current_warning_message = message
            self.set_warning(message)
