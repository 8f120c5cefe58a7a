"""Stand-in for AnacondaWidgets, Anaconda's C widget library (anaconda 45.21 widgets/src/*.c).

The library is built by Anaconda's own autotools build and carried by its RPM; the checkout is
used in place, unbuilt, and no Debian or PyPI package has it. sitecustomize.py makes this
module `gi.repository.AnacondaWidgets` for the real pyanaconda.ui.gui, which loads its .glade
files (and the addon's) and calls these types as it calls the library. Each type is registered
under the library's GObject type name, with the properties, signals, internal children and
methods that pyanaconda.ui.gui and the .glade files use (listed in each class's docstring, with
who uses them), laid out as the C code lays them out and drawn with the library's own
stylesheets and icons from the checkout (widgets/src/resources). Strings are translated in
Anaconda's domain, as the C code's _() and C_() do.

Left out, as nothing in Anaconda's GUI uses them: the properties and signals it never reads or
connects (the layout indicator's `layout`, the disk overview's properties, the mount point
selector's `chosen-changed`), the layout indicator's switch to the next layout on a click and
its tooltip, the hand cursor over selectors, the introspection data and the Glade catalog.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk, Gio, GObject, Gtk, Pango  # noqa: E402
from pyanaconda.core.i18n import C_, _  # noqa: E402

#: The library's stylesheets and icons (compiled into it as GResources by its build).
RESOURCES = Path(importlib.util.find_spec("pyanaconda").origin).parents[1] / "widgets" / "src" / "resources"

_ACTION = GObject.SignalFlags.RUN_FIRST | GObject.SignalFlags.ACTION
#: BaseStandalone.c: the share of a hub's or standalone's width its sidebar takes.
SIDEBAR_WIDTH = 0.15


def _stylesheet(widget: Gtk.Widget, name: str) -> None:
    """widgets-common.c anaconda_widget_apply_stylesheet: the library's CSS for one widget."""
    provider = Gtk.CssProvider()
    provider.load_from_path(str(RESOURCES / f"{name}.css"))
    widget.get_style_context().add_provider(provider, Gtk.STYLE_PROVIDER_PRIORITY_APPLICATION - 1)


def apply_language(label: Gtk.Label, language: str) -> None:
    """widgets-common.c anaconda_apply_language: a label's text marked as in `language` (for
    the fonts); MainWindow calls it on every label added (pyanaconda/ui/gui/__init__.py:384)."""
    attrs = label.get_attributes() or Pango.AttrList()
    attrs.change(Pango.attr_language_new(Pango.Language.from_string(language)))
    label.set_attributes(attrs)


class LayoutIndicator(Gtk.EventBox):
    """LayoutIndicator.c: the current keyboard layout, from Anaconda's Localization module, in
    every window's navigation area (BaseWindow) and in passphrase.glade (`label_width`).
    GUIObject hides it where the keyboard cannot be configured (gui/__init__.py:170)."""

    __gtype_name__ = "AnacondaLayoutIndicator"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.set_can_focus(False)
        self._layout = self._current_layout()
        self._label = Gtk.Label(label=self._layout, xalign=0.0, ellipsize=Pango.EllipsizeMode.END)
        self._label.set_max_width_chars(8)
        self._label.set_width_chars(8)
        self._label.set_name("anaconda-layout-label")
        icon = Gtk.Image.new_from_icon_name("input-keyboard-symbolic", Gtk.IconSize.SMALL_TOOLBAR)
        box = Gtk.Box(spacing=4, margin_start=4, margin_end=4, margin_top=3, margin_bottom=3)
        box.pack_start(icon, False, False, 0)
        box.pack_end(self._label, False, False, 0)
        self.add(box)
        self.get_accessible().set_name("Keyboard Layout")
        self.get_accessible().set_description(self._layout)
        _stylesheet(self, "LayoutIndicator")
        _stylesheet(self._label, "LayoutIndicator-label")

    @staticmethod
    def _current_layout() -> str:
        """As the C code: the module's compositor layout, "us" when it has none or fails."""
        from dasbus.error import DBusError
        from pyanaconda.modules.common.constants.services import LOCALIZATION

        try:
            return LOCALIZATION.get_proxy().GetCompositorSelectedLayout() or "us"
        except (ConnectionError, DBusError):  # no Anaconda bus, or the module fails
            return "us"

    @GObject.Property(type=GObject.TYPE_UINT, default=8)
    def label_width(self) -> int:
        return self._label.get_width_chars()

    @label_width.setter
    def label_width(self, chars: int) -> None:
        self._label.set_width_chars(chars)
        self._label.set_max_width_chars(chars)


