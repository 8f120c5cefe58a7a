"""pyanaconda/core/dbus.py: the Anaconda bus, found as the real one finds it."""

import os

from dasbus.connection import MessageBus
from dasbus.constants import DBUS_STARTER_ADDRESS

from pyanaconda.core.constants import DBUS_ANACONDA_SESSION_ADDRESS


class DefaultMessageBus(MessageBus):
    @property
    def address(self):
        return self._find_bus_address()

    def _get_connection(self):
        return self._provider.get_addressed_bus_connection(self._find_bus_address())

    def _find_bus_address(self):
        for var in (DBUS_STARTER_ADDRESS, DBUS_ANACONDA_SESSION_ADDRESS):
            if var in os.environ:
                return os.environ[var]
        raise ConnectionError("Can't find Anaconda bus address!")


DBus = DefaultMessageBus()
