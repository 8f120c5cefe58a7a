"""Real installs into real LVM thin pools (guest tier)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from boot import ENFORCING, TEST_APPEND
from guestlib import (
    GIB,
    Disks,
    Mounted,
    assert_imgbased_layout,
    blkid,
    kernel_args,
    lvs,
    onn,
    pool_used,
    run,
    shell_var,
    tree_manifest,
    unlabelled,
    vg_tags,
)

DEMO_LAYER = "onn-node-demo-1.0-0.20261125.0+1"


def install(image: dict[str, object], pvs: list[str], boot: str, *extra: str) -> dict[str, object]:
    argv = ["install", "--image", str(image["path"]), "--boot", boot, "--json"]
    for pv in pvs:
        argv += ["--pv", pv]
    return json.loads(onn(*argv, *extra).stdout)


def expected_entry(nvr: str, layer: str, kver: str, boot_uuid: str, image_args: str) -> str:
    """The BLS entry exactly as REFERENCE §1 describes it."""
    options = (
        f"{image_args} rd.lvm.lv=onn/{layer} root=/dev/onn/{layer} boot=UUID={boot_uuid} "
        f"rootflags=discard img.bootid={layer}"
    )
    return (
        f"title {nvr} ({kver})\nversion {kver}\nlinux /{layer}/vmlinuz-{kver}\n"
        f"initrd /{layer}/initramfs-{kver}.img\noptions {options}\n"
        "grub_users $grub_users\ngrub_arg --unrestricted\ngrub_class kernel\n"
    )


#: What the demo install's entries carry beyond the image's arguments: SELinux enforcing, and
#: the patience a TCG guest needs (the boot tier boots them through the firmware and GRUB).
DEMO_ARGS = [*ENFORCING, *TEST_APPEND]


def test_vm_install_demo_image_boots_later(
    disks: Disks, images: dict[str, dict[str, object]], work: Path, tmp_path: Path
) -> None:
    """The main job: the demo image onto two disks and a disk the firmware boots (its ESP and
    /boot); the disk files stay for the boot tier, which boots them through GRUB, enforcing."""
    demo = images["demo-1.0"]
    # Files in the shared work dir, so the host can boot them after the guest run.
    disks.where = work / "demo"
    disks.keep = True
    disks.where.mkdir(parents=True, exist_ok=True)
    _disk, esp, boot = disks.firmware_disk()
    pv0 = disks.add("pv0", 20 * GIB)
    pv1 = disks.add("pv1", 20 * GIB)
    args = kernel_args(DEMO_ARGS)
    out = install(demo, [pv0, pv1], boot, "--sha256", str(demo["sha256"]), "--efi", esp, *args)
    assert out["layer"] == DEMO_LAYER
    # The ESP got the image's EFI boot files, file by file (the layer is the image's tree).
    with Mounted(f"/dev/onn/{DEMO_LAYER}", tmp_path / "layer") as root, Mounted(esp, tmp_path / "esp") as e:
        image_efi = {
            p.relative_to(root / "boot/efi"): p.read_bytes() for p in (root / "boot/efi").rglob("*") if p.is_file()
        }
        on_esp = {p.relative_to(e): p.read_bytes() for p in e.rglob("*") if p.is_file()}
    assert on_esp == image_efi
    assert sorted(str(p) for p in on_esp) == sorted(out["efi_files"])
    assert {"EFI/BOOT/BOOTX64.EFI", "EFI/BOOT/grubx64.efi", "EFI/debian/shimx64.efi", "EFI/debian/grub.cfg"} <= set(
        out["efi_files"]
    )
    nvr = str(demo["nvr"])
    volumes = ["var", "var_crash", "var_log", "var_log_audit", "var_tmp", "home", "tmp"]
    assert_imgbased_layout(nvr, DEMO_LAYER, volumes)
    assert blkid(f"/dev/onn/{nvr}", "UUID") != blkid(f"/dev/onn/{DEMO_LAYER}", "UUID")
    for v in volumes:
        assert blkid(f"/dev/onn/{v}", "TYPE") == "ext4"

    kver = str(demo["kernel_versions"][0])  # type: ignore[index]
    boot_uuid = blkid(boot, "UUID")
    with Mounted(boot, tmp_path / "boot") as b:
        entry = (b / "loader/entries" / f"{DEMO_LAYER}-{kver}.conf").read_text()
        image_args = " ".join(["console=ttyS0 systemd.show_status=1", *DEMO_ARGS])
        assert entry == expected_entry(nvr, DEMO_LAYER, kver, boot_uuid, image_args)
        assert (b / DEMO_LAYER / f"vmlinuz-{kver}").stat().st_size > 1 << 20
        assert (b / DEMO_LAYER / f"initramfs-{kver}.img").stat().st_size > 1 << 20
        assert f"saved_entry={DEMO_LAYER}-{kver}\n" in (b / "grub2/grubenv").read_text()
        check = onn("check", "--boot", str(b))
        assert check.stdout.count("ok ") >= 8 and "FAILED" not in check.stdout
    with Mounted(f"/dev/onn/{DEMO_LAYER}", tmp_path / "layer") as root:
        fstab = (root / "etc/fstab").read_text().splitlines()
        assert f"/dev/onn/{DEMO_LAYER} / ext4 defaults,discard 1 1" in fstab
        assert f"UUID={boot_uuid} /boot ext4 defaults 1 2" in fstab
        for v in volumes:
            mount = "/" + v.replace("_", "/")
            assert f"/dev/onn/{v} {mount} ext4 defaults,discard 1 2" in fstab
        assert "thin_pool_autoextend_threshold = 70" in (root / "etc/lvm/profile/imgbased-pool.profile").read_text()
        # What the host's imgbased turns into the next layer's entry at an update.
        grub_cmdline = shell_var(root / "etc/default/grub", "GRUB_CMDLINE_LINUX")
        assert grub_cmdline == f"{image_args} rd.lvm.lv=onn/{DEMO_LAYER}"
    with Mounted("/dev/onn/var", tmp_path / "var") as var:
        # /var got the image's content (the installed system's dpkg state lives there).
        assert (var / "lib/dpkg/status").stat().st_size > 0
        # Every NIST volume is there: imgbased checks them all, no skip mark.
        assert not (var / "imgbased/.skip-volumes").exists()
    assert onn("list").stdout == f"{nvr}\n +- {DEMO_LAYER}\n"

    # A second image: a second base and its layer, which becomes the default.
    demo2 = images["demo-1.1"]
    nvr2 = str(demo2["nvr"])
    onn("base", "add", str(demo2["path"]), "--sha256", str(demo2["sha256"]))
    with Mounted(boot, tmp_path / "boot", "rw") as b:
        onn("layer", "add", "--boot", str(b), *args)
        assert f"saved_entry={nvr2}+1-{kver}\n" in (b / "grub2/grubenv").read_text()
        assert onn("check", "--boot", str(b)).returncode == 0
    assert onn("list").stdout == f"{nvr}\n +- {DEMO_LAYER}\n{nvr2}\n +- {nvr2}+1\n"
    assert_imgbased_layout(nvr2, f"{nvr2}+1", volumes)

    # Every file onn wrote has the label the image's SELinux policy gives it: setfiles, the
    # layer's own, finds nothing to relabel on either layer, the volumes or /boot.
    mounts = {"/" + v.replace("_", "/"): f"/dev/onn/{v}" for v in volumes} | {"/boot": boot}
    for layer in (DEMO_LAYER, f"{nvr2}+1"):
        assert unlabelled(f"/dev/onn/{layer}", mounts, tmp_path / "labels") == [], layer


def test_vm_minimal_install_leaves_what_the_hosts_imgbased_update_reads(
    disks: Disks, images: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    """The on-disk items the host's `imgbase check` and `update` read (the real imgbased runs
    on them in `make imgbased-compat`): the skip-volumes mark of a host with /var only, and the
    install's kernel arguments in the layer's GRUB_CMDLINE_LINUX, where an update takes them
    from for the next layer's entry."""
    img = images["tiny-ext4"]
    boot = disks.boot()
    args = ["--volumes", "minimal", "--kernel-arg", "audit=0", "--kernel-arg", "nomodeset"]
    out = install(img, [disks.add("pv0", 12 * GIB)], boot, *args)
    layer = str(out["layer"])
    with Mounted("/dev/onn/var", tmp_path / "var") as var:
        assert (var / "imgbased/.skip-volumes").is_file()
    with Mounted(f"/dev/onn/{layer}", tmp_path / "layer") as root:
        grub_cmdline = shell_var(root / "etc/default/grub", "GRUB_CMDLINE_LINUX")
    with Mounted(boot, tmp_path / "boot") as b:
        entry = next((b / "loader/entries").iterdir()).read_text()
    options = next(line for line in entry.splitlines() if line.startswith("options ")).split()[1:]
    assert grub_cmdline is not None
    # Every argument of the entry before onn's own is in GRUB_CMDLINE_LINUX, with the layer's LV.
    assert grub_cmdline.split() == options[: options.index(f"root=/dev/onn/{layer}")]
    # The image's own (console=ttyS0), then the install's.
    assert grub_cmdline.split()[:3] == ["console=ttyS0", "audit=0", "nomodeset"]


