"""The addon's own gettext domain. Every user-visible string goes through `_()` (translated
now) or `N_()` (marked, translated where shown)."""

from __future__ import annotations

import gettext
import locale
import os

DOMAIN = "onn-anaconda-addon"
# The .mo files' root: the system's (/usr/share/locale) unless ONN_LOCALEDIR names another
# (a build tree). Gtk.Builder translates the .glade file through the C library, so both
# Python's gettext and libintl are pointed there.
LOCALEDIR = os.environ.get("ONN_LOCALEDIR")
if LOCALEDIR:
    locale.bindtextdomain(DOMAIN, LOCALEDIR)

_translation = gettext.translation(DOMAIN, localedir=LOCALEDIR, fallback=True)
_ = _translation.gettext


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    return message
