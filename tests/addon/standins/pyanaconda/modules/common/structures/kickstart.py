"""pyanaconda/modules/common/structures/kickstart.py."""

from dasbus.structure import DBusData
from dasbus.typing import Int, List, Str


class KickstartMessage(DBusData):
    def __init__(self):
        self._message = ""
        self._line_number = 0

    @property
    def message(self) -> Str:
        return self._message

    @message.setter
    def message(self, value: Str):
        self._message = value

    @property
    def line_number(self) -> Int:
        return self._line_number

    @line_number.setter
    def line_number(self, value: Int):
        self._line_number = value

    @classmethod
    def for_error(cls, e):
        data = cls()
        data.message = e.message
        data.line_number = e.lineno or 0
        return data


class KickstartReport(DBusData):
    def __init__(self):
        self._error_messages = []
        self._warning_messages = []

    def is_valid(self):
        return not self._error_messages

    @property
    def error_messages(self) -> List[KickstartMessage]:
        return self._error_messages

    @error_messages.setter
    def error_messages(self, value: List[KickstartMessage]):
        self._error_messages = value

    @property
    def warning_messages(self) -> List[KickstartMessage]:
        return self._warning_messages

    @warning_messages.setter
    def warning_messages(self, value: List[KickstartMessage]):
        self._warning_messages = value
