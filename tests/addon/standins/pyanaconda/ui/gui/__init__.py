"""pyanaconda/ui/gui/__init__.py: GUIObject (loads the .glade file next to the class, with
its translation domain, connects the handlers) and MainWindow (shows the current hub or
spoke). The AnacondaWidgets types come from the stand-in anaconda_widgets."""

import inspect
import os

import gi

gi.require_version("Gtk", "3.0")
from gi.repository import Gtk  # noqa: E402

from pyanaconda.ui import common  # noqa: E402
from pyanaconda.ui.gui import anaconda_widgets  # noqa: E402, F401 - registers AnacondaSpokeWindow


class GUIObject(common.UIObject):
    builderObjects = []
    mainWidgetName = None
    focusWidgetName = None
    uiFile = ""
    translationDomain = "anaconda"

    def __init__(self, data):
        super().__init__(data)
        if self.__class__ is GUIObject:
            raise TypeError("GUIObject is an abstract class")
        self.skipTo = None
        self.applyOnSkip = False
        self.builder = Gtk.Builder()
        self.builder.set_translation_domain(self.translationDomain)
        self._window = None
        if self.builderObjects:
            self.builder.add_objects_from_file(self._findUIFile(), self.builderObjects)
        else:
            self.builder.add_from_file(self._findUIFile())
        self.builder.connect_signals(self)

    def _findUIFile(self):  # noqa: N802
        dirs = os.environ.get("UIPATH", "./:/usr/share/anaconda/ui/").split(":")
        dirs.append(os.path.dirname(inspect.getfile(self.__class__)))
        for d in dirs:
            path = os.path.join(d, self.uiFile)
            if os.path.isfile(path) and os.access(path, os.R_OK):
                return path
        raise OSError(f"Could not load UI file '{self.uiFile}' for object '{self}'")

    @property
    def window(self):
        if not self._window:
            self._window = self.builder.get_object(self.mainWidgetName)
        return self._window

    @property
    def main_window(self):
        return MainWindow.get()

    def clear_info(self):
        self.window.clear_info()

    def set_error(self, msg):
        self.window.set_error(msg)

    def set_info(self, msg):
        self.window.set_info(msg)

    def set_warning(self, msg):
        self.window.set_warning(msg)


class MainWindow(Gtk.Window):
    __instance = None

    @classmethod
    def get(cls):
        if cls.__instance is None:
            cls.__instance = cls()
        return cls.__instance

    def __init__(self, fullscreen=False, decorated=False):
        super().__init__(decorated=decorated)
        self.set_default_size(1024, 768)
        self._stack = Gtk.Stack(visible=True)
        self.add(self._stack)
        self._current_action = None

    @property
    def current_action(self):
        return self._current_action

    def setCurrentAction(self, action):  # noqa: N802
        self._current_action = action
        self._show(action.window)

    def enterSpoke(self, spoke):  # noqa: N802
        self._show(spoke.window)

    def returnToHub(self):  # noqa: N802
        self._show(self._current_action.window)

    def _show(self, child):
        if child.get_parent() is None:
            self._stack.add(child)
        child.show()
        self._stack.set_visible_child(child)