class BaseWindow(Gtk.Bin, Gtk.Buildable):
    """BaseWindow.c: what every hub and spoke window has. Used by: every window's .glade file
    (internal children main_box, nav_box, nav_area, alignment, action_area; `window-name`);
    hubs/__init__.py:143 and gui/__init__.py:718 (`distribution`, set_beta/get_beta);
    GUIObject (set_error, set_info, set_warning, clear_info; get_layout_indicator_box);
    summary.py:74 (`info-bar-clicked`); welcome.py:223 (retranslate)."""

    __gtype_name__ = "AnacondaBaseWindow"
    __gsignals__ = {"info-bar-clicked": (_ACTION, None, ())}

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.set_hexpand(True)
        self.set_vexpand(True)
        self._orig_name, self._orig_distro, self._orig_beta = (
            "SPOKE NAME",
            "DISTRIBUTION INSTALLATION",
            "PRE-RELEASE / TESTING",
        )
        self.main_box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=6)
        # GtkBoxes draw no background, which a GtkStack's transitions show (the C code's note).
        self.main_box.get_style_context().add_class("background")
        self.add(self.main_box)
        self.nav_box = Gtk.EventBox(name="nav-box")
        self.main_box.pack_start(self.nav_box, False, False, 0)
        self.nav_area = Gtk.Grid(margin_start=18, margin_end=18, margin_top=12, margin_bottom=6)
        self.nav_box.add(self.nav_area)
        self.alignment = Gtk.Alignment(xalign=0.5, yalign=0.0, xscale=1.0, yscale=1.0)
        self.main_box.pack_start(self.alignment, True, True, 0)
        self.action_area = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=6)
        self.alignment.add(self.action_area)
        self._name_label = self._nav_label("anaconda-name-label", _(self._orig_name), hexpand=True)
        self._distro_label = self._nav_label("anaconda-distro-label", _(self._orig_distro))
        self._beta_label = self._nav_label("anaconda-beta-label", _(self._orig_beta), no_show_all=True)
        self._layout_indicator = LayoutIndicator(
            name="layout-indicator", halign=Gtk.Align.START, hexpand=False, margin_top=6, margin_bottom=6
        )
        self._layout_indicator.props.label_width = 10
        self.nav_area.attach(self._name_label, 0, 0, 1, 1)
        self.nav_area.attach(self._distro_label, 1, 0, 2, 1)
        self.nav_area.attach(self._beta_label, 1, 1, 1, 1)
        self.nav_area.attach(self._layout_indicator, 1, 2, 1, 1)
        self._info_revealer = Gtk.Revealer(transition_type=Gtk.RevealerTransitionType.SLIDE_UP)
        self._info_revealer.connect("notify::child-revealed", self._on_info_child_revealed)
        self.main_box.pack_end(self._info_revealer, False, False, 0)
        _stylesheet(self._name_label, "BaseWindow-name-label")
        _stylesheet(self._distro_label, "BaseWindow-distro-label")
        _stylesheet(self._beta_label, "BaseWindow-beta-label")

    @staticmethod
    def _nav_label(name: str, text: str, **kwargs: object) -> Gtk.Label:
        label = Gtk.Label(label=text, xalign=0.0, yalign=0.0, **kwargs)
        label.set_name(name)
        return label

    @GObject.Property(type=str, default="DISTRIBUTION INSTALLATION")
    def distribution(self) -> str:
        return self._distro_label.get_text()

    @distribution.setter
    def distribution(self, text: str) -> None:
        self._orig_distro = text
        self._distro_label.set_text(_(text))

    @GObject.Property(type=str, default="SPOKE NAME")
    def window_name(self) -> str:
        return self._name_label.get_text()

    @window_name.setter
    def window_name(self, text: str) -> None:
        self._orig_name = text
        self._name_label.set_text(_(text) if text else "")

    def get_beta(self) -> bool:
        return self._beta_label.get_visible()

    def set_beta(self, is_beta: bool) -> None:
        self._beta_label.set_visible(is_beta)

    def get_layout_indicator_box(self) -> LayoutIndicator:
        return self._layout_indicator

    # The info bar: a new message waits until the shown one is cleared, as in the C code.
    def _set_info_bar(self, message_type: Gtk.MessageType, msg: str) -> None:
        if self._info_revealer.get_reveal_child():
            return
        old = self._info_revealer.get_child()
        if old is not None:  # still sliding away after clear_info
            old.destroy()
        label = Gtk.Label(label=_(msg), wrap=True, use_markup=True, track_visited_links=False)
        label.set_line_wrap_mode(Pango.WrapMode.WORD)
        label.connect("activate-link", self._on_info_link)
        bar = Gtk.InfoBar(message_type=message_type)
        content = bar.get_content_area()
        content.add(Gtk.Image.new_from_icon_name("dialog-warning-symbolic", Gtk.IconSize.MENU))
        content.add(label)
        event_box = Gtk.EventBox()
        event_box.add(bar)
        event_box.add_events(Gdk.EventMask.BUTTON_PRESS_MASK)
        event_box.connect("button-press-event", self._on_info_pressed)
        self._info_revealer.add(event_box)
        event_box.show_all()
        self._info_revealer.set_reveal_child(True)

    def _on_info_link(self, _label: Gtk.Label, _uri: str) -> bool:
        self.emit("info-bar-clicked")
        return True  # the link itself goes nowhere

    def _on_info_pressed(self, _box: Gtk.EventBox, _event: Gdk.EventButton) -> bool:
        self.emit("info-bar-clicked")
        return False

    def _on_info_child_revealed(self, revealer: Gtk.Revealer, _pspec: object) -> None:
        child = revealer.get_child()
        if not revealer.get_child_revealed() and not revealer.get_reveal_child() and child is not None:
            child.destroy()

    def set_error(self, msg: str) -> None:
        self._set_info_bar(Gtk.MessageType.ERROR, msg)

    def set_info(self, msg: str) -> None:
        self._set_info_bar(Gtk.MessageType.INFO, msg)

    def set_warning(self, msg: str) -> None:
        self._set_info_bar(Gtk.MessageType.WARNING, msg)

    def clear_info(self) -> None:
        self._info_revealer.set_reveal_child(False)

    def retranslate(self) -> None:
        self._distro_label.set_text(_(self._orig_distro))
        if self._name_label.get_text():
            self._name_label.set_text(_(self._orig_name))
        self._beta_label.set_text(_(self._orig_beta))

    # GtkBuildable, as the C code's: named internal children; other children into action_area.
    def do_get_internal_child(self, _builder: Gtk.Builder, childname: str) -> GObject.Object:
        if childname == "accessible":  # GtkWidget's own, which the C code chains up to
            return self.get_accessible()
        return getattr(self, childname)

    def do_add_child(self, _builder: Gtk.Builder, child: Gtk.Widget, _type: str | None) -> None:
        self.action_area.add(child)


