"""The service's D-Bus structure (pure dasbus, no pyanaconda) and its mapping to the
kickstart section, whose grammar validates every value."""

from __future__ import annotations

import onn
from dasbus.structure import DBusData
from dasbus.typing import Bool, List, Str, UInt64  # noqa: F401 - the D-Bus types of the fields

from .kickstart import NodeKickstart, parse_section


class NodeConfigurationData(DBusData):
    """What the Node spoke and `%addon org_ovirt_node` set."""

    def __init__(self) -> None:
        self._image_url: Str = ""
        self._sha256: Str = ""
        self._proxy: Str = ""
        self._verify_ssl: Bool = True
        self._gpg_keys: List[Str] = []
        self._strict: Bool = False
        self._volumes: Str = "default"
        self._vg: Str = ""
        self._pool: Str = onn.DEFAULT_POOL
        self._pool_metadata: UInt64 = 0
        self._root_size: UInt64 = 0
        self._kernel_args: List[Str] = []

    @property
    def image_url(self) -> Str:
        """The image URL; empty: the install media's image."""
        return self._image_url

    @image_url.setter
    def image_url(self, value: Str) -> None:
        self._image_url = value

    @property
    def sha256(self) -> Str:
        """Expected SHA-256 of the image; empty: not checked."""
        return self._sha256

    @sha256.setter
    def sha256(self, value: Str) -> None:
        self._sha256 = value

    @property
    def proxy(self) -> Str:
        """HTTP(S) proxy for an http(s) image."""
        return self._proxy

    @proxy.setter
    def proxy(self, value: Str) -> None:
        self._proxy = value

    @property
    def verify_ssl(self) -> Bool:
        """Verify the server's TLS certificate."""
        return self._verify_ssl

    @verify_ssl.setter
    def verify_ssl(self, value: Bool) -> None:
        self._verify_ssl = value

    @property
    def gpg_keys(self) -> List[Str]:
        """URLs of the OpenPGP keys the image must be signed by; empty: not checked."""
        return self._gpg_keys

    @gpg_keys.setter
    def gpg_keys(self, value: List[Str]) -> None:
        self._gpg_keys = value

    @property
    def volumes(self) -> Str:
        """Data volumes: default, minimal or none."""
        return self._volumes

    @volumes.setter
    def volumes(self, value: Str) -> None:
        self._volumes = value

    @property
    def vg(self) -> Str:
        """Volume group; empty: the installer's."""
        return self._vg

    @vg.setter
    def vg(self, value: Str) -> None:
        self._vg = value

    @property
    def pool(self) -> Str:
        """Thin pool."""
        return self._pool

    @pool.setter
    def pool(self, value: Str) -> None:
        self._pool = value

    @property
    def pool_metadata(self) -> UInt64:
        """Pool metadata size in bytes; 0: onn's formula."""
        return self._pool_metadata

    @pool_metadata.setter
    def pool_metadata(self, value: UInt64) -> None:
        self._pool_metadata = value

    @property
    def root_size(self) -> UInt64:
        """Size of the base and its layers in bytes; 0: onn's default."""
        return self._root_size

    @root_size.setter
    def root_size(self, value: UInt64) -> None:
        self._root_size = value

    @property
    def strict(self) -> Bool:
        """Refuse an image the installed host's imgbased could not update."""
        return self._strict

    @strict.setter
    def strict(self, value: Bool) -> None:
        self._strict = value

    @property
    def kernel_args(self) -> List[Str]:
        """Extra kernel arguments."""
        return self._kernel_args

    @kernel_args.setter
    def kernel_args(self, value: List[Str]) -> None:
        self._kernel_args = value


def from_kickstart(ks: NodeKickstart) -> NodeConfigurationData:
    data = NodeConfigurationData()
    data.image_url = ks.image or ""
    data.sha256 = ks.sha256 or ""
    data.proxy = ks.proxy or ""
    data.verify_ssl = not ks.noverifyssl
    data.gpg_keys = list(ks.gpgkeys)
    data.strict = ks.strict
    data.volumes = ks.volumes
    data.vg = ks.vg or ""
    data.pool = ks.pool
    data.pool_metadata = ks.pool_metadata or 0
    data.root_size = ks.root_size or 0
    data.kernel_args = list(ks.kernel_args)
    return data


def to_kickstart(data: NodeConfigurationData) -> NodeKickstart:
    """The section for this configuration, checked by the kickstart grammar: raises
    KickstartParseError naming the bad value."""
    ks = NodeKickstart(
        seen=True,
        image=data.image_url or None,
        sha256=data.sha256 or None,
        proxy=data.proxy or None,
        noverifyssl=not data.verify_ssl,
        gpgkeys=list(data.gpg_keys),
        strict=data.strict,
        volumes=data.volumes,
        vg=data.vg or None,
        pool=data.pool,
        pool_metadata=data.pool_metadata or None,
        root_size=data.root_size or None,
        kernel_args=list(data.kernel_args),
    )
    return parse_section(str(ks))


# States of the image check (NodeImageData.state).
IMAGE_UNVERIFIED, IMAGE_VERIFYING, IMAGE_VERIFIED, IMAGE_MISMATCH, IMAGE_ERROR = (
    "unverified",
    "verifying",
    "verified",
    "mismatch",
    "error",
)
# States of the storage preview (StoragePreviewData.state).
PREVIEW_READY, PREVIEW_NO_STORAGE, PREVIEW_NO_IMAGE, PREVIEW_REFUSED = ("ready", "no-storage", "no-image", "refused")


