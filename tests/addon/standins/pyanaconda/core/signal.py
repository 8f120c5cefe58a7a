"""pyanaconda/core/signal.py."""


class Signal:
    def __init__(self):
        self._slots = []

    def connect(self, slot):
        self._slots.append(slot)

    def disconnect(self, slot=None):
        self._slots = [] if slot is None else [s for s in self._slots if s != slot]

    def emit(self, *args, **kwargs):
        for slot in list(self._slots):
            slot(*args, **kwargs)
