"""The service's D-Bus interface (glue: pyanaconda's KickstartModuleInterface)."""

from dasbus.server.interface import dbus_interface
from dasbus.server.property import emits_properties_changed
from dasbus.typing import Bool, ObjPath, Structure
from pyanaconda.modules.common.base import KickstartModuleInterface
from pyanaconda.modules.common.containers import TaskContainer

from org_ovirt_node.constants import OVIRT_NODE
from org_ovirt_node.structures import NodeConfigurationData, NodeImageData, StoragePreviewData


@dbus_interface(OVIRT_NODE.interface_name)
class OvirtNodeInterface(KickstartModuleInterface):
    def connect_signals(self) -> None:
        super().connect_signals()
        self.watch_property("Configuration", self.implementation.configuration_changed)
        self.watch_property("ImageInfo", self.implementation.image_changed)
        self.watch_property("PayloadActive", self.implementation.payload_active_changed)

    @property
    def Configuration(self) -> Structure:  # noqa: N802 - D-Bus names are CamelCase
        """The Node image and layout to install (see NodeConfigurationData)."""
        return NodeConfigurationData.to_structure(self.implementation.configuration)

    @Configuration.setter
    @emits_properties_changed
    def Configuration(self, configuration: Structure) -> None:  # noqa: N802
        self.implementation.set_configuration(NodeConfigurationData.from_structure(configuration))

    @property
    def ImageInfo(self) -> Structure:  # noqa: N802
        """The image that will be installed and the state of its check (NodeImageData)."""
        return NodeImageData.to_structure(self.implementation.image_info)

    def CheckImageWithTask(self) -> ObjPath:  # noqa: N802
        """A task that locates, reads and verifies the image; its outcome is ImageInfo."""
        return TaskContainer.to_object_path(self.implementation.check_image_with_task())

    def GetStoragePreview(self) -> Structure:  # noqa: N802
        """onn's plan for the storage the installer is about to create (StoragePreviewData)."""
        return StoragePreviewData.to_structure(self.implementation.storage_preview())

    @property
    def PayloadActive(self) -> Bool:  # noqa: N802
        """Is the Node image's boot-files payload the installer's active one?"""
        return self.implementation.payload_active

    @emits_properties_changed
    def ActivatePayload(self) -> None:  # noqa: N802
        """Make the boot-files payload the active one (an install that read no kickstart has
        none: the spoke calls this when it is left)."""
        self.implementation.activate_payload()
