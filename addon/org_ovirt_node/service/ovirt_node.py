"""The D-Bus service (glue: pyanaconda's KickstartService). It holds the configuration as a
`NodeKickstart` and hands the work to NodeInstaller through the tasks."""

from __future__ import annotations

import dataclasses
import logging
import os

from dasbus.error import DBusError
from pyanaconda.core.configuration.anaconda import conf
from pyanaconda.core.dbus import DBus
from pyanaconda.core.signal import Signal
from pyanaconda.modules.common.base import KickstartService
from pyanaconda.modules.common.containers import TaskContainer

from org_ovirt_node.constants import OVIRT_NODE
from org_ovirt_node.installer import NodeInstaller
from org_ovirt_node.ksdata import ADDON_NAME, NodeKickstart
from org_ovirt_node.service import anaconda
from org_ovirt_node.service.installation import FinishBootTask, InstallImageTask, VerifyImageTask
from org_ovirt_node.service.kickstart import OvirtNodeKickstartSpecification
from org_ovirt_node.service.ovirt_node_interface import OvirtNodeInterface
from org_ovirt_node.structures import NodeConfigurationData, from_kickstart, to_kickstart

log = logging.getLogger(__name__)
# Where the image is fetched and the payload tarball made (tests point it elsewhere).
WORKDIR = os.environ.get("ONN_ADDON_WORKDIR", "/run/install/onn")


class OvirtNode(KickstartService):
    def __init__(self) -> None:
        super().__init__()
        self._ks = NodeKickstart(seen=True)
        self.configuration_changed = Signal()
        self._installer: NodeInstaller | None = None

    def publish(self) -> None:
        TaskContainer.set_namespace(OVIRT_NODE.namespace)
        DBus.publish_object(OVIRT_NODE.object_path, OvirtNodeInterface(self))
        DBus.register_service(OVIRT_NODE.service_name)

    @property
    def kickstart_specification(self) -> type[OvirtNodeKickstartSpecification]:
        return OvirtNodeKickstartSpecification

    def process_kickstart(self, data: object) -> None:
        section: NodeKickstart = getattr(data.addons, ADDON_NAME)  # type: ignore[attr-defined]
        self._ks = NodeKickstart(**{f.name: getattr(section, f.name) for f in _FIELDS}, seen=True)
        self.configuration_changed.emit()
        # The payload must be active before the installation queue is built; its tarball is
        # made by the configuration task, before the payload is installed (docs/anaconda.md).
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
        self._ks = to_kickstart(data)
        self.configuration_changed.emit()
        log.debug("Configuration is set to %s.", self._ks)

    def activate_payload(self) -> None:
        anaconda.activate_boot_files_payload(self._node_installer().payload_url)

    def _node_installer(self) -> NodeInstaller:
        """One installer for the current configuration: the hooks' tasks share its state (the
        verified image, onn's outcome) in whatever order Anaconda asks for them."""
        if self._installer is None or self._installer.ks is not self._ks:
            self._installer = NodeInstaller(
                self._ks, sysroot=conf.target.system_root, sysimage=conf.target.physical_root, workdir=WORKDIR
            )
        return self._installer

    def configure_with_tasks(self) -> list[VerifyImageTask]:
        return [VerifyImageTask(self._node_installer())]

    def configure_bootloader_with_tasks(self, kernel_versions: list[str]) -> list[InstallImageTask]:
        log.debug("Kernel versions from the payload: %s", kernel_versions)
        return [InstallImageTask(self._node_installer())]

    def install_with_tasks(self) -> list[FinishBootTask]:
        return [FinishBootTask(self._node_installer())]


_FIELDS = [f for f in dataclasses.fields(NodeKickstart) if f.init and not f.name.startswith("_") and f.name != "seen"]
