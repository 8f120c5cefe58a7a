"""The installed host lives on: its own imgbased and nodectl check, update and roll back what
onn laid out (`make imgbased-compat IMGBASED_SRC=… NODECTL_SRC=…`, in the guest, real lvm2).

onn installs the compat-1.0 image; the real imgbased (tag imgbased-1.2.26) and nodectl run in a
chroot of the installed layer with its fstab mounted, as on the booted host, and update it to
compat-1.1 (and, with the default volume set, to compat-1.2, whose garbage collection removes
onn's first base). Stand-ins, each recording its argv in /var/log/onn-standins.jsonl, are only
for what a chroot on this machine cannot have: EL's grubby (its BLS subset, on the real entry
files), systemctl (no service manager runs in a chroot) and dracut (the image has no kernel
modules and Debian's dracut no multipath); they are tests/guest/imgbased-standins, built into
the compat images. Everything else is real: lvm2, mount, tar, rsync, rpm, e2fsprogs, Debian's
grub-editenv. The one file onn's CLI does not make, /boot/grub2/grub.cfg (Anaconda's bootloader
step writes it), is written here, since imgbased's grubby wrapper copies it around each call.
Never committed: imgbased's and nodectl's code (fetched; CI has no fetch). The CI suite keeps
test_vm_install.py's checks of the on-disk items imgbased reads.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from guestlib import GIB, Disks, blkid, lvs, onn, run, shell_var

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# The guest's LVM works without udev (tests/vm/guest-init); imgbased's lvm calls in the chroot
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

    def __init__(self, layer: str, root: Path, packages: Path, images: Path) -> None:
        self.layer, self.root, self.packages, self.images = layer, root, packages, images

    def __enter__(self) -> Host:
        r = self.root
        r.mkdir(parents=True, exist_ok=True)
        run(["mount", f"/dev/onn/{self.layer}", str(r)])
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
        run(["umount", "--recursive", str(self.root)])

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["chroot", str(self.root), "/usr/bin/env", "-i", *(f"{k}={v}" for k, v in CHROOT_ENV.items()), *argv],
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


@pytest.mark.parametrize("volumes", ["default", "minimal"])
def test_vm_the_hosts_imgbased_updates_and_rolls_back_what_onn_installed(
    volumes: str, images: dict[str, dict[str, object]], work: Path, tmp_path: Path
) -> None:
    img = [images[f"compat-1.{i}"] for i in range(3)]
    nvr = [str(i["nvr"]) for i in img]
    layer1, layer2, layer3 = (f"{n}+1" for n in nvr)
    image_dir = Path(str(img[0]["path"])).parent
    assert all(Path(str(i["path"])).parent == image_dir for i in img)
    packages = python_packages(tmp_path / "packages")
    # Three bases of the image's size do not fit the guest's memory: the disks live in the
    # shared work directory.
    disks = Disks(work / "imgbased-compat")
    disks.where.mkdir(parents=True, exist_ok=True)
    try:
        boot_dev = disks.boot()
        pv = disks.add("pv0", 40 * GIB)
        extra = ["--volumes", "minimal"] if volumes == "minimal" else []
        onn(
            "install", "--image", str(img[0]["path"]), "--pv", pv, "--boot", boot_dev, "--kernel-arg", "audit=0", *extra
        )
        boot = tmp_path / "boot"
        boot.mkdir()
        run(["mount", boot_dev, str(boot)])
        (boot / "grub2/grub.cfg").write_text("# Anaconda's bootloader step writes this; onn's CLI does not\n")
        before = lvs()
        onn_entries = entries(boot)
        kver = str(img[0]["kernel_versions"][0])  # type: ignore[index]
        assert saved_entry(boot) == f"{layer1}-{kver}"

        # Layer 1, as booted: the operator's view, a file in /etc and /root, then the update.
        with Host(layer1, tmp_path / "root1", packages, image_dir) as host:
            assert_check_ok(host)
            assert host.imgbase("w").strip() == f"You are on {layer1}"
            assert host.imgbase("layout").split() == [nvr[0], "+-", layer1]
            assert "Status: OK" in host.nodectl("check")
            info = host.nodectl("info")
            assert layer1 in info and "default" in info
            (host.root / "etc/onn-compat-etc").write_text("written in layer 1's /etc\n")
            (host.root / "root/onn-compat-root").write_text("written in layer 1's /root\n")
            (host.root / "var/onn-compat-var").write_text("written in /var\n")
            host.imgbase(
                "--debug", "update", "--format", "liveimg", f"/run/onn-images/{Path(str(img[1]['path'])).name}"
            )

        lv = lvs()
        for name in (nvr[0], layer1):  # the old LVs as onn made them
            assert lv[name] == before[name]
        assert lv[nvr[1]]["lv_tags"] == "imgbased:base"
        assert lv[nvr[1]]["lv_permissions"] == "read-only"
        assert lv[nvr[1]]["lv_skip_activation"] == "skip activation"
        assert lv[layer2]["lv_tags"] == "imgbased:layer"
        assert lv[layer2]["lv_permissions"] == "writeable"
        assert lv[layer2]["origin"] == nvr[1]
        run(["lvm", "lvchange", "--activate", "y", "--ignoreactivationskip", f"onn/{nvr[1]}"])
        uuids = {blkid(f"/dev/onn/{name}", "UUID") for name in (nvr[0], layer1, nvr[1], layer2)}
        assert len(uuids) == 4, "base and layer file systems share a UUID"
        # Layer 2's entry and kernel files in /boot; the old entry unchanged; layer 2 the default.
        now = entries(boot)
        for eid, entry in onn_entries.items():
            assert now[eid] == entry
        (new_id,) = set(now) - set(onn_entries)
        new = now[new_id]
        # imgbased writes these paths with two slashes in front (GRUB reads them as one).
        assert new["linux"].lstrip("/") == f"{layer2}/vmlinuz-{kver}"
        assert new["initrd"].lstrip("/") == f"{layer2}/initramfs-{kver}.img"
        assert (boot / layer2 / f"vmlinuz-{kver}").stat().st_size > 1 << 20
        assert (boot / layer2 / f"initramfs-{kver}.img").stat().st_size > 1 << 20
        # The install's kernel argument reached the new layer's entry.
        assert "audit=0" in new["options"].split() and f"rd.lvm.lv=onn/{layer2}" in new["options"].split()
        assert saved_entry(boot) in (new_id, new["title"])

        # Layer 2, as booted: what layer 1 had migrated, /var shared, then a rollback.
        with Host(layer2, tmp_path / "root2", packages, image_dir) as host:
            assert (host.root / "etc/onn-compat-etc").read_text() == "written in layer 1's /etc\n"
            assert (host.root / "root/onn-compat-root").read_text() == "written in layer 1's /root\n"
            assert (host.root / "var/onn-compat-var").is_file()
            # The pool's LVM profile, which onn put in layer 1's /etc, is in layer 2's too.
            assert (host.root / "etc/lvm/profile/imgbased-pool.profile").is_file()
            grub_cmdline = shell_var(host.root / "etc/default/grub", "GRUB_CMDLINE_LINUX") or ""
            assert "audit=0" in grub_cmdline.split() and f"rd.lvm.lv=onn/{layer2}" in grub_cmdline.split()
            assert_check_ok(host)
            assert host.imgbase("w").strip() == f"You are on {layer2}"
            host.imgbase("rollback")
            assert saved_entry(boot) in (f"{layer1}-{kver}", onn_entries[f"{layer1}-{kver}"]["title"])
            calls = [json.loads(line)["program"] for line in (host.root / "var/log/onn-standins.jsonl").open()]
            assert {"grubby", "dracut"} <= set(calls), calls
            if volumes == "minimal":
                return
            # A third image: imgbased keeps two, so onn's first base, its layer and entry go.
            host.imgbase(
                "--debug", "update", "--format", "liveimg", f"/run/onn-images/{Path(str(img[2]['path'])).name}"
            )
        lv = lvs()
        assert nvr[0] not in lv and layer1 not in lv
        assert lv[layer3]["origin"] == nvr[2]
        now = entries(boot)
        assert f"{layer1}-{kver}" not in now and not (boot / layer1).exists()
        assert any(e["linux"].lstrip("/") == f"{layer3}/vmlinuz-{kver}" for e in now.values())
        with Host(layer3, tmp_path / "root3", packages, image_dir) as host:
            assert_check_ok(host)
    finally:
        run(["umount", "--recursive", str(tmp_path / "boot")], check=False)
        disks.release()
