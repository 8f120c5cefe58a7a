"""The D-Bus service (glue: pyanaconda's KickstartService). It holds the configuration as a
`NodeKickstart` and hands the work to NodeInstaller through the tasks."""

from __future__ import annotations

import dataclasses
import logging
import os

from dasbus.error import DBusError
from pyanaconda.core.configuration.anaconda import conf
from pyanaconda.core.constants import PAYLOAD_TYPE_LIVE_IMAGE
from pyanaconda.core.dbus import DBus
from pyanaconda.core.kickstart import KickstartSpecification
from pyanaconda.core.kickstart.addon import AddonData
from pyanaconda.core.signal import Signal
from pyanaconda.modules.common.base import KickstartService
from pyanaconda.modules.common.containers import TaskContainer

from org_ovirt_node.constants import OVIRT_NODE
from org_ovirt_node.installer import MEDIA_DIRS as INSTALL_MEDIA_DIRS
from org_ovirt_node.installer import NodeInstaller
from org_ovirt_node.kickstart import ADDON_NAME, NodeKickstart
from org_ovirt_node.preview import installer_storage, storage_preview
from org_ovirt_node.service import anaconda
from org_ovirt_node.service.ovirt_node_interface import OvirtNodeInterface
from org_ovirt_node.service.tasks import CheckImageTask, FinishBootTask, InstallImageTask, VerifyInstallationTask
from org_ovirt_node.structures import (
    IMAGE_VERIFIED,
    NodeConfigurationData,
    NodeImageData,
    StoragePreviewData,
    from_kickstart,
    to_kickstart,
)


class OvirtNodeData(NodeKickstart, AddonData):
    """`%addon org_ovirt_node` as pyanaconda's AddonData: the methods are NodeKickstart's
    (kickstart.py)."""

    def __init__(self) -> None:
        NodeKickstart.__init__(self)


class OvirtNodeKickstartSpecification(KickstartSpecification):
    addons = {ADDON_NAME: OvirtNodeData}


log = logging.getLogger(__name__)
# Where the image is fetched and the payload tarball made, and where the install media are
# mounted (tests point them elsewhere).
WORKDIR = os.environ.get("ONN_ADDON_WORKDIR", "/run/install/onn")
MEDIA_DIRS = os.environ.get("ONN_ADDON_MEDIA", ":".join(INSTALL_MEDIA_DIRS)).split(":")


class OvirtNode(KickstartService):
    def __init__(self) -> None:
        super().__init__()
        self._ks = NodeKickstart(seen=True)
        self.configuration_changed = Signal()
        self._installer: NodeInstaller | None = None
        self._image = NodeImageData()
        self.image_changed = Signal()
        self._payload_active = False
        self.payload_active_changed = Signal()

    def publish(self) -> None:
        TaskContainer.set_namespace(OVIRT_NODE.namespace)
        DBus.publish_object(OVIRT_NODE.object_path, OvirtNodeInterface(self))
        DBus.register_service(OVIRT_NODE.service_name)

    @property
    def kickstart_specification(self) -> type[OvirtNodeKickstartSpecification]:
        return OvirtNodeKickstartSpecification

    def process_kickstart(self, data: object) -> None:
        section: NodeKickstart = getattr(data.addons, ADDON_NAME)  # type: ignore[attr-defined]
        self._set_kickstart(NodeKickstart(**{f.name: getattr(section, f.name) for f in _FIELDS}, seen=True))
        # The payload must be active before Anaconda sets up its source, right after this; its
        # tarball is filled by the configuration task, before the payload is installed
        # (docs/anaconda.md).
        try:
            self.activate_payload()
        except DBusError as e:
            # An installer that keeps the payload to itself (RHEL 9) gets it from `liveimg`;
            # the configuration task checks which payload is active before any disk is written.
            log.warning("The live-image payload could not be activated: %s", e)

    def setup_kickstart(self, data: object) -> None:
        section = getattr(data.addons, ADDON_NAME)  # type: ignore[attr-defined]
        for f in _FIELDS:
            setattr(section, f.name, getattr(self._ks, f.name))
        section.seen = True

    @property
    def configuration(self) -> NodeConfigurationData:
        return from_kickstart(self._ks)

    def set_configuration(self, data: NodeConfigurationData) -> None:
        self._set_kickstart(to_kickstart(data))
        log.debug("Configuration is set to %s.", self._ks)

    def _set_kickstart(self, ks: NodeKickstart) -> None:
        if not _same_image(ks, self._ks):
            self.set_image_info(NodeImageData())
        self._ks = ks
        self.configuration_changed.emit()

    @property
    def image_info(self) -> NodeImageData:
        return self._image

    def set_image_info(self, data: NodeImageData) -> None:
        self._image = data
        self.image_changed.emit()
        # Set from the check's thread too, outside any D-Bus method: send it now.
        self.module_properties_changed.emit()

    def check_image_with_task(self) -> CheckImageTask:
        return CheckImageTask(self._node_installer(), self.set_image_info)

    def storage_preview(self) -> StoragePreviewData:
        """onn's plan for the storage the installer is about to create, as things are now."""
        installer = self._node_installer()
        image = installer.image if self._image.state == IMAGE_VERIFIED else None
        return storage_preview(self._ks, image, installer_storage(*anaconda.storage_devices()))

    @property
    def payload_active(self) -> bool:
        return self._payload_active

    def activate_payload(self) -> None:
        """Make the boot-files payload the installer's (once: its tarball's place is fixed)."""
        if self._payload_active and anaconda.active_payload_type() == PAYLOAD_TYPE_LIVE_IMAGE:
            return
        anaconda.activate_boot_files_payload(self._node_installer().reserve_payload())
        self._payload_active = True
        self.payload_active_changed.emit()

    def _node_installer(self) -> NodeInstaller:
        """One installer for the current configuration: the hooks' tasks share its state (the
        verified image, onn's outcome) in whatever order Anaconda asks for them. A new
        configuration with the same image keeps the image already verified."""
        if self._installer is None or self._installer.ks is not self._ks:
            previous = self._installer
            self._installer = NodeInstaller(
                self._ks,
                sysroot=conf.target.system_root,
                sysimage=conf.target.physical_root,
                workdir=WORKDIR,
                media_dirs=MEDIA_DIRS,
            )
            if previous is not None and _same_image(previous.ks, self._ks):
                for known in ("image_path", "download", "image"):
                    setattr(self._installer, known, getattr(previous, known))
        return self._installer

    def configure_with_tasks(self) -> list[VerifyInstallationTask]:
        return [VerifyInstallationTask(self._node_installer())]

    def configure_bootloader_with_tasks(self, kernel_versions: list[str]) -> list[InstallImageTask]:
        log.debug("Kernel versions from the payload: %s", kernel_versions)
        return [InstallImageTask(self._node_installer())]

    def install_with_tasks(self) -> list[FinishBootTask]:
        return [FinishBootTask(self._node_installer())]


def _same_image(a: NodeKickstart, b: NodeKickstart) -> bool:
    return (a.image, a.sha256, a.proxy, a.noverifyssl, a.gpgkeys) == (
        b.image,
        b.sha256,
        b.proxy,
        b.noverifyssl,
        b.gpgkeys,
    )


_FIELDS = [f for f in dataclasses.fields(NodeKickstart) if f.init and not f.name.startswith("_") and f.name != "seen"]
