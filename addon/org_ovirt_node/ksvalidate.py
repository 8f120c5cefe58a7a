"""Validate a kickstart for an unattended Node install: the whole file with pykickstart's real
parser plus the `%addon org_ovirt_node` section, which stock pykickstart ignores.

    python3 -m org_ovirt_node.ksvalidate FILE

Prints every error as `FILE:LINE: message` (`FILE: message` when it concerns the whole
file) and exits 1 when there is any; 0 when valid.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import NamedTuple

from pykickstart.errors import KickstartError, KickstartParseError
from pykickstart.parser import KickstartParser
from pykickstart.sections import Section
from pykickstart.version import makeVersion

from .i18n import _
from .kickstart import ADDON_NAME, NodeKickstart, SectionError

# Errors pykickstart itself reports (an unknown command, a bad option of a stock command).
PYKICKSTART_ERROR = "ks.pykickstart"


class KsError(NamedTuple):
    """One error: its line (0: the whole file), the message, and a stable id (README.md
    "When things go wrong")."""

    line: int
    message: str
    id: str


def _error(e: KickstartError, lineno: int) -> KsError:
    return KsError(e.lineno or lineno, e.message or str(e), e.id if isinstance(e, SectionError) else PYKICKSTART_ERROR)


class _AddonSection(Section):
    """%addon: ours is parsed line by line; other addons' bodies are left to them."""

    sectionOpen = "%addon"
    allLines = True  # we count lines ourselves: pykickstart passes none to handleLine

    def __init__(self, handler: object, collect: list[KsError], data: NodeKickstart) -> None:
        super().__init__(handler)
        self._collect = collect
        self._data = data
        self._ours = False
        self._lineno = 0

    def handleHeader(self, lineno: int, args: list[str]) -> None:  # noqa: N802 - pykickstart API
        self._lineno = lineno
        name = args[1] if len(args) > 1 else ""
        self._ours = name == ADDON_NAME
        if not self._ours:
            return
        if self._data.seen:
            message = _("%addon {name} appears twice; keep one").format(name=ADDON_NAME)
            self._collect.append(KsError(lineno, message, "ks.section-twice"))
        self._try(lambda: self._data.handle_header(args[2:], lineno), lineno)

    def handleLine(self, line: str) -> None:  # noqa: N802 - pykickstart API
        self._lineno += 1
        if self._ours:
            lineno = self._lineno
            self._try(lambda: self._data.handle_line(line, lineno), lineno)

    def finalize(self) -> None:
        if self._ours:
            self._try(self._data.handle_end, self._lineno)
        self._ours = False

    def _try(self, fn: object, lineno: int) -> None:
        try:
            fn()  # type: ignore[operator]
        except KickstartParseError as e:
            self._collect.append(_error(e, lineno))


class _Parser(KickstartParser):
    def __init__(self, handler: object, collect: list[KsError]) -> None:
        self._collect = collect
        self.node = NodeKickstart()
        super().__init__(handler, errorsAreFatal=False)

    def setupSections(self) -> None:  # noqa: N802 - pykickstart API
        super().setupSections()
        self.registerSection(_AddonSection(self.handler, self._collect, self.node))

    def _tryFunc(self, fn: object) -> None:  # noqa: N802 - pykickstart API
        try:
            fn()  # type: ignore[operator]
        except KickstartError as e:
            self._collect.append(_error(e, 0))


def validate(text: str) -> tuple[list[KsError], NodeKickstart]:
    """(the errors, the parsed section) for a kickstart's text."""
    errors: list[KsError] = []
    parser = _Parser(makeVersion(), errors)
    read_to_end = False
    try:
        parser.readKickstartFromString(text)
        read_to_end = True
    except KickstartError as e:
        errors.append(_error(e, 0))
    except ValueError:
        # pykickstart lets shlex's error through for a line with an unclosed quote; it stops
        # parsing at that line, which it keeps in `_line`.
        lines = text.splitlines(keepends=True)
        lineno = lines.index(parser._line) + 1 if parser._line in lines else 0
        message = _("a quotation mark is not closed: close it or remove it")
        errors.append(KsError(lineno, message, PYKICKSTART_ERROR))
    if read_to_end and not parser.node.seen:
        message = _("there is no %addon {name} section; onn would not install a Node image: add one").format(
            name=ADDON_NAME
        )
        errors.append(KsError(0, message, "ks.no-section"))
    return sorted(errors), parser.node


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(_("usage: python3 -m org_ovirt_node.ksvalidate KICKSTART"), file=sys.stderr)
        return 2
    path = Path(args[0])
    try:
        text = path.read_text()
    except OSError as e:
        print(f"{shlex.quote(str(path))}: {e.strerror}", file=sys.stderr)
        return 2
    errors, _data = validate(text)
    for lineno, message, _id in errors:
        print(f"{path}:{lineno}: {message}" if lineno else f"{path}: {message}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
