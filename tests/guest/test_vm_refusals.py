"""Every refusal happens before anything is written: the disk files stay byte-identical."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from guestlib import GIB, Disks, onn, run

Setup = Callable[[Disks, dict[str, dict[str, object]], Path], list[str]]


def base_args(img: dict[str, object], pvs: list[str], boot: str) -> list[str]:
    args = [
        "install",
        "--image",
        str(img["path"]),
        "--boot",
        boot,
        "--volumes",
        "minimal",
    ]
    for pv in pvs:
        args += ["--pv", pv]
    return args


def sha_mismatch(d: Disks, images: dict[str, dict[str, object]], tmp: Path) -> list[str]:
    return [
        *base_args(images["tiny-ext4"], [d.add("pv0", 12 * GIB)], d.boot()),
        "--sha256",
        "0" * 64,
    ]


def mounted_pv(d: Disks, images: dict[str, dict[str, object]], tmp: Path) -> list[str]:
    pv = d.add("pv0", 12 * GIB)
    # Fully initialised and mounted read-only: the kernel itself must not write to the disk
    # while the test compares its digests (ext4 initialises inode tables lazily otherwise).
    run(["mkfs.ext4", "-q", "-E", "lazy_itable_init=0,lazy_journal_init=0", pv])
    (tmp / "m").mkdir()
    run(["mount", "-o", "ro", pv, str(tmp / "m")])
    return base_args(images["tiny-ext4"], [pv], d.boot())


def pv_with_filesystem(d: Disks, images: dict[str, dict[str, object]], tmp: Path) -> list[str]:
    pv = d.add("pv0", 12 * GIB)
    run(["mkfs.xfs", "-q", pv])
    return base_args(images["tiny-ext4"], [pv], d.boot())


def pv_of_another_vg(d: Disks, images: dict[str, dict[str, object]], tmp: Path) -> list[str]:
    pv = d.add("pv0", 12 * GIB)
    run(["lvm", "vgcreate", "data", pv])
    run(["lvm", "vgchange", "-an", "data"])
    return base_args(images["tiny-ext4"], [pv], d.boot())


def boot_too_small(d: Disks, images: dict[str, dict[str, object]], tmp: Path) -> list[str]:
    return base_args(images["tiny-ext4"], [d.add("pv0", 12 * GIB)], d.boot(512 << 20))


def pool_too_small(d: Disks, images: dict[str, dict[str, object]], tmp: Path) -> list[str]:
    return [
        *base_args(images["demo-1.0"], [d.add("pv0", 12 * GIB)], d.boot()),
        "--pool-size",
        "512M",
    ]


def disk_too_small(d: Disks, images: dict[str, dict[str, object]], tmp: Path) -> list[str]:
    return base_args(images["tiny-ext4"], [d.add("pv0", 2 * GIB)], d.boot())


def existing_imgbased_vg(d: Disks, images: dict[str, dict[str, object]], tmp: Path) -> list[str]:
    boot = d.boot()
    onn(*base_args(images["tiny-ext4"], [d.add("pv0", 12 * GIB)], boot))
    return base_args(images["tiny-ext4"], [d.add("pv1", 12 * GIB)], boot)


def not_squashfs(d: Disks, images: dict[str, dict[str, object]], tmp: Path) -> list[str]:
    bogus = tmp / "bogus.img"
    bogus.write_bytes(b"\x00" * 4096 + b"not an image")
    return base_args({"path": bogus}, [d.add("pv0", 12 * GIB)], d.boot())


CASES: dict[str, tuple[Setup, str]] = {
    "checksum-mismatch": (sha_mismatch, "checksum mismatch"),
    "pv-mounted": (mounted_pv, "is in use: mounted on"),
    "pv-holds-filesystem": (pv_with_filesystem, "holds a xfs signature"),
    "pv-of-another-vg": (pv_of_another_vg, "belongs to volume group data"),
    "boot-under-1GiB": (boot_too_small, "imgbased needs at least 1 GiB"),
    "pool-too-small": (pool_too_small, "cannot take image onn-demo-1.0"),
    "disk-too-small": (disk_too_small, "use larger disks"),
    "existing-imgbased-vg": (existing_imgbased_vg, "imgbased volume group onn exists on"),
    "not-a-squashfs": (not_squashfs, "is not a squashfs image"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_vm_refusal_names_the_problem_and_leaves_disks_untouched(
    case: str, disks: Disks, images: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    setup, message = CASES[case]
    args = setup(disks, images, tmp_path)
    before = disks.digests()
    proc = onn(*args, check=False)
    assert proc.returncode == 2, proc.stderr  # precondition
    assert message in proc.stderr
    assert disks.digests() == before
