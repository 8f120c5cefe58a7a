"""Anaconda's Payloads and Storage services as the addon sees them, on the test's private bus:
the methods and properties the addon calls (anaconda 45.21 names and D-Bus types), recording
each call. `Recorded()` returns the calls as JSON. The storage layout comes from argv[2]
(JSON: mount point → type, size, pool_size, path); the device tree is built from it."""

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


def _device_tree(layout: dict) -> tuple[dict[str, str], dict[str, dict]]:
    """The devices the layout makes, as blivet names them: a disk with partitions for what is
    not LVM, VG `onn` with thin pool `pool00` (a fifth of the VG left free, as autopart's
    thin layout reserves) for the thin LVs, whose names follow their mount points."""
    devices: dict[str, dict] = {"disk": {"type": "disk", "name": "vda", "size": 0, "parents": []}}
    mounts = {}
    for i, (mount, dev) in enumerate(layout.items()):
        dev_id = f"dev{i}"
        lv = "root" if mount == "/" else mount.strip("/").replace("/", "_")
        mounts[mount] = dev_id
        row = {"type": dev["type"], "size": dev["size"], "path": dev.get("path", f"/dev/fake{i}"), "parents": []}
        row["fs"] = dev.get("fs", "ext4")
        if dev["type"] in ("lvmthinlv", "lvmlv"):
            row["name"] = f"onn-{lv}"
            if dev["type"] == "lvmthinlv":
                pool = f"pool{dev['pool_size']}"
                devices.setdefault(pool, {"type": "lvmthinpool", "name": "onn-pool00", "size": dev["pool_size"]})
                devices[pool]["parents"] = ["vg"]
                row["parents"] = [pool]
                vg_size = dev["pool_size"] * 5 // 4
            else:
                row["parents"] = ["vg"]
                vg_size = dev["size"] * 2
            vg = devices.setdefault("vg", {"type": "lvmvg", "name": "onn", "size": 0, "parents": ["disk"]})
            vg["size"] = max(vg["size"], vg_size)
        else:
            row["name"] = f"vda{i + 1}"
            row["parents"] = ["disk"]
        devices[dev_id] = row
    for dev_id, row in devices.items():
        row["children"] = [c for c, other in devices.items() if dev_id in other.get("parents", [])]
    return mounts, devices


MOUNTS, DEVICES = _device_tree(LAYOUT)


@dbus_interface(STORAGE + ".DeviceTree.Viewer")
class DeviceTree:
    def GetMountPoints(self) -> Dict[Str, Str]:  # noqa: N802
        return MOUNTS

    def GetDevices(self) -> List[Str]:  # noqa: N802
        return list(DEVICES)

    def GetDeviceData(self, device_id: Str) -> Structure:  # noqa: N802
        dev = DEVICES[device_id]
        return {
            "type": get_variant(Str, dev["type"]),
            "name": get_variant(Str, dev["name"]),
            "path": get_variant(Str, dev.get("path", f"/dev/{dev['name']}")),
            "size": get_variant("t", dev["size"]),
            "parents": get_variant("as", dev["parents"]),
            "children": get_variant("as", dev["children"]),
        }

    def GetFormatData(self, device_id: Str) -> Structure:  # noqa: N802
        """The filesystem a mounted device gets (the layout's `fs`, ext4 unless it says)."""
        dev = DEVICES[device_id]
        return {"type": get_variant(Str, dev.get("fs", ""))}


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