class SpokeWindow(BaseWindow):
    """SpokeWindow.c: a spoke's window with the Done button. Used by: every spoke's .glade
    file (the addon's too: `button-clicked`, handled by NormalSpoke.on_back_clicked);
    gui/__init__.py:421 (isinstance, F12 as `button-clicked`)."""

    __gtype_name__ = "AnacondaSpokeWindow"
    __gsignals__ = {"button-clicked": (_ACTION, None, ())}

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        done = C_("GUI|Spoke Navigation", "_Done")
        self._button = Gtk.Button.new_with_mnemonic(done)
        self._button.set_halign(Gtk.Align.START)
        self._button.set_valign(Gtk.Align.END)
        self._button.set_vexpand(False)
        self._button.set_margin_bottom(6)
        self._button.set_name("anaconda-spoke-window-done")
        self._button.get_accessible().set_name(done)  # with its underscore, as the C code names it
        self._button.get_style_context().add_class("suggested-action")
        self._button.connect("clicked", lambda _b: self.emit("button-clicked"))
        self.nav_area.attach(self._button, 0, 1, 1, 2)


class BaseStandalone(BaseWindow):
    """BaseStandalone.c: a hub's or standalone spoke's window, with the sidebar on its left.
    Used by: summary.glade (`quit_button`, `continue_button`: the hub's Quit and Begin
    Installation); gui/__init__.py:418,680,824,890 (isinstance, `continue-clicked`,
    `quit-clicked`, get_may_continue/set_may_continue, get_quit_button); hubs/__init__.py:291
    (set_may_continue: Begin Installation sensitive only when every spoke is complete);
    installation_progress.py:95-118 (get_quit_button, get_continue_button)."""

    __gtype_name__ = "AnacondaBaseStandalone"
    __gsignals__ = {"quit-clicked": (_ACTION, None, ()), "continue-clicked": (_ACTION, None, ())}

    def __init__(self, **kwargs: object) -> None:
        self._buttons: dict[str, tuple[Gtk.Button, int] | None] = {"quit": None, "continue": None}
        super().__init__(**kwargs)

    def _set_button(self, which: str, button: Gtk.Button | None) -> None:
        old = self._buttons[which]
        if old is not None:
            old[0].disconnect(old[1])
        signal = f"{which}-clicked"
        self._buttons[which] = (
            None if button is None else (button, button.connect("clicked", lambda _b: self.emit(signal)))
        )

    def _button(self, which: str) -> Gtk.Button | None:
        held = self._buttons[which]
        return None if held is None else held[0]

    @GObject.Property(type=Gtk.Button)
    def quit_button(self) -> Gtk.Button | None:
        return self._button("quit")

    @quit_button.setter
    def quit_button(self, button: Gtk.Button | None) -> None:
        self._set_button("quit", button)

    @GObject.Property(type=Gtk.Button)
    def continue_button(self) -> Gtk.Button | None:
        return self._button("continue")

    @continue_button.setter
    def continue_button(self, button: Gtk.Button | None) -> None:
        self._set_button("continue", button)

    def get_quit_button(self) -> Gtk.Button | None:
        return self._button("quit")

    def get_continue_button(self) -> Gtk.Button | None:
        return self._button("continue")

    def get_may_continue(self) -> bool:
        button = self._button("continue")
        return button is not None and button.get_sensitive()

    def set_may_continue(self, may_continue: bool) -> None:
        button = self._button("continue")
        if button is not None:
            button.set_sensitive(may_continue)

    # The sidebar: the content moved right by its width, then drawn over by the stylesheet's
    # logo-sidebar, logo and product-logo classes (anaconda-gtk.css).
    def do_size_allocate(self, allocation: Gdk.Rectangle) -> None:
        Gtk.Bin.do_size_allocate(self, allocation)
        sidebar = int(allocation.width * SIDEBAR_WIDTH)
        child = self.get_child()
        if child is not None and child.get_visible():
            area = Gdk.Rectangle()
            area.x = allocation.x + (sidebar if Gtk.get_locale_direction() == Gtk.TextDirection.LTR else 0)
            area.y, area.width, area.height = allocation.y, allocation.width - sidebar, allocation.height
            child.size_allocate(area)

    def do_draw(self, cr: object) -> bool:
        Gtk.Bin.do_draw(self, cr)
        width, height = self.get_allocated_width(), self.get_allocated_height()
        sidebar = int(width * SIDEBAR_WIDTH)
        x = 0 if Gtk.get_locale_direction() == Gtk.TextDirection.LTR else width - sidebar
        context = self.get_style_context()
        for css_class in ("logo-sidebar", "logo", "product-logo"):
            context.save()
            context.add_class(css_class)
            Gtk.render_background(context, cr, x, 0, sidebar, height)
            context.restore()
        return True


