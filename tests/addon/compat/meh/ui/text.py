"""meh.ui.text: the two names pyanaconda/ui/tui/__init__.py uses."""


class TextIntf:
    pass


class IOHandler:
    def __init__(self, in_func=None):
        self.in_func = in_func
