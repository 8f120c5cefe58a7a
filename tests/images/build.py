#!/usr/bin/env python3
"""Cached builder of the squashfs OS images that onn's tests install.

Usage::

    python3 tests/images/build.py [NAME ...]   # build (or reuse) images, print "NAME PATH"
    python3 tests/images/build.py --list       # list the image names
    python3 tests/images/build.py --json [NAME ...]  # print {name: facts}

or, from Python (with tests/images on sys.path)::

    from build import ensure_image
    path = ensure_image("tiny-ext4")

Images live in ``${ONN_CACHE:-$HOME/.cache/onn}/images/<name>-<key>.squashfs.img``
where ``key`` is the first 12 hex digits of sha256(this file's code, comments aside, + the
image's parameters), so editing this script or an image's parameters makes a new image.
Next to each image are ``<image>.sha256`` (hex digest) and ``<image>.json`` (facts).
See README.md in this directory for what each image contains.

Building needs root (loop devices, chroot, file ownership) and these host tools:
debootstrap, squashfs-tools, e2fsprogs, xfsprogs, util-linux, coreutils.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import fcntl
import hashlib
import json
import os
import random
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from debian import NoMirror, apt_proxy_env, debian_mirror

MIB = 1024 * 1024
SCRIPT = Path(__file__).resolve()
_T0 = time.monotonic()

# Absolute paths of the host tools; resolved through PATH only if missing there.
TOOLS: dict[str, str] = {
    "chroot": "/usr/sbin/chroot",
    "cp": "/usr/bin/cp",
    "debugfs": "/usr/sbin/debugfs",
    "debootstrap": "/usr/sbin/debootstrap",
    "losetup": "/usr/sbin/losetup",
    "mkfs.ext4": "/usr/sbin/mkfs.ext4",
    "mkfs.xfs": "/usr/sbin/mkfs.xfs",
    "mksquashfs": "/usr/bin/mksquashfs",
    "mount": "/usr/bin/mount",
    "rpm": "/usr/bin/rpm",
    "rpmbuild": "/usr/bin/rpmbuild",
    "umount": "/usr/bin/umount",
}

# Environment for commands run inside a chroot: nothing from the host except
# proxy settings (a host TMPDIR, for example, would not exist in there).
CHROOT_ENV_BASE: dict[str, str] = {
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LC_ALL": "C",
    "DEBIAN_FRONTEND": "noninteractive",
    "DEBCONF_NONINTERACTIVE_SEEN": "true",
}
PASSTHROUGH_ENV = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")


class BuildError(RuntimeError):
    """An image could not be built."""


class CommandError(BuildError):
    """An external command failed."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str, stdout: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr
        self.stdout = stdout
        tail = _tail(stderr) or _tail(stdout)
        super().__init__(
            f"command failed with exit status {returncode}: {' '.join(self.argv)}\n--- output tail ---\n{tail}"
        )


def _tail(text: str, lines: int = 30, chars: int = 4000) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])[-chars:]


