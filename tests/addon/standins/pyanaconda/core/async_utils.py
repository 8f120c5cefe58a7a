"""pyanaconda/core/async_utils.py: run a call on the GLib main loop from any thread."""

import threading
from functools import wraps

from gi.repository import GLib


def run_in_loop(callback, *args, **kwargs):
    GLib.idle_add(lambda: callback(*args, **kwargs) and False)


def async_action_nowait(func):
    @wraps(func)
    def _call_method(*args, **kwargs):
        GLib.idle_add(lambda: func(*args, **kwargs) and False)

    return _call_method


def async_action_wait(func):
    @wraps(func)
    def _call_method(*args, **kwargs):
        if threading.current_thread() is threading.main_thread():
            return func(*args, **kwargs)
        done = threading.Event()
        result = []

        def call():
            result.append(func(*args, **kwargs))
            done.set()
            return False

        GLib.idle_add(call)
        done.wait()
        return result[0]

    return _call_method
