"""pyanaconda/ui/tui/spokes/__init__.py: TUISpoke (a screen that renders as a hub entry
too) and NormalTUISpoke."""

from simpleline.render.widgets import CheckboxWidget, Widget

from pyanaconda.ui.common import NormalSpoke, Spoke
from pyanaconda.ui.tui.tuiobject import TUIObject

__all__ = ["NormalTUISpoke", "TUISpoke"]


class TUISpoke(TUIObject, Widget, Spoke):
    def __init__(self, data, storage, payload):
        if self.__class__ is TUISpoke:
            raise TypeError("TUISpoke is an abstract class")
        TUIObject.__init__(self, data)
        Widget.__init__(self)
        Spoke.__init__(self, storage, payload)
        self.input_required = True
        self.title = "Default spoke title"

    @property
    def status(self):
        return "testing status..."

    @property
    def completed(self):
        return True

    def refresh(self, args=None):
        TUIObject.refresh(self, args)

    def input(self, args, key):
        return key

    def render(self, width):
        Widget.render(self, width)
        if self.mandatory and not self.completed:
            key = "!"
        elif self.completed:
            key = "x"
        else:
            key = " "
        c = CheckboxWidget(key=key, completed=True, title=self.title, text=self.status)
        c.render(width)
        self.draw(c)


class NormalTUISpoke(TUISpoke, NormalSpoke):
    pass
