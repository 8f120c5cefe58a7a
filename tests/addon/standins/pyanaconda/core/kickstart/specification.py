"""pyanaconda/core/kickstart/specification.py (addons only)."""

from pykickstart.base import KickstartHandler
from pykickstart.parser import KickstartParser
from pykickstart.version import DEVEL

from pyanaconda.core.kickstart.addon import AddonRegistry, AddonSection


class KickstartSpecification:
    version = DEVEL
    commands = {}
    commands_data = {}
    sections = {}
    sections_data = {}
    addons = {}


class NoKickstartSpecification(KickstartSpecification):
    pass


class KickstartSpecificationHandler(KickstartHandler):
    def __init__(self, specification):
        super().__init__()
        self.version = specification.version
        for name, command in specification.commands.items():
            self.registerCommand(name, command)
        if specification.addons:
            self.addons = AddonRegistry()
        for name, data in specification.addons.items():
            obj = data()
            setattr(self.addons, name, obj)
            priority = max(self._writeOrder.keys()) + 100 if self._writeOrder else 0
            self._writeOrder[priority] = [obj]


class KickstartSpecificationParser(KickstartParser):
    def __init__(self, handler, specification):
        super().__init__(handler)
        if specification.addons:
            self.registerSection(AddonSection(handler))

    def setupSections(self):
        pass
