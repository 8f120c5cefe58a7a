"""pyanaconda/modules/common/base/{base,base_interface,base_template}.py: a kickstart service
and its interface, with the real methods' names, signatures and D-Bus types."""

from dasbus.server.interface import dbus_interface
from dasbus.server.property import emits_properties_changed
from dasbus.server.template import InterfaceTemplate
from dasbus.typing import Bool, List, ObjPath, Str, Structure
from gi.repository import GLib
from pykickstart.errors import KickstartError

from pyanaconda.core.dbus import DBus
from pyanaconda.core.kickstart.specification import (
    KickstartSpecificationHandler,
    KickstartSpecificationParser,
    NoKickstartSpecification,
)
from pyanaconda.core.signal import Signal
from pyanaconda.modules.common.containers import TaskContainer
from pyanaconda.modules.common.structures.kickstart import KickstartMessage, KickstartReport


class KickstartService:
    def __init__(self):
        super().__init__()
        self._module_properties_changed = Signal()
        self.kickstarted_changed = Signal()
        self._kickstarted = False
        self._loop = GLib.MainLoop()

    @property
    def module_properties_changed(self):
        return self._module_properties_changed

    def publish(self):
        pass

    def run(self):
        self.publish()
        self._loop.run()

    def stop(self):
        DBus.disconnect()
        self._loop.quit()

    @property
    def kickstart_specification(self):
        return NoKickstartSpecification

    @property
    def kickstart_addon_names(self):
        return list(self.kickstart_specification.addons.keys())

    @property
    def kickstarted(self):
        return self._kickstarted

    @kickstarted.setter
    def kickstarted(self, value):
        self._kickstarted = value
        self.kickstarted_changed.emit()

    def process_kickstart(self, data):
        pass

    def setup_kickstart(self, data):
        pass

    def collect_requirements(self):
        return []

    def read_kickstart(self, s):
        report = KickstartReport()
        try:
            handler = KickstartSpecificationHandler(self.kickstart_specification)
            KickstartSpecificationParser(handler, self.kickstart_specification).readKickstartFromString(s)
            self.process_kickstart(handler)
        except KickstartError as e:
            report.error_messages.append(KickstartMessage.for_error(e))
        else:
            self.kickstarted = True
        return report

    def generate_kickstart(self):
        handler = KickstartSpecificationHandler(self.kickstart_specification)
        self.setup_kickstart(handler)
        return str(handler)

    def configure_with_tasks(self):
        return []

    def configure_bootloader_with_tasks(self, kernel_versions):
        return []

    def install_with_tasks(self):
        return []

    def teardown_with_tasks(self):
        return []


@dbus_interface("org.fedoraproject.Anaconda.KickstartModule")
class KickstartModuleInterface(InterfaceTemplate):
    def connect_signals(self):
        self.implementation.module_properties_changed.connect(self.flush_changes)
        self.watch_property("Kickstarted", self.implementation.kickstarted_changed)

    @property
    def KickstartAddons(self) -> List[Str]:
        return self.implementation.kickstart_addon_names

    @property
    def Kickstarted(self) -> Bool:
        return self.implementation.kickstarted

    @emits_properties_changed
    def ReadKickstart(self, kickstart: Str) -> Structure:
        return KickstartReport.to_structure(self.implementation.read_kickstart(kickstart))

    def GenerateKickstart(self) -> Str:
        return self.implementation.generate_kickstart()

    def ConfigureWithTasks(self) -> List[ObjPath]:
        return TaskContainer.to_object_path_list(self.implementation.configure_with_tasks())

    def ConfigureBootloaderWithTasks(self, kernel_versions: List[Str]) -> List[ObjPath]:
        return TaskContainer.to_object_path_list(self.implementation.configure_bootloader_with_tasks(kernel_versions))

    def InstallWithTasks(self) -> List[ObjPath]:
        return TaskContainer.to_object_path_list(self.implementation.install_with_tasks())

    def Quit(self):
        self.implementation.stop()
