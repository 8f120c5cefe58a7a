"""The Node image spoke, graphical (glue: pyanaconda and Gtk). What it shows and when it is
complete is decided by spoke_model.SpokeModel; this class puts that on screen and talks to the
addon's service only. The image check runs in a thread; widgets change on the main loop."""

from __future__ import annotations

import logging

from dasbus.error import DBusError
from gi.repository import Gtk
from pyanaconda.core.async_utils import async_action_nowait
from pyanaconda.core.threads import thread_manager
from pyanaconda.modules.common.task import sync_run_task
from pyanaconda.ui.categories.software import SoftwareCategory
from pyanaconda.ui.communication import hubQ
from pyanaconda.ui.gui.spokes import NormalSpoke

from org_ovirt_node.constants import OVIRT_NODE
from org_ovirt_node.i18n import DOMAIN, _
from org_ovirt_node.spoke_model import VOLUME_CHOICES, ServiceSpoke, SpokeModel
from org_ovirt_node.structures import (
    IMAGE_ERROR,
    IMAGE_MISMATCH,
    IMAGE_UNVERIFIED,
    IMAGE_VERIFYING,
    PREVIEW_REFUSED,
    NodeConfigurationData,
    NodeImageData,
    StoragePreviewData,
)

log = logging.getLogger(__name__)
THREAD_CHECK = "OnnImageCheck"

__all__ = ["OvirtNodeSpoke"]


