"""The service's D-Bus interface (glue: pyanaconda's KickstartModuleInterface)."""

from dasbus.server.interface import dbus_interface
from dasbus.server.property import emits_properties_changed
from dasbus.typing import Structure
from pyanaconda.modules.common.base import KickstartModuleInterface

from org_ovirt_node.constants import OVIRT_NODE
from org_ovirt_node.structures import NodeConfigurationData


@dbus_interface(OVIRT_NODE.interface_name)
class OvirtNodeInterface(KickstartModuleInterface):
    def connect_signals(self) -> None:
        super().connect_signals()
        self.watch_property("Configuration", self.implementation.configuration_changed)

    @property
    def Configuration(self) -> Structure:  # noqa: N802 - D-Bus names are CamelCase
        """The Node image and layout to install (see NodeConfigurationData)."""
        return NodeConfigurationData.to_structure(self.implementation.configuration)

    @Configuration.setter
    @emits_properties_changed
    def Configuration(self, configuration: Structure) -> None:  # noqa: N802
        self.implementation.set_configuration(NodeConfigurationData.from_structure(configuration))
