"""Guest tier of the bad-input corpus (tests/bad/cases.toml): every image and guest case
against real lvm2, each refused with its exit status, id and message, every disk file
byte-identical afterwards; and a hostile plain-tree image that cannot make onn write outside
its target."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from corpus import DISK_SETUPS, Case, check_refusal, fill, image_path, load
from guestlib import GIB, Disks, Mounted, onn, run, tree_manifest
from testdata import IMAGES

CASES = [c for c in load() if c.tier in ("image", "guest")]
# Where tests/bad/images.py's hostile tree points its symlinks (guest-private tmpfs).
CANARY = Path("/tmp/onn-canary")

Setup = Callable[[Disks, Path, ExitStack], dict[str, str]]


def _free(d: Disks, tmp: Path, stack: ExitStack) -> dict[str, str]:
    return {"pv": d.add("pv0", 12 * GIB), "pv1": d.add("pv1", 12 * GIB), "boot": d.boot()}


def _mounted(d: Disks, tmp: Path, stack: ExitStack) -> dict[str, str]:
    v = _free(d, tmp, stack)
    # Fully initialised and mounted read-only: the kernel itself must not write to the disk
    # while the digests are compared (ext4 initialises inode tables lazily otherwise).
    run(["mkfs.ext4", "-q", "-E", "lazy_itable_init=0,lazy_journal_init=0", v["pv"]])
    (tmp / "m").mkdir()
    run(["mount", "-o", "ro", v["pv"], str(tmp / "m")])
    stack.callback(run, ["umount", str(tmp / "m")])
    return v


def _swap(d: Disks, tmp: Path, stack: ExitStack) -> dict[str, str]:
    v = _free(d, tmp, stack)
    run(["mkswap", "-q", v["pv"]])
    run(["swapon", v["pv"]])
    stack.callback(run, ["swapoff", v["pv"]])
    return v


def _dm_holder(d: Disks, tmp: Path, stack: ExitStack) -> dict[str, str]:
    v = _free(d, tmp, stack)
    run(["dmsetup", "create", "onn-bad-holder", "--table", f"0 {12 * GIB // 512} linear {v['pv']} 0"])
    stack.callback(run, ["dmsetup", "remove", "onn-bad-holder"])
    return v


def _loop_holder(d: Disks, tmp: Path, stack: ExitStack) -> dict[str, str]:
    v = _free(d, tmp, stack)
    loop = run(["losetup", "--find", "--show", v["pv"]]).stdout.strip()
    stack.callback(run, ["losetup", "-d", loop])
    return v


def _exclusive(d: Disks, tmp: Path, stack: ExitStack) -> dict[str, str]:
    v = _free(d, tmp, stack)
    # As a program that owns the disk would (mkfs, a database on the raw device).
    stack.callback(os.close, os.open(v["pv"], os.O_RDONLY | os.O_EXCL))
    return v


def _xfs(d: Disks, tmp: Path, stack: ExitStack) -> dict[str, str]:
    v = _free(d, tmp, stack)
    run(["mkfs.xfs", "-q", v["pv"]])
    return v


def _partitioned(d: Disks, tmp: Path, stack: ExitStack) -> dict[str, str]:
    return {
        "pv": d.partitioned("pv0", 12 * GIB, "label: gpt\n,100M\n"),
        "pv1": d.add("pv1", 12 * GIB),
        "boot": d.boot(),
    }


def _other_vg(d: Disks, tmp: Path, stack: ExitStack) -> dict[str, str]:
    v = _free(d, tmp, stack)
    run(["lvm", "vgcreate", "data", v["pv"]])
    run(["lvm", "vgchange", "-an", "data"])
    return v


def _small_disk(d: Disks, tmp: Path, stack: ExitStack) -> dict[str, str]:
    return {"pv": d.add("pv0", 2 * GIB), "pv1": d.add("pv1", 12 * GIB), "boot": d.boot()}


def _small_boot(d: Disks, tmp: Path, stack: ExitStack) -> dict[str, str]:
    return {"pv": d.add("pv0", 12 * GIB), "pv1": d.add("pv1", 12 * GIB), "boot": d.boot(512 << 20)}


def _installed(d: Disks, tmp: Path, stack: ExitStack) -> dict[str, str]:
    v = _free(d, tmp, stack)
    tiny = IMAGES["tiny-ext4"]
    onn("install", "--image", tiny["path"], "--pv", v["pv"], "--boot", v["boot"], "--volumes", "minimal")
    # Inactive: no thin pool commits its metadata behind the digests' back.
    run(["lvm", "vgchange", "-an", "onn"])
    return v


def _adopt_no_var(d: Disks, tmp: Path, stack: ExitStack) -> dict[str, str]:
    """What an installer's custom layout without /var leaves: a VG, a thin pool, / on it."""
    v = _free(d, tmp, stack)
    run(["lvm", "vgcreate", "inst", v["pv"]])
    run(["lvm", "lvcreate", "--type", "thin-pool", "--size", "2G", "--name", "pool00", "inst"])
    run(["lvm", "lvcreate", "--type", "thin", "--virtualsize", "4G", "--thinpool", "pool00", "--name", "root", "inst"])
    run(["lvm", "lvcreate", "--size", "100M", "--name", "plain", "inst"])
    run(["lvm", "vgchange", "-an", "inst"])
    return v


