"""The service's tasks at Anaconda's hooks (glue: pyanaconda's Task). Each calls one step of
NodeInstaller and, where Anaconda must be told, one function of service/anaconda.py."""

from __future__ import annotations

from collections.abc import Callable

from pyanaconda.core.constants import PAYLOAD_TYPE_LIVE_IMAGE
from pyanaconda.modules.common.task import Task

from org_ovirt_node.i18n import _
from org_ovirt_node.installer import InstallError, NodeInstaller
from org_ovirt_node.messages import error_text
from org_ovirt_node.preview import image_data, image_failure, installer_storage, storage_preview
from org_ovirt_node.service import anaconda
from org_ovirt_node.structures import IMAGE_VERIFYING, PREVIEW_REFUSED, NodeImageData


class _NodeTask(Task):
    def __init__(self, installer: NodeInstaller) -> None:
        super().__init__()
        self._installer = installer


class CheckImageTask(_NodeTask):
    """CheckImageWithTask (the spoke's): locate, read and verify the image; the outcome,
    failures included, goes to the ImageInfo property. Writes nothing."""

    def __init__(self, installer: NodeInstaller, report: Callable[[NodeImageData], None]) -> None:
        super().__init__(installer)
        self._report = report

    @property
    def name(self) -> str:
        return "Check the Node image"

    def run(self) -> None:
        verifying = NodeImageData()
        verifying.state = IMAGE_VERIFYING
        verifying.path = self._installer.ks.image or ""
        self._report(verifying)
        self.report_progress(_("Verifying the Node image"))
        try:
            image = self._installer.verify_image()
        except InstallError as e:
            self._report(image_failure(self._installer.image_path or verifying.path, e))
        else:
            self._report(image_data(image))


class VerifyInstallationTask(_NodeTask):
    """ConfigureWithTasks: the image and the storage requests are checked before any disk is
    written; the payload's boot-files tarball is made."""

    @property
    def name(self) -> str:
        return "Verify the Node image and the storage layout"

    def run(self) -> None:
        payload = anaconda.active_payload_type()
        if payload != PAYLOAD_TYPE_LIVE_IMAGE:
            raise InstallError(
                _(
                    "the installer's payload is {payload}, not the Node image's boot files; where the installer "
                    "does not let the addon set it (RHEL 9), add to the kickstart: liveimg --url={url}"
                ).format(payload=payload or _("none"), url=self._installer.payload_url)
            )
        self.report_progress(_("Verifying the Node image"))
        image = self._installer.verify_image(progress=self.report_progress)
        # onn's own plan of the storage the installer will create: / on a thin pool, /var and
        # /boot as a Node needs them, the pool's room, the disks' sectors, the names, all as
        # the install will check them (the rules are the engine's).
        storage = installer_storage(*anaconda.storage_devices())
        if storage is None:
            raise InstallError(_("the installation destination has no / yet: choose where to install the Node"))
        preview = storage_preview(self._installer.ks, image, storage)
        if preview.state == PREVIEW_REFUSED:
            raise InstallError(error_text(preview.message_id, preview.message))
        self._installer.export_payload()


class InstallImageTask(_NodeTask):
    """ConfigureBootloaderWithTasks: base + layer written, then the system root is the layer."""

    @property
    def name(self) -> str:
        return "Install the Node image"

    def run(self) -> None:
        self._installer.install_image(progress=self.report_progress)
        self.report_progress(_("Switching the system root to the Node layer"))
        self._installer.switch_sysroot()
        # Anaconda wrote fstab into the root it had; write it again into the layer.
        anaconda.write_storage_configuration()
        anaconda.add_kernel_arguments(self._installer.ks.kernel_args)


class FinishBootTask(_NodeTask):
    """InstallWithTasks: after the bootloader install replaced the boot entries, make them
    imgbased's again."""

    @property
    def name(self) -> str:
        return "Finish the Node boot entries"

    def run(self) -> None:
        self.report_progress(_("Writing the Node boot entries"))
        self._installer.finish()
