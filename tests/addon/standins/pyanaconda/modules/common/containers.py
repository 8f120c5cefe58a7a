"""pyanaconda/modules/common/containers.py."""

from dasbus.server.container import DBusContainer

from pyanaconda.core.dbus import DBus
from pyanaconda.modules.common.constants.namespaces import ANACONDA_NAMESPACE

TaskContainer = DBusContainer(namespace=ANACONDA_NAMESPACE, basename="Task", message_bus=DBus)