def log(msg: str) -> None:
    print(f"[images {time.monotonic() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def tool(name: str) -> str:
    path = TOOLS.get(name, name)
    if os.path.isabs(path) and os.access(path, os.X_OK):
        return path
    found = shutil.which(os.path.basename(path))
    if found is None:
        raise BuildError(f"required tool {name!r} not found (expected at {path})")
    return found


def run(
    argv: list[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run one external program (argv list, no shell), capture its output.

    ``env`` replaces the environment if given (LC_ALL=C is always forced);
    otherwise the host environment is used with LC_ALL=C.  Raises
    CommandError naming the command and carrying the stderr tail on failure.
    """
    full_env = dict(os.environ) if env is None else dict(env)
    full_env["LC_ALL"] = "C"
    if env is None:
        full_env["PATH"] = full_env.get("PATH", "") + ":/usr/sbin:/usr/bin:/sbin:/bin"
    try:
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            env=full_env,
            cwd=cwd,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BuildError(f"command timed out after {timeout}s: {' '.join(argv)}") from exc
    except OSError as exc:
        raise BuildError(f"cannot run {' '.join(argv)}: {exc}") from exc
    if proc.returncode != 0:
        raise CommandError(argv, proc.returncode, proc.stderr, proc.stdout)
    return proc


def chroot_env() -> dict[str, str]:
    env = dict(CHROOT_ENV_BASE)
    env.update({k: os.environ[k] for k in PASSTHROUGH_ENV if k in os.environ})
    return env


def run_chroot(root: Path, argv: list[str], *, extra_env: Mapping[str, str] | None = None) -> str:
    env = chroot_env()
    env.update(extra_env or {})
    return run([tool("chroot"), str(root), *argv], env=env).stdout


# --------------------------------------------------------------------------
# mounts and safe cleanup


def _mount_points() -> list[str]:
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
        for line in f:
            raw = line.split()[4]
            points.append(raw.encode().decode("unicode_escape"))  # \040 -> space
    return points


def umount(target: Path) -> None:
    try:
        run([tool("umount"), str(target)])
    except CommandError as exc:
        log(f"umount {target} failed ({exc.stderr.strip()}); detaching lazily")
        run([tool("umount"), "--lazy", str(target)])


@contextlib.contextmanager
def mounted(target: Path, *mount_args: str) -> Iterator[Path]:
    """mount ``mount_args... target``; always unmounted on exit."""
    run([tool("mount"), *mount_args, str(target)])
    try:
        yield target
    finally:
        umount(target)


@contextlib.contextmanager
def loop_device(image: Path, *, read_only: bool = False) -> Iterator[str]:
    argv = [tool("losetup"), "--find", "--show"]
    if read_only:
        argv.append("--read-only")
    dev = run([*argv, str(image)]).stdout.strip()
    try:
        yield dev
    finally:
        run([tool("losetup"), "--detach", dev])


@contextlib.contextmanager
def chroot_mounts(root: Path) -> Iterator[None]:
    """/proc, /sys and /dev inside ``root`` for running dpkg/dracut there."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(mounted(root / "proc", "-t", "proc", "proc"))
        stack.enter_context(mounted(root / "sys", "-t", "sysfs", "sysfs"))
        stack.enter_context(mounted(root / "dev", "--bind", "/dev"))
        yield


def safe_rmtree(path: Path) -> None:
    """rmtree that refuses to run while anything is mounted at or below path
    (a leftover /dev bind mount would otherwise delete the host's /dev)."""
    if not path.exists() and not path.is_symlink():
        return
    real = os.path.realpath(path)
    busy = [m for m in _mount_points() if m == real or m.startswith(real.rstrip("/") + "/")]
    if busy:
        raise BuildError(f"refusing to delete {path}: still mounted: {', '.join(busy)}")
    shutil.rmtree(path)


# --------------------------------------------------------------------------
# cache layout, keys, locking


def cache_root() -> Path:
    env = os.environ.get("ONN_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "onn"


def cache_key(params: Mapping[str, Any]) -> str:
    h = hashlib.sha256()
    # The script's code, not its comments: a comment edited rebuilds no image.
    h.update(ast.dump(ast.parse(SCRIPT.read_text())).encode())
    h.update(json.dumps(params, sort_keys=True).encode())
    return h.hexdigest()[:12]


_lock_depth = 0


@contextlib.contextmanager
def cache_lock() -> Iterator[None]:
    """One builder at a time per cache (re-entrant within this process)."""
    global _lock_depth
    if _lock_depth:
        _lock_depth += 1
        try:
            yield
        finally:
            _lock_depth -= 1
        return
    cache_root().mkdir(parents=True, exist_ok=True)
    with open(cache_root() / ".build.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        _lock_depth = 1
        try:
            yield
        finally:
            _lock_depth = 0
            fcntl.flock(f, fcntl.LOCK_UN)


def work_dir(prefix: str) -> Path:
    """A fresh directory on the cache's filesystem (so renames are atomic)."""
    tmp = cache_root() / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix + ".", dir=tmp))


# --------------------------------------------------------------------------
# image definitions


# What the host's imgbased reads at an update, by the suffix of onn's warning id for its lack
# (rust/onn-core/src/image/updatable.rs). "dev-urandom" is the one an image must not have.
NODE_ITEMS = ("name", "nvr-space", "release-cpe", "factory-etc", "default-grub", "sshd-config", "rpmdb", "dev-urandom")
# Bumped when add_node_items changes what it writes (a new cache key for those images).
NODE_ITEMS_VERSION = 2


@dataclass(frozen=True)
class ImageSpec:
    name: str
    nvr: str
    source: Literal["demo", "compat", "lifecycle", "tiny"]
    layout: Literal["liveos", "tree"]
    fs: Literal["ext4", "xfs"] | None
    fs_size_mib: int | None  # None: computed from the tree (ext4 only)
    description: str
    comp: Literal["zstd", "xz"] = "zstd"
    # File data to reach by adding copies of /usr under /opt/bulk (bench images; 0: none).
    bulk_bytes: int = 0
    # Built by `build.py` without names (what the tests use); bench images only on request.
    default: bool = True
    # With what the host's imgbased reads at an update (add_node_items), but for this one
    # (an id suffix of rust/onn-core/src/image/updatable.rs); False: a bare test tree.
    node: bool = False
    lacks: str | None = None

    def params(self) -> dict[str, Any]:
        params = {
            "name": self.name,
            "nvr": self.nvr,
            "source": self.source,
            "layout": self.layout,
            "fs": self.fs,
            "fs_size_mib": self.fs_size_mib,
        }
        if self.comp != "zstd" or self.bulk_bytes:
            params.update(comp=self.comp, bulk_bytes=self.bulk_bytes)
        if self.node:
            params.update(node=NODE_ITEMS_VERSION, lacks=self.lacks)
        # What the base tree is made of (its stand-ins' contents, its packages): a stand-in
        # changed makes a new tree, and so a new image.
        bases = {"demo": demo_base_params, "compat": compat_base_params, "lifecycle": lifecycle_base_params}
        if self.source in bases:
            params["base"] = bases[self.source]()
        return params


IMAGES: dict[str, ImageSpec] = {
    s.name: s
    for s in (
        ImageSpec(
            "tiny-ext4",
            "onn-tiny-1.0-0.1",
            "tiny",
            "liveos",
            "ext4",
            128,
            "synthetic tree, LiveOS/rootfs.img ext4 128 MiB",
        ),
        ImageSpec(
            "tiny-xfs",
            "onn-tiny-1.0-0.2",
            "tiny",
            "liveos",
            "xfs",
            320,
            "synthetic tree, LiveOS/rootfs.img xfs 320 MiB",
        ),
        ImageSpec("tiny-1.1", "onn-tiny-1.1-0.1", "tiny", "liveos", "ext4", 128, "like tiny-ext4, a second version"),
        ImageSpec(
            "tiny-tree",
            "onn-tiny-1.0-0.3",
            "tiny",
            "tree",
            None,
            None,
            "synthetic tree at the squashfs top level (no rootfs.img)",
        ),
        ImageSpec(
            "demo-1.0",
            "onn-node-demo-1.0-0.20261125.0",
            "demo",
            "liveos",
            "ext4",
            None,
            "bootable Debian 12 (debootstrap minbase + kernel, dracut, lvm2), with what imgbased reads",
            node=True,
        ),
        ImageSpec(
            "demo-1.1",
            "onn-node-demo-1.1-0.20261125.0",
            "demo",
            "liveos",
            "ext4",
            None,
            "demo-1.0 with a newer NVR",
            node=True,
        ),
        # What `make imgbased-compat` installs and updates to (built only on request).
        *(
            ImageSpec(
                f"compat-1.{i}",
                f"onn-node-compat-1.{i}-0.20261203.0",
                "compat",
                "liveos",
                "ext4",
                None,
                "the demo tree with what the host's imgbased runs on and calls (no kernel modules: "
                f"updated, never booted), version 1.{i}",
                default=False,
                node=True,
            )
            for i in range(3)
        ),
        # What `make lifecycle` installs, boots, updates to on the running host and rolls back.
        *(
            ImageSpec(
                f"lifecycle-1.{i}",
                f"onn-node-lifecycle-1.{i}-0.20261206.0",
                "lifecycle",
                "liveos",
                "ext4",
                None,
                "the demo tree with what the host's imgbased runs on and calls, booted: the real "
                f"systemd, dracut and GRUB, stand-ins only for grubby and dracut's multipath; version 1.{i}",
                default=False,
                node=True,
            )
            for i in range(2)
        ),
        # What the host's imgbased needs for an update: all of it, then each without one item.
        ImageSpec(
            "node-tiny",
            "onn-node-tiny-1.0-0.1",
            "tiny",
            "liveos",
            "ext4",
            128,
            "like tiny-ext4, with everything imgbased reads at an update",
            node=True,
        ),
        *(
            ImageSpec(
                f"node-tiny-with-{lacks}" if lacks == "dev-urandom" else f"node-tiny-no-{lacks}",
                "onn-tiny-1.0-0.9" if lacks == "name" else f"onn-node-tiny-1.0-0.{10 + i}",
                "tiny",
                "liveos",
                "ext4",
                128,
                f"node-tiny {'with' if lacks == 'dev-urandom' else 'without'} {lacks} (onn warns image.update.{lacks})",
                node=True,
                lacks=lacks,
            )
            for i, lacks in enumerate(NODE_ITEMS)
        ),
        # For bench/ only: livemedia-creator's default compressor, and an image past 2 GiB.
        ImageSpec(
            "demo-xz",
            "onn-node-demo-1.0-0.20261125.1",
            "demo",
            "liveos",
            "ext4",
            None,
            "demo-1.0, xz",
            comp="xz",
            default=False,
        ),
        ImageSpec(
            "big-zstd",
            "onn-big-1.0-0.1",
            "demo",
            "liveos",
            "ext4",
            None,
            "demo tree + copies of /usr: 2.2 GiB of files",
            bulk_bytes=2200 * MIB,
            default=False,
        ),
        ImageSpec(
            "big-xz",
            "onn-big-1.0-0.2",
            "demo",
            "liveos",
            "ext4",
            None,
            "big-zstd, xz",
            comp="xz",
            bulk_bytes=2200 * MIB,
            default=False,
        ),
    )
}

NVR_FILE = "usr/share/imgbase/build/meta/nvr"


# --------------------------------------------------------------------------
# tiny synthetic tree

TINY_KVER = "6.1.0-tiny"


def _write(path: Path, data: bytes | str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    os.chmod(path, mode)


def build_tiny_tree(root: Path, nvr: str) -> None:
    """Populate ``root`` with the small synthetic OS tree used by the tiny-* images.

    File contents are deterministic (seeded), so only the NVR-derived files
    differ between the tiny images.
    """
    rng = random.Random("onn-tiny-tree")
    name, version, release = nvr.rsplit("-", 2)
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    for d in ("dev", "proc", "sys", "run", "home", "root", "usr/bin", "var/tmp"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "tmp").mkdir(exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    os.chmod(root / "var/tmp", 0o1777)
    os.chmod(root / "root", 0o700)

    _write(root / NVR_FILE, nvr)
    _write(
        root / "etc/os-release",
        f'NAME="onn tiny test image"\nID={name}\nVERSION_ID={version}\n'
        f'VERSION="{version}-{release}"\nPRETTY_NAME="{nvr}"\n',
    )
    _write(root / "etc/hostname", "onn-tiny\n")
    _write(root / "etc/fstab", "")
    _write(root / "etc/kernel/cmdline", "console=ttyS0\n")
    _write(root / f"boot/vmlinuz-{TINY_KVER}", rng.randbytes(8 * 1024))
    _write(root / f"boot/initramfs-{TINY_KVER}.img", rng.randbytes(4 * 1024), 0o600)
    _write(root / f"boot/.vmlinuz-{TINY_KVER}.hmac", f"{rng.randbytes(32).hex()}  vmlinuz-{TINY_KVER}\n")
    _write(root / f"lib/modules/{TINY_KVER}/modules.dep", "")
    _write(root / "var/lib/onn-test/state", f"state of {nvr}\n")
    _write(root / "var/log/test.log", "tiny image log line\n")

    data = root / "usr/share/onn-test"
    _write(data / "hardlink-a", "one inode, two names\n")
    os.link(data / "hardlink-a", data / "hardlink-b")
    _write(data / "xattr", "has user.onn=test\n")
    os.setxattr(data / "xattr", "user.onn", b"test")
    with open(data / "sparse", "wb") as f:  # 1 MiB hole, then data
        f.seek(MIB)
        f.write(b"data after a 1 MiB hole\n" * 100)
    _write(data / "zeros", bytes(MIB))
    os.symlink("hardlink-a", data / "symlink")
    _write(data / "owned", "uid 1234 gid 5678 mode 0640\n", 0o640)
    os.chown(data / "owned", 1234, 5678)
    _write(data / "random-20M", rng.randbytes(20 * MIB))


# --------------------------------------------------------------------------
# demo Debian tree (debootstrap), cached on its own

DEBIAN_SUITE = "bookworm"
DEBOOTSTRAP_INCLUDE = ["systemd-sysv", "udev", "lvm2", "e2fsprogs", "xfsprogs", "util-linux", "kmod"]
# An EL Node runs SELinux enforcing: the demo tree has Debian's reference policy (SELINUXTYPE
# default), the tools that label by it (setfiles, restorecon, getenforce) and auditd, which
# writes to the /var/log/audit volume onn makes. Every file is labelled when an image is
# packed (label_tree); /etc/selinux/config says enforcing, as on EL. Debian's kernel starts
# SELinux only with `security=selinux` (its default LSM is AppArmor), so the demo boots
# without it unless a test asks for it.
SELINUX_APT = ["selinux-policy-default", "policycoreutils", "selinux-utils", "auditd"]
SELINUX_TYPE = "default"
# Installed with apt inside the chroot rather than by debootstrap, whose simple
# resolver may satisfy the kernel's "initramfs-tools | linux-initramfs-tool"
# with initramfs-tools (which conflicts with dracut).
APT_INSTALL = ["linux-image-amd64", "dracut", "shim-signed", "grub-efi-amd64-signed", *SELINUX_APT]
# What the host's imgbased imports (rpm, systemd.journal) and calls (rpm, rsync, grub2-editenv,
# getenforce, restorecon; pkill at `layout --init`) that a minbase tree lacks: the compat images'
# additions.
COMPAT_APT = [
    "python3",
    "python3-rpm",
    "python3-systemd",
    "rpm",
    "rsync",
    "grub-common",
    "selinux-utils",
    "policycoreutils",
    "procps",
]
COMPAT_STANDINS = SCRIPT.parents[1] / "guest" / "imgbased-standins"
#: Directories an EL Node image has and a Debian tree lacks, where imgbased's `layout --init`
#: makes a volume of each (its NIST layout; kexec-tools makes /var/crash on EL).
EL_DIRS = ("var/crash",)
LIFECYCLE_STANDINS = [COMPAT_STANDINS / "grubby", *sorted((SCRIPT.parents[1] / "lifecycle" / "standins").iterdir())]
DRACUT_MODULES = ["lvm"]
DRACUT_DRIVERS = ["virtio_blk", "virtio_pci", "virtio_scsi"]
DRACUT_FILESYSTEMS = ["ext4", "xfs"]

# The test image's initramfs is generic (not host-only: it is made in the UML guest or the
# build's chroot and boots in qemu) but only for the machines the tests boot: `drivers`
# replaces dracut's default set (every storage, USB, HID and serial driver, 800 modules, 40 MiB)
# with virtio's, and `filesystems` names the roots' file systems; dracut's lvm, dm and qemu
# modules add theirs. 19 MiB and 3.4 times faster to make, which every dracut run of the tiers
# feels: the host's initramfs onn makes in each install, imgbased's in each update, Anaconda's.
DRACUT_CONF = f"""\
# onn test image: generic (non-hostonly) initramfs able to boot from LVM on virtio.
hostonly="no"
add_dracutmodules+=" {" ".join(DRACUT_MODULES)} "
drivers+=" {" ".join(DRACUT_DRIVERS)} "
filesystems+=" {" ".join(DRACUT_FILESYSTEMS)} "
"""

KERNEL_CMDLINE = "console=ttyS0 systemd.show_status=1\n"

# A TCG guest on a busy machine (the boot tier runs three qemus on two cores) can take minutes
# from udev's coldplug to lvm2's event activation of the data volumes, past systemd's 90 s for a
# device; systemd 252 takes that default only from system.conf (no kernel argument until 254),
# so the test image's system.conf.d raises it, as tests/support/boot.py's kernel argument
# raises every other start job's.
SYSTEMD_TEST_CONF = "# onn test image: TCG boots on a busy machine\n[Manager]\nDefaultDeviceTimeoutSec=900s\n"

BOOT_REPORT_UNIT = """\
[Unit]
Description=onn test image: report the boot result on the serial console and power off
After=multi-user.target

[Service]
Type=oneshot
# The script detaches a worker and returns at once (see the script); keep the
# unit active so that worker is not killed when ExecStart exits.
RemainAfterExit=yes
ExecStart=/usr/local/sbin/onn-boot-report

[Install]
WantedBy=multi-user.target
"""

BOOT_REPORT_SCRIPT = """\
#!/bin/sh
# onn test image probe: once boot has finished, print one line
#   ONN-BOOT-REPORT state=... root=... lv=VG/LV target=multi-user:...
# to the serial port (and the console, if that is another device), then power off.
#
# Started by onn-boot-report.service.  That unit's own start job belongs to the
# boot transaction, so "systemctl is-system-running --wait" called from within
# it would wait for itself forever; hence the wait runs in a detached worker.
if [ "${1:-}" != "--worker" ]; then
    setsid "$0" --worker </dev/null >/dev/null 2>&1 &
    exit 0
fi

state=$(timeout 900 systemctl is-system-running --wait 2>/dev/null)
[ -n "$state" ] || state=unknown
root=$(findmnt -no SOURCE / 2>/dev/null)
[ -n "$root" ] || root=unknown
lv=none
set -- $(lvs --noheadings -o vg_name,lv_name "$root" 2>/dev/null)
[ $# -eq 2 ] && lv="$1/$2"
target=$(systemctl is-active multi-user.target 2>/dev/null)
[ -n "$target" ] || target=unknown

# Which initramfs brought the system up: a host's own says so in /run (tests/guest's host
# dracut module), the image's says nothing.
initramfs=$(cat /run/onn-initramfs 2>/dev/null)
[ -n "$initramfs" ] || initramfs=image

# SELinux as the kernel runs it, and each AVC denial of this boot on a line of its own (the
# kernel's ring buffer holds those before auditd started, auditd's log the rest; one
# record each, by its audit serial).
selinux=$(getenforce 2>/dev/null)
[ -n "$selinux" ] || selinux=none
{ dmesg 2>/dev/null; cat /var/log/audit/audit.log 2>/dev/null; } | grep 'avc: *denied' |
    awk '{ i = index($0, "audit("); id = substr($0, i, index(substr($0, i), ")")) }; !seen[id]++' > /run/onn-avc
avc=0
while IFS= read -r denial; do
    avc=$((avc + 1))
    echo "ONN-AVC $denial" > /dev/ttyS0 2>/dev/null
done < /run/onn-avc

line="ONN-BOOT-REPORT state=$state root=$root lv=$lv target=multi-user:$target initramfs=$initramfs"
line="$line selinux=$selinux avc=$avc"
echo "$line" > /dev/ttyS0 2>/dev/null
case " $(cat /sys/class/tty/console/active 2>/dev/null) " in
    *" ttyS0 "*) ;;
    *) echo "$line" > /dev/console 2>/dev/null ;;
esac
sync
# A lifecycle image goes on from here (tests/lifecycle: the next step of the test).
[ -x /usr/local/sbin/onn-after-report ] && exec /usr/local/sbin/onn-after-report
systemctl poweroff --force
"""

POLICY_RC_D = "#!/bin/sh\n# no daemons while building the image\nexit 101\n"


def demo_base_params() -> dict[str, Any]:
    return {
        "what": "demo-base-tree",
        "suite": DEBIAN_SUITE,
        "variant": "minbase",
        "include": DEBOOTSTRAP_INCLUDE,
        "apt_install": APT_INSTALL,
        "system_conf": SYSTEMD_TEST_CONF,
    }


def ensure_demo_base() -> Path:
    """The cached Debian root tree shared by the demo images (everything but the NVR)."""
    return _cached_tree("demo-base", demo_base_params(), build_demo_base)


def _standins(paths: Sequence[Path]) -> dict[str, str]:
    return {str(p.relative_to(SCRIPT.parents[1])): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def compat_base_params() -> dict[str, Any]:
    standins = _standins(sorted(COMPAT_STANDINS.iterdir()))
    return {"what": "compat-base-tree", "demo": demo_base_params(), "apt_install": COMPAT_APT, "standins": standins}


def ensure_compat_base() -> Path:
    """The cached tree of the compat images: the demo tree and what imgbased needs."""
    return _cached_tree("compat-base", compat_base_params(), build_compat_base)


def lifecycle_base_params() -> dict[str, Any]:
    standins = _standins(LIFECYCLE_STANDINS)
    return {"what": "lifecycle-base-tree", "demo": demo_base_params(), "apt_install": COMPAT_APT, "standins": standins}


def ensure_lifecycle_base() -> Path:
    """The cached tree of the lifecycle images: the demo tree and what imgbased needs, booted."""
    return _cached_tree("lifecycle-base", lifecycle_base_params(), build_lifecycle_base)


def _cached_tree(prefix: str, params: dict[str, Any], build: Callable[[Path], None]) -> Path:
    key = cache_key(params)
    final = cache_root() / "trees" / f"{prefix}-{key}"
    if final.is_dir():
        log(f"{prefix} tree cached: {final}")
        return final
    with cache_lock():
        if final.is_dir():
            return final
        work = work_dir(f"{prefix}-{key}")
        try:
            root = work / "root"
            build(root)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.rename(root, final)
        finally:
            safe_rmtree(work)
        prune_stale(final.parent, prefix, final.name)
    return final


def prune_stale(folder: Path, name: str, keep: str) -> None:
    """Remove what an older build script or spec left under ``folder`` for ``name`` (another key
    than ``keep``'s): a tree is most of a GiB, an image a quarter, and a CI machine's disk is not
    a cache's to fill. Called under the cache lock, after the new entry is complete."""
    stale = re.compile(rf"{re.escape(name)}-[0-9a-f]{{12}}(\.squashfs\.img)?(\..*)?")
    for entry in folder.iterdir():
        if entry.name.startswith(keep) or not stale.fullmatch(entry.name):
            continue
        log(f"removing the stale cache entry {entry}")
        if entry.is_dir():
            safe_rmtree(entry)
        else:
            entry.unlink(missing_ok=True)


def build_demo_base(root: Path) -> None:
    t = time.monotonic()
    log(f"debootstrap {DEBIAN_SUITE} minbase into {root} (about a minute)")
    try:
        run(
            [
                tool("debootstrap"),
                "--variant=minbase",
                "--include=" + ",".join(DEBOOTSTRAP_INCLUDE),
                DEBIAN_SUITE,
                str(root),
                debian_mirror(DEBIAN_SUITE),
            ]
        )
    except CommandError as exc:
        dlog = root / "debootstrap" / "debootstrap.log"
        if dlog.exists():
            raise BuildError(f"{exc}\n--- debootstrap.log tail ---\n{_tail(dlog.read_text(errors='replace'))}") from exc
        raise

    etc = root / "etc"
    _write(root / "usr/sbin/policy-rc.d", POLICY_RC_D, 0o755)
    _write(etc / "dracut.conf.d/90-onn.conf", DRACUT_CONF)
    with chroot_mounts(root):
        log(f"apt-get install {' '.join(APT_INSTALL)} (kernel hook skipped via INITRD=No)")
        run_chroot(root, ["apt-get", "update", "-q"])
        run_chroot(
            root,
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *APT_INSTALL],
            extra_env={"INITRD": "No"},
        )
        run_chroot(root, ["apt-get", "clean"])
        for kver in kernel_versions(root):
            log(f"dracut for {kver}, as the image's dracut.conf.d says (about 15 s)")
            run_chroot(root, ["dracut", "--force", f"/boot/initrd.img-{kver}", kver])
            check_initramfs(root, kver, f"/boot/initrd.img-{kver}")
            # /initrd.img -> boot/initrd.img-<kver>, as the skipped hook would do
            run_chroot(root, ["linux-update-symlinks", "install", kver, f"/boot/vmlinuz-{kver}"])

    add_efi_files(root)
    log("configuring the demo root")
    (root / "usr/sbin/policy-rc.d").unlink()
    (etc / "resolv.conf").unlink(missing_ok=True)  # debootstrap copied the host's
    _write(etc / "hostname", "onn-demo\n")
    _write(etc / "hosts", "127.0.0.1\tlocalhost\n127.0.1.1\tonn-demo\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    _write(etc / "fstab", "")
    _write(etc / "kernel/cmdline", KERNEL_CMDLINE)
    _write(etc / "machine-id", "", 0o444)  # first boot of each installation gets its own id
    _write(etc / "selinux/config", f"SELINUX=enforcing\nSELINUXTYPE={SELINUX_TYPE}\n")
    _write(etc / "systemd/system.conf.d/90-onn-test-timeouts.conf", SYSTEMD_TEST_CONF)
    (root / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    for lists in (root / "var/lib/apt/lists").glob("*_*"):
        lists.unlink()  # index files; "apt-get update" restores them
    _write(root / "usr/local/sbin/onn-boot-report", BOOT_REPORT_SCRIPT, 0o755)
    _write(etc / "systemd/system/onn-boot-report.service", BOOT_REPORT_UNIT)
    run_chroot(root, ["systemctl", "enable", "onn-boot-report.service"])
    if not (etc / "systemd/system/multi-user.target.wants/onn-boot-report.service").is_symlink():
        raise BuildError("systemctl enable did not link onn-boot-report.service into multi-user.target")
    log(f"demo base tree built in {time.monotonic() - t:.0f}s")


# The ESP's GRUB configuration in the demo image. Debian's GRUB has no blscfg, so it cannot boot
# a BLS entry: it says where it started from and stops (tests/boot's UEFI boot waits for this).
ESP_GRUB_CFG = """\
echo "ONN-ESP-GRUB started from the EFI system partition"
halt
"""


def add_efi_files(root: Path) -> None:
    """/boot/efi/EFI as an EL image's build leaves it: shim, GRUB and MokManager (Debian's
    signed builds) in the distribution's directory and in the BOOT fallback, shim as
    BOOTX64.EFI, and GRUB's configuration."""
    signed = {
        "shimx64.efi": "usr/lib/shim/shimx64.efi.signed",
        "mmx64.efi": "usr/lib/shim/mmx64.efi.signed",
        "grubx64.efi": "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed",
    }
    efi = root / "boot/efi/EFI"
    for name, src in signed.items():
        data = (root / src).read_bytes()
        _write(efi / "debian" / name, data)
        _write(efi / "BOOT" / ("BOOTX64.EFI" if name == "shimx64.efi" else name), data)
    _write(efi / "debian/grub.cfg", ESP_GRUB_CFG)


def build_compat_base(root: Path) -> None:
    """The demo tree with what the host's imgbased imports and calls, and the three stand-ins
    of tests/guest/imgbased-standins (grubby, systemctl, dracut) in /usr/local/sbin, ahead of
    any real one on PATH: imgbased runs dracut in the layer it makes from the next image, so
    they have to be in every image. The kernel's modules are left out (this image is updated,
    never booted)."""
    build_imgbased_tree(root, sorted(COMPAT_STANDINS.iterdir()))
    for kernel in (root / "usr/lib/modules").glob("*/kernel"):
        shutil.rmtree(kernel)


def build_lifecycle_base(root: Path) -> None:
    """The demo tree with what the host's imgbased imports and calls, booted by `make
    lifecycle`: the real systemctl and dracut; stand-ins only for EL's grubby (its BLS subset),
    dracut's multipath module (tests/lifecycle/standins/dracut leaves it out and runs the real
    dracut) and the VDSM units imgbased stops around an update, and the step that boot's report
    hands over to (onn-after-report)."""
    build_imgbased_tree(root, LIFECYCLE_STANDINS)


def build_imgbased_tree(root: Path, standins: Sequence[Path]) -> None:
    """The demo tree with what imgbased imports and calls, `standins` in /usr/local/sbin."""
    run([tool("cp"), "-a", "--reflink=auto", str(ensure_demo_base()), str(root)])
    _write(root / "usr/sbin/policy-rc.d", POLICY_RC_D, 0o755)
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
    with chroot_mounts(root):
        log(f"apt-get install {' '.join(COMPAT_APT)}")
        run_chroot(root, ["apt-get", "update", "-q"])
        run_chroot(root, ["apt-get", "install", "-y", "-q", "--no-install-recommends", *COMPAT_APT])
        run_chroot(root, ["apt-get", "clean"])
    (root / "usr/sbin/policy-rc.d").unlink()
    (root / "etc/resolv.conf").unlink()
    for lists in (root / "var/lib/apt/lists").glob("*_*"):
        lists.unlink()
    for p in standins:
        if p.suffix == ".service":
            _write(root / "usr/lib/systemd/system" / p.name, p.read_bytes())
        else:
            _write(root / "usr/local/sbin" / p.name, p.read_bytes(), 0o755)
    # EL's names: grub2-tools' editenv and its link to the BIOS grub.cfg, grubby's BLS mode
    # marker (imgbased edits entry files itself only when it is there).
    os.symlink("grub-editenv", root / "usr/bin/grub2-editenv")
    os.symlink("../boot/grub2/grub.cfg", root / "etc/grub2.cfg")
    _write(root / "usr/libexec/grubby/grubby-bls", '#!/bin/sh\nexec grubby "$@"\n', 0o755)
    # Debian's rpm keeps its database elsewhere; EL's, and imgbased, read /usr/share/rpm.
    _write(root / "etc/rpm/macros.dbpath", "%_dbpath /usr/share/rpm\n")
    for rel in EL_DIRS:
        (root / rel).mkdir(mode=0o755, exist_ok=True)


def add_node_items(root: Path, nvr: str, lacks: str | None, work: Path) -> None:
    """What the host's imgbased needs of an image to update it, but for `lacks`: stand-ins
    where a Debian tree has no such thing (a CentOS release CPE, since imgbased updates only
    Fedora, CentOS and RHEL; a `kernel` package in an rpm database that owns the kernel and an
    initramfs named as EL names it). The name item is the NVR's, chosen by the image spec."""
    etc = root / "etc"
    if lacks == "nvr-space":
        _write(root / NVR_FILE, nvr + "\n")
    if lacks != "release-cpe":
        _write(etc / "system-release-cpe", "cpe:/o:centos:centos:9\n")
    if lacks != "default-grub":
        _write(etc / "default/grub", 'GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX=""\nGRUB_DISABLE_RECOVERY="true"\n')
    if lacks != "sshd-config":
        _write(etc / "ssh/sshd_config", "# sshd's defaults\n")
    kvers = kernel_versions(root)
    for kver in kvers:
        initramfs = root / f"boot/initramfs-{kver}.img"
        if not initramfs.exists():
            os.link(root / f"boot/initrd.img-{kver}", initramfs)
    if lacks != "rpmdb":
        add_kernel_rpm(root, kvers, work)
    # debootstrap makes device nodes in /dev; the booted system mounts a devtmpfs there anyway.
    (root / "dev/urandom").unlink(missing_ok=True)
    if lacks == "dev-urandom":
        (root / "dev").mkdir(exist_ok=True)
        os.mknod(root / "dev/urandom", 0o666 | stat.S_IFCHR, os.makedev(1, 9))
    if lacks != "factory-etc":
        # Last: the factory copy of /etc is /etc as the image ships it.
        factory = root / "usr/share/factory"
        factory.mkdir(parents=True, exist_ok=True)
        run([tool("cp"), "-a", str(etc), str(factory / "etc")])


def add_kernel_rpm(root: Path, kvers: list[str], work: Path) -> None:
    """An rpm database in /usr/share/rpm (where imgbased reads it) holding a `kernel` package
    that owns each /boot/vmlinuz-<v> and /boot/initramfs-<v>.img: recorded with --justdb, the
    files stay the image's own."""
    top = work / "rpmbuild"
    files = "".join(f"/boot/vmlinuz-{k}\n/boot/initramfs-{k}.img\n" for k in kvers)
    touches = "".join(f"touch %{{buildroot}}/boot/vmlinuz-{k} %{{buildroot}}/boot/initramfs-{k}.img\n" for k in kvers)
    spec = top / "kernel.spec"
    _write(
        spec,
        "Name: kernel\nVersion: " + kvers[0].replace("-", "_") + "\nRelease: 1\nLicense: GPL-2.0-only\n"
        "Summary: onn's test stand-in: owns the image's kernel and initramfs\nBuildArch: noarch\n"
        "%description\nonn's test stand-in of the kernel package.\n"
        "%install\nmkdir -p %{buildroot}/boot\n" + touches + "%files\n" + files,
    )
    defines = ["--define", f"_topdir {top}", "--define", "_build_id_links none"]
    run([tool("rpmbuild"), "-bb", "--quiet", *defines, str(spec)])
    (rpm,) = (top / "RPMS/noarch").glob("kernel-*.rpm")
    db = root / "usr/share/rpm"
    db.mkdir(parents=True, exist_ok=True)
    run([tool("rpm"), "--dbpath", str(db), "--initdb"])
    run([tool("rpm"), "--dbpath", str(db), "-i", "--justdb", "--nodeps", "--noscripts", str(rpm)])


def selinux_file_contexts(root: Path) -> str:
    """The file contexts of the policy a tree's /etc/selinux/config names (a path in the tree)."""
    config = (root / "etc/selinux/config").read_text()
    kind = next(line.split("=", 1)[1].strip() for line in config.splitlines() if line.startswith("SELINUXTYPE="))
    return f"/etc/selinux/{kind}/contexts/files/file_contexts"


def label_tree(root: Path) -> None:
    """Give every file of a tree the SELinux label its own policy names, with its own setfiles
    (as imgbased labels each layer it makes). mkfs.ext4 -d keeps them (check_labelled)."""
    fc = selinux_file_contexts(root)
    log(f"setfiles {fc}: labelling the tree")
    # mkfs.ext4 -d makes lost+found unless the tree has one: it takes this one, labelled.
    (root / "lost+found").mkdir(mode=0o700, exist_ok=True)
    # setfiles sets labels through /proc/self/fd (libselinux 3.4); nothing else is mounted, so
    # nothing but the tree is labelled.
    with mounted(root / "proc", "-t", "proc", "proc"):
        run_chroot(root, ["setfiles", "-F", "-e", "/proc", fc, "/"])


def check_labelled(fs_image: Path, paths: Sequence[str]) -> None:
    """Fail unless each path of an ext4 image carries an SELinux label (read with debugfs,
    without mounting it)."""
    for path in paths:
        out = run([tool("debugfs"), "-R", f"ea_get {path} security.selinux", str(fs_image)]).stdout
        if "system_u:" not in out:
            raise BuildError(f"{fs_image}: {path} has no SELinux label ({out.strip() or 'no attribute'})")


def check_initramfs(root: Path, kver: str, initramfs: str) -> None:
    """Fail unless the initramfs has dracut's lvm module, the virtio drivers and the roots' file systems."""
    out = run_chroot(root, ["lsinitrd", "--mod", initramfs])
    mods = set(out.partition("dracut modules:")[2].partition("=====")[0].split())
    missing = [m for m in DRACUT_MODULES if m not in mods]
    listing = run_chroot(root, ["lsinitrd", initramfs])
    builtin = (root / f"usr/lib/modules/{kver}/modules.builtin").read_text()
    for drv in DRACUT_DRIVERS + DRACUT_FILESYSTEMS:
        names = {drv, drv.replace("_", "-")}
        in_image = any(f"/{n}.ko" in listing for n in names)
        if not in_image and not any(f"/{n}.ko" in builtin for n in names):
            missing.append(drv)
    if missing:
        raise BuildError(f"{initramfs} lacks {', '.join(missing)}")


# --------------------------------------------------------------------------
# packing


def tree_bytes(root: Path) -> int:
    """Allocated bytes of a tree, hard links counted once (like du)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for n in [".", *dirnames, *filenames]:
            st = os.lstat(os.path.join(dirpath, n))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def make_ext4(tree: Path, image: Path, size: int) -> None:
    with open(image, "wb") as f:
        f.truncate(size)
    # -b 4096: mke2fs would choose 1 KiB blocks for "small" filesystems.
    run([tool("mkfs.ext4"), "-q", "-F", "-b", "4096", "-d", str(tree), str(image)])


def make_xfs(tree: Path, image: Path, size: int, work: Path) -> None:
    with open(image, "wb") as f:
        f.truncate(size)
    run([tool("mkfs.xfs"), "-q", "-f", str(image)])
    mnt = work / "mnt"
    mnt.mkdir()
    with loop_device(image) as dev, mounted(mnt, "-t", "xfs", dev):
        run([tool("cp"), "-a", f"{tree}/.", f"{mnt}/"])


# zstd level: on the demo rootfs.img (2 cores) level 6 takes ~4 s for 230 MiB,
# mksquashfs' default (15) ~60 s for 217 MiB.
SQUASHFS_ZSTD_LEVEL = 6


def mksquashfs(src: Path, out: Path, comp: str) -> None:
    level = ["-Xcompression-level", str(SQUASHFS_ZSTD_LEVEL)] if comp == "zstd" else []
    run([tool("mksquashfs"), str(src), str(out), "-comp", comp, *level, "-noappend", "-no-progress", "-quiet"])


def add_bulk(tree: Path, target: int) -> None:
    """Copies of /usr under /opt/bulk until the tree holds `target` bytes: real binaries and
    text, compressing like an OS does (mksquashfs dedups identical files, but these are blocks
    of one rootfs.img)."""
    n = 0
    while tree_bytes(tree) < target:
        n += 1
        (tree / "opt/bulk").mkdir(parents=True, exist_ok=True)
        run([tool("cp"), "-a", "--reflink=auto", str(tree / "usr"), str(tree / f"opt/bulk/{n}")])


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MIB):
            h.update(chunk)
    return h.hexdigest()


def kernel_versions(root: Path) -> list[str]:
    return sorted(p.name[len("vmlinuz-") :] for p in (root / "boot").glob("vmlinuz-*"))


def find_initramfs(root: Path, kver: str) -> str | None:
    for rel in (f"boot/initramfs-{kver}.img", f"boot/initrd.img-{kver}"):
        if (root / rel).is_file():
            return "/" + rel
    return None


# --------------------------------------------------------------------------
# public API


def image_path(name: str) -> Path:
    spec = _spec(name)
    return cache_root() / "images" / f"{name}-{cache_key(spec.params())}.squashfs.img"


def _spec(name: str) -> ImageSpec:
    try:
        return IMAGES[name]
    except KeyError:
        raise ValueError(f"unknown image {name!r}; known: {', '.join(IMAGES)}") from None


def _sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def image_facts(name: str, *, force: bool = False) -> dict[str, Any]:
    """Facts of an image (building it if needed), including its "path"."""
    path = ensure_image(name, force=force)
    facts: dict[str, Any] = json.loads(_sidecar(path, ".json").read_text())
    facts["path"] = str(path)
    return facts


def ensure_image(name: str, *, force: bool = False) -> Path:
    """Return the path of image ``name``, building it unless cached."""
    spec = _spec(name)
    path = image_path(name)
    if not force and _complete(path):
        log(f"{name}: cached {path}")
        return path
    if os.geteuid() != 0:
        raise BuildError(f"building {name} needs root (loop devices, chroot, chown)")
    with cache_lock():
        if not force and _complete(path):
            log(f"{name}: cached {path}")
            return path
        t = time.monotonic()
        log(f"{name}: building {path.name}")
        _build(spec, path)
        log(f"{name}: built in {time.monotonic() - t:.0f}s, {path.stat().st_size / MIB:.1f} MiB")
        prune_stale(path.parent, name, path.name)
    return path


def _complete(path: Path) -> bool:
    return path.is_file() and _sidecar(path, ".json").is_file() and _sidecar(path, ".sha256").is_file()


def _build(spec: ImageSpec, path: Path) -> None:
    t = time.monotonic()
    key = cache_key(spec.params())
    bases = {"demo": ensure_demo_base, "compat": ensure_compat_base, "lifecycle": ensure_lifecycle_base}
    base = bases.get(spec.source, lambda: None)()
    work = work_dir(path.name)
    try:
        tree = work / "tree"
        if base is not None:
            log(f"{spec.name}: copying the {spec.source} base tree")
            run([tool("cp"), "-a", "--reflink=auto", str(base), str(tree)])
            _write(tree / NVR_FILE, spec.nvr)
            if spec.bulk_bytes:
                log(f"{spec.name}: adding copies of /usr up to {spec.bulk_bytes // MIB} MiB")
                add_bulk(tree, spec.bulk_bytes)
        else:
            build_tiny_tree(tree, spec.nvr)
        if spec.node:
            add_node_items(tree, spec.nvr, spec.lacks, work)
        if base is not None:
            label_tree(tree)  # last: every file the tree will have

        kvers = kernel_versions(tree)
        facts: dict[str, Any] = {
            "name": spec.name,
            "nvr": (tree / NVR_FILE).read_text().strip(),
            "kernel_versions": kvers,
            "initramfs": find_initramfs(tree, kvers[-1]) if kvers else None,
            "fs": spec.fs,
            "layout": spec.layout,
            "tree_bytes": tree_bytes(tree),
        }

        if spec.layout == "liveos":
            squash_src = work / "squash"
            (squash_src / "LiveOS").mkdir(parents=True)
            os.chmod(squash_src, 0o755)
            rootfs = squash_src / "LiveOS" / "rootfs.img"
            if spec.fs_size_mib is not None:
                size = spec.fs_size_mib * MIB
            else:
                size = -(-int(facts["tree_bytes"] * 1.25 + 64 * MIB) // MIB) * MIB
            log(f"{spec.name}: {spec.fs} rootfs.img of {size // MIB} MiB")
            if spec.fs == "ext4":
                make_ext4(tree, rootfs, size)
                if base is not None:
                    check_labelled(rootfs, ("/", "/lost+found", "/etc/fstab", "/usr/bin/bash", "/var/log"))
            elif spec.fs == "xfs":
                make_xfs(tree, rootfs, size, work)
            else:
                raise BuildError(f"{spec.name}: layout liveos needs fs ext4 or xfs")
            facts["rootfs_size"] = rootfs.stat().st_size
        else:
            squash_src = tree
            facts["rootfs_size"] = None

        log(f"{spec.name}: mksquashfs -comp {spec.comp}")
        tmp_img = _sidecar(path, f".tmp{os.getpid()}")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            mksquashfs(squash_src, tmp_img, spec.comp)
            digest = sha256_file(tmp_img)
            facts.update(
                {
                    "sha256": digest,
                    "image_size": tmp_img.stat().st_size,
                    "build_seconds": round(time.monotonic() - t, 1),
                    "key": key,
                }
            )
            _atomic_write(_sidecar(path, ".sha256"), digest + "\n")
            _atomic_write(_sidecar(path, ".json"), json.dumps(facts, indent=2, sort_keys=True) + "\n")
            os.rename(tmp_img, path)  # last: the image's presence means "complete"
        finally:
            tmp_img.unlink(missing_ok=True)
    finally:
        safe_rmtree(work)


def _atomic_write(path: Path, text: str) -> None:
    tmp = _sidecar(path, f".tmp{os.getpid()}")
    tmp.write_text(text)
    os.rename(tmp, path)


# --------------------------------------------------------------------------
# CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build (or reuse cached) onn test images.")
    parser.add_argument("names", nargs="*", metavar="NAME", help="images to build (default: all)")
    parser.add_argument("--list", action="store_true", help="list image names and exit")
    parser.add_argument("--json", action="store_true", help="print {name: facts} as JSON")
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    args = parser.parse_args(argv)

    if args.list:
        for spec in IMAGES.values():
            print(f"{spec.name}\t{spec.description}")
        return 0
    names = args.names or [n for n, spec in IMAGES.items() if spec.default]
    os.environ.update(apt_proxy_env())  # debootstrap and apt in the chroot fetch as apt does
    try:
        for n in names:
            _spec(n)
        if args.json:
            out: dict[str, Any] = {}
            for n in names:
                out[n] = image_facts(n, force=args.force)
            print(json.dumps(out, indent=2, sort_keys=True))
        else:
            for n in names:
                print(f"{n} {ensure_image(n, force=args.force)}", flush=True)
    except (BuildError, NoMirror, ValueError) as exc:
        print(f"build.py: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
