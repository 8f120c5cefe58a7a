"""anaconda widgets/src/BaseWindow.c and SpokeWindow.c (the AnacondaWidgets library, C, not
installable here): AnacondaSpokeWindow as a Python GObject type with the same name, the
internal children a .glade file fills (main_box, nav_box, nav_area, alignment, action_area),
the window-name property, the Done button's button-clicked signal and the info bar."""

import gi

gi.require_version("Gtk", "3.0")
from gi.repository import GObject, Gtk, Pango  # noqa: E402


class BaseWindow(Gtk.EventBox, Gtk.Buildable):
    __gtype_name__ = "AnacondaBaseWindow"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.main_box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=6, visible=True)
        self.nav_box = Gtk.EventBox(visible=True)
        self.nav_box.set_name("nav-box")
        self.nav_area = Gtk.Grid(visible=True, column_spacing=6, row_spacing=6)
        self.name_label = Gtk.Label(halign=Gtk.Align.START, hexpand=True, visible=True)
        self.name_label.set_attributes(_bold(1.2))
        self.distro_label = Gtk.Label(label="OVIRT NODE INSTALLATION", halign=Gtk.Align.END, visible=True)
        self.distro_label.set_attributes(_bold(1.0))
        self.nav_area.attach(self.name_label, 0, 0, 1, 1)
        self.nav_area.attach(self.distro_label, 1, 0, 1, 1)
        self.nav_box.add(self.nav_area)
        self.alignment = Gtk.Alignment(visible=True, xscale=1, yscale=1)
        self.action_area = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=6, visible=True)
        self.alignment.add(self.action_area)
        self.info_bar = Gtk.InfoBar(no_show_all=True)
        self.info_label = Gtk.Label(wrap=True, xalign=0, visible=True)
        self.info_bar.get_content_area().add(self.info_label)
        self.main_box.pack_start(self.nav_box, False, False, 0)
        self.main_box.pack_start(self.alignment, True, True, 0)
        self.main_box.pack_end(self.info_bar, False, False, 0)
        self.add(self.main_box)

    @GObject.Property(type=str, default="")
    def window_name(self):
        return self.name_label.get_text()

    @window_name.setter
    def window_name(self, value):
        self.name_label.set_text(value)

    def do_get_internal_child(self, builder, childname):
        return getattr(self, childname)

    def get_action_area(self):
        return self.action_area

    def get_nav_area(self):
        return self.nav_area

    def get_main_box(self):
        return self.main_box

    def get_layout_indicator_box(self):
        return self.nav_area

    def _set_info(self, message_type, msg):
        self.info_bar.set_message_type(message_type)
        self.info_label.set_text(msg)
        self.info_bar.show()

    def set_error(self, msg):
        self._set_info(Gtk.MessageType.ERROR, msg)

    def set_info(self, msg):
        self._set_info(Gtk.MessageType.INFO, msg)

    def set_warning(self, msg):
        self._set_info(Gtk.MessageType.WARNING, msg)

    def clear_info(self):
        self.info_bar.hide()

    @property
    def info_text(self):
        """What the info bar shows (tests read it)."""
        return self.info_label.get_text() if self.info_bar.get_visible() else ""


class SpokeWindow(BaseWindow):
    __gtype_name__ = "AnacondaSpokeWindow"
    __gsignals__ = {"button-clicked": (GObject.SignalFlags.RUN_LAST, None, ())}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # Translated by the AnacondaWidgets library's own domain in the real one.
        self.button = Gtk.Button(label="_Done", use_underline=True, halign=Gtk.Align.START, visible=True)
        self.button.get_style_context().add_class("suggested-action")
        self.button.connect("clicked", lambda _b: self.emit("button-clicked"))
        self.nav_area.attach(self.button, 0, 1, 1, 1)


def _bold(scale):
    attrs = Pango.AttrList()
    attrs.insert(Pango.attr_weight_new(Pango.Weight.BOLD))
    attrs.insert(Pango.attr_scale_new(scale))
    return attrs
