"""The service's D-Bus structure (pure dasbus, no pyanaconda) and its mapping to the
kickstart section, whose grammar validates every value."""

from __future__ import annotations

from dasbus.structure import DBusData
from dasbus.typing import Bool, List, Str, UInt64  # noqa: F401 - the D-Bus types of the fields

from .ksdata import NodeKickstart, parse_section


class NodeConfigurationData(DBusData):
    """What the Node spoke and `%addon org_ovirt_node` set."""

    def __init__(self) -> None:
        self._image_url: Str = ""
        self._sha256: Str = ""
        self._proxy: Str = ""
        self._verify_ssl: Bool = True
        self._volumes: Str = "default"
        self._vg: Str = ""
        self._pool: Str = "pool00"
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
        volumes=data.volumes,
        vg=data.vg or None,
        pool=data.pool,
        pool_metadata=data.pool_metadata or None,
        root_size=data.root_size or None,
        kernel_args=list(data.kernel_args),
    )
    return parse_section(str(ks))
