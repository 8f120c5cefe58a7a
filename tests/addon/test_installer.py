"""NodeInstaller's pure parts: the sysroot switch as argv (golden, beside the real run in
tests/guest/test_vm_anaconda_order.py) and which boot entries boot the installer's root; and
its download of an http(s) image, by onn, from a real server on loopback."""

from __future__ import annotations

import os
import tarfile
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import onn
import pytest
from imageserver import Fault, ImageServer, make_test_ca, tinyproxy
from org_ovirt_node.installer import DOWNLOAD_ERRORS, InstallError, NodeInstaller
from org_ovirt_node.kickstart import NodeKickstart
from testdata import IMAGES


def _mountinfo(tmp: Path, rows: list[tuple[str, str, str]]) -> str:
    lines = [
        f"{i} 1 253:{i} / {target} rw,relatime shared:{i} - {fstype} {source} rw"
        for i, (target, source, fstype) in enumerate(rows, 20)
    ]
    path = tmp / "mountinfo"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_switching_the_sysroot_runs_these_commands(tmp_path: Path) -> None:
    img, root = f"{tmp_path}/sysimage", f"{tmp_path}/sysroot"
    rows = [
        ("/", "/dev/vda3", "ext4"),
        (img, "/dev/mapper/onn-root", "ext4"),
        (f"{img}/boot", "/dev/vda1", "ext4"),
        (f"{img}/var", "/dev/mapper/onn-var", "ext4"),
        (f"{img}/var/log", "/dev/mapper/onn-var_log", "ext4"),
        (f"{img}/dev", "devtmpfs", "devtmpfs"),
        (f"{img}/dev/pts", "devpts", "devpts"),
        (f"{img}/proc", "proc", "proc"),
        (root, "/dev/mapper/onn-root", "ext4"),
        (f"{root}/boot", "/dev/vda1", "ext4"),
        (f"{img}.old", "/dev/vdb1", "ext4"),  # a sibling whose name starts alike
    ]
    calls: list[list[str]] = []

    def record(argv: Sequence[str]) -> str:
        calls.append(list(argv))
        return ""

    inst = NodeInstaller(
        NodeKickstart(), sysroot=root, sysimage=img, runner=record, mountinfo=_mountinfo(tmp_path, rows)
    )
    inst.outcome = SimpleNamespace(vg="onn", layer="onn-node-1.0-1+1")  # type: ignore[assignment]
    bound = inst.switch_sysroot()
    assert bound == ["boot", "var", "dev", "proc"]
    assert calls == [
        ["mount", "--make-rprivate", root],
        ["umount", "--recursive", root],
        ["mount", "/dev/onn/onn-node-1.0-1+1", root],
        ["mount", "--rbind", f"{img}/boot", f"{root}/boot"],
        ["mount", "--rbind", f"{img}/var", f"{root}/var"],
        ["mount", "--rbind", f"{img}/dev", f"{root}/dev"],
        ["mount", "--rbind", f"{img}/proc", f"{root}/proc"],
    ]
    assert all(isinstance(c, list) and all(isinstance(a, str) for a in c) for c in calls)


def test_only_entries_booting_the_installers_root_are_the_installers(tmp_path: Path) -> None:
    entries = tmp_path / "loader/entries"
    entries.mkdir(parents=True)

    def boots(options: str, root: str = "/dev/mapper/onn-root") -> bool:
        for old in entries.iterdir():
            old.unlink()
        (entries / "e.conf").write_text(f"title x\nlinux /vmlinuz\noptions {options}\n")
        return onn.entries_booting(str(tmp_path), root) == ["e.conf"]

    assert boots("root=/dev/mapper/onn-root ro rd.lvm.lv=onn/root")
    assert boots("root=/dev/onn/root ro")
    assert boots("ro rd.lvm.lv=onn/root quiet")
    assert not boots("root=/dev/onn/onn-node-1.0-1+1 rd.lvm.lv=onn/onn-node-1.0-1+1")
    assert not boots("root=/dev/mapper/onn-rootfs")
    # Dashes in VG and LV names are doubled in device-mapper names.
    assert boots("rd.lvm.lv=my-vg/root-lv", "/dev/mapper/my--vg-root--lv")


def test_the_mount_table_undoes_octal_escapes_and_keeps_utf8(tmp_path: Path) -> None:
    path = tmp_path / "mountinfo"
    path.write_text("36 35 98:0 / /mnt/my\\040disk-é rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n")
    (m,) = onn.mount_table(str(path))
    assert (m["target"], m["source"], m["fstype"]) == ("/mnt/my disk-é", "/dev/root", "ext3")


def _tiny() -> dict[str, str]:
    return IMAGES["tiny-ext4"]


def test_an_http_image_is_downloaded_by_onn_resumed_and_verified(tmp_path: Path) -> None:
    img = _tiny()
    with ImageServer({"node.squashfs.img": Path(img["path"])}, fault=Fault(drop_at=5 << 20)) as s:
        ks = NodeKickstart(image=s.url("node.squashfs.img"), sha256=img["sha256"])
        inst = NodeInstaller(ks, workdir=str(tmp_path / "onn"))
        messages: list[str] = []
        info = inst.verify_image(progress=messages.append)
    assert (info.nvr, info.sha256) == (img["nvr"], img["sha256"])
    assert info.path == inst.image_path == str(tmp_path / "onn" / "node.squashfs.img")
    assert os.listdir(tmp_path / "onn") == ["node.squashfs.img"]
    assert s.ranges == [None, f"bytes={5 << 20}-"]
    assert messages[0] == "Downloading the Node image: 0 %"
    assert messages[-1] == "Downloading the Node image: 100 %"


