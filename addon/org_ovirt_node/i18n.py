"""The addon's own gettext domain. Every user-visible string goes through `_()` (translated
now) or `N_()` (marked, translated where shown)."""

from __future__ import annotations

import gettext

DOMAIN = "onn-anaconda-addon"

_translation = gettext.translation(DOMAIN, fallback=True)
_ = _translation.gettext


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    return message