class OvirtNodeSpoke(ServiceSpoke, NormalSpoke):
    builderObjects = ["ovirtNodeSpokeWindow"]
    mainWidgetName = "ovirtNodeSpokeWindow"
    uiFile = "ovirt_node.glade"
    translationDomain = DOMAIN
    category = SoftwareCategory
    icon = "drive-harddisk-system-symbolic"
    # The hub translates titles in Anaconda's own domain (ui/gui/hubs/__init__.py:169), which
    # has no Node strings: give it ours, already translated.
    title = _("_Node Image")

    @staticmethod
    def get_screen_id() -> str:
        return "ovirt-node-image"

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self._proxy = OVIRT_NODE.get_proxy()
        self._model = SpokeModel(NodeConfigurationData(), NodeImageData())
        self._values: list[Gtk.Label] = []
        self._volume_buttons: dict[str, Gtk.RadioButton] = {}
        self._updating = False

    # -- Anaconda's spoke API ---------------------------------------------------------------

    def initialize(self) -> None:
        super().initialize()
        self.initialize_start()
        grid = self.builder.get_object("imageGrid")
        for row, (label, _value) in enumerate(self._model.image_lines()):
            name = Gtk.Label(label=label, halign=Gtk.Align.END, visible=True)
            name.get_style_context().add_class("dim-label")
            value = Gtk.Label(halign=Gtk.Align.START, selectable=True, wrap=True, xalign=0, visible=True)
            grid.attach(name, 0, row, 1, 1)
            grid.attach(value, 1, row, 1, 1)
            self._values.append(value)
        group = None
        box = self.builder.get_object("volumesBox")
        for key, text in VOLUME_CHOICES:
            button = Gtk.RadioButton.new_with_label_from_widget(group, _(text))
            button.set_visible(True)
            button.connect("toggled", self.on_volumes_toggled, key)
            box.add(button)
            group = group or button
            self._volume_buttons[key] = button
        self._proxy.PropertiesChanged.connect(self._on_properties_changed)
        self._read_service()
        self._show_choices()
        if self._model.image.state == IMAGE_UNVERIFIED:
            self._start_check()
        else:
            self._start_preview()
        self.initialize_done()

    def refresh(self) -> None:
        super().refresh()
        self._read_service()
        self._show_choices()
        self._show()
        if self._model.image.state not in (IMAGE_UNVERIFIED, IMAGE_VERIFYING):
            self._start_preview()  # the installation destination may have changed

    def apply(self) -> None:
        self._write_configuration()
        self._activate_payload()

    def execute(self) -> None:
        if self._model.image.state == IMAGE_UNVERIFIED:
            self._start_check()

    # -- handlers (named in the .glade file) -------------------------------------------------

    def on_source_toggled(self, _button: Gtk.RadioButton) -> None:
        from_url = self.builder.get_object("urlRadio").get_active()
        self.builder.get_object("sourceGrid").set_sensitive(from_url)

    def on_verify_clicked(self, _button: Gtk.Button) -> None:
        if self._write_configuration():
            self._start_check()

    def on_volumes_toggled(self, button: Gtk.RadioButton, key: str) -> None:
        if self._updating or not button.get_active():
            return
        if self._write_configuration():
            self._start_preview()

    # -- the service -------------------------------------------------------------------------

    def _write_configuration(self) -> bool:
        """The widgets' choices into the service's Configuration; False (and a warning) when
        the service refuses a value."""
        config = NodeConfigurationData.from_structure(self._proxy.Configuration)
        from_url = self.builder.get_object("urlRadio").get_active()
        config.image_url = self.builder.get_object("urlEntry").get_text().strip() if from_url else ""
        config.sha256 = self.builder.get_object("shaEntry").get_text().strip() if from_url else ""
        config.gpg_keys = self.builder.get_object("keyEntry").get_text().split() if from_url else []
        config.volumes = next(k for k, b in self._volume_buttons.items() if b.get_active())
        try:
            self._proxy.Configuration = NodeConfigurationData.to_structure(config)
        except DBusError as e:
            self.show_warning_message(str(e))
            return False
        self.clear_info()
        self._read_service()
        return True

    def _on_properties_changed(self, _interface: str, changed: dict, _invalid: list) -> None:
        # The proxy hands the values unwrapped; the structures read them from the proxy.
        if "ImageInfo" in changed:
            self._model.image = NodeImageData.from_structure(self._proxy.ImageInfo)
        if "PayloadActive" in changed:
            self._model.payload_active = bool(changed["PayloadActive"])
        self._show()

    def _start_check(self) -> None:
        if thread_manager.exists(THREAD_CHECK):
            return
        self._model.checking = True
        hubQ.send_not_ready(self.__class__.__name__)
        self._show()
        thread_manager.add_thread(name=THREAD_CHECK, target=self._check)

    def _check(self) -> None:
        """In a thread: the service's check, then its plan for the storage as it is now."""
        try:
            sync_run_task(OVIRT_NODE.get_proxy(self._proxy.CheckImageWithTask()))
        except DBusError as e:
            log.error("The Node image check failed: %s", e)
        self._checked(self._proxy.GetStoragePreview())

    def _start_preview(self) -> None:
        thread_manager.add_thread(prefix="OnnStoragePreview", target=self._preview)

    def _preview(self) -> None:
        self._previewed(self._proxy.GetStoragePreview())

    @async_action_nowait
    def _checked(self, preview: dict) -> None:
        self._model.checking = False
        self._model.image = NodeImageData.from_structure(self._proxy.ImageInfo)
        self._previewed_now(preview)
        hubQ.send_ready(self.__class__.__name__)

    @async_action_nowait
    def _previewed(self, preview: dict) -> None:
        self._previewed_now(preview)

    def _previewed_now(self, preview: dict) -> None:
        self._model.preview = StoragePreviewData.from_structure(preview)
        self._show()

    # -- widgets -----------------------------------------------------------------------------

    def _show_choices(self) -> None:
        """The choices from the service (when shown, not while the user types)."""
        model = self._model
        self._updating = True
        try:
            from_url = bool(model.config.image_url)
            self.builder.get_object("urlRadio" if from_url else "mediaRadio").set_active(True)
            self.builder.get_object("urlEntry").set_text(model.config.image_url)
            self.builder.get_object("shaEntry").set_text(model.config.sha256)
            self.builder.get_object("keyEntry").set_text(" ".join(model.config.gpg_keys))
            self.builder.get_object("sourceGrid").set_sensitive(from_url)
            button = self._volume_buttons.get(model.config.volumes)
            if button is not None:
                button.set_active(True)
        finally:
            self._updating = False

    def _show(self) -> None:
        """The image, its check and the plan from the model (on the main loop)."""
        model = self._model
        for label, (_name, value) in zip(self._values, model.image_lines(), strict=True):
            label.set_text(value)
        busy = not model.ready
        self.builder.get_object("verifySpinner").props.active = busy
        self.builder.get_object("verifyButton").set_sensitive(not busy)
        self.builder.get_object("planLabel").set_text("\n".join(model.plan_lines()))
        refused = model.preview is not None and model.preview.state == PREVIEW_REFUSED
        if model.image.state in (IMAGE_MISMATCH, IMAGE_ERROR) or refused:
            self.show_warning_message(model.status)
        else:
            self.clear_info()
