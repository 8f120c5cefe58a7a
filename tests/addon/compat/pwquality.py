"""The two names of libpwquality's Python binding (not on PyPI) that pyanaconda's
input_checking imports; the spoke tests check no password. Used only by `make addon-compat`."""


class PWQError(Exception):
    pass


class PWQSettings:
    pass
