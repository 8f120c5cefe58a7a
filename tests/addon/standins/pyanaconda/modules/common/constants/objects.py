"""pyanaconda/modules/common/constants/objects.py."""

from dasbus.identifier import DBusObjectIdentifier

from pyanaconda.modules.common.constants.namespaces import STORAGE_NAMESPACE

BOOTLOADER = DBusObjectIdentifier(namespace=STORAGE_NAMESPACE, basename="Bootloader")
DEVICE_TREE = DBusObjectIdentifier(namespace=STORAGE_NAMESPACE, basename="DeviceTree")
