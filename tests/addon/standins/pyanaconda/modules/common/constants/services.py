"""pyanaconda/modules/common/constants/services.py."""

from dasbus.identifier import DBusServiceIdentifier

from pyanaconda.core.dbus import DBus
from pyanaconda.modules.common.constants.namespaces import PAYLOADS_NAMESPACE, STORAGE_NAMESPACE

STORAGE = DBusServiceIdentifier(namespace=STORAGE_NAMESPACE, message_bus=DBus)
PAYLOADS = DBusServiceIdentifier(namespace=PAYLOADS_NAMESPACE, message_bus=DBus)
