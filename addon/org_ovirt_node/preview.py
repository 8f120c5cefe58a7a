"""What the spoke shows before anything is written, without Anaconda: the image facts, and
onn's own plan (`onn.plan_from_facts`) for the storage the installer is about to create, read
from its device tree. The layout rules stay in the engine; this module only translates the
installer's devices into the facts onn plans from."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import onn

from .ksdata import NodeKickstart
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
EXTENT = 4 << 20  # LVM's default extent, as the installer makes VGs


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


def _lv_name(device: Device, vg: str) -> str:
    """The LV's own name: the tree names LVs as device-mapper does (`vg-lv`, dashes doubled)."""
    prefix = vg.replace("-", "--") + "-"
    name = device.name[len(prefix) :] if device.name.startswith(prefix) else device.name
    return name.replace("--", "-")


def _lv_row(name: str, vg: str, attr: str, size: int, pool: str = "", metadata: str = "") -> dict[str, str]:
    """An LV as `lvm lvs --reportformat json --units b --nosuffix` reports it (onn's Facts)."""
    return {
        "lv_name": name,
        "vg_name": vg,
        "lv_attr": attr,
        "lv_size": str(size),
        "pool_lv": pool,
        "origin": "",
        "lv_tags": "",
        "data_percent": "0.00" if attr.startswith("t") else "",
        "metadata_percent": "",
        "lv_metadata_size": metadata,
        "lv_profile": "",
        "lv_skip_activation": "",
        "lv_permissions": "writeable",
        "lv_active": "active",
    }


def storage_facts(mounts: Mapping[str, str], devices: Mapping[str, Device]) -> dict[str, object] | None:
    """onn's Facts for the storage the installer will create: its VG and thin pool as LVM
    rows, the LV of `/` (root_lv), the LVs of that VG mounted below `/` (root_volumes), and
    /boot. None when nothing is mounted at `/` yet (storage not configured).

    The pool's metadata size is not in the device data: it counts as unknown, so onn plans to
    grow it to imgbased's minimum, which needs free space in the VG, exactly as at install."""
    root_id = mounts.get("/")
    if root_id is None:
        return None
    root = devices[root_id]
    facts: dict[str, object] = {"lvm": {"pvs": [], "vgs": [], "lvs": []}}
    pool = next((devices[p] for p in root.parents if devices[p].type == THIN_POOL), None)
    vg_parent = pool or root
    vg = next((devices[p] for p in vg_parent.parents if devices[p].type == VG), None)
    if vg is None:
        # Not LVM: a row onn refuses as "not a thin volume", in its own words.
        facts["root_lv"] = _lv_row(root.name, "", "-wi-a-----", root.size)
    else:
        lvm = facts["lvm"]
        assert isinstance(lvm, dict)
        used = sum(devices[c].size for c in vg.children if c in devices)
        lvm["vgs"].append(
            {
                "vg_name": vg.name,
                "vg_size": str(vg.size),
                "vg_free": str(max(vg.size - used, 0)),
                "vg_extent_size": str(EXTENT),
                "vg_tags": "",
            }
        )
        pool_name = _lv_name(pool, vg.name) if pool else ""
        if pool is not None:
            lvm["lvs"].append(_lv_row(pool_name, vg.name, "twi-a-tz--", pool.size))
        by_id = {dev_id: mount for mount, dev_id in mounts.items()}
        volumes = []
        for dev in devices.values():
            in_vg = vg.id in dev.parents or (pool is not None and pool.id in dev.parents)
            if dev.type not in (LV, THIN_LV) or not in_vg:
                continue
            thin = dev.type == THIN_LV
            row = _lv_row(_lv_name(dev, vg.name), vg.name, "Vwi-a-tz--" if thin else "-wi-a-----", dev.size, pool_name)
            lvm["lvs"].append(row)
            mount = by_id.get(dev.id, "")
            if dev.id == root_id:
                facts["root_lv"] = row
            elif mount.startswith("/"):
                volumes.append({"lv": row["lv_name"], "mount": mount, "size": dev.size})
        facts["root_volumes"] = sorted(volumes, key=lambda v: str(v["mount"]))
    boot_id = mounts.get("/boot")
    if boot_id is not None:
        boot = devices[boot_id]
        facts["boot"] = {"given": boot.path, "device": boot.path, "size": boot.size, "uuid": "", "fstype": ""}
    return facts


def image_data(image: onn.ImageInfo) -> NodeImageData:
    data = NodeImageData()
    data.state = IMAGE_VERIFIED
    data.path = image.path
    data.nvr = image.nvr
    data.size = image.size
    data.kernel = image.kernels[0] if image.kernels else ""
    data.warning_ids = [i for i, _m in image.warnings]
    data.warnings = [m for _i, m in image.warnings]
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
    ks: NodeKickstart, image: onn.ImageInfo | None, facts: Mapping[str, object] | None
) -> StoragePreviewData:
    """onn's plan for these facts, or why there is none."""
    data = StoragePreviewData()
    if facts is None:
        data.state = PREVIEW_NO_STORAGE
        return data
    if image is None:
        data.state = PREVIEW_NO_IMAGE
        return data
    boot = facts.get("boot")
    full = {**facts, "image": json.loads(image.to_json())}
    try:
        plan = onn.plan_from_facts(
            full,
            "install",
            image=image.path,
            sha256=ks.sha256,
            adopt=True,
            vg=ks.vg,
            pool=ks.pool,
            pool_metadata=ks.pool_metadata,
            boot=boot["device"] if isinstance(boot, dict) else None,
            volumes=ks.volumes,  # type: ignore[typeddict-item]
            root_size=ks.root_size,
            kernel_args=ks.kernel_args,
        )
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