class HubWindow(BaseStandalone):
    """HubWindow.c: the hub, its spokes' selectors in a scrolled window. Used by:
    summary.glade (internal child scrolled_window); hubs/__init__.py:224 (get_spoke_area)."""

    __gtype_name__ = "AnacondaHubWindow"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.scrolled_window = Gtk.ScrolledWindow(hscrollbar_policy=Gtk.PolicyType.NEVER)
        self.action_area.pack_start(self.scrolled_window, True, True, 0)
        self.alignment.set_padding(0, 0, 12, 6)

    def get_spoke_area(self) -> Gtk.ScrolledWindow:
        return self.scrolled_window


class StandaloneWindow(BaseStandalone):
    """StandaloneWindow.c: a standalone spoke with its own Quit and Continue buttons. Used by:
    installation_progress.glade and welcome.glade (the progress hub's Reboot or Finish is
    its continue button, installation_progress.py:118); welcome.py (retranslate)."""

    __gtype_name__ = "AnacondaStandaloneWindow"
    _CONTEXT = "GUI|Standalone Navigation"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        quit_button = Gtk.Button.new_with_mnemonic(C_(self._CONTEXT, "_Quit"))
        quit_button.get_accessible().set_name(C_(self._CONTEXT, "_Quit"))
        continue_button = Gtk.Button.new_with_mnemonic(C_(self._CONTEXT, "_Continue"))
        continue_button.get_accessible().set_name(C_(self._CONTEXT, "_Continue"))
        continue_button.get_style_context().add_class("suggested-action")
        self._set_button("quit", quit_button)
        self._set_button("continue", continue_button)
        box = Gtk.ButtonBox(layout_style=Gtk.ButtonBoxStyle.END, spacing=12, margin_start=6, margin_end=6)
        box.set_margin_bottom(6)
        box.add(quit_button)
        box.add(continue_button)
        self.main_box.pack_start(box, False, True, 0)

    def retranslate(self) -> None:
        super().retranslate()
        self.get_quit_button().set_label(C_(self._CONTEXT, "_Quit"))
        self.get_continue_button().set_label(C_(self._CONTEXT, "_Continue"))