def test_the_kickstarts_proxy_carries_the_download(tmp_path: Path) -> None:
    img = _tiny()
    with ImageServer({"node.squashfs.img": Path(img["path"])}) as s, tinyproxy(tmp_path / "proxy") as (proxy, log):
        ks = NodeKickstart(image=s.url("node.squashfs.img"), sha256=img["sha256"], proxy=proxy)
        NodeInstaller(ks, workdir=str(tmp_path / "onn")).locate_image()
        assert f"CONNECT 127.0.0.1:{s.port} HTTP/1.1" in log.read_text()


def _refusal(tmp_path: Path, ks: NodeKickstart) -> str:
    workdir = tmp_path / "onn"
    with pytest.raises(InstallError) as e:
        NodeInstaller(ks, workdir=str(workdir)).locate_image()
    # Nothing of the download is left, at most the reason for a kickstart's %onerror.
    assert set(os.listdir(workdir)) <= {NodeInstaller.ERROR_NAME}
    return str(e.value)


def test_download_refusals_are_the_addons_sentences_then_onns_detail(tmp_path: Path) -> None:
    img = _tiny()
    with ImageServer({"node.squashfs.img": Path(img["path"])}) as s:
        url = s.url("node.squashfs.img")
        missing = s.url("missing.img")
        text = _refusal(tmp_path, NodeKickstart(image=missing))
        assert text == (
            f"The Node image {missing} does not exist on the server; check --image.\n"
            f"onn: {missing} does not exist on the server (HTTP 404 Not Found); check the URL"
        )
        s.reset(Fault(corrupt_at=100))
        text = _refusal(tmp_path, NodeKickstart(image=url, sha256=img["sha256"]))
        assert text.startswith(
            f"The downloaded Node image {url} does not match --sha256: it is damaged, or not the image you meant.\n"
            f"onn: checksum mismatch for {url}"
        )
        s.reset(Fault(length_lie=4096))
        text = _refusal(tmp_path, NodeKickstart(image=url))
        assert text.startswith(f"The server does not have the whole Node image {url} it announces;")
        # Credentials in the URL are not shown.
        secret = url.replace("://", "://node:s3cret@")
        s.reset(Fault(status=403))
        text = _refusal(tmp_path, NodeKickstart(image=secret))
        assert text.startswith(f"The server refused to send the Node image {url};") and "s3cret" not in text
    with ImageServer({"node.squashfs.img": Path(img["path"])}, tls=make_test_ca(tmp_path / "ca")) as tls:
        url = tls.url("node.squashfs.img")
        text = _refusal(tmp_path, NodeKickstart(image=url))
        assert text.startswith(f"The TLS certificate of the server of {url} is not trusted;")
        # --noverifyssl reaches onn: the same server is then accepted.
        inst = NodeInstaller(NodeKickstart(image=url, noverifyssl=True), workdir=str(tmp_path / "insecure"))
        assert inst.locate_image() == str(tmp_path / "insecure" / "node.squashfs.img")


def test_every_download_error_id_of_onn_has_a_sentence_in_the_addon() -> None:
    ids = {i for i in onn.ERROR_IDS if i.startswith("download.")}
    assert ids and ids <= set(DOWNLOAD_ERRORS), ids - set(DOWNLOAD_ERRORS)


def test_an_image_the_host_could_not_update_is_logged_and_refused_only_when_strict(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    img = _tiny()  # a bare test tree: no Node name, no rpm database, …
    ks = NodeKickstart(seen=True, image=f"file://{img['path']}")
    with caplog.at_level("WARNING"):
        image = NodeInstaller(ks, workdir=str(tmp_path / "onn")).verify_image()
    assert [i for i, _m in image.warnings][:2] == ["image.update.name", "image.update.release-cpe"]
    assert "(image.update.name)" in caplog.text
    strict = NodeKickstart(seen=True, image=f"file://{img['path']}", strict=True)
    with pytest.raises(InstallError, match=r"cannot be used \(--strict\): Its name has neither") as e:
        NodeInstaller(strict, workdir=str(tmp_path / "onn")).verify_image()
    assert e.value.id == "image.update.name"


def test_the_payloads_tarball_exists_before_the_image_is_verified_and_is_filled_in_place(tmp_path: Path) -> None:
    """Anaconda sets up the payload's source (the file must exist) right after the kickstart,
    before the addon's configuration task has verified the image: an empty archive is there
    until the boot files replace it, at the same URL."""
    img = IMAGES["demo-1.0"]
    installer = NodeInstaller(NodeKickstart(seen=True, image=f"file://{img['path']}"), workdir=str(tmp_path / "onn"))
    url = installer.reserve_payload()
    path = Path(url.removeprefix("file://"))
    with tarfile.open(path) as tar:
        assert tar.getnames() == []
    assert installer.reserve_payload() == url
    assert installer.export_payload() == str(path)
    with tarfile.open(path) as tar:
        names = tar.getnames()
    assert f"./boot/vmlinuz-{img['kernel_versions'][0]}" in names
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []


def test_why_the_image_was_refused_is_kept_for_the_kickstarts_onerror(tmp_path: Path) -> None:
    """A wrong checksum stops the install; its reason waits in the work directory for a
    kickstart's %onerror to post (kickstart/foreman/onn-node.erb posts it to Foreman's `failed`)."""
    img = IMAGES["tiny-ext4"]
    workdir = tmp_path / "onn"
    ks = NodeKickstart(image=f"file://{img['path']}", sha256="0" * 64)
    with pytest.raises(InstallError) as e:
        NodeInstaller(ks, workdir=str(workdir)).verify_image()
    kept = (workdir / NodeInstaller.ERROR_NAME).read_text()
    assert kept == f"{e.value}\n" and "checksum mismatch" in kept and "0" * 64 in kept
    assert not (workdir / NodeInstaller.REPORT_NAME).exists()
