"""The `%addon org_ovirt_node` kickstart section: grammar, parsing and writing back.

This module keeps the section's grammar on top of pykickstart; what a name or a size may be is
the engine's rule (`onn.check_lvm_name`, `onn.parse_size`). The Anaconda glue
(`OvirtNodeData` in `service/ovirt_node.py`) gives pyanaconda's `AddonData` these same methods.
`install_request` is the section's one mapping to onn's request. The normative grammar is in
kickstart/README.md.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

import onn
from pykickstart.errors import KickstartParseError
from pykickstart.options import KSOptionParser
from pykickstart.version import DEVEL

from .i18n import _

ADDON_NAME = "org_ovirt_node"
VOLUME_SETS = ("default", "minimal", "none")
URL_SCHEMES = ("file://", "http://", "https://", "nfs:")
# Where a key (--gpgkey) may come from: the install media or a server.
KEY_SCHEMES = ("file://", "http://", "https://")
# Keys of the section body; only kernel-arg may repeat.
_KEYS = ("volumes", "vg", "pool", "pool-metadata", "root-size", "kernel-arg")


class SectionError(KickstartParseError):
    """A refused part of the section. `id` is stable: README.md "When things go wrong" lists
    each one with what to do."""

    def __init__(self, error_id: str, message: str, lineno: int | None) -> None:
        super().__init__(message, lineno=lineno)
        self.id = error_id


def _lvm_name_ok(value: str, lv: bool) -> bool:
    try:
        onn.check_lvm_name(value, "lv" if lv else "vg")
    except onn.PreconditionError:
        return False
    return True


def parse_size(text: str) -> int | None:
    """Bytes from `512MiB`, `5G`, `1T`, `4096` (binary multiples, like LVM), as the engine reads
    them; None when it refuses the text."""
    try:
        return onn.parse_size(text)
    except onn.PreconditionError:
        return None


def format_size(size: int) -> str:
    """The shortest exact form: `1GiB`, `512MiB`, or plain bytes."""
    for unit, mult in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size and size % mult == 0:
            return f"{size // mult}{unit}"
    return str(size)


def _header_parser() -> KSOptionParser:
    op = KSOptionParser(
        prog=f"%addon {ADDON_NAME}",
        description=_("Install an oVirt Node image with onn."),
        version=DEVEL,
    )
    op.add_argument(
        "--image",
        version=DEVEL,
        help=_("Image URL: a squashfs or oVirt's image-update RPM (default: the install media)."),
    )
    op.add_argument("--sha256", version=DEVEL, help=_("Expected SHA-256 of the image."))
    op.add_argument("--proxy", version=DEVEL, help=_("HTTP(S) proxy URL for the image."))
    op.add_argument("--noverifyssl", action="store_true", default=False, version=DEVEL, help=_("Do not verify TLS."))
    op.add_argument(
        "--gpgkey",
        action="append",
        default=[],
        version=DEVEL,
        help=_("URL of an OpenPGP key the image must be signed by (repeat for several)."),
    )
    op.add_argument(
        "--strict",
        action="store_true",
        default=False,
        version=DEVEL,
        help=_("Refuse an image the installed host's imgbased could not update."),
    )
    return op


@dataclass
class NodeKickstart:
    """The section's data, with AddonData's method names and signatures."""

    seen: bool = False
    image: str | None = None
    sha256: str | None = None
    proxy: str | None = None
    noverifyssl: bool = False
    gpgkeys: list[str] = field(default_factory=list)
    strict: bool = False
    volumes: str = "default"
    vg: str | None = None
    pool: str = onn.DEFAULT_POOL
    pool_metadata: int | None = None
    root_size: int | None = None
    kernel_args: list[str] = field(default_factory=list)
    _keys_seen: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def handle_header(self, args: list[str], line_number: int | None = None) -> None:
        # Seen even when its header is wrong: the error is about the header, not a missing section.
        self.seen = True
        try:
            ns = _header_parser().parse_args(args=args, lineno=line_number)
        except KickstartParseError as e:
            raise SectionError(
                "ks.header-option",
                _("{error}; the options are --image, --sha256, --gpgkey, --proxy, --noverifyssl and --strict").format(
                    error=e.message
                ),
                line_number,
            ) from e
        if ns.image is not None:
            if not ns.image.startswith(URL_SCHEMES):
                raise SectionError(
                    "ks.image-url",
                    _("--image={url} is not a supported URL; use file://, http://, https:// or nfs:").format(
                        url=ns.image
                    ),
                    line_number,
                )
            self.image = ns.image
        if ns.sha256 is not None:
            try:
                self.sha256 = onn.parse_sha256(ns.sha256)
            except onn.PreconditionError:
                raise SectionError(
                    "ks.sha256",
                    _("--sha256 must be 64 hexadecimal digits, not {value!r}").format(value=ns.sha256),
                    line_number,
                ) from None
        if ns.proxy is not None:
            if not ns.proxy.startswith(("http://", "https://")):
                raise SectionError(
                    "ks.proxy-url",
                    _("--proxy={url} must be an http:// or https:// URL").format(url=ns.proxy),
                    lineno=line_number,
                )
            self.proxy = ns.proxy
        for key in ns.gpgkey:
            if not key.startswith(KEY_SCHEMES):
                raise SectionError(
                    "ks.gpgkey-url",
                    _("--gpgkey={url} is not a supported URL; use file://, http:// or https://").format(url=key),
                    line_number,
                )
        self.gpgkeys = list(ns.gpgkey)
        self.noverifyssl = ns.noverifyssl
        self.strict = ns.strict
        if (self.proxy or self.noverifyssl) and not (self.image or "").startswith(("http://", "https://")):
            raise SectionError(
                "ks.proxy-needs-http",
                _("--proxy and --noverifyssl apply only to an http:// or https:// --image"),
                line_number,
            )

    def handle_line(self, line: str, line_number: int | None = None) -> None:
        text = line.split("#", 1)[0].strip()
        if not text:
            return
        key, sep, value = (part.strip() for part in text.partition("="))
        if not sep or not key or not value:
            raise SectionError(
                "ks.not-a-setting",
                _("{line!r} is not a setting; write key = value, e.g. volumes = minimal").format(line=line.strip()),
                line_number,
            )
        if key not in _KEYS:
            raise SectionError(
                "ks.unknown-key",
                _("unknown key {key!r}; the keys are: {keys}").format(key=key, keys=", ".join(_KEYS)),
                line_number,
            )
        if key != "kernel-arg" and key in self._keys_seen:
            raise SectionError(
                "ks.duplicate-key",
                _("{key} is set twice (first on line {first}); keep one").format(key=key, first=self._keys_seen[key]),
                line_number,
            )
        self._keys_seen[key] = line_number or 0
        if key == "volumes":
            if value not in VOLUME_SETS:
                raise SectionError(
                    "ks.volumes",
                    _("volumes = {value} is not valid; use default, minimal or none").format(value=value),
                    line_number,
                )
            self.volumes = value
        elif key in ("vg", "pool"):
            if not _lvm_name_ok(value, lv=key == "pool"):
                raise SectionError(
                    "ks.name",
                    _(
                        "{key} = {value} is not a valid LVM name; use up to {max} letters, digits and + _ . - "
                        "(not - first, not . or .., and no name LVM reserves: snapshot…, pvmove…, …_tmeta…)"
                    ).format(key=key, value=value, max=onn.LV_NAME_MAX),
                    line_number,
                )
            setattr(self, key, value)
        elif key in ("pool-metadata", "root-size"):
            size = parse_size(value)
            if size is None or size == 0:
                raise SectionError(
                    "ks.size",
                    _("{key} = {value} is not a size; write e.g. 1GiB or 512MiB").format(key=key, value=value),
                    line_number,
                )
            if key == "pool-metadata" and size < onn.POOL_METADATA_MIN:
                raise SectionError(
                    "ks.pool-metadata-small",
                    _("pool-metadata = {value} is below imgbased's minimum of {minimum}").format(
                        value=value, minimum=format_size(onn.POOL_METADATA_MIN)
                    ),
                    line_number,
                )
            setattr(self, key.replace("-", "_"), size)
        else:  # kernel-arg
            if any(c.isspace() for c in value):
                raise SectionError(
                    "ks.kernel-arg",
                    _("kernel-arg = {value} must be one argument; write one kernel-arg line each").format(value=value),
                    line_number,
                )
            self.kernel_args.append(value)

    def handle_end(self) -> None:
        """Nothing to check across lines yet; kept for AddonData's protocol."""

    def __str__(self) -> str:
        if not self.seen:
            return ""
        header = ["%addon", ADDON_NAME]
        for opt, value in (("--image", self.image), ("--sha256", self.sha256), ("--proxy", self.proxy)):
            if value is not None:
                header.append(f"{opt}={shlex.quote(value)}")
        header += [f"--gpgkey={shlex.quote(key)}" for key in self.gpgkeys]
        if self.noverifyssl:
            header.append("--noverifyssl")
        if self.strict:
            header.append("--strict")
        lines = [" ".join(header), f"volumes = {self.volumes}"]
        if self.vg is not None:
            lines.append(f"vg = {self.vg}")
        lines.append(f"pool = {self.pool}")
        if self.pool_metadata is not None:
            lines.append(f"pool-metadata = {format_size(self.pool_metadata)}")
        if self.root_size is not None:
            lines.append(f"root-size = {format_size(self.root_size)}")
        lines += [f"kernel-arg = {a}" for a in self.kernel_args]
        lines.append("%end")
        return "\n".join(lines) + "\n"

    def install_request(self, image: onn.ImageInfo, sha256: str | None, boot: str | None) -> onn.RequestArgs:
        """The engine's install request for this section onto the installer's storage (adopted):
        the one mapping of the section to onn's options, for the storage preview and the install
        alike, so that what the spoke shows is what is installed. `sha256`: the section's, or
        the one the download verified."""
        return onn.RequestArgs(
            image=image,
            sha256=sha256,
            adopt=True,
            vg=self.vg,  # the installer's VG is adopted; a different name is refused
            pool=self.pool,
            pool_metadata=self.pool_metadata,
            boot=boot,
            volumes=self.volumes,  # type: ignore[typeddict-item]
            root_size=self.root_size,
            kernel_args=self.kernel_args,
        )


def parse_section(text: str) -> NodeKickstart:
    """Parse one `%addon org_ovirt_node … %end` section on its own (lines counted from 1)."""
    lines = text.splitlines()
    try:
        header = shlex.split(lines[0]) if lines else []
    except ValueError as e:  # an unclosed quote
        raise SectionError(
            "ks.header-option",
            _("the header {line!r} cannot be read ({error}); close its quotes").format(line=lines[0], error=e),
            1,
        ) from e
    if header[:2] != ["%addon", ADDON_NAME] or len(lines) < 2 or lines[-1].strip() != "%end":
        raise SectionError("ks.not-a-section", _("not an %addon {name} section").format(name=ADDON_NAME), 1)
    ks = NodeKickstart()
    ks.handle_header(header[2:], 1)
    for number, line in enumerate(lines[1:-1], start=2):
        ks.handle_line(line, number)
    ks.handle_end()
    return ks
