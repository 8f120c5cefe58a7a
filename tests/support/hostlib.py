"""The installed host as its own imgbased and nodectl see it: a layer mounted with its fstab in
a chroot, imgbased (tag imgbased-1.2.26) and nodectl from their checkouts (IMGBASED_SRC,
NODECTL_SRC) on PYTHONPATH. Used by `make imgbased-compat` (tests/guest/imgbased_compat.py) and
by `make anaconda-e2e` on what the real Anaconda installed (tests/anaconda/in_guest.py).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from guestlib import run

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# The guest's LVM works without udev (tests/support/guest-init); imgbased's lvm calls in the chroot
# read the same configuration.
CHROOT_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LVM_SYSTEM_DIR": "/run/lvm/etc",
    "DM_DISABLE_UDEV": "1",
    "LVM_SUPPRESS_FD_WARNINGS": "1",
    "PYTHONPATH": "/run/onn-compat",
    "LC_ALL": "C",
    "HOME": "/root",
}


def python_packages(dest: Path) -> Path:
    """imgbased and nodectl as their RPMs would install them: the source trees with the files
    configure makes from *.in (IMGBASED_SRC and NODECTL_SRC: checkouts of oVirt/imgbased and
    oVirt/ovirt-node-ng)."""
    shutil.copytree(Path(os.environ["IMGBASED_SRC"]) / "src/imgbased", dest / "imgbased")
    constants = (dest / "imgbased/constants.py.in").read_text()
    constants = constants.replace("@PACKAGE_NAME@", "imgbased").replace("@PACKAGE_VERSION@", "1.2.26")
    (dest / "imgbased/constants.py").write_text(constants)
    shutil.copytree(Path(os.environ["NODECTL_SRC"]) / "src/nodectl", dest / "nodectl")
    config = (dest / "nodectl/config.py.in").read_text().replace("@PACKAGE_RPM_VERSION@", "4.4.3")
    (dest / "nodectl/config.py").write_text(config)
    return dest


class Host:
    """A layer as its host boots it: the LV at /, its fstab's mounts with their options, /proc,
    /sys, /dev, a /run with the guest's LVM configuration, imgbased and nodectl on PYTHONPATH and
    the images under /run/onn-images."""

    def __init__(
        self, layer: str, root: Path, packages: Path, images: Path, vg: str = "onn", guest_lvm: bool = True
    ) -> None:
        """`guest_lvm`: lvm in the chroot reads the guest's configuration for running without
        udev (/run/lvm/etc) instead of the layer's own /etc/lvm, as the booted host would; a
        guest with udev (the Anaconda one) gives False."""
        self.layer, self.root, self.packages, self.images, self.vg = layer, root, packages, images, vg
        self.env = CHROOT_ENV if guest_lvm else {k: v for k, v in CHROOT_ENV.items() if k != "LVM_SYSTEM_DIR"}

    def __enter__(self) -> Host:
        r = self.root
        r.mkdir(parents=True, exist_ok=True)
        run(["mount", f"/dev/{self.vg}/{self.layer}", str(r)])
        fstab = []
        for line in (r / "etc/fstab").read_text().splitlines():
            fields = line.split()
            if len(fields) >= 4 and not line.startswith("#") and fields[2] != "swap":
                fstab.append(fields)
        run(["mount", "-o", f"remount,{next(f[3] for f in fstab if f[1] == '/')}", str(r)])
        for source, target, _fs, options, *_ in sorted((f for f in fstab if f[1] != "/"), key=lambda f: f[1]):
            run(["mount", "-o", options, source, str(r / target.lstrip("/"))])
        run(["mount", "-t", "proc", "proc", str(r / "proc")])
        run(["mount", "-t", "sysfs", "sysfs", str(r / "sys")])
        run(["mount", "--rbind", "/dev", str(r / "dev")])
        run(["mount", "-t", "tmpfs", "tmpfs", str(r / "run")])
        for src, dst in (("/run/lvm", "run/lvm"), (self.packages, "run/onn-compat"), (self.images, "run/onn-images")):
            (r / dst).mkdir(parents=True)
            run(["mount", "--bind", str(src), str(r / dst)])
        return self

    def __exit__(self, *exc: object) -> None:
        # As the host's shutdown: lvm2-monitor's stop (`vgchange --monitor n`) ends the dmeventd
        # its lvm commands started (with the layer's own LVM configuration), then what is still
        # running in the chroot is stopped, so that it can be unmounted.
        if self._running():
            self.run("lvm", "vgchange", "--monitor", "n", self.vg, check=False)
        end = time.monotonic() + 10
        while (left := self._running()) and time.monotonic() < end:
            time.sleep(0.5)
        for pid, comm in left:
            print(f"killing {comm} ({pid}), still running in {self.layer}")
            os.kill(pid, signal.SIGKILL)
        if left:
            time.sleep(1)
        run(["umount", "--recursive", str(self.root)])

    def _running(self) -> list[tuple[int, str]]:
        """The processes whose root is this chroot."""
        found = []
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and os.readlink(proc / "root") == str(self.root):
                    found.append((int(proc.name), (proc / "comm").read_text().strip()))
            except OSError:
                pass
        return found

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["chroot", str(self.root), "/usr/bin/env", "-i", *(f"{k}={v}" for k, v in self.env.items()), *argv],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        print(f"$ {' '.join(argv)}  # in {self.layer}, exit {proc.returncode}\n{proc.stdout}{proc.stderr[-6000:]}")
        if check and proc.returncode != 0:
            raise AssertionError(f"{argv} in {self.layer} failed ({proc.returncode})")
        return proc

    def imgbase(self, *args: str) -> str:
        return ANSI.sub("", self.run("python3", "-m", "imgbased", *args).stdout)

    def nodectl(self, *args: str) -> str:
        return ANSI.sub("", self.run("python3", "-m", "nodectl", *args).stdout)


def entries(boot: Path) -> dict[str, dict[str, str]]:
    """The BLS entries in /boot by id, each as its key/value lines."""
    found = {}
    for path in (boot / "loader/entries").glob("*.conf"):
        found[path.stem] = dict(line.split(" ", 1) for line in path.read_text().splitlines() if " " in line)
    return found


def saved_entry(boot: Path) -> str:
    lines = (boot / "grub2/grubenv").read_text().splitlines()
    return next(line.split("=", 1)[1] for line in lines if line.startswith("saved_entry="))


def assert_check_ok(host: Host) -> None:
    """`imgbase check`: every group and every check of it OK (its colours taken off)."""
    lines = host.imgbase("check").splitlines()
    assert lines[0] == "Status: OK", lines
    checks = lines[1:]
    assert len(checks) >= 13 and all(line.endswith(" ... OK") for line in checks), lines
