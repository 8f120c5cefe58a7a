"""Anaconda's Payloads and Storage services as the addon sees them, on the test's private bus:
the methods and properties the addon calls (anaconda 45.21 names and D-Bus types), recording
each call. `Recorded()` returns the calls as JSON. The storage layout comes from argv[1]
(JSON: mount point → DeviceData fields)."""

import json
import sys

from dasbus.connection import AddressedMessageBus
from dasbus.server.interface import dbus_interface
from dasbus.typing import Bool, Dict, List, ObjPath, Str, Structure, get_native, get_variant
from gi.repository import GLib

ADDRESS, LAYOUT = sys.argv[1], json.loads(sys.argv[2])
BUS = AddressedMessageBus(ADDRESS)
CALLS = []
PAYLOADS = "org.fedoraproject.Anaconda.Modules.Payloads"
STORAGE = "org.fedoraproject.Anaconda.Modules.Storage"


def _path(service: str, *tail: str) -> str:
    return "/" + "/".join([*service.split("."), *tail])


@dbus_interface(PAYLOADS)
class Payloads:
    def __init__(self) -> None:
        self.count = 0
        self.active = ""

    def CreatePayload(self, payload_type: Str) -> ObjPath:  # noqa: N802
        return self._create("Payload", payload_type)

    def CreateSource(self, source_type: Str) -> ObjPath:  # noqa: N802
        return self._create("Source", source_type)

    def _create(self, kind: str, type_: str) -> str:
        self.count += 1
        path = _path(PAYLOADS, kind, str(self.count))
        BUS.publish_object(path, PayloadObject(kind, type_, path) if kind == "Payload" else Source(path))
        CALLS.append([f"Create{kind}", type_, path])
        return path

    def ActivatePayload(self, payload: ObjPath) -> None:  # noqa: N802
        self.active = payload
        CALLS.append(["ActivatePayload", payload])

    @property
    def ActivePayload(self) -> Str:  # noqa: N802
        return self.active

    def Recorded(self) -> Str:  # noqa: N802
        return json.dumps(CALLS)


@dbus_interface(PAYLOADS + ".Payload")
class PayloadObject:
    def __init__(self, kind: str, type_: str, path: str) -> None:
        self.type, self.path, self.sources = type_, path, []

    @property
    def Type(self) -> Str:  # noqa: N802
        return self.type

    @property
    def Sources(self) -> List[ObjPath]:  # noqa: N802
        return self.sources

    @Sources.setter
    def Sources(self, sources: List[ObjPath]) -> None:  # noqa: N802
        self.sources = sources
        CALLS.append(["Sources", self.path, sources])


@dbus_interface(PAYLOADS + ".Source.LiveImage")
class Source:
    def __init__(self, path: str) -> None:
        self.path, self.configuration = path, {}

    @property
    def Configuration(self) -> Structure:  # noqa: N802
        return self.configuration

    @Configuration.setter
    def Configuration(self, configuration: Structure) -> None:  # noqa: N802
        self.configuration = configuration
        CALLS.append(["Configuration", self.path, get_native(configuration)])


@dbus_interface(STORAGE + ".DeviceTree.Viewer")
class DeviceTree:
    def GetMountPoints(self) -> Dict[Str, Str]:  # noqa: N802
        return {mount: f"dev{i}" for i, mount in enumerate(LAYOUT)}

    def GetDeviceData(self, device_id: Str) -> Structure:  # noqa: N802
        if device_id.startswith("pool"):
            mount = list(LAYOUT)[int(device_id[4:])]
            return {"type": get_variant(Str, "lvmthinpool"), "size": get_variant("t", LAYOUT[mount]["pool_size"])}
        i = int(device_id[3:])
        dev = LAYOUT[list(LAYOUT)[i]]
        parents = [f"pool{i}"] if dev["type"] == "lvmthinlv" else []
        return {
            "type": get_variant(Str, dev["type"]),
            "path": get_variant(Str, dev.get("path", f"/dev/fake{i}")),
            "size": get_variant("t", dev["size"]),
            "parents": get_variant("as", parents),
        }


@dbus_interface(STORAGE)
class Storage:
    def __init__(self):
        self.tasks = 0

    def WriteConfigurationWithTask(self, payload_type: Str) -> ObjPath:  # noqa: N802
        self.tasks += 1
        path = _path(STORAGE, "Task", str(self.tasks))
        BUS.publish_object(path, StorageTask(path))
        CALLS.append(["WriteConfigurationWithTask", payload_type, path])
        return path


@dbus_interface("org.fedoraproject.Anaconda.Task")
class StorageTask:
    def __init__(self, path):
        self.path = path

    @property
    def IsRunning(self) -> Bool:  # noqa: N802
        return False

    def Start(self):  # noqa: N802
        CALLS.append(["Start", self.path])

    def Finish(self):  # noqa: N802
        CALLS.append(["Finish", self.path])


@dbus_interface(STORAGE + ".Bootloader")
class Bootloader:
    def __init__(self):
        self.args = ["crashkernel=auto"]

    @property
    def ExtraArguments(self) -> List[Str]:  # noqa: N802
        return self.args

    @ExtraArguments.setter
    def ExtraArguments(self, args: List[Str]):  # noqa: N802
        self.args = args
        CALLS.append(["ExtraArguments", args])


BUS.publish_object(_path(STORAGE), Storage())
BUS.publish_object(_path(STORAGE, "Bootloader"), Bootloader())
BUS.publish_object(_path(PAYLOADS), Payloads())
BUS.register_service(PAYLOADS)
BUS.publish_object(_path(STORAGE, "DeviceTree"), DeviceTree())
BUS.register_service(STORAGE)
GLib.MainLoop().run()
