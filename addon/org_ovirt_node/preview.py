"""What the spoke shows before anything is written, without Anaconda: the image facts, and
onn's own plan (`onn.plan_for_installer`) for the storage the installer is about to create, read
from its device tree. The layout rules stay in the engine; this module only describes the
installer's devices in onn's terms."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import onn

from .kickstart import NodeKickstart
from .structures import (
    IMAGE_ERROR,
    IMAGE_MISMATCH,
    IMAGE_VERIFIED,
    PREVIEW_NO_IMAGE,
    PREVIEW_NO_STORAGE,
    PREVIEW_READY,
    PREVIEW_REFUSED,
    NodeImageData,
    StoragePreviewData,
)

THIN_LV, THIN_POOL, LV, VG = "lvmthinlv", "lvmthinpool", "lvmlv", "lvmvg"
FILESYSTEMS = ("ext4", "xfs")  # the filesystems onn knows the cost of


@dataclass(frozen=True)
class Device:
    """One device of the installer's device tree, with the fields of its DeviceData."""

    id: str
    type: str
    name: str
    path: str
    size: int
    parents: tuple[str, ...] = ()
    children: tuple[str, ...] = ()
    #: Its format's type (DeviceFormatData): the filesystem the installer makes on it, if any.
    format: str = ""


def _lv_name(device: Device) -> str:
    """The LV's own name: the tree names LVs as device-mapper does (`vg-lv`, dashes doubled)."""
    vg_lv = onn.split_dm_name(device.name)
    return vg_lv[1] if vg_lv else device.name


def installer_storage(mounts: Mapping[str, str], devices: Mapping[str, Device]) -> onn.InstallerStorage | None:
    """The storage the installer will create, as onn describes it (`onn.InstallerStorage`): the
    volume at `/`, its VG and thin pool, the VG's other LVs with their mount points, and /boot.
    None when nothing is mounted at `/` yet (storage not configured)."""
    root_id = mounts.get("/")
    if root_id is None:
        return None
    root = devices[root_id]
    by_id = {dev_id: mount for mount, dev_id in mounts.items()}
    pool = next((devices[p] for p in root.parents if devices[p].type == THIN_POOL), None)
    vg = next((devices[p] for p in (pool or root).parents if devices[p].type == VG), None)
    storage: onn.InstallerStorage = {"root": {"name": root.name, "size": root.size, "mount": "/"}}
    if vg is not None:
        used = sum(devices[c].size for c in vg.children if c in devices)
        storage["vg"] = {"name": vg.name, "size": vg.size, "free": max(vg.size - used, 0)}
        if pool is not None:
            storage["pool"] = {"name": _lv_name(pool), "size": pool.size}
        in_vg = {vg.id} | ({pool.id} if pool is not None else set())
        for d in devices.values():
            if d.type not in (LV, THIN_LV) or in_vg.isdisjoint(d.parents):
                continue
            volume: onn.InstallerVolume = {
                "name": _lv_name(d),
                "size": d.size,
                "mount": by_id.get(d.id),
                "thin": d.type == THIN_LV,
            }
            if d.format in FILESYSTEMS:
                volume["fs"] = d.format  # made before onn writes: what mkfs takes of the pool counts
            if d.id == root_id:
                storage["root"] = volume
            else:
                storage.setdefault("volumes", []).append(volume)
    boot_id = mounts.get("/boot")
    if boot_id is not None:
        storage["boot"] = {"device": devices[boot_id].path, "size": devices[boot_id].size}
    return storage


def image_data(image: onn.ImageInfo) -> NodeImageData:
    data = NodeImageData()
    data.state = IMAGE_VERIFIED
    data.path = image.path
    data.nvr = image.nvr
    data.size = image.size
    data.kernel = image.kernels[0] if image.kernels else ""
    data.warning_ids = [i for i, _m in image.warnings]
    data.warnings = [m for _i, m in image.warnings]
    data.signer_key_id = image.signer_key_id or ""
    data.signer_user_id = image.signer_user_id or ""
    data.package = image.package or ""
    return data


def image_failure(path: str, error: Exception) -> NodeImageData:
    """The check's outcome when it failed: mismatch for a wrong checksum, error otherwise."""
    data = NodeImageData()
    cause = error.__cause__ if isinstance(error.__cause__, onn.Error) else error
    data.message_id = getattr(cause, "id", "")
    data.state = IMAGE_MISMATCH if data.message_id == "sha256.mismatch" else IMAGE_ERROR
    data.path = path
    data.message = str(error)
    return data


def storage_preview(
    ks: NodeKickstart, image: onn.ImageInfo | None, storage: onn.InstallerStorage | None
) -> StoragePreviewData:
    """onn's plan for the installer's storage, or why there is none."""
    data = StoragePreviewData()
    if storage is None:
        data.state = PREVIEW_NO_STORAGE
        return data
    if image is None:
        data.state = PREVIEW_NO_IMAGE
        return data
    boot = storage.get("boot")
    try:
        request = ks.install_request(image, ks.sha256, boot["device"] if boot else None)
        plan = onn.plan_for_installer(storage, image, "install", **request)
    except onn.Error as e:
        data.state = PREVIEW_REFUSED
        data.message_id = e.id
        data.message = str(e)
        return data
    data.state = PREVIEW_READY
    data.vg, data.pool = plan.vg, plan.pool
    data.pool_size, data.pool_free_after = plan.pool_size, plan.pool_free_after
    data.base, data.layer = plan.base or "", plan.layer or ""
    data.volume_mounts = [v["mount"] for v in plan.volumes]
    data.volume_sizes = [int(v["size"]) for v in plan.volumes]
    return data
