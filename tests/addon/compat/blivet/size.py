_UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}


class Size(int):
    def __new__(cls, value: object = 0) -> "Size":
        if isinstance(value, str):
            number, _, unit = value.strip().partition(" ")
            return int.__new__(cls, int(float(number) * _UNITS.get(unit or "B", 1)))
        return int.__new__(cls, value)  # type: ignore[call-overload]
