"""pyanaconda/modules/common/structures/live_image.py."""

from dasbus.structure import DBusData
from dasbus.typing import Bool, Str


class LiveImageConfigurationData(DBusData):
    def __init__(self):
        self._url = ""
        self._proxy = ""
        self._checksum = ""
        self._ssl_verification_enabled = True

    @property
    def url(self) -> Str:
        return self._url

    @url.setter
    def url(self, value: Str):
        self._url = value

    @property
    def proxy(self) -> Str:
        return self._proxy

    @proxy.setter
    def proxy(self, value: Str):
        self._proxy = value

    @property
    def checksum(self) -> Str:
        return self._checksum

    @checksum.setter
    def checksum(self, value: Str):
        self._checksum = value

    @property
    def ssl_verification_enabled(self) -> Bool:
        return self._ssl_verification_enabled

    @ssl_verification_enabled.setter
    def ssl_verification_enabled(self, value: Bool):
        self._ssl_verification_enabled = value
