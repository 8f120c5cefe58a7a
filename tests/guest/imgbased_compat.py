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
from pathlib import Path

import pytest
from guestlib import GIB, Disks, blkid, lvs, onn, run, shell_var
from hostlib import Host, assert_check_ok, entries, python_packages, saved_entry


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
