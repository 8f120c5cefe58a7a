"""The addon's D-Bus identity (glue: imports pyanaconda)."""

from dasbus.identifier import DBusServiceIdentifier
from pyanaconda.core.dbus import DBus
from pyanaconda.modules.common.constants.namespaces import ADDONS_NAMESPACE

OVIRT_NODE = DBusServiceIdentifier(namespace=(*ADDONS_NAMESPACE, "OvirtNode"), message_bus=DBus)