class SpokeSelector(Gtk.EventBox):
    """SpokeSelector.c: a spoke's entry on the hub (icon, title, status). Used by:
    hubs/__init__.py:169 (made with title and icon), :232-235 (`status`, set_incomplete: the
    warning emblem and the red status of an incomplete mandatory spoke). For assistive
    technologies its accessible name is the title and its description the status."""

    __gtype_name__ = "AnacondaSpokeSelector"

    def __init__(self, title: str | None = None, icon: str | None = None, status: str | None = None) -> None:
        super().__init__()
        self.set_can_focus(True)
        self.add_events(Gdk.EventMask.FOCUS_CHANGE_MASK | Gdk.EventMask.KEY_RELEASE_MASK)
        self.connect("focus-in-event", self._on_focus)
        self.connect("focus-out-event", self._on_focus)
        self._grid = Gtk.Grid(column_spacing=6)
        self._icon_name = "image-missing"
        self._icon: Gtk.Image | None = None
        self._title_label = Gtk.Label(justify=Gtk.Justification.LEFT, wrap=True, xalign=0.0, yalign=1.0)
        self._title_label.set_text_with_mnemonic(_("New Selector"))
        self._title_label.set_mnemonic_widget(self)
        self._title_label.set_name("anaconda-spoke-selector-title")
        self._status_label = Gtk.Label(label=_("None"), justify=Gtk.Justification.LEFT, wrap=True, xalign=0.0)
        self._status_label.set_yalign(0.0)
        self._status_label.set_ellipsize(Pango.EllipsizeMode.MIDDLE)
        self._status_label.set_max_width_chars(25)
        self._status_label.set_lines(2)
        self._status_label.set_vexpand(True)
        self._status_label.set_name("anaconda-spoke-selector-status")
        self._grid.attach(self._title_label, 1, 0, 1, 1)
        self._grid.attach(self._status_label, 1, 1, 2, 1)
        self.add(self._grid)
        self._set_icon()
        self.get_accessible().set_name(self._title_label.get_text())
        self.get_accessible().set_description(self._status_label.get_text())
        self.get_style_context().add_class("gtkstyle-fallback")
        _stylesheet(self._title_label, "SpokeSelector-title")
        _stylesheet(self._status_label, "SpokeSelector-status")
        for name, value in (("title", title), ("icon", icon), ("status", status)):
            if value:
                self.set_property(name, value)

    def _set_icon(self) -> None:
        """The icon, with the warning emblem while incomplete, at 32 pixels."""
        if self._icon is not None:
            self._icon.destroy()
        icon = Gio.ThemedIcon.new(self._icon_name)
        if self.get_incomplete():
            emblem = Gio.FileIcon.new(Gio.File.new_for_path(str(RESOURCES / "dialog-warning-symbolic.svg")))
            icon = Gio.EmblemedIcon.new(icon, Gio.Emblem.new(emblem))
        info = Gtk.IconTheme.get_default().lookup_by_gicon(icon, 32, 0)
        if info is None:
            return
        self._icon = Gtk.Image.new_from_pixbuf(info.load_icon())
        self._icon.set_pixel_size(32)
        self._icon.set_valign(Gtk.Align.START)
        self._icon.set_margin_start(3)
        self._icon.set_margin_end(3)
        self._icon.set_margin_bottom(20)
        self._grid.attach(self._icon, 0, 0, 1, 2)
        self._icon.show()

    @GObject.Property(type=str, default="image-missing")
    def icon(self) -> str:
        return self._icon_name

    @icon.setter
    def icon(self, name: str) -> None:
        self._icon_name = name
        self._set_icon()

    @GObject.Property(type=str, default="None")
    def status(self) -> str:
        return self._status_label.get_text()

    @status.setter
    def status(self, text: str) -> None:
        self._status_label.set_text(text)
        self.get_accessible().set_description(text)

    @GObject.Property(type=str, default="New Selector")
    def title(self) -> str:
        return self._title_label.get_text()

    @title.setter
    def title(self, text: str) -> None:
        self._title_label.set_text_with_mnemonic(text)
        self.get_accessible().set_name(self._title_label.get_text())

    def get_incomplete(self) -> bool:
        return bool(self.get_state_flags() & Gtk.StateFlags.INCONSISTENT)

    def set_incomplete(self, is_incomplete: bool) -> None:
        # The stylesheet shows the status in red in this state (SpokeSelector-status.css).
        for widget in (self, self._status_label, self._title_label):
            if is_incomplete:
                widget.set_state_flags(Gtk.StateFlags.INCONSISTENT, False)
            else:
                widget.unset_state_flags(Gtk.StateFlags.INCONSISTENT)
        self._set_icon()

    def _on_focus(self, widget: Gtk.Widget, event: Gdk.EventFocus) -> bool:
        state = Gtk.StateFlags(widget.get_state_flags() & ~Gtk.StateFlags.SELECTED)
        widget.set_state_flags(state | Gtk.StateFlags.SELECTED if event.in_ else state, True)
        return False


