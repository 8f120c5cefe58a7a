"""onn: the oVirt Node Next installer engine, in-process.

    import onn
    info = onn.read_image("/run/install/repo/node.squashfs.img", sha256="…")
    plan = onn.plan("install", image=info.path, pvs=["/dev/vdb"], boot="/dev/vda1")
    print(plan.to_json())                      # the same JSON as `onn install … --dry-run --json`
    outcome = onn.apply(plan, progress=print)  # the GIL is released while disks are written
    path = onn.fetch_image("https://…/node.squashfs.img", "/var/tmp", sha256="…")  # download

Errors are subclasses of :class:`onn.Error`. Nothing here configures logging, installs signal
handlers or changes mount namespaces.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Literal

from ._native import (
    BOOT_MIN,
    IMAGE_HEADROOM_PERCENT,
    POOL_USAGE_LIMIT_PERCENT,
    CancelledError,
    CancelToken,
    CommandError,
    Error,
    Event,
    ImageInfo,
    NotFoundError,
    Outcome,
    Plan,
    PreconditionError,
    RollbackError,
    apply,
    export_boot,
    fetch_image,
    inspect,
    mount_table,
    parse_size,
    read_image,
)
from ._native import plan as _plan

__all__ = [
    "BOOT_MIN",
    "IMAGE_HEADROOM_PERCENT",
    "POOL_USAGE_LIMIT_PERCENT",
    "CancelToken",
    "CancelledError",
    "CommandError",
    "Error",
    "Event",
    "ImageInfo",
    "NotFoundError",
    "Outcome",
    "Plan",
    "PreconditionError",
    "RollbackError",
    "apply",
    "export_boot",
    "fetch_image",
    "inspect",
    "mount_table",
    "parse_size",
    "plan",
    "read_image",
]

Action = Literal["install", "layout", "add-base", "add-layer"]
Size = int | str


def _size(value: Size | None) -> int | None:
    if value is None or isinstance(value, int):
        return value
    return parse_size(value)


def plan(
    action: Action,
    *,
    image: str | None = None,
    sha256: str | None = None,
    pvs: Iterable[str] = (),
    vg: str | None = None,
    pool: str = "pool00",
    volumes: Literal["default", "minimal", "none"] = "default",
    fs: Literal["ext4", "xfs"] | None = None,
    boot: str | None = None,
    adopt: bool = False,
    root_size: Size | None = None,
    pool_size: Size | None = None,
    pool_metadata: Size | None = None,
    kernel_args: Iterable[str] = (),
    base: str | None = None,
    root: str | None = None,
) -> Plan:
    """Inspect the system (and verify and read the image) and plan a request, as the CLI does.
    Sizes are bytes or strings such as ``"10G"``. Raises PreconditionError when the request
    cannot be carried out; nothing is written. With ``adopt=True``, ``root`` is where the
    installer's root file system is mounted: its VG and thin pool are the ones adopted."""
    request = {
        "action": action,
        "image": image,
        "sha256": sha256,
        "pvs": list(pvs),
        "vg": vg,
        "pool": pool,
        "volumes": volumes,
        "fs": fs,
        "boot": boot,
        "adopt": adopt,
        "root_size": _size(root_size),
        "pool_size": _size(pool_size),
        "pool_metadata": _size(pool_metadata),
        "kernel_args": list(kernel_args),
        "base": base,
        "root": root,
    }
    return _plan(json.dumps(request))
