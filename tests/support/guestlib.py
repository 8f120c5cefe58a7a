"""Helpers for code that runs inside the User-Mode-Linux guest (tests/support/uml.py) against real
lvm2: programs run by argv, lvm reports, loop-attached sparse disks, read-only mounts."""

from __future__ import annotations

import contextlib
import hashlib
import json
import lzma
import os
import subprocess
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

from boot import FIRMWARE_BOOT, FIRMWARE_ESP, FIRMWARE_TABLE
from programs import run  # the one runner; the tests import it from here too

GIB = 1 << 30


def onn(*args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run([os.environ["ONN_BIN"], *args], check=check, env=env)


@contextlib.contextmanager
def stopped_onn(argv: list[str], point: int | str) -> Iterator[subprocess.Popen[str]]:
    """onn started with `argv`, once it has stopped itself at fault point `point` (a number, or
    text its description holds: rust/onn-core/src/ground/fault.rs); killed on the way out if it
    is still there."""
    proc = subprocess.Popen(
        [os.environ["ONN_BIN"], *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "ONN_STOP_AT" if isinstance(point, int) else "ONN_STOP_WHEN": str(point), "LC_ALL": "C"},
    )
    try:
        deadline = time.monotonic() + 300
        while Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T":
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "onn did not reach its stop point"
            time.sleep(0.2)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()


def pool_used(pool: str = "onn/pool00") -> tuple[int, float]:
    """A thin pool's size in bytes and the percentage of its data in use."""
    row = json.loads(
        run(
            ["lvm", "lvs", "--reportformat", "json", "--units", "b", "--nosuffix", "-o", "lv_size,data_percent", pool]
        ).stdout
    )["report"][0]["lv"][0]
    return int(row["lv_size"]), float(row["data_percent"])


def lvs(vg: str = "onn") -> dict[str, dict[str, str]]:
    """LVs of a VG by name, from lvm's JSON report."""
    fields = (
        "lv_name,lv_attr,lv_size,pool_lv,origin,lv_tags,lv_profile,lv_metadata_size,lv_skip_activation,lv_permissions"
    )
    out = run(
        [
            "lvm",
            "lvs",
            "--reportformat",
            "json",
            "--units",
            "b",
            "--nosuffix",
            "-o",
            fields,
            vg,
        ]
    ).stdout
    return {row["lv_name"]: row for row in json.loads(out)["report"][0]["lv"]}


def assert_imgbased_layout(base: str, layer: str, volumes: list[str]) -> dict[str, dict[str, str]]:
    lv = lvs()
    assert "imgbased:vg" in vg_tags()
    pool = lv["pool00"]
    assert pool["lv_attr"].startswith("t") and pool["lv_tags"] == "imgbased:pool"
    assert pool["lv_profile"] == "imgbased-pool"
    assert int(pool["lv_metadata_size"]) >= GIB
    assert lv[base]["lv_tags"] == "imgbased:base"
    assert lv[base]["lv_permissions"] == "read-only"
    assert lv[base]["lv_skip_activation"] == "skip activation"
    assert lv[layer]["lv_tags"] == "imgbased:layer"
    assert lv[layer]["lv_permissions"] == "writeable"
    assert lv[layer]["lv_skip_activation"] == ""
    assert lv[layer]["origin"] == base
    for v in volumes:
        assert lv[v]["lv_tags"] == "imgbased:volume" and lv[v]["pool_lv"] == "pool00"
    return lv


def shell_var(path: Path, key: str) -> str | None:
    """A variable of a shell-style file, read the way imgbased's ShellVarFile reads it (the text
    after the first `=`, quotes stripped); None when the file or the variable is missing."""
    return shell_var_text(path.read_text(), key) if path.exists() else None


def shell_var_text(text: str, key: str) -> str | None:
    """A variable of a shell-style text (shell_var)."""
    found = None
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            if k == key:
                found = v.strip('"').strip("'")
    return found


def vg_tags(vg: str = "onn") -> list[str]:
    out = run(["lvm", "vgs", "--reportformat", "json", "-o", "vg_tags", vg]).stdout
    return json.loads(out)["report"][0]["vg"][0]["vg_tags"].split(",")


def blkid(dev: str, key: str) -> str:
    """A value from a direct probe; empty when the device holds no signature (blkid exit 2)."""
    proc = run(["blkid", "-p", "-o", "value", "-s", key, dev], check=False)
    assert proc.returncode in (0, 2), proc.stderr
    return proc.stdout.strip()


def sparse_digest(path: Path) -> str:
    """SHA-256 over a disk file's size and data regions (holes read as zeros either way, so
    equal digests mean byte-identical files)."""
    h = hashlib.sha256()
    size = path.stat().st_size
    h.update(str(size).encode())
    with path.open("rb") as f:
        fd = f.fileno()
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            f.seek(start)
            h.update(start.to_bytes(8, "little"))
            left = end - start
            while left:
                chunk = f.read(min(left, 8 << 20))
                if not chunk:
                    break
                h.update(chunk)
                left -= len(chunk)
            pos = end
    return h.hexdigest()


class Disks:
    """Sparse disk files attached as loop devices; detached (and LVM deactivated) at the end."""

    def __init__(self, where: Path) -> None:
        # Per-test disks live in the guest's tmpfs (fast, sparse-aware); `keep` is for disks
        # that must outlive the guest (they then go to the shared work directory).
        self.where = where
        self.keep = False
        self.files: list[Path] = []
        self.loops: list[str] = []

    def add(self, name: str, size: int, sector_size: int = 512) -> str:
        """A disk of `size` bytes with logical sectors of `sector_size` (4096: a 4Kn disk)."""
        path = self.where / f"{name}.img"
        path.unlink(missing_ok=True)
        with path.open("wb") as f:
            f.truncate(size)
        self.files.append(path)
        loop = run(["losetup", "--sector-size", str(sector_size), "--find", "--show", str(path)]).stdout.strip()
        self.loops.append(loop)
        return loop

    def partitioned(self, name: str, size: int, table: str) -> str:
        """A disk partitioned by an sfdisk script, attached with its partitions (`<loop>pN`)."""
        path = self.where / f"{name}.img"
        path.unlink(missing_ok=True)
        with path.open("wb") as f:
            f.truncate(size)
        self.files.append(path)
        run(["sfdisk", "-q", str(path)], input=table)
        loop = run(["losetup", "--partscan", "--find", "--show", str(path)]).stdout.strip()
        self.loops.append(loop)
        return loop

    def firmware_disk(self, name: str = "disk", fs: str = "ext4") -> tuple[str, str, str]:
        """A disk a machine's firmware starts (boot.FIRMWARE_TABLE): its device, its ESP (FAT)
        and its /boot. The EFI loaders come from the image (`onn install --efi`); GRUB for BIOS
        and its configuration from the boot tier's stand-in of the bootloader step
        (bootloader.py)."""
        disk = self.partitioned(name, 2 * GIB, FIRMWARE_TABLE)
        return (disk, *format_firmware_disk(f"{disk}p", fs))

    def boot(self, size: int = GIB, fs: str = "ext4") -> str:
        dev = self.add("boot", size)
        run([f"mkfs.{fs}", "-q", dev] if fs == "ext4" else ["mkfs.xfs", "-q", dev])
        return dev

    @staticmethod
    def _partitions(loop: str) -> list[str]:
        name = Path(loop).name
        return [f"/dev/{p.name}" for p in Path("/sys/block", name).glob(f"{name}p*")]

    def digests(self) -> dict[str, str]:
        run(["sync"])
        return {p.name: sparse_digest(p) for p in self.files}

    def release(self) -> None:
        # Deactivate every VG that lives on our loops, then detach them.
        out = run(
            ["lvm", "pvs", "--reportformat", "json", "-o", "pv_name,vg_name"],
            check=False,
        ).stdout
        vgs = set()
        if out:
            for row in json.loads(out)["report"][0]["pv"]:
                on_ours = any(row["pv_name"] in (loop, *self._partitions(loop)) for loop in self.loops)
                if on_ours and row["vg_name"]:
                    vgs.add(row["vg_name"])
        for vg in sorted(vgs):
            run(["lvm", "vgchange", "--activate", "n", vg], check=False)
        for loop in self.loops:
            run(["umount", "--all-targets", loop], check=False)
            run(["losetup", "-d", loop], check=False)
        self.loops.clear()
        if not self.keep:
            for f in self.files:
                f.unlink(missing_ok=True)


def format_firmware_disk(partitions: str, fs: str = "ext4") -> tuple[str, str]:
    """The ESP (FAT) and /boot of a firmware disk (boot.FIRMWARE_TABLE) whose partitions are
    `<partitions>N` (`/dev/loop0p`, `/dev/ubda`), made empty."""
    esp, boot = f"{partitions}{FIRMWARE_ESP}", f"{partitions}{FIRMWARE_BOOT}"
    run(["mkfs.vfat", esp])
    run([f"mkfs.{fs}", "-q", boot] if fs == "ext4" else ["mkfs.xfs", "-q", boot])
    return esp, boot


def kernel_args(args: list[str]) -> list[str]:
    """onn's `--kernel-arg` options for `args`."""
    return [a for arg in args for a in ("--kernel-arg", arg)]


class Mounted:
    """A read-only mount for inspecting results."""

    def __init__(self, dev: str, target: Path, options: str = "ro") -> None:
        self.dev, self.target, self.options = dev, target, options

    def __enter__(self) -> Path:
        self.target.mkdir(parents=True, exist_ok=True)
        run(["mount", "-o", self.options, self.dev, str(self.target)])
        return self.target

    def __exit__(self, *exc: object) -> None:
        run(["umount", str(self.target)])


def unlabelled(layer: str, mounts: dict[str, str], at: Path) -> list[str]:
    """What `setfiles -n -v` would relabel on an installed host, by the SELinux policy of its
    layer (the LV `layer`), with that layer's own setfiles: on the layer's filesystem and on
    each of `mounts` (mount point → device: the data volumes, /boot), mounted where the host
    mounts them, parents first. setfiles is run once per filesystem: while SELinux is off it
    does not cross into another mount. Its lines: `Would relabel PATH from A to B`."""
    at.mkdir(parents=True, exist_ok=True)
    fc = selinux_file_contexts(layer, at)
    run(["mount", "-o", "ro", layer, str(at)])
    try:
        for mount, dev in sorted(mounts.items()):
            run(["mount", "-o", "ro", dev, str(at / mount.lstrip("/"))])
        # libselinux reads labels through /proc/self/fd.
        run(["mount", "-t", "proc", "proc", str(at / "proc")])
        out = run(["chroot", str(at), "setfiles", "-n", "-v", fc, "/", *sorted(mounts)]).stdout
    finally:
        run(["umount", "--recursive", str(at)])
    return [line for line in out.splitlines() if line.strip()]


def selinux_file_contexts(layer: str, at: Path) -> str:
    """The file contexts of the policy a layer's /etc/selinux/config names (a path in it)."""
    with Mounted(layer, at) as root:
        config = (root / "etc/selinux/config").read_text()
    kind = shell_var_text(config, "SELINUXTYPE")
    return f"/etc/selinux/{kind}/contexts/files/file_contexts"


def initramfs_names(path: Path) -> set[str]:
    """The paths in an initramfs, read as the kernel unpacks it: cpio (newc) archives one after
    another, each plain (dracut's early one) or gzip- or xz-compressed. In-process: listing a
    dracut image with lsinitrd takes minutes in the guest, where every process start is slow."""
    data, names = path.read_bytes(), set()
    while data:
        if data[0] == 0:  # padding between archives
            data = data[1:]
        elif data.startswith(b"070701"):
            data = data[_cpio_names(data, names) :]
        elif data.startswith(b"\x1f\x8b"):
            z = zlib.decompressobj(wbits=31)
            _cpio_names(z.decompress(data), names)
            data = z.unused_data
        elif data.startswith(b"\xfd7zXZ"):
            x = lzma.LZMADecompressor()
            _cpio_names(x.decompress(data), names)
            data = x.unused_data
        else:
            raise ValueError(
                f"{path}: not cpio, gzip or xz at {data[:6]!r} (initramfs_names reads no other compression)"
            )
    return names


def _cpio_names(data: bytes, names: set[str]) -> int:
    """Add the names of the newc cpio archive at the start of `data`; return its length."""
    pos = 0
    while True:
        if data[pos : pos + 6] != b"070701":
            raise ValueError(f"no cpio header at byte {pos}")
        size, namesize = int(data[pos + 54 : pos + 62], 16), int(data[pos + 94 : pos + 102], 16)
        name = data[pos + 110 : pos + 109 + namesize].decode()
        pos = (pos + 110 + namesize + 3) & ~3
        pos = (pos + size + 3) & ~3
        if name == "TRAILER!!!":
            return pos
        names.add(name)


def tree_manifest(root: Path) -> dict[str, tuple[object, ...]]:
    """Every path under root with type, mode, owner, size, content hash, link target, xattrs and
    hard-link group: what a user would compare between an image and what was installed."""
    out: dict[str, tuple[object, ...]] = {}
    inodes: dict[int, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if rel == "lost+found":
                continue
            st = p.lstat()
            xattrs = tuple(
                sorted((k, os.getxattr(p, k, follow_symlinks=False)) for k in os.listxattr(p, follow_symlinks=False))
            )
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p), st.st_uid, st.st_gid)
                continue
            if p.is_dir():
                out[rel] = ("dir", st.st_mode, st.st_uid, st.st_gid, xattrs)
                continue
            link_group = inodes.setdefault(st.st_ino, rel) if st.st_nlink > 1 else None
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
            out[rel] = (
                "file",
                st.st_mode,
                st.st_uid,
                st.st_gid,
                st.st_size,
                digest,
                xattrs,
                link_group,
            )
    return out


class Ticker:
    """Counts how often another Python thread gets to run while a call is in progress: a call
    that holds the GIL leaves it near zero."""

    def __init__(self) -> None:
        self.ticks = 0
        self.elapsed = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._count)

    def _count(self) -> None:
        while not self._stop.is_set():
            self.ticks += 1
            time.sleep(0.001)

    def __enter__(self) -> Ticker:
        self._start = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.monotonic() - self._start
        self._stop.set()
        self._thread.join()

    def ran_freely(self) -> bool:
        # The thread asks for ~1000 wake-ups a second; a call holding the GIL allows ~none.
        # 50 a second leaves room for a slow guest's timers and still tells the two apart.
        return self.ticks > 50 * self.elapsed