def _node(d: Disks, tmp: Path, stack: ExitStack) -> dict[str, str]:
    """An installed Node on two disks (what `onn install --wipe` may remove), a third disk."""
    v = _free(d, tmp, stack)
    v["pv2"] = d.add("pv2", 12 * GIB)
    tiny = IMAGES["tiny-ext4"]
    onn(
        "install",
        "--image",
        tiny["path"],
        "--pv",
        v["pv"],
        "--pv",
        v["pv1"],
        "--boot",
        v["boot"],
        "--volumes",
        "minimal",
    )
    return v


def _inactive(v: dict[str, str]) -> dict[str, str]:
    """Its VG inactive: no thin pool commits its metadata behind the digests' back, and onn
    activates what it must read (activation writes nothing to the disks, which the digests
    around the run prove)."""
    run(["lvm", "vgchange", "-an", "onn"])
    return v


def _node_three_disks(d: Disks, tmp: Path, stack: ExitStack) -> dict[str, str]:
    v = _node(d, tmp, stack)
    run(["lvm", "vgextend", "onn", v["pv2"]])
    return _inactive(v)


def _node_foreign_lv(d: Disks, tmp: Path, stack: ExitStack) -> dict[str, str]:
    v = _node(d, tmp, stack)
    run(["lvm", "lvcreate", "--size", "100M", "--name", "data", "onn"])
    return _inactive(v)


def _node_storage_domain(d: Disks, tmp: Path, stack: ExitStack) -> dict[str, str]:
    """oVirt's local storage domain on the Node's /var: vdsm's __DIRECT_IO_TEST__ at its top."""
    v = _node(d, tmp, stack)
    with Mounted("/dev/onn/var", tmp / "var", "rw") as var:
        (var / "local-storage/images").mkdir(parents=True)
        (var / "local-storage/images/__DIRECT_IO_TEST__").write_bytes(b"")
    return _inactive(v)


SETUPS: dict[str, Setup] = {
    "free": _free,
    "mounted": _mounted,
    "swap": _swap,
    "dm-holder": _dm_holder,
    "loop-holder": _loop_holder,
    "exclusive": _exclusive,
    "xfs": _xfs,
    "partitioned": _partitioned,
    "other-vg": _other_vg,
    "small-disk": _small_disk,
    "small-boot": _small_boot,
    "installed": _installed,
    "adopt-no-var": _adopt_no_var,
    "node-three-disks": _node_three_disks,
    "node-foreign-lv": _node_foreign_lv,
    "node-storage-domain": _node_storage_domain,
}