class MountpointSelector(Gtk.EventBox):
    """MountpointSelector.c: a mount point in the custom partitioning spoke's accordion. Used
    by: spokes/lib/accordion.py:44 (subclassed at import, so custom_storage.py loads;
    `show-arrow`, set_chosen/get_chosen, set_page/get_page), custom_storage.py:541-543
    (`name`, `size`, `mountpoint`). The graphical install here never opens that spoke."""

    __gtype_name__ = "AnacondaMountpointSelector"

    def __init__(
        self, name: str | None = None, size: str | None = None, mountpoint: str | None = None, device_id: object = None
    ) -> None:
        super().__init__()
        self.set_can_focus(True)
        self.add_events(Gdk.EventMask.FOCUS_CHANGE_MASK | Gdk.EventMask.KEY_RELEASE_MASK)
        self._chosen, self._page = False, None
        self._labels = {
            "mountpoint": Gtk.Label(xalign=0.0, yalign=0.0, hexpand=True),
            "size": Gtk.Label(label=_("0 GB"), xalign=0.0),
            "name": Gtk.Label(xalign=0.0, yalign=0.0, hexpand=True, ellipsize=Pango.EllipsizeMode.MIDDLE),
        }
        for key, css in (("mountpoint", "mountpoint-label"), ("size", "mountpoint-size-label")):
            self._labels[key].set_name(f"anaconda-{css}")
        self._labels["name"].set_name("anaconda-mountpoint-name-label")
        arrow = "right" if Gtk.get_locale_direction() == Gtk.TextDirection.LTR else "left"
        self._arrow = Gtk.Image.new_from_file(str(RESOURCES / f"{arrow}-arrow-icon.png"))
        self._arrow.set_no_show_all(True)
        self._show_arrow = True
        grid = Gtk.Grid(column_spacing=12, margin_start=30, margin_end=12)
        grid.attach(self._labels["mountpoint"], 0, 0, 1, 1)
        grid.attach(self._labels["size"], 1, 0, 1, 2)
        grid.attach(self._arrow, 2, 0, 1, 2)
        grid.attach(self._labels["name"], 0, 1, 1, 2)
        self.add(grid)
        for key, css in (("mountpoint", "mountpoint"), ("size", "size"), ("name", "name")):
            _stylesheet(self._labels[key], f"MountpointSelector-{css}")
        self.get_style_context().add_class("gtkstyle-fallback")
        for prop, value in (("name", name), ("size", size), ("mountpoint", mountpoint)):
            if value:
                self.set_property(prop, value)
        self.device_id = device_id

    @GObject.Property(type=str, default="")
    def name(self) -> str:
        return self._labels["name"].get_text()

    @name.setter
    def name(self, text: str) -> None:
        self._labels["name"].set_text(text)

    @GObject.Property(type=str, default="0 GB")
    def size(self) -> str:
        return self._labels["size"].get_text()

    @size.setter
    def size(self, text: str) -> None:
        self._labels["size"].set_text(text)

    @GObject.Property(type=str, default="")
    def mountpoint(self) -> str:
        return self._labels["mountpoint"].get_text()

    @mountpoint.setter
    def mountpoint(self, text: str) -> None:
        self._labels["mountpoint"].set_text(text)

    @GObject.Property(type=bool, default=True)
    def show_arrow(self) -> bool:
        return self._show_arrow

    @show_arrow.setter
    def show_arrow(self, show: bool) -> None:
        self._show_arrow = show

    def get_chosen(self) -> bool:
        return self._chosen

    def set_chosen(self, is_chosen: bool) -> None:
        self._chosen = is_chosen
        if is_chosen:
            self.set_state_flags(Gtk.StateFlags.SELECTED, False)
        else:
            self.unset_state_flags(Gtk.StateFlags.SELECTED)
        self._arrow.set_visible(is_chosen and self._show_arrow)
        if is_chosen:
            self.grab_focus()

    def get_page(self) -> Gtk.Widget | None:
        return self._page

    def set_page(self, page: Gtk.Widget) -> None:
        self._page = page


