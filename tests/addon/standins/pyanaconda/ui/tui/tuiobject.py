"""pyanaconda/ui/tui/tuiobject.py: TUIObject, a simpleline UIScreen that is a UIObject."""

from simpleline.render.screen import UIScreen

from pyanaconda.ui import common


class TUIObject(UIScreen, common.UIObject):
    def __init__(self, data):
        UIScreen.__init__(self)
        common.UIObject.__init__(self, data)
        self.title = "Default title"

    @property
    def showable(self):
        return True

    def refresh(self, args=None):
        UIScreen.refresh(self, args)
