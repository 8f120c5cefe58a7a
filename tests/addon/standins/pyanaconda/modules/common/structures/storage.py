"""pyanaconda/modules/common/structures/storage.py: DeviceData and DeviceFormatData (the fields
the addon reads)."""

from dasbus.structure import DBusData
from dasbus.typing import List, Str, UInt64


class DeviceData(DBusData):
    def __init__(self):
        self._type = ""
        self._name = ""
        self._path = ""
        self._size = 0
        self._parents = []
        self._children = []

    @property
    def type(self) -> Str:
        return self._type

    @type.setter
    def type(self, value: Str):
        self._type = value

    @property
    def name(self) -> Str:
        return self._name

    @name.setter
    def name(self, value: Str):
        self._name = value

    @property
    def path(self) -> Str:
        return self._path

    @path.setter
    def path(self, value: Str):
        self._path = value

    @property
    def size(self) -> UInt64:
        return self._size

    @size.setter
    def size(self, value: UInt64):
        self._size = value

    @property
    def parents(self) -> List[Str]:
        return self._parents

    @parents.setter
    def parents(self, value: List[Str]):
        self._parents = value

    @property
    def children(self) -> List[Str]:
        return self._children

    @children.setter
    def children(self, value: List[Str]):
        self._children = value


class DeviceFormatData(DBusData):
    def __init__(self):
        self._type = ""

    @property
    def type(self) -> Str:
        return self._type

    @type.setter
    def type(self, value: Str):
        self._type = value
