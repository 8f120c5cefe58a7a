"""pyanaconda/ui/communication.py: hubQ, the queue spokes tell the hub they are (not) ready
on. The stand-in keeps the messages in order for the tests to read."""

import threading


class _Queue:
    def __init__(self):
        self.messages = []
        self._lock = threading.Lock()

    def _put(self, *message):
        with self._lock:
            self.messages.append(message)

    def send_ready(self, spoke_name):
        self._put("ready", spoke_name)

    def send_not_ready(self, spoke_name):
        self._put("not_ready", spoke_name)

    def send_message(self, spoke_name, text):
        self._put("message", spoke_name, text)


hubQ = _Queue()