def test_vm_install_keeps_a_grubenv_link_into_the_esp_and_copies_the_kernels_hmac(
    disks: Disks, images: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    """EL8 on UEFI: /boot/grub2/grubenv is a link into the ESP, where GRUB reads it; onn writes
    the default through it. FIPS: the kernel's HMAC file lies beside it in the layer's dir."""
    img = images["tiny-ext4"]
    kver = str(img["kernel_versions"][0])  # type: ignore[index]
    boot = disks.boot()
    with Mounted(boot, tmp_path / "boot", "rw") as b:
        (b / "grub2").mkdir()
        (b / "efi/EFI/redhat").mkdir(parents=True)
        (b / "grub2/grubenv").symlink_to("../efi/EFI/redhat/grubenv")
        out = install(img, [disks.add("pv0", 12 * GIB)], str(b), "--volumes", "minimal")
        layer = str(out["layer"])
        assert (b / "grub2/grubenv").is_symlink()
        assert f"saved_entry={layer}-{kver}\n" in (b / "efi/EFI/redhat/grubenv").read_text()
        hmac = (b / layer / f".vmlinuz-{kver}.hmac").read_text()
    with Mounted(f"/dev/onn/{layer}", tmp_path / "layer", "ro,noload") as root:
        assert hmac == (root / f"boot/.vmlinuz-{kver}.hmac").read_text()


@pytest.mark.parametrize("name", ["tiny-ext4", "tiny-xfs"])
def test_vm_base_is_the_image_filesystem_exactly(
    name: str, disks: Disks, images: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    img = images[name]
    fs = str(img["fs"])
    boot = disks.boot()
    pv = disks.add("pv0", 12 * GIB)
    out = install(img, [pv], boot, "--volumes", "minimal")
    nvr = str(img["nvr"])
    layer = f"{nvr}+1"
    assert out["copy"]["skipped_zero"] > 0  # a fresh thin LV reads zeros: zero blocks are skipped
    assert_imgbased_layout(nvr, layer, ["var"])
    assert blkid("/dev/onn/var", "TYPE") == fs  # data volumes take the root's filesystem type
    assert len({blkid(f"/dev/onn/{lv}", "UUID") for lv in (nvr, layer)}) == 2

    with Mounted(str(img["path"]), tmp_path / "sq", "ro,loop") as sq:
        ro = "ro,loop,noload" if fs == "ext4" else "ro,loop,norecovery,nouuid"
        with Mounted(str(sq / "LiveOS/rootfs.img"), tmp_path / "img", ro) as image_root:
            want = tree_manifest(image_root)
        run(
            [
                "lvm",
                "lvchange",
                "--activate",
                "y",
                "--ignoreactivationskip",
                f"onn/{nvr}",
            ]
        )
        base_opts = "ro,noload" if fs == "ext4" else "ro,norecovery,nouuid"
        with Mounted(f"/dev/onn/{nvr}", tmp_path / "base", base_opts) as base_root:
            got = tree_manifest(base_root)
    assert got == want
    assert "usr/share/imgbase/build/meta/nvr" in got
    # The awkward files are part of the comparison: a hole, all-zero blocks (skipped by the
    # copy, read back as zeros from the thin LV), hard links, xattrs.
    for special in ("sparse", "zeros", "random-20M", "hardlink-b", "xattr"):
        assert f"usr/share/onn-test/{special}" in got
    # The filesystem was grown to the LV (10 GiB by default), far beyond the image's size.
    size = int(run(["blockdev", "--getsize64", f"/dev/onn/{nvr}"]).stdout)
    assert size >= 10 * GIB


def test_vm_plain_tree_image_is_copied_into_a_new_filesystem(
    disks: Disks, images: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    img = images["tiny-tree"]
    boot = disks.boot()
    pv = disks.add("pv0", 12 * GIB)
    install(img, [pv], boot, "--volumes", "minimal", "--fs", "xfs")
    nvr = str(img["nvr"])
    assert blkid(f"/dev/onn/{nvr}", "TYPE") == "xfs"
    with Mounted(str(img["path"]), tmp_path / "sq", "ro,loop") as sq:
        want = tree_manifest(sq)
    run(["lvm", "lvchange", "--activate", "y", "--ignoreactivationskip", f"onn/{nvr}"])
    with Mounted(f"/dev/onn/{nvr}", tmp_path / "base", "ro,norecovery,nouuid") as base_root:
        got = tree_manifest(base_root)
    # Owners, modes, hard links, symlinks and contents survive (UML's squashfs hides xattrs, so
    # both sides are compared as this kernel sees them).
    assert got == want
    hard = [k for k, v in got.items() if v[0] == "file" and v[-1] is not None]
    assert len(hard) >= 2


def test_vm_rerun_is_a_no_op_and_layer_add_takes_the_next_index(
    disks: Disks, images: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    img = images["tiny-ext4"]
    boot = disks.boot()
    pv = disks.add("pv0", 12 * GIB)
    install(img, [pv], boot, "--volumes", "minimal")
    before = lvs()
    again = install(img, [pv], boot, "--volumes", "minimal")
    assert again["created"] == []
    assert lvs().keys() == before.keys()
    nvr = str(img["nvr"])
    with Mounted(boot, tmp_path / "boot", "rw") as b:
        out = json.loads(onn("layer", "add", "--boot", str(b), "--json").stdout)
        assert out["layer"] == f"{nvr}+2"
        assert lvs()[f"{nvr}+2"]["origin"] == f"{nvr}+1"  # imgbased: a new layer snapshots the latest
        entries = sorted(p.name for p in (b / "loader/entries").iterdir())
        assert entries == [f"{nvr}+1-6.1.0-tiny.conf", f"{nvr}+2-6.1.0-tiny.conf"]
        # The next entry imgbased makes from +2 activates +2 only, not +1 (which it may remove).
        with Mounted(f"/dev/onn/{nvr}+2", tmp_path / "layer") as root:
            grub_cmdline = shell_var(root / "etc/default/grub", "GRUB_CMDLINE_LINUX") or ""
        assert [w for w in grub_cmdline.split() if w.startswith("rd.lvm.lv=")] == [f"rd.lvm.lv=onn/{nvr}+2"]
        # A missing boot entry makes `onn check` fail with exit status 1, naming the layer.
        (b / "loader/entries" / f"{nvr}+1-6.1.0-tiny.conf").unlink()
        failed = onn("check", "--boot", str(b), check=False)
        assert failed.returncode == 1
        assert re.search(rf"FAILED +boot.entries .*{re.escape(nvr)}\+1", failed.stdout)


@pytest.mark.parametrize(
    "step",
    [
        "vg.create",
        "pool.create",
        "volume.create",
        "base.write",
        "layer.create",
        "layer.configure",
    ],
)
def test_vm_failure_midway_is_undone_and_rerun_completes(
    step: str, disks: Disks, images: dict[str, dict[str, object]]
) -> None:
    img = images["tiny-ext4"]
    boot = disks.boot()
    pv = disks.add("pv0", 12 * GIB)
    failed = onn(
        "install",
        "--image",
        str(img["path"]),
        "--pv",
        pv,
        "--boot",
        boot,
        "--volumes",
        "minimal",
        check=False,
        env={"ONN_FAIL_AFTER": step},
    )
    assert failed.returncode != 0 and f"fault injected after {step}" in failed.stderr
    # Nothing this run created is left: no VG, no LVM label on the disk.
    assert run(["lvm", "vgs", "onn"], check=False).returncode != 0
    assert blkid(pv, "TYPE") == ""
    out = install(img, [pv], boot, "--volumes", "minimal")
    assert out["layer"] == f"{img['nvr']}+1"


def test_vm_adopt_an_installer_made_vg_and_pool(
    disks: Disks, images: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    """Anaconda's autopart makes a VG, a thin pool with small metadata, a thin / and /var;
    onn adopts them: tags, the imgbased-pool profile, metadata grown to 1 GiB."""
    pv = disks.add("pv0", 16 * GIB)
    run(["lvm", "vgcreate", "anaconda", pv])
    run(
        [
            "lvm",
            "lvcreate",
            "--type",
            "thin-pool",
            "--size",
            "8g",
            "--poolmetadatasize",
            "64m",
            "--name",
            "pool00",
            "anaconda",
        ]
    )
    for name, size in (("root", "6g"), ("var", "5g")):
        run(
            [
                "lvm",
                "lvcreate",
                "--type",
                "thin",
                "--virtualsize",
                size,
                "--thinpool",
                "pool00",
                "--name",
                name,
                "anaconda",
            ]
        )
    adopt = ("layout", "--adopt", "--vg", "anaconda")
    plan = json.loads(onn(*adopt, "--dry-run", "--json").stdout)
    # The default set completes the installer's volumes: it made /var, onn adds the others.
    assert [s["step"] for s in plan["steps"]] == ["vg.adopt", "pool.adopt"] + ["volume.create"] * 6
    plan = json.loads(onn(*adopt, "--volumes", "none", "--dry-run", "--json").stdout)
    assert [s["step"] for s in plan["steps"]] == ["vg.adopt", "pool.adopt"]
    onn(*adopt, "--volumes", "none")
    lv = lvs("anaconda")
    assert "imgbased:vg" in vg_tags("anaconda")
    assert lv["pool00"]["lv_tags"] == "imgbased:pool"
    assert lv["pool00"]["lv_profile"] == "imgbased-pool"
    assert int(lv["pool00"]["lv_metadata_size"]) >= GIB
    # Adopting again changes nothing.
    assert json.loads(onn(*adopt, "--volumes", "none", "--dry-run", "--json").stdout)["steps"] == []

    img = images["tiny-ext4"]
    nvr = str(img["nvr"])
    onn("base", "add", str(img["path"]))
    boot = disks.boot()
    with Mounted(boot, tmp_path / "boot", "rw") as b:
        onn("layer", "add", "--boot", str(b))
        assert onn("list").stdout == f"{nvr}\n +- {nvr}+1\n"
        assert onn("check", "--boot", str(b)).returncode == 0
    assert lvs("anaconda")[f"{nvr}+1"]["origin"] == nvr


def test_vm_adopt_refuses_a_layout_without_separate_var(disks: Disks) -> None:
    pv = disks.add("pv0", 16 * GIB)
    run(["lvm", "vgcreate", "anaconda", pv])
    run(["lvm", "lvcreate", "--type", "thin-pool", "--size", "8g", "--name", "pool00", "anaconda"])
    before = disks.digests()
    proc = onn("layout", "--adopt", "--vg", "anaconda", check=False)
    assert proc.returncode == 2
    assert "no separate /var volume" in proc.stderr
    assert disks.digests() == before


def test_vm_full_install_runs_few_lvm_commands(disks: Disks, images: dict[str, dict[str, object]]) -> None:
    """Every program goes through one runner, which logs its argv at debug level: count lvm."""
    img = images["tiny-ext4"]
    boot = disks.boot()
    pv = disks.add("pv0", 20 * GIB)
    proc = onn("-vv", "install", "--image", str(img["path"]), "--pv", pv, "--boot", boot)
    commands = [line for line in proc.stderr.splitlines() if "running argv=" in line]
    lvm = [line for line in commands if 'argv=["lvm"' in line]
    # 1 report + profile dir + vgcreate + pool + 7 volumes + base + protect + layer + its
    # commit tag + the VG's finish.
    assert len(lvm) == 16, "\n".join(lvm)
    assert not [line for line in commands if '["sh"' in line or '["bash"' in line]


def test_vm_check_fails_on_a_full_pool_and_without_autoextend(
    disks: Disks, images: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    img = images["tiny-ext4"]
    boot = disks.boot()
    pv = disks.add("pv0", 12 * GIB)
    onn("install", "--image", str(img["path"]), "--pv", pv, "--boot", boot, "--volumes", "minimal", "--pool-size", "1G")
    with Mounted(boot, tmp_path / "boot") as b:
        assert onn("check", "--boot", str(b)).returncode == 0
        # Fill the pool to 90 %, past imgbased's 80 % limit, through the /var volume. What the
        # install left in use varies from run to run, so the fill is measured.
        size, used = pool_used()
        mib = int((0.90 - used / 100) * size) >> 20
        run(["dd", "if=/dev/urandom", "of=/dev/onn/var", "bs=1M", f"count={mib}", "oflag=direct"])
        assert 85 < pool_used()[1] < 95
        full = onn("check", "--boot", str(b), "--json", check=False)
        assert full.returncode == 1
        items = {i["id"]: i for i in json.loads(full.stdout)["checks"]}
        assert not items["pool.data"]["ok"] and "limit 80" in items["pool.data"]["message"]
        # Without its metadata profile the pool never autoextends.
        run(["lvm", "lvchange", "--detachprofile", "onn/pool00"])
        items = {i["id"]: i for i in json.loads(onn("check", "--boot", str(b), "--json", check=False).stdout)["checks"]}
        assert not items["pool.autoextend"]["ok"] and "autoextend is off" in items["pool.autoextend"]["message"]
