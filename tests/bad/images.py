#!/usr/bin/env python3
"""Bad images for the corpus (tests/bad/cases.toml), and a hostile plain-tree image.

    sudo PYTHONPATH=tests/support python3 tests/bad/images.py --json   # {name: path}; builds what is missing

Each is small (a few MiB) and made of a minimal root tree; together they build in seconds.
They are cached in ${ONN_CACHE:-~/.cache/onn}/bad/<key>/, key = sha256 of this file, so an
edit rebuilds them. Needs root (mkfs -d keeps owners), mksquashfs, mkfs.ext4/ext2.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import programs

MIB = 1 << 20
SCRIPT = Path(__file__).resolve()
KVER = "6.1.0-bad"
NVR_FILE = "usr/share/imgbase/build/meta/nvr"
# Where the hostile tree's symlinks point; tests/guest/test_vm_bad.py puts canaries there.
CANARY = "/tmp/onn-canary"


def run(argv: list[str]) -> None:
    programs.run(argv)


def write(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    path.chmod(mode)


def tree(root: Path, nvr: str | None = "onn-bad-1.0-1", initramfs: bool = True) -> Path:
    """A minimal Node root: NVR, a kernel with its initramfs, /etc, /var content."""
    if nvr is not None:
        write(root / NVR_FILE, nvr + "\n")
    write(root / "etc/os-release", "NAME=onn-bad\n")
    write(root / "etc/kernel/cmdline", "console=ttyS0\n")
    write(root / "etc/fstab", "")
    write(root / f"boot/vmlinuz-{KVER}", b"kernel " * 512)
    if initramfs:
        write(root / f"boot/initramfs-{KVER}.img", b"initramfs " * 256, 0o600)
    write(root / f"lib/modules/{KVER}/modules.dep", "")
    write(root / "var/lib/onn-bad/state", "state\n")
    return root


def squash(src: Path, out: Path, comp: str = "gzip") -> None:
    run(["mksquashfs", str(src), str(out), "-comp", comp, "-noappend", "-no-progress", "-quiet"])


def liveos(work: Path, out: Path, root: Path, mkfs: str = "mkfs.ext4", size: int = 16 * MIB) -> None:
    """A squashfs holding LiveOS/rootfs.img made from `root` by `mkfs -d`."""
    top = work / f"{out.name}.top"
    rootfs = top / "LiveOS/rootfs.img"
    rootfs.parent.mkdir(parents=True)
    with rootfs.open("wb") as f:
        f.truncate(size)
    run([mkfs, "-q", "-F", "-b", "4096", "-d", str(root), str(rootfs)])
    squash(top, out)


def build_all(work: Path, out: Path) -> dict[str, Path]:
    made: dict[str, Path] = {}

    def image(name: str, make: Callable[[Path], None]) -> None:
        path = out / f"{name}.squashfs.img"
        make(path)
        made[name] = path

    def liveos_of(**kw: object) -> Callable[[Path], None]:
        return lambda p: liveos(work, p, tree(work / p.name, **kw))  # type: ignore[arg-type]

    image("good", liveos_of())

    def truncated(p: Path) -> None:
        data = made["good"].read_bytes()
        p.write_bytes(data[: len(data) // 2])

    image("truncated", truncated)
    image("not-squashfs", lambda p: p.write_bytes(bytes(4096) + b"not an image\n"))
    image("lzma", lambda p: squash(tree(work / "lzma"), p, comp="lzma"))

    def no_rootfs(p: Path) -> None:
        write(work / "no-rootfs/README.txt", "a squashfs, but not a Node image\n")
        squash(work / "no-rootfs", p)

    image("no-rootfs", no_rootfs)
    image("rootfs-ext2", lambda p: liveos(work, p, tree(work / "ext2"), mkfs="mkfs.ext2"))

    def rootfs_random(p: Path) -> None:
        write(work / "random/LiveOS/rootfs.img", hashlib.sha256(b"onn").digest() * 32768)
        squash(work / "random", p)

    image("rootfs-nofs", rootfs_random)

    def rootfs_truncated(p: Path) -> None:
        top = work / "cut"
        rootfs = top / "LiveOS/rootfs.img"
        rootfs.parent.mkdir(parents=True)
        with rootfs.open("wb") as f:
            f.truncate(32 * MIB)
        run(["mkfs.ext4", "-q", "-F", "-b", "4096", "-d", str(tree(work / "cut-root")), str(rootfs)])
        os.truncate(rootfs, 8 * MIB)
        squash(top, p)

    image("rootfs-truncated", rootfs_truncated)
    image("no-nvr", liveos_of(nvr=None))
    image("nvr-malformed", liveos_of(nvr="onn_bad"))
    image("nvr-space", liveos_of(nvr="onn bad-1.0-1"))
    image("nvr-long", liveos_of(nvr="n" * 50 + "-1-1"))
    image("nvr-reserved", liveos_of(nvr="snapshot-1.0-1"))
    image("no-initramfs", liveos_of(initramfs=False))
    image("hostile-tree", lambda p: squash(hostile_tree(work / "hostile"), p))

    def rootfs_symlink(p: Path) -> None:
        (work / "link/LiveOS").mkdir(parents=True)
        (work / "link/LiveOS/rootfs.img").symlink_to("/etc/os-release")
        squash(work / "link", p)

    image("rootfs-symlink", rootfs_symlink)
    return made


def hostile_tree(root: Path) -> Path:
    """A plain-tree image whose boot files, NVR, /etc/fstab, /etc/lvm, /etc/kernel and /var are
    symlinks out of the tree (absolute and `../`). Read as if chrooted, they all land inside
    it: the real files are under `root/tmp/onn-canary/`."""
    inside = root / CANARY.lstrip("/")
    write(inside / "nvr", "onn-hostile-1.0-1\n")
    write(inside / "vmlinuz", b"image kernel " * 256)
    write(inside / "initramfs", b"image initramfs " * 128, 0o600)
    write(inside / "fstab", "")
    write(inside / "kernel/cmdline", "console=ttyS0 from-the-image\n")
    write(inside / "var/lib/onn-bad/state", "the image's /var\n")
    (inside / "lvm").mkdir()
    write(root / "etc/os-release", "NAME=onn-hostile\n")
    write(root / f"lib/modules/{KVER}/modules.dep", "")
    links = {
        NVR_FILE: f"{CANARY}/nvr",
        f"boot/vmlinuz-{KVER}": f"{CANARY}/vmlinuz",
        f"boot/initramfs-{KVER}.img": f"../../../../../..{CANARY}/initramfs",
        "etc/fstab": f"{CANARY}/fstab",
        "etc/kernel": f"{CANARY}/kernel",
        "etc/lvm": f"{CANARY}/lvm",
        "var": f"..{CANARY}/var",
    }
    for rel, target in links.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).symlink_to(target)
    (root / "tmp").chmod(0o1777)
    return root


def ensure() -> dict[str, str]:
    cache = Path(os.environ.get("ONN_CACHE") or Path.home() / ".cache/onn")
    key = hashlib.sha256(SCRIPT.read_bytes()).hexdigest()[:12]
    final = cache / "bad" / key
    index = final / "images.json"
    if not index.is_file():
        (cache / "bad").mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache / "bad") as tmp:
            work, out = Path(tmp) / "work", Path(tmp) / "out"
            work.mkdir()
            out.mkdir()
            made = build_all(work, out)
            (out / "images.json").write_text(json.dumps({n: str(final / p.name) for n, p in made.items()}, indent=1))
            shutil.rmtree(final, ignore_errors=True)
            os.rename(out, final)
    return json.loads(index.read_text())


if __name__ == "__main__":
    paths = ensure()
    print(json.dumps(paths, indent=1, sort_keys=True) if "--json" in sys.argv[1:] else "\n".join(paths.values()))
