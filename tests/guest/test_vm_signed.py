"""Signed images into real LVM (guest tier): oVirt's image-update RPM over http, with its release
key over http too, installs and passes `onn check`; a detached signature served beside a bare
squashfs is found by itself. The keys and RPMs are tests/images/signed.py's (gnupg, rpmbuild,
rpmsign), shaped like `ovirt-node-ng-image-update`. The refusals are the bad-input corpus's
(tests/bad/cases.toml, run in the guest by test_vm_bad.py with the disks byte-identical).

The server runs inside the guest, on its loopback (see test_vm_fetch.py)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from guestlib import GIB, Disks, Mounted, onn
from imageserver import ImageServer
from test_vm_install import assert_imgbased_layout

RELEASE_UID = "onn test release key <release@onn.test>"


def test_vm_install_from_a_signed_rpm_over_http_passes_check(
    disks: Disks, images: dict[str, dict[str, object]], signed: dict[str, str], tmp_path: Path
) -> None:
    demo = images["demo-1.0"]
    nvr = str(demo["nvr"])
    boot = disks.boot()
    pv = disks.add("pv0", 20 * GIB)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    rpm = "ovirt-node-ng-image-update-4.5.6-1.noarch.rpm"
    files = {rpm: Path(signed["demo.rpm"]), "RPM-GPG-KEY-onn": Path(signed["release.asc"])}
    progress = tmp_path / "progress.jsonl"
    with ImageServer(files) as s, progress.open("w") as fd:
        argv = [os.environ["ONN_BIN"], "install", "--image", s.url(rpm), "--gpg-key", s.url("RPM-GPG-KEY-onn"),
                "--pv", pv, "--boot", boot, "--volumes", "minimal", "--download-dir", str(downloads),
                "--progress-fd", str(fd.fileno())]  # fmt: skip
        proc = subprocess.run(argv, capture_output=True, text=True, pass_fds=(fd.fileno(),), check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Package:    ovirt-node-ng-image-update-4.5.6-1.noarch" in proc.stdout
    assert f"Signed by:  {RELEASE_UID} (key " in proc.stdout, proc.stdout
    layer = f"{nvr}+1"
    assert_imgbased_layout(nvr, layer, ["var"])
    with Mounted(boot, tmp_path / "boot") as b:
        check = onn("check", "--boot", str(b), check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    # The install report in the layer names the RPM and its verified signer, and the URL given.
    with Mounted("/dev/onn/var", tmp_path / "var") as var:
        (report,) = [json.loads(p.read_text()) for p in (var / "log/onn").iterdir()]
    image = report["image"]
    assert image["source"] == s.url(rpm) and image["package"] == "ovirt-node-ng-image-update-4.5.6-1.noarch"
    assert image["signer"]["user_id"] == RELEASE_UID and len(image["signer"]["key_id"]) == 16, image
    # Downloaded, then unpacked once: the squashfs streamed out as it arrived, each event's
    # bytes rising to the image's size; nothing left behind.
    steps = [json.loads(line) for line in progress.read_text().splitlines()]
    extract = [e for e in steps if e["step"] == "image.extract"]
    assert extract and (extract[-1]["done"], extract[-1]["size"]) == (demo["image_size"], demo["image_size"])
    assert [e["done"] for e in extract] == sorted(e["done"] for e in extract)
    assert list(downloads.iterdir()) == []


def test_vm_a_detached_signature_beside_a_remote_squashfs_is_found(
    disks: Disks, images: dict[str, dict[str, object]], signed: dict[str, str], tmp_path: Path
) -> None:
    tiny = images["tiny-ext4"]
    boot = disks.boot()
    pv = disks.add("pv0", 12 * GIB)
    files = {"node.squashfs.img": Path(str(tiny["path"])), "node.squashfs.img.asc": Path(signed["tiny.asc"])}
    with ImageServer(files) as s:
        proc = onn("install", "--image", s.url("node.squashfs.img"), "--gpg-key", signed["release.gpg"],
                   "--pv", pv, "--boot", boot, "--volumes", "minimal", "--download-dir", str(tmp_path))  # fmt: skip
        # It asked for the .sig first, then took the .asc.
        asked = [r.path for r in s.requests if r.path.endswith((".sig", ".asc"))]
    assert asked == ["/node.squashfs.img.sig", "/node.squashfs.img.asc"]
    assert f"Signed by:  {RELEASE_UID}" in proc.stdout
    assert onn("list").stdout.startswith(str(tiny["nvr"]))
