"""The Node image spoke in text mode (glue: pyanaconda and simpleline), usable over a serial
console: the same choices and facts as the graphical one, from spoke_model.SpokeModel, and
only the addon's service behind it. A check runs while the screen says so, then redraws."""

from __future__ import annotations

import logging

from dasbus.error import DBusError
from pyanaconda.modules.common.task import sync_run_task
from pyanaconda.ui.categories.software import SoftwareCategory
from pyanaconda.ui.tui.spokes import NormalTUISpoke
from simpleline.render.adv_widgets import GetInputScreen
from simpleline.render.containers import ListColumnContainer
from simpleline.render.screen import InputState
from simpleline.render.screen_handler import ScreenHandler
from simpleline.render.widgets import CheckboxWidget, TextWidget

from org_ovirt_node.constants import OVIRT_NODE
from org_ovirt_node.i18n import _
from org_ovirt_node.spoke_model import VOLUME_CHOICES, ServiceSpoke, SpokeModel
from org_ovirt_node.structures import (
    IMAGE_UNVERIFIED,
    NodeConfigurationData,
    NodeImageData,
    StoragePreviewData,
)

log = logging.getLogger(__name__)

__all__ = ["OvirtNodeSpoke"]


class OvirtNodeSpoke(ServiceSpoke, NormalTUISpoke):
    category = SoftwareCategory

    @staticmethod
    def get_screen_id() -> str:
        return "ovirt-node-image"

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.title = _("Node image")
        self._proxy = OVIRT_NODE.get_proxy()
        self._model = SpokeModel(NodeConfigurationData(), NodeImageData())
        self._container: ListColumnContainer | None = None

    def initialize(self) -> None:
        super().initialize()
        self.initialize_start()
        self._read_service()
        if self._model.image.state == IMAGE_UNVERIFIED:
            self._check()
        else:
            self._preview()
        self.initialize_done()

    def refresh(self, args: object = None) -> None:
        super().refresh(args)
        model = self._model
        config = model.config
        self._container = ListColumnContainer(1)
        self._container.add(
            CheckboxWidget(title=_("The image on the installation media"), completed=not config.image_url),
            self._use_media,
        )
        self._container.add(
            CheckboxWidget(
                title=_("An image at a URL: {url}").format(url=config.image_url or _("(none)")),
                completed=bool(config.image_url),
            ),
            self._ask_url,
        )
        self._container.add(TextWidget(_("SHA-256: {sha}").format(sha=config.sha256 or _("(none)"))), self._ask_sha)
        self._container.add(
            TextWidget(_("Data volumes: {choice}").format(choice=_(dict(VOLUME_CHOICES)[config.volumes]))),
            self._next_volumes,
        )
        self._container.add(
            TextWidget(_("Signing keys: {keys}").format(keys=" ".join(config.gpg_keys) or _("(none)"))),
            self._ask_keys,
        )
        self.window.add_with_separator(self._container)
        self.window.add(TextWidget(_("Image: {image}").format(image=model.image_summary())))
        self.window.add_with_separator(TextWidget(f"  {model.image.path or model.source_text}"))
        self.window.add(TextWidget(_("Storage plan")))
        self.window.add(TextWidget("\n".join(f"  {line}" for line in model.plan_lines(volumes_inline=True))))

    def input(self, args: object, key: str) -> InputState | str:
        assert self._container is not None
        if self._container.process_user_input(key):
            return InputState.PROCESSED_AND_REDRAW
        if key.lower() == "c":
            # The text UI does not apply a spoke by itself: leaving it with 'c' does.
            self.apply()
            self.execute()
            return InputState.PROCESSED_AND_CLOSE
        return super().input(args, key)

    def apply(self) -> None:
        self._activate_payload()

    def execute(self) -> None:
        if self._model.image.state == IMAGE_UNVERIFIED:
            self._check()

    # -- choices -----------------------------------------------------------------------------

    def _use_media(self, _data: object) -> None:
        self._change(image_url="", sha256="")

    def _ask_url(self, _data: object) -> None:
        url = self._ask(_("Image URL (file://, http://, https:// or nfs:)"))
        if url:
            self._change(image_url=url)

    def _ask_sha(self, _data: object) -> None:
        self._change(sha256=self._ask(_("SHA-256 of the image (empty: none)")))

    def _ask_keys(self, _data: object) -> None:
        keys = self._ask(_("URLs of the keys the image must be signed by, separated by spaces (empty: none)"))
        self._change(gpg_keys=keys.split())

    def _next_volumes(self, _data: object) -> None:
        keys = [k for k, _text in VOLUME_CHOICES]
        self._change(volumes=keys[(keys.index(self._model.config.volumes) + 1) % len(keys)])

    @staticmethod
    def _ask(message: str) -> str:
        screen = GetInputScreen(message)
        ScreenHandler.push_screen_modal(screen)
        return (screen.value or "").strip()

    def _change(self, **values: object) -> None:
        config = NodeConfigurationData.from_structure(self._proxy.Configuration)
        image_before = (config.image_url, config.sha256, list(config.gpg_keys))
        for name, value in values.items():
            setattr(config, name, value)
        try:
            self._proxy.Configuration = NodeConfigurationData.to_structure(config)
        except DBusError as e:
            print(str(e))
            return
        self._read_service()
        if (config.image_url, config.sha256, list(config.gpg_keys)) != image_before:
            self._check()
        else:
            self._preview()

    # -- the service -------------------------------------------------------------------------

    def _check(self) -> None:
        print(_("Verifying the Node image…"), flush=True)
        self._model.checking = True
        try:
            sync_run_task(OVIRT_NODE.get_proxy(self._proxy.CheckImageWithTask()))
        except DBusError as e:
            log.error("The Node image check failed: %s", e)
        finally:
            self._model.checking = False
        self._model.image = NodeImageData.from_structure(self._proxy.ImageInfo)
        self._preview()

    def _preview(self) -> None:
        self._model.preview = StoragePreviewData.from_structure(self._proxy.GetStoragePreview())
