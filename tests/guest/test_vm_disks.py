"""Disks as servers have them (guest tier, real lvm2): every disk set a plan accepts installs
completely, every other is refused before the first write. The pool's placement is onn's model
of lvm2's allocator (rust/onn-core/src/plan/alloc.rs); this matrix finds, per shape of disk
set, the boundary where the plan starts to accept, and installs on both sides of it."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from guestlib import Disks, Mounted, onn, pool_used, run

MIB = 1 << 20
STEP = 4  # MiB: one extent
# Disk sets as multiples of one size: one disk, two and three equal, two and three unequal.
SHAPES = {
    "1": (1,),
    "2 equal": (1, 1),
    "2 unequal": (1, 2),
    "3 equal": (1, 1, 1),
    "3 unequal": (1, 1, 2),
}
REFUSED = {"disk.too-small", "pool.too-small"}


def install(disks: Disks, image: dict[str, object], sizes: list[int], *extra: str) -> tuple[int, str]:
    """onn install on fresh disks of `sizes` MiB (and a /boot); (exit status, error id and
    message)."""
    pvs = [disks.add(f"pv{i}", s * MIB) for i, s in enumerate(sizes)]
    argv = ["install", "--image", str(image["path"]), "--boot", disks.boot(), "--json", *extra]
    for pv in pvs:
        argv += ["--pv", pv]
    proc = onn(*argv, check=False)
    return proc.returncode, proc.stderr.split("error (", 1)[-1] if proc.returncode else ""


def checked(boot_dev: str, tmp_path: Path) -> None:
    """`onn check` of the install, with its /boot mounted."""
    with Mounted(boot_dev, tmp_path / "boot") as boot:
        check = onn("check", "--boot", str(boot), check=False)
    assert check.returncode == 0 and "FAILED" not in check.stdout, check.stdout


def accepted(tmp_path: Path, image: dict[str, object], sizes: list[int]) -> bool:
    disks = Disks(tmp_path)
    try:
        rc, err = install(disks, image, sizes, "--dry-run")
        assert rc == 0 or (rc == 2 and err.split(")")[0] in REFUSED), (sizes, rc, err)
        return rc == 0
    finally:
        disks.release()


@pytest.mark.parametrize("shape", SHAPES)
def test_vm_every_disk_set_installs_completely_or_is_refused_before_writing(
    shape: str, images: dict[str, dict[str, object]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    img = images["tiny-ext4"]
    scale = SHAPES[shape]
    lo, hi = 64 // STEP, 8192 // STEP  # in extents of the smallest disk: refused, accepted
    assert not accepted(tmp_path, img, [lo * STEP * k for k in scale])
    assert accepted(tmp_path, img, [hi * STEP * k for k in scale])
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if accepted(tmp_path, img, [mid * STEP * k for k in scale]) else (mid, hi)
    smallest = [hi * STEP * k for k in scale]
    largest_refused = [lo * STEP * k for k in scale]
    with capsys.disabled():  # in the tier's log, for the boundaries' record
        print(f"\nboundary {shape}: refused {largest_refused} MiB, installs {smallest} MiB")

    # The smallest accepted set installs completely; onn's own check passes.
    disks = Disks(tmp_path)
    try:
        rc, err = install(disks, img, smallest)
        assert rc == 0, f"{smallest} MiB was planned but failed: {err}"
        checked(disks.loops[-1], tmp_path)  # install() made /boot last
    finally:
        disks.release()
    # The largest refused set is refused with its id, the disks byte-identical.
    disks = Disks(tmp_path)
    try:
        pvs = [disks.add(f"pv{i}", s * MIB) for i, s in enumerate(largest_refused)]
        boot = disks.boot()
        before = disks.digests()
        proc = onn(
            "install",
            "--image",
            str(img["path"]),
            "--boot",
            boot,
            *(a for pv in pvs for a in ("--pv", pv)),
            check=False,
        )
        assert proc.returncode == 2 and any(f"({i})" in proc.stderr for i in REFUSED), proc.stderr
        assert disks.digests() == before
    finally:
        disks.release()


def test_vm_two_2gib_disks_take_the_pool_lvm2_can_place_or_are_refused_before_writing(
    disks: Disks, images: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    """The issue's case: two 2 GiB disks aborted in lvcreate with a pool of 80 % of the VG.
    The pool is now what lvm2 can place, 1020 MiB (the second disk keeps 1 GiB whole for the
    metadata). The seven NIST volumes' filesystems alone would take about 1 GiB of it (journals
    and inode tables), so that install is refused before anything is written; with /var alone
    it installs."""
    pvs = [disks.add(f"pv{i}", 2048 * MIB) for i in range(2)]
    boot = disks.boot()
    before = disks.digests()
    argv = ["install", "--image", str(images["tiny-ext4"]["path"]), "--boot", boot, "--pv", pvs[0], "--pv", pvs[1]]
    refused = onn(*argv, check=False)
    assert refused.returncode == 2 and "(pool.too-small)" in refused.stderr, refused.stderr
    assert disks.digests() == before
    onn(*argv, "--volumes", "minimal")
    size, _used = pool_used()
    assert size == 255 * 4 * MIB
    checked(boot, tmp_path)


def test_vm_4kn_disks_take_an_ext4_image_and_refuse_xfs_made_for_512_byte_sectors(
    disks: Disks, images: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    boot = disks.boot()
    pv = disks.add("pv0", 12 << 30, sector_size=4096)
    before = disks.digests()
    xfs = onn("install", "--image", str(images["tiny-xfs"]["path"]), "--pv", pv, "--boot", boot, check=False)
    assert xfs.returncode == 2 and "(fs.sector-size)" in xfs.stderr, xfs.stderr
    assert disks.digests() == before
    out = onn("install", "--image", str(images["tiny-ext4"]["path"]), "--pv", pv, "--boot", boot, "--json")
    checked(boot, tmp_path)
    layer = json.loads(out.stdout)["layer"]
    with Mounted(f"/dev/onn/{layer}", tmp_path / "layer", "ro") as root:
        assert (root / "usr/share/imgbase/build/meta/nvr").read_text().strip() == images["tiny-ext4"]["nvr"]


def test_vm_disks_named_as_operators_name_them_and_a_multipath_map_as_the_pv(
    disks: Disks, images: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    """A disk by /dev/disk/by-id and by-path (links udev makes; the guest has no udev, so the
    test makes them), and a device-mapper map as the PV, standing for a multipath map (the
    guest cannot run multipathd: a linear map with a multipath uuid over one path): the map
    installs, its member path is refused as in use, naming the map."""
    img = str(images["tiny-ext4"]["path"])
    member = disks.add("mpath-member", 12 << 30)
    sectors = run(["blockdev", "--getsz", member]).stdout.strip()
    # multipathd's kind of map; lvm2 on a multipath host does not scan the member paths
    # (multipath_component_detection, or a filter): here a filter in a copy of the guest's
    # lvm.conf, for onn and the test's lvm calls alike.
    table = f"0 {sectors} linear {member} 0"
    run(["dmsetup", "create", "onn-test-mpatha", "--uuid", "mpath-onntest0001", "--table", table])
    conf = tmp_path / "lvm"
    conf.mkdir()
    base = (Path(os.environ["LVM_SYSTEM_DIR"]) / "lvm.conf").read_text()
    (conf / "lvm.conf").write_text(base.replace("devices {", f'devices {{\n    global_filter = [ "r|^{member}$|" ]', 1))
    env = {"LVM_SYSTEM_DIR": str(conf)}
    links = [Path("/dev/disk/by-id/wwn-0x5000c500onntest"), Path("/dev/disk/by-path/pci-0000:00:1f.2-ata-1")]
    try:
        boot = disks.boot()
        for link in links:
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(boot if "by-path" in str(link) else "/dev/mapper/onn-test-mpatha")
        held = onn("install", "--image", img, "--pv", member, "--boot", boot, check=False, env=env)
        assert held.returncode == 2 and "(pv.in-use)" in held.stderr, held.stderr
        assert "/dev/mapper/onn-test-mpatha" in held.stderr
        # The map, named by id; /boot by path.
        onn("install", "--image", img, "--pv", str(links[0]), "--boot", str(links[1]), env=env)
        pvs = run(["lvm", "pvs", "--noheadings", "-o", "pv_name", "--select", "vg_name=onn"], env=env).stdout.split()
        assert pvs == ["/dev/mapper/onn-test-mpatha"]
        with Mounted(boot, tmp_path / "boot") as b:
            check = onn("check", "--boot", str(b), check=False, env=env)
        assert check.returncode == 0, check.stdout
    finally:
        run(["lvm", "vgchange", "--activate", "n", "onn"], check=False, env=env)
        run(["dmsetup", "remove", "onn-test-mpatha"], check=False)
        for link in links:
            link.unlink(missing_ok=True)


def _named_like(dev: str, name: str) -> str:
    """A block node /dev/NAME for the device `dev` (its major and minor)."""
    st = os.stat(dev)
    node = f"/dev/{name}"
    os.mknod(node, 0o600 | stat.S_IFBLK, st.st_rdev)
    return node


def test_vm_nvme_names_a_partitioned_namespace_refused_a_blank_one_installs(
    disks: Disks, images: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    """Disks named as the kernel names NVMe namespaces and their partitions (`nvme0n1`,
    `nvme0n1p1`): the guest has no NVMe controller, so block nodes of those names stand for
    them over loop devices. onn reads a disk's partitions and holders by its device number,
    never from its name: the partitioned namespace is refused naming it, its partition takes
    /boot, and a blank namespace installs."""
    img = str(images["tiny-ext4"]["path"])
    parted = disks.partitioned("nvme0", 2 << 30, "label: gpt\nsize=1GiB, name=boot\nname=data\n")
    nodes = [
        _named_like(parted, "nvme0n1"),
        _named_like(f"{parted}p1", "nvme0n1p1"),
        _named_like(disks.add("nvme1", 12 << 30), "nvme1n1"),
    ]
    try:
        run(["mkfs.ext4", "-q", "/dev/nvme0n1p1"])
        before = disks.digests()
        refused = onn("install", "--image", img, "--pv", "/dev/nvme0n1", "--boot", "/dev/nvme0n1p1", check=False)
        assert refused.returncode == 2 and "(pv.partitioned)" in refused.stderr, refused.stderr
        assert "/dev/nvme0n1 " in refused.stderr
        assert disks.digests() == before
        onn("install", "--image", img, "--pv", "/dev/nvme1n1", "--boot", "/dev/nvme0n1p1")
        checked("/dev/nvme0n1p1", tmp_path)
    finally:
        run(["lvm", "vgchange", "--activate", "n", "onn"], check=False)
        for node in nodes:
            os.unlink(node)
