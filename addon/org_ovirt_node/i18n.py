"""The addon's own gettext domain. Every user-visible string goes through `_()` (translated
now) or `N_()` (marked, translated where shown)."""

from __future__ import annotations

import gettext
import locale
import os

DOMAIN = "onn-anaconda-addon"
# The .mo files' root: where `make install` puts them (/usr/share/locale), unless ONN_LOCALEDIR
# names another (a build tree). Python's gettext would look under its own prefix, which is /usr
# only for the system's Python (the real Anaconda's German run found it under a Python of its
# own). Gtk.Builder translates the .glade file through the C library, so both Python's gettext
# and libintl are pointed there.
LOCALEDIR = os.environ.get("ONN_LOCALEDIR", "/usr/share/locale")
locale.bindtextdomain(DOMAIN, LOCALEDIR)


def _(message: str) -> str:
    """`message` in the process's language as it is now: looked up at each call, as Anaconda's
    own _() is (pyanaconda/core/i18n.py), since Anaconda sets its modules' language once the
    kickstart's `lang` is read (SetLocale) and the interface's when the user picks one."""
    return gettext.translation(DOMAIN, localedir=LOCALEDIR, fallback=True).gettext(message)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    return message