class DiskOverview(Gtk.EventBox):
    """DiskOverview.c: a disk in the installation destination spoke. Used by: storage.py:503
    (made with description, kind, capacity, free, name, device id and serial; set_chosen/
    get_chosen, isinstance). The graphical install here never opens that spoke (the
    kickstart's storage commands answer it)."""

    __gtype_name__ = "AnacondaDiskOverview"

    def __init__(
        self,
        description: str,
        kind: str,
        capacity: str,
        free: str,
        name: str,
        device_id: object,
        popup: str | None = None,
    ) -> None:
        super().__init__(valign=Gtk.Align.CENTER)
        self.set_can_focus(True)
        self.add_events(Gdk.EventMask.FOCUS_CHANGE_MASK | Gdk.EventMask.KEY_RELEASE_MASK)
        self._chosen = False
        grid = Gtk.Grid(row_spacing=2, column_spacing=6, border_width=6)
        texts = {"capacity": capacity, "description": description, "name": name, "free": free}
        labels = {key: Gtk.Label(label=text, name=f"anaconda-disk-{key}") for key, text in texts.items()}
        for key, label in labels.items():
            _stylesheet(label, f"DiskOverview-{key}")
        labels["name"].set_halign(Gtk.Align.END)
        labels["free"].set_halign(Gtk.Align.START)
        grid.attach(labels["capacity"], 0, 0, 3, 1)
        grid.attach(Gtk.Image.new_from_icon_name(kind, Gtk.IconSize.DIALOG), 0, 1, 3, 1)
        grid.attach(labels["description"], 0, 2, 3, 1)
        grid.attach(labels["name"], 0, 3, 1, 1)
        grid.attach(Gtk.Label(label="/"), 1, 3, 1, 1)
        grid.attach(labels["free"], 2, 3, 1, 1)
        self.add(grid)
        self.get_style_context().add_class("gtkstyle-fallback")
        self.set_tooltip_text(popup)  # the C code's popup-info
        self.device_id = device_id

    def get_chosen(self) -> bool:
        return self._chosen

    def set_chosen(self, is_chosen: bool) -> None:
        self._chosen = is_chosen
        if is_chosen:
            self.set_state_flags(Gtk.StateFlags.SELECTED, False)
        else:
            self.unset_state_flags(Gtk.StateFlags.SELECTED)


# Each C class names its CSS node after itself (anaconda-gtk.css: `AnacondaSpokeWindow #nav-box`).
for _type in (
    LayoutIndicator,
    BaseWindow,
    SpokeWindow,
    BaseStandalone,
    HubWindow,
    StandaloneWindow,
    SpokeSelector,
    MountpointSelector,
    DiskOverview,
):
    _type.set_css_name(_type.__gtype_name__)