class NodeImageData(DBusData):
    """The image that will be installed and where its check stands (the `ImageInfo`
    property). `message_id` is onn's stable error id when the check failed (for translation),
    `message` the error as onn or the installer said it."""

    def __init__(self) -> None:
        self._state: Str = IMAGE_UNVERIFIED
        self._path: Str = ""
        self._nvr: Str = ""
        self._size: UInt64 = 0
        self._kernel: Str = ""
        self._message_id: Str = ""
        self._message: Str = ""
        self._warning_ids: List[Str] = []
        self._warnings: List[Str] = []
        self._signer_key_id: Str = ""
        self._signer_user_id: Str = ""
        self._package: Str = ""

    @property
    def state(self) -> Str:
        """unverified, verifying, verified, mismatch or error."""
        return self._state

    @state.setter
    def state(self, value: Str) -> None:
        self._state = value

    @property
    def path(self) -> Str:
        return self._path

    @path.setter
    def path(self, value: Str) -> None:
        self._path = value

    @property
    def nvr(self) -> Str:
        return self._nvr

    @nvr.setter
    def nvr(self, value: Str) -> None:
        self._nvr = value

    @property
    def size(self) -> UInt64:
        """Bytes of the image file."""
        return self._size

    @size.setter
    def size(self, value: UInt64) -> None:
        self._size = value

    @property
    def kernel(self) -> Str:
        """The kernel version the boot entry will use (the newest)."""
        return self._kernel

    @kernel.setter
    def kernel(self, value: Str) -> None:
        self._kernel = value

    @property
    def message_id(self) -> Str:
        return self._message_id

    @message_id.setter
    def message_id(self, value: Str) -> None:
        self._message_id = value

    @property
    def message(self) -> Str:
        return self._message

    @message.setter
    def message(self, value: Str) -> None:
        self._message = value

    @property
    def warning_ids(self) -> List[Str]:
        """onn's ids of what the image lacks for the host's imgbased to update it (it installs)."""
        return self._warning_ids

    @warning_ids.setter
    def warning_ids(self, value: List[Str]) -> None:
        self._warning_ids = value

    @property
    def warnings(self) -> List[Str]:
        """The same, as onn says them (English), in the same order."""
        return self._warnings

    @warnings.setter
    def warnings(self, value: List[Str]) -> None:
        self._warnings = value

    @property
    def signer_key_id(self) -> Str:
        """The key id of the verified signer (16 hex digits); empty: no key was given."""
        return self._signer_key_id

    @signer_key_id.setter
    def signer_key_id(self, value: Str) -> None:
        self._signer_key_id = value

    @property
    def signer_user_id(self) -> Str:
        """The verified signer's user id, e.g. `oVirt <infra@ovirt.org>`."""
        return self._signer_user_id

    @signer_user_id.setter
    def signer_user_id(self, value: Str) -> None:
        self._signer_user_id = value

    @property
    def package(self) -> Str:
        """The image-update RPM the image came out of (name-version-release.arch); empty: none."""
        return self._package

    @package.setter
    def package(self, value: Str) -> None:
        self._package = value


class StoragePreviewData(DBusData):
    """onn's plan for the storage the installer is about to create (GetStoragePreview):
    `state` is ready, no-storage (nothing mounted at / yet), no-image (not verified yet) or
    refused (`message_id`, `message`: why onn would refuse it)."""

    def __init__(self) -> None:
        self._state: Str = PREVIEW_NO_STORAGE
        self._message_id: Str = ""
        self._message: Str = ""
        self._vg: Str = ""
        self._pool: Str = ""
        self._pool_size: UInt64 = 0
        self._pool_free_after: UInt64 = 0
        self._base: Str = ""
        self._layer: Str = ""
        self._volume_mounts: List[Str] = []
        self._volume_sizes: List[UInt64] = []

    @property
    def state(self) -> Str:
        return self._state

    @state.setter
    def state(self, value: Str) -> None:
        self._state = value

    @property
    def message_id(self) -> Str:
        return self._message_id

    @message_id.setter
    def message_id(self, value: Str) -> None:
        self._message_id = value

    @property
    def message(self) -> Str:
        return self._message

    @message.setter
    def message(self, value: Str) -> None:
        self._message = value

    @property
    def vg(self) -> Str:
        return self._vg

    @vg.setter
    def vg(self, value: Str) -> None:
        self._vg = value

    @property
    def pool(self) -> Str:
        return self._pool

    @pool.setter
    def pool(self, value: Str) -> None:
        self._pool = value

    @property
    def pool_size(self) -> UInt64:
        return self._pool_size

    @pool_size.setter
    def pool_size(self, value: UInt64) -> None:
        self._pool_size = value

    @property
    def pool_free_after(self) -> UInt64:
        """Estimated free space in the pool when the install is done."""
        return self._pool_free_after

    @pool_free_after.setter
    def pool_free_after(self, value: UInt64) -> None:
        self._pool_free_after = value

    @property
    def base(self) -> Str:
        return self._base

    @base.setter
    def base(self, value: Str) -> None:
        self._base = value

    @property
    def layer(self) -> Str:
        return self._layer

    @layer.setter
    def layer(self, value: Str) -> None:
        self._layer = value

    @property
    def volume_mounts(self) -> List[Str]:
        """Data volumes' mount points, parents first."""
        return self._volume_mounts

    @volume_mounts.setter
    def volume_mounts(self, value: List[Str]) -> None:
        self._volume_mounts = value

    @property
    def volume_sizes(self) -> List[UInt64]:
        """Their sizes in bytes, in the same order."""
        return self._volume_sizes

    @volume_sizes.setter
    def volume_sizes(self, value: List[UInt64]) -> None:
        self._volume_sizes = value