class Prepared:
    """One disk preparation at a time, made on first use and shared by its cases (they run
    grouped by preparation): a refusal changes nothing, which the digests around every run
    prove. The next preparation releases the last, so no VG of one is seen by another."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.name = ""
        self.stack = ExitStack()
        self.current: tuple[Disks, dict[str, str]] | None = None

    def get(self, name: str) -> tuple[Disks, dict[str, str]]:
        if name != self.name or self.current is None:
            self.release()
            where = self.base / name
            where.mkdir()
            d = Disks(where)
            self.stack.callback(d.release)
            values = SETUPS[name](d, where, self.stack)
            (where / "by-id").mkdir()
            (where / "by-id/disk0").symlink_to(values["pv"])
            (where / "disk.img").write_bytes(bytes(4096))
            d.files.append(where / "disk.img")
            values.update(tmp=str(where), pv_name=Path(values["pv"]).name)
            self.name, self.current = name, (d, values)
        return self.current

    def release(self) -> None:
        self.stack.close()
        self.stack = ExitStack()
        self.current = None


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prepared]:
    p = Prepared(tmp_path_factory.mktemp("bad"))
    yield p
    p.release()


def test_vm_bad_every_disk_preparation_is_implemented() -> None:
    assert tuple(SETUPS) == DISK_SETUPS


@pytest.mark.parametrize("case", sorted(CASES, key=lambda c: (c.disks, c.name)), ids=lambda c: c.name)
def test_vm_bad_input_is_refused_and_the_disks_stay_identical(
    case: Case,
    prepared: Prepared,
    images: dict[str, dict[str, object]],
    bad_images: dict[str, str],
    signed: dict[str, str],
) -> None:
    disks, values = prepared.get(case.disks)
    tmp = Path(values["tmp"])
    image = image_path(case.image, images, bad_images, tmp, signed)
    argv = fill(case.command(), {**values, "image": image, "signed": signed})
    before = disks.digests()
    proc = onn(*argv, check=False)
    check_refusal(case, proc.returncode, proc.stderr)
    assert disks.digests() == before
    assert "onn-mnt." not in Path("/proc/self/mountinfo").read_text()


def test_vm_bad_hostile_tree_image_writes_only_inside_its_target(
    disks: Disks, bad_images: dict[str, str], tmp_path: Path
) -> None:
    """The tree's NVR, kernel, initramfs, /etc/kernel, /etc/fstab, /etc/lvm and /var are
    symlinks to /tmp/onn-canary/… (absolute and ../): onn reads and writes them as if
    chrooted, inside the image and the layer, and leaves this machine's files alone."""
    shutil.rmtree(CANARY, ignore_errors=True)
    for rel, text in {
        "nvr": "canary-6.6-6\n",
        "vmlinuz": "this machine's kernel\n",
        "initramfs": "this machine's initramfs\n",
        "fstab": "this machine's fstab\n",
        "kernel/cmdline": "this-machine\n",
        "var/lib/onn-bad/state": "this machine's /var\n",
        "lvm/lvm.conf": "this machine's lvm.conf\n",
    }.items():
        (CANARY / rel).parent.mkdir(parents=True, exist_ok=True)
        (CANARY / rel).write_text(text)
    before = tree_manifest(CANARY)
    boot, pv = disks.boot(), disks.add("pv0", 12 * GIB)
    argv = ["install", "--image", bad_images["hostile-tree"], "--pv", pv, "--boot", boot]
    out = json.loads(onn(*argv, "--volumes", "minimal", "--json").stdout)
    layer = "onn-hostile-1.0-1+1"
    assert (out["base"], out["layer"]) == ("onn-hostile-1.0-1", layer)
    assert tree_manifest(CANARY) == before
    with Mounted(f"/dev/onn/{layer}", tmp_path / "layer") as root:
        inside = root / "tmp/onn-canary"
        assert os.readlink(root / "etc/fstab") == "/tmp/onn-canary/fstab"  # the image's link, kept
        assert f"/dev/onn/{layer} / ext4 defaults,discard" in (inside / "fstab").read_text()
        assert (inside / "lvm/profile/imgbased-pool.profile").is_file()
    with Mounted("/dev/onn/var", tmp_path / "var") as var:
        assert (var / "lib/onn-bad/state").read_text() == "the image's /var\n"
    with Mounted(boot, tmp_path / "boot") as b:
        assert (b / layer / "vmlinuz-6.1.0-bad").read_bytes() == b"image kernel " * 256
        assert (b / layer / "initramfs-6.1.0-bad.img").read_bytes() == b"image initramfs " * 128
        entry = (b / f"loader/entries/{layer}-6.1.0-bad.conf").read_text()
        assert "options console=ttyS0 from-the-image rd.lvm.lv=" in entry
