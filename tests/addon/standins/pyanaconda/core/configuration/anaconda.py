"""pyanaconda/core/configuration/anaconda.py: `conf.target` only, with Anaconda's defaults."""

from types import SimpleNamespace

conf = SimpleNamespace(target=SimpleNamespace(system_root="/mnt/sysroot", physical_root="/mnt/sysimage"))
