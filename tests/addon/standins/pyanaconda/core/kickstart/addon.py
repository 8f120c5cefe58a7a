"""pyanaconda/core/kickstart/addon.py: AddonData, AddonSection, AddonRegistry."""

from abc import ABCMeta, abstractmethod
from types import SimpleNamespace

from pykickstart.errors import KickstartParseError
from pykickstart.ko import KickstartObject
from pykickstart.sections import Section


class AddonData(KickstartObject, metaclass=ABCMeta):
    @abstractmethod
    def handle_header(self, args, line_number=None):
        pass

    @abstractmethod
    def handle_line(self, line, line_number=None):
        pass

    def handle_end(self):
        pass

    @abstractmethod
    def __str__(self):
        return ""


class AddonSection(Section):
    sectionOpen = "%addon"

    def __init__(self, handler, **kwargs):
        super().__init__(handler, **kwargs)
        self.data = None
        self.line_number = None

    def handleHeader(self, lineno, args):
        super().handleHeader(lineno, args)
        if not args:
            raise KickstartParseError("Missing name of the %addon section.", lineno=lineno)
        data = getattr(self.handler.addons, args[1], None)
        if not data:
            raise KickstartParseError("Unknown name of the %addon section.", lineno=lineno)
        self.data = data
        self.line_number = lineno
        self.data.handle_header(args[2:], self.line_number)

    def handleLine(self, line):
        if not self.handler:
            return
        self.line_number += 1
        self.data.handle_line(line, self.line_number)

    def finalize(self):
        super().finalize()
        self.data.handle_end()
        self.data = None


class AddonRegistry(SimpleNamespace):
    pass
