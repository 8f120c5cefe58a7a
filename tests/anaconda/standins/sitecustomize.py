"""Stand-ins, for every Python process of the Anaconda run in the guest (on its PYTHONPATH).

- blivet.util.lsmod() reads /proc/modules, which the UML kernel does not have (its modules load
  through `modprobe -d`, tests/support/guest-init); blivet's FCoE start asks it for `bnx2x`. Here it
  answers with no modules loaded, which is what the guest's /sys/module shows for that driver.
- libnm 1.46 renamed NM.SettingConnection's get_master/get_slave_type to get_controller/
  get_port_type, which Anaconda 45 calls; Debian 12's libnm is 1.42. The new names are given
  to the old methods (the same properties, "master" and "slave-type", read by the same code).
- pyanaconda.version is what Anaconda's build makes of version.py.in; the source tree is used in
  place, unbuilt, so the module is made here from the version in its configure.ac (the
  toolchain's ONN_ANACONDA_VERSION).
- gi.repository.AnacondaWidgets, Anaconda's C widget library, which its tree has only as C
  sources: anaconda_widgets.py beside this file (its docstring says what it provides), loaded
  when the graphical interface imports it; gi.require_version accepts it.
Nothing else is replaced.
"""

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys


class _BlivetUtil(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "blivet.util":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            module.lsmod = lambda: []

        spec.loader.exec_module = exec_and_patch
        return spec


class _AnacondaVersion(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        return importlib.util.spec_from_loader(name, self) if name == "pyanaconda.version" else None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        version = os.environ["ONN_ANACONDA_VERSION"]
        module.__version__ = version
        module.__build_time_version__ = f"{version}-1"


class _AnacondaWidgets(importlib.abc.MetaPathFinder):
    NAME = "gi.repository.AnacondaWidgets"

    def find_spec(self, name, path, target=None):
        if name != self.NAME:
            return None
        return importlib.util.spec_from_file_location(
            name, os.path.join(os.path.dirname(__file__), "anaconda_widgets.py")
        )


def _accept_anaconda_widgets():
    """gi.require_version("AnacondaWidgets", "3.4") asks for a typelib, which the stand-in is
    instead of."""
    try:
        import gi
    except ImportError:
        return
    require_version = gi.require_version

    def require_version_or_standin(namespace, version):
        if namespace != "AnacondaWidgets":
            require_version(namespace, version)

    gi.require_version = require_version_or_standin


def _libnm_146_names():
    try:
        import gi

        gi.require_version("NM", "1.0")
        from gi.repository import NM
    except (ImportError, ValueError):
        return
    setting = NM.SettingConnection
    if not hasattr(setting, "get_controller"):
        setting.get_controller = setting.get_master
        setting.get_port_type = setting.get_slave_type


sys.meta_path.insert(0, _BlivetUtil())
sys.meta_path.insert(0, _AnacondaVersion())
# Ahead of gi's own importer of gi.repository, which looks for typelibs.
sys.meta_path.insert(0, _AnacondaWidgets())
_accept_anaconda_widgets()
_libnm_146_names()
