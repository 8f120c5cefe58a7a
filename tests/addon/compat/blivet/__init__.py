"""Just enough of blivet for pyanaconda's configuration modules to import (the real blivet
needs libblockdev 3, which Debian 12 lacks). Used only by `make addon-compat`."""

udev = None
