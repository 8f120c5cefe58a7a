"""onn: the oVirt Node Next installer engine, in-process.

    import onn
    info = onn.read_image("/run/install/repo/node.squashfs.img", sha256="…")
    plan = onn.plan("install", image=info.path, pvs=["/dev/vdb"], boot="/dev/vda1")
    print(plan.to_json())                      # the same JSON as `onn install … --dry-run --json`
    outcome = onn.apply(plan, progress=print)  # the GIL is released while disks are written
    image = onn.fetch_image("https://…/node.squashfs.img", "/var/tmp", sha256="…")  # download
    plan = onn.plan("install", image=image, …)  # a Download: its digest, no second read
    info = onn.read_image(image, sha256="…")    # an ImageInfo: read once, hashed once …
    plan = onn.plan("install", image=info, …)   # … and neither again while the file is unchanged
    image = onn.obtain_image("https://…/ovirt-node-ng-image-update-….rpm", "/var/tmp",
                             gpg_keys=["/etc/pki/rpm-gpg/RPM-GPG-KEY-oVirt-4.5"])  # signed RPM

Every apply holds the lock that lets one onn write at a time (``onn.lock()``; the CLI takes the
same): while another onn writes, it is refused with the id ``busy``. Errors are subclasses of
:class:`onn.Error`, with a stable ``id``: ``onn.ERROR_IDS`` lists every one a refusal can carry,
as ``onn.STEP_IDS`` lists the ids of progress events. Nothing here configures logging, installs
signal handlers or changes mount namespaces.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal, TypedDict

if TYPE_CHECKING:
    from typing_extensions import Unpack

from ._native import (
    DEFAULT_POOL,
    ERROR_IDS,
    LV_NAME_MAX,
    POOL_METADATA_MIN,
    STEP_IDS,
    CancelledError,
    CancelToken,
    CommandError,
    Download,
    Error,
    Event,
    ImageInfo,
    Lock,
    NotFoundError,
    Outcome,
    Plan,
    PreconditionError,
    Recording,
    RollbackError,
    apply,
    check_lvm_name,
    entries_booting,
    export_boot,
    fetch_image,
    inspect,
    lock,
    mount_table,
    obtain_image,
    parse_sha256,
    parse_size,
    read_image,
    redact_url,
    split_dm_name,
)
from ._native import plan as _plan
from ._native import plan_for_installer as _plan_for_installer

__all__ = [
    "DEFAULT_POOL",
    "ERROR_IDS",
    "LV_NAME_MAX",
    "POOL_METADATA_MIN",
    "STEP_IDS",
    "CancelToken",
    "CancelledError",
    "CommandError",
    "Download",
    "Error",
    "Event",
    "ImageInfo",
    "Lock",
    "NotFoundError",
    "Outcome",
    "Plan",
    "PreconditionError",
    "RequestArgs",
    "Recording",
    "RollbackError",
    "apply",
    "check_lvm_name",
    "entries_booting",
    "export_boot",
    "fetch_image",
    "inspect",
    "obtain_image",
    "lock",
    "mount_table",
    "parse_sha256",
    "parse_size",
    "plan",
    "plan_for_installer",
    "read_image",
    "redact_url",
    "split_dm_name",
]

Action = Literal["install", "layout", "add-base", "add-layer"]
Size = int | str


def _size(value: Size | None) -> int | None:
    if value is None or isinstance(value, int):
        return value
    return parse_size(value)


class RequestArgs(TypedDict, total=False):
    """The keywords of :func:`plan` (the CLI's options)."""

    image: str | Download | ImageInfo | None
    sha256: str | None
    pvs: Iterable[str]
    vg: str | None
    pool: str
    volumes: Literal["default", "minimal", "none"]
    fs: Literal["ext4", "xfs"] | None
    boot: str | None
    adopt: bool
    root_size: Size | None
    pool_size: Size | None
    pool_metadata: Size | None
    kernel_args: Iterable[str]
    base: str | None
    root: str | None
    strict: bool
    efi: str | None
    host_root: str | None
    source: str | None
    report: bool
    wipe: bool


def _request(action: Action, args: RequestArgs) -> str:
    sizes = ("root_size", "pool_size", "pool_metadata")
    request: dict[str, Any] = {"action": action}  # the engine fills in the defaults
    for key, value in args.items():
        if isinstance(value, (Download, ImageInfo)):
            value = value.path
        elif key in ("pvs", "kernel_args"):
            value = list(value)  # type: ignore[arg-type]
        elif key in sizes:
            value = _size(value)  # type: ignore[arg-type]
        request[key] = value
    return json.dumps(request)


def plan(action: Action, **request: Unpack[RequestArgs]) -> Plan:
    """Inspect the system (and verify and read the image) and plan a request, as the CLI does.
    Keywords: image, sha256, pvs, vg, pool, volumes, fs, boot, adopt, root_size, pool_size,
    pool_metadata, kernel_args, base, root, strict, efi (the CLI's options), host_root
    (where the layer is mounted as its host runs it: the entry's initramfs is made there by
    the host's dracut), source (where the image came from, for the install report: its URL
    when ``image`` is a download) and report (False: no install report in the layer, for a
    second apply of the same install), wipe (``onn install --wipe``). Sizes are bytes or strings
    such as ``"10G"``. Raises PreconditionError when the request cannot be carried out;
    nothing is written. With ``adopt=True``, ``root`` is where the installer's root file
    system is mounted: its VG and thin pool are the ones adopted. ``image`` may be the
    :class:`Download` that :func:`fetch_image` returned, or the :class:`ImageInfo` that
    :func:`read_image` returned: while its file is unchanged, it is then neither hashed nor
    read again, here nor by :func:`apply` of the plan."""
    image = request.get("image")
    return _plan(_request(action, request), image if isinstance(image, (Download, ImageInfo)) else None)


class InstallerVolume(TypedDict, total=False):
    """An LV the installer will create: its own name (not device-mapper's), size in bytes,
    where it is mounted, whether it is a thin LV of the storage's pool, and the filesystem the
    installer makes on it (what that takes of the pool counts when onn plans)."""

    name: str
    size: int
    mount: str | None
    thin: bool
    fs: Literal["ext4", "xfs"]


class InstallerVg(TypedDict):
    name: str
    size: int
    free: int


class InstallerBoot(TypedDict):
    device: str
    size: int


class InstallerStorage(TypedDict, total=False):
    """The storage an installer is about to create (onn-core's ``InstallerStorage``): the
    volume at ``/`` (``root``), its ``vg`` and thin ``pool`` (absent when ``/`` is not on LVM,
    or not thin), the VG's other LVs (``volumes``), and ``boot``."""

    root: InstallerVolume
    vg: InstallerVg
    pool: InstallerVolume
    volumes: list[InstallerVolume]
    boot: InstallerBoot


def plan_for_installer(
    storage: InstallerStorage, info: ImageInfo | None, action: Action, **request: Unpack[RequestArgs]
) -> Plan:
    """Plan a request (the keywords of :func:`plan`) for storage an installer has not created
    yet, described in its own terms, with the image's facts (``info``, from :func:`read_image`):
    pure, touches nothing. The engine turns the description into the facts it would read once
    the storage exists."""
    return _plan_for_installer(_request(action, request), json.dumps(storage), info)
