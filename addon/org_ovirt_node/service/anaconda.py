"""Calls into Anaconda's other D-Bus modules (glue: imports pyanaconda). Each function is a
few lines over a documented interface; docs/anaconda.md cites the source of each."""

from __future__ import annotations

from pyanaconda.core.constants import PAYLOAD_TYPE_LIVE_IMAGE, SOURCE_TYPE_LIVE_TAR
from pyanaconda.modules.common.constants.objects import BOOTLOADER, DEVICE_TREE
from pyanaconda.modules.common.constants.services import PAYLOADS, STORAGE
from pyanaconda.modules.common.structures.live_image import LiveImageConfigurationData
from pyanaconda.modules.common.structures.storage import DeviceData, DeviceFormatData
from pyanaconda.modules.common.task import sync_run_task

from org_ovirt_node.preview import Device


def storage_devices() -> tuple[dict[str, str], dict[str, Device]]:
    """The installer's device tree as it will be created: mount point → device id, and every
    device with the fields the storage preview reads (its format's type: the filesystem it gets)."""
    tree = STORAGE.get_proxy(DEVICE_TREE)
    devices = {}
    for device_id in tree.GetDevices():
        dev = DeviceData.from_structure(tree.GetDeviceData(device_id))
        fmt = DeviceFormatData.from_structure(tree.GetFormatData(device_id))
        devices[device_id] = Device(
            device_id, dev.type, dev.name, dev.path, dev.size, tuple(dev.parents), tuple(dev.children), fmt.type
        )
    return dict(tree.GetMountPoints()), devices


def activate_boot_files_payload(tarball_url: str) -> None:
    """Make a live-image payload whose source is the boot-files tarball the active one."""
    payloads = PAYLOADS.get_proxy()
    payload_path = payloads.CreatePayload(PAYLOAD_TYPE_LIVE_IMAGE)
    source_path = payloads.CreateSource(SOURCE_TYPE_LIVE_TAR)
    config = LiveImageConfigurationData()
    config.url = tarball_url
    PAYLOADS.get_proxy(source_path).Configuration = LiveImageConfigurationData.to_structure(config)
    PAYLOADS.get_proxy(payload_path).Sources = [source_path]
    payloads.ActivatePayload(payload_path)


def active_payload_type() -> str:
    payloads = PAYLOADS.get_proxy()
    path = payloads.ActivePayload
    return PAYLOADS.get_proxy(path).Type if path else ""


def write_storage_configuration() -> None:
    """fstab, crypttab, … into the system root as it is now (the layer, after the switch)."""
    storage = STORAGE.get_proxy()
    sync_run_task(STORAGE.get_proxy(storage.WriteConfigurationWithTask(active_payload_type())))


def add_kernel_arguments(args: list[str]) -> None:
    """Append to the bootloader's extra arguments; read when the bootloader is installed."""
    bootloader = STORAGE.get_proxy(BOOTLOADER)
    current = list(bootloader.ExtraArguments)
    bootloader.ExtraArguments = current + [a for a in args if a not in current]
