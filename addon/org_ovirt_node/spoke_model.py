"""What the Node spoke shows and when it is ready and complete, for the GUI and the text
spoke alike (no pyanaconda, no Gtk): built from the service's properties, it returns
translated text. The spoke classes only put it on screen."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from dasbus.error import DBusError

from .i18n import N_, _
from .messages import error_text
from .structures import (
    IMAGE_ERROR,
    IMAGE_MISMATCH,
    IMAGE_UNVERIFIED,
    IMAGE_VERIFIED,
    IMAGE_VERIFYING,
    PREVIEW_NO_IMAGE,
    PREVIEW_NO_STORAGE,
    PREVIEW_REFUSED,
    NodeConfigurationData,
    NodeImageData,
    StoragePreviewData,
)

log = logging.getLogger(__name__)

VOLUME_CHOICES = (
    ("default", N_("Default: /var, /var/crash, /var/log, /var/log/audit, /var/tmp, /home and /tmp")),
    ("minimal", N_("Minimal: /var only")),
    ("none", N_("None: only the volumes of the installation destination")),
)


def size_text(size: int) -> str:
    """`20 GiB`, `512 MiB`, `1.5 GiB`: sizes as people read them."""
    for unit, mult in ((N_("{n} TiB"), 1 << 40), (N_("{n} GiB"), 1 << 30), (N_("{n} MiB"), 1 << 20)):
        if size >= mult:
            n = round(size / mult, 1)
            return _(unit).format(n=int(n) if n == int(n) else n)
    return _("{n} bytes").format(n=size)


@dataclass
class SpokeModel:
    """The spoke's state: the service's Configuration, ImageInfo, PayloadActive and the last
    storage preview, and whether the spoke's own check is under way."""

    config: NodeConfigurationData
    image: NodeImageData
    payload_active: bool = False
    preview: StoragePreviewData | None = None
    checking: bool = False

    @property
    def ready(self) -> bool:
        """Anaconda waits for this before it judges `completed` (no stop mid-check)."""
        return not self.checking and self.image.state != IMAGE_VERIFYING

    @property
    def completed(self) -> bool:
        """The image verified, the payload active, and storage onn would not refuse."""
        refused = self.preview is not None and self.preview.state == PREVIEW_REFUSED
        return self.image.state == IMAGE_VERIFIED and self.payload_active and not refused

    @property
    def status(self) -> str:
        """One line for the hub; when incomplete, what stops the install here."""
        state = self.image.state
        if self.checking or state == IMAGE_VERIFYING:
            return _("Verifying the Node image…")
        if state == IMAGE_UNVERIFIED:
            return _("The Node image is not verified yet")
        if state in (IMAGE_MISMATCH, IMAGE_ERROR):
            return self.image_problem
        if self.preview is not None and self.preview.state == PREVIEW_REFUSED:
            return _("The installation destination cannot hold a Node: {reason}").format(reason=self.plan_problem)
        if not self.payload_active:
            return _("{nvr} verified; open this screen to confirm it").format(nvr=self.image.nvr)
        return _("{nvr}, data volumes: {volumes}").format(nvr=self.image.nvr, volumes=self.volume_choice_name)

    @property
    def volume_choice_name(self) -> str:
        names = {"default": _("default"), "minimal": _("minimal"), "none": _("none")}
        return names.get(self.config.volumes, self.config.volumes)

    @property
    def source_text(self) -> str:
        if not self.config.image_url:
            return _("The image on the installation media")
        return self.config.image_url

    @property
    def image_problem(self) -> str:
        return error_text(self.image.message_id, self.image.message)

    @property
    def plan_problem(self) -> str:
        assert self.preview is not None
        return error_text(self.preview.message_id, self.preview.message)

    @property
    def state_text(self) -> str:
        state = self.image.state
        if self.checking or state == IMAGE_VERIFYING:
            return _("Verifying…")
        if state == IMAGE_VERIFIED:
            if self.config.sha256:
                return _("Verified: the SHA-256 checksum matches")
            return _("Read and checked (no checksum given)")
        if state == IMAGE_MISMATCH:
            return _("Mismatch: {problem}").format(problem=self.image_problem)
        if state == IMAGE_ERROR:
            return _("Error: {problem}").format(problem=self.image_problem)
        return _("Not verified yet")

    def image_lines(self) -> list[tuple[str, str]]:
        """(label, value) rows of the image box."""
        verified = self.image.state == IMAGE_VERIFIED
        unknown = "—"
        return [
            (_("Source"), self.source_text),
            (_("File"), self.image.path or unknown),
            (_("Version (NVR)"), self.image.nvr if verified else unknown),
            (_("Signed by"), self.signer_text if verified else unknown),
            (_("Size"), size_text(self.image.size) if verified else unknown),
            (_("Kernel"), self.image.kernel if verified else unknown),
            (
                _("Check"),
                "\n".join([self.state_text, *([self.update_text] if verified and self.image.warning_ids else [])]),
            ),
        ]

    @property
    def signer_text(self) -> str:
        """Who signed the image (user id, key id), and the RPM it came out of; or that no key
        was given, so nothing was checked (translated)."""
        if self.image.signer_key_id:
            text = _("{user} (key {key_id}), verified").format(
                user=self.image.signer_user_id, key_id=self.image.signer_key_id
            )
        else:
            text = _("not checked: no key given (--gpgkey)")
        if self.image.package:
            text = _("{signer}; package {package}").format(signer=text, package=self.image.package)
        return text

    @property
    def update_text(self) -> str:
        """What the image lacks for the installed host's imgbased to update it (translated)."""
        reasons = " ".join(error_text(i, m) for i, m in zip(self.image.warning_ids, self.image.warnings, strict=True))
        return _("It installs, but the installed host's imgbased will not be able to update it. {reasons}").format(
            reasons=reasons
        )

    def image_summary(self) -> str:
        """The image in one line (the text spoke's)."""
        if self.image.state != IMAGE_VERIFIED or self.checking:
            return self.state_text
        summary = _("{nvr}, {size}, kernel {kernel}").format(
            nvr=self.image.nvr, size=size_text(self.image.size), kernel=self.image.kernel
        )
        if not self.image.signer_key_id:
            return summary  # the text spoke's "Signing keys: (none)" says it on a 24-line screen
        return _("{summary}; signed by {user} (key {key_id})").format(
            summary=summary, user=self.image.signer_user_id, key_id=self.image.signer_key_id
        )

    def plan_lines(self, volumes_inline: bool = False) -> list[str]:
        """onn's plan in plain words, or why there is none yet; the data volumes one per
        line, or all in one (the text spoke's, for a 24-line console)."""
        p = self.preview
        verified = self.image.state == IMAGE_VERIFIED and not self.checking
        if p is None or p.state == PREVIEW_NO_IMAGE or not verified:
            return [_("The storage plan is shown once the image is verified.")]
        if p.state == PREVIEW_NO_STORAGE:
            return [_("Choose the installation destination first: the plan is shown once the storage is configured.")]
        if p.state == PREVIEW_REFUSED:
            return [_("onn would refuse this storage: {reason}").format(reason=self.plan_problem)]
        lines = [
            _("Volume group {vg}, thin pool {pool} ({size})").format(vg=p.vg, pool=p.pool, size=size_text(p.pool_size)),
            _("Base {base}: the image, written once and kept read-only").format(base=p.base),
            _("First layer {layer}: the system that boots, writable").format(layer=p.layer),
        ]
        volumes = [f"{mount}  {size_text(size)}" for mount, size in zip(p.volume_mounts, p.volume_sizes, strict=True)]
        if volumes and volumes_inline:
            lines.append(_("Data volumes, shared by all layers: {volumes}").format(volumes=", ".join(volumes)))
        elif volumes:
            lines.append(_("Data volumes, shared by all layers:"))
            lines += [f"    {v}" for v in volumes]
        else:
            lines.append(_("No data volumes"))
        lines.append(_("Space left in the pool: {free}").format(free=size_text(p.pool_free_after)))
        return lines


class ServiceSpoke:
    """What the graphical and the text spoke share: Anaconda's questions (ready, completed,
    mandatory, status) answered by the model, the model read from the service's proxy, and
    the payload activated when the spoke is left. Comes first in the spokes' bases."""

    _proxy: Any
    _model: SpokeModel

    @property
    def ready(self) -> bool:
        return self._model.ready

    @property
    def completed(self) -> bool:
        return self._model.completed

    @property
    def mandatory(self) -> bool:
        return True

    @property
    def status(self) -> str:
        return self._model.status

    def _read_service(self) -> None:
        self._model.config = NodeConfigurationData.from_structure(self._proxy.Configuration)
        self._model.image = NodeImageData.from_structure(self._proxy.ImageInfo)
        self._model.payload_active = self._proxy.PayloadActive

    def _activate_payload(self) -> None:
        try:
            self._proxy.ActivatePayload()
        except DBusError as e:
            log.error("The Node image's payload could not be activated: %s", e)
        self._model.payload_active = self._proxy.PayloadActive
