"""The addon's D-Bus service on a real private dbus-daemon: kickstart in, properties, the
generated kickstart, the payload it activates, and its tasks. The service runs in its own
process as Anaconda starts it (`python3 -m org_ovirt_node.service`), against the pyanaconda
stand-ins in tests/addon/standins, or a real anaconda checkout (`make addon-compat`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import testdata
from dasbus.connection import AddressedMessageBus
from dasbus.error import DBusError
from dasbus.typing import get_native
from gi.repository import GLib
from testdata import IMAGES

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "org.fedoraproject.Anaconda.Addons.OvirtNode"
OBJECT = "/org/fedoraproject/Anaconda/Addons/OvirtNode"
PAYLOADS = "org.fedoraproject.Anaconda.Modules.Payloads"
GIB = 1 << 30
GOOD_LAYOUT = {
    "/": {"type": "lvmthinlv", "size": 20 * GIB, "pool_size": 40 * GIB, "path": "/dev/mapper/onn-root"},
    "/var": {"type": "lvmthinlv", "size": 15 * GIB, "pool_size": 40 * GIB},
    "/boot": {"type": "partition", "size": 1 * GIB},
}


def _wait(cond, what: str, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError(what)
        GLib.MainContext.default().iteration(False)
        time.sleep(0.02)


class Anaconda:
    """A private bus with the addon service and Anaconda's Payloads and Storage on it."""

    def __init__(self, tmp: Path, layout: dict[str, dict[str, object]], env: dict[str, str] | None = None) -> None:
        self.tmp = tmp
        self.daemon = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--print-address=1", f"--address=unix:dir={tmp}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.daemon.stdout is not None
        self.address = self.daemon.stdout.readline().strip()
        self.bus = AddressedMessageBus(self.address)
        self.env = env = {
            **os.environ,
            "DBUS_STARTER_ADDRESS": self.address,
            "ONN_ADDON_WORKDIR": str(tmp / "work"),
            "PYTHONPATH": os.pathsep.join([str(ROOT / "addon"), *os.environ.get("ONN_PYANACONDA", "").split(":")]),
            **(env or {}),
        }
        fake = ROOT / "tests/addon/fake_anaconda.py"
        self.procs = [
            subprocess.Popen([sys.executable, str(fake), self.address, json.dumps(layout)], env=env),
            subprocess.Popen(
                [sys.executable, "-m", "org_ovirt_node.service"], env=env, stderr=open(tmp / "service.log", "w")
            ),
        ]
        names = self.bus.proxy.ListNames
        try:
            _wait(lambda: {SERVICE, PAYLOADS} <= set(names()), "the services to appear on the bus")
        except TimeoutError:
            self.close()
            raise
        self.node = self.bus.get_proxy(SERVICE, OBJECT)

    def recorded(self) -> list[list[object]]:
        return json.loads(self.bus.get_proxy(PAYLOADS, "/" + PAYLOADS.replace(".", "/")).Recorded())

    def task(self, path: str):  # type: ignore[no-untyped-def]
        return self.bus.get_proxy(SERVICE, path)

    def close(self) -> None:
        self.bus.disconnect()
        for p in [*self.procs, self.daemon]:
            p.terminate()
            p.wait()


@pytest.fixture
def anaconda(tmp_path: Path) -> Iterator[Anaconda]:
    a = Anaconda(tmp_path, GOOD_LAYOUT)
    yield a
    a.close()


def _config(node) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return get_native(node.Configuration)


def _run(task) -> None:  # type: ignore[no-untyped-def]
    task.Start()
    _wait(lambda: not task.IsRunning, "the task to stop", timeout=60)
    task.Finish()


def test_kickstart_sets_the_configuration_and_signals_the_change(anaconda: Anaconda) -> None:
    changed: list[dict[str, object]] = []
    anaconda.node.PropertiesChanged.connect(lambda _iface, props, _inv: changed.append(get_native(props)))
    report = get_native(
        anaconda.node.ReadKickstart(
            "%addon org_ovirt_node --image=file:///srv/node.squashfs.img\n"
            "volumes = minimal\nroot-size = 20GiB\nkernel-arg = console=ttyS0\n%end\n"
        )
    )
    assert report["error-messages"] == []
    config = _config(anaconda.node)
    assert config["image-url"] == "file:///srv/node.squashfs.img"
    assert (config["volumes"], config["root-size"], config["kernel-args"]) == ("minimal", 20 * GIB, ["console=ttyS0"])
    assert anaconda.node.Kickstarted is True
    _wait(lambda: any("Configuration" in c for c in changed), "PropertiesChanged for Configuration")
    payload = next(c for c in changed if "Configuration" in c)["Configuration"]
    assert payload["volumes"] == "minimal" and payload["image-url"] == "file:///srv/node.squashfs.img"


def test_a_bad_kickstart_is_reported_with_its_line_and_changes_nothing(anaconda: Anaconda) -> None:
    before = _config(anaconda.node)
    report = get_native(anaconda.node.ReadKickstart("%addon org_ovirt_node\nvolumes = lots\n%end\n"))
    (error,) = report["error-messages"]
    # Anaconda's AddonSection counts only the lines pykickstart hands it (not blank ones).
    assert error["line-number"] == 2
    assert "volumes = lots is not valid; use default, minimal or none" in error["message"]
    assert _config(anaconda.node) == before
    assert anaconda.node.Kickstarted is False


def test_the_generated_kickstart_round_trips(anaconda: Anaconda) -> None:
    text = (
        "%addon org_ovirt_node --image=http://pxe.example/node.squashfs.img --sha256="
        + "ab" * 32
        + " --proxy=http://proxy:3128\nvolumes = none\npool = thin\npool-metadata = 2GiB\n%end\n"
    )
    assert get_native(anaconda.node.ReadKickstart(text))["error-messages"] == []
    generated = anaconda.node.GenerateKickstart()
    assert "%addon org_ovirt_node --image=http://pxe.example/node.squashfs.img" in generated
    assert get_native(anaconda.node.ReadKickstart(generated))["error-messages"] == []
    assert anaconda.node.GenerateKickstart() == generated


def test_setting_the_configuration_is_validated_like_the_kickstart(anaconda: Anaconda) -> None:
    config = anaconda.node.Configuration
    native = get_native(config)
    native["volumes"] = "bogus"
    with pytest.raises(DBusError, match="volumes = bogus is not valid"):
        anaconda.node.Configuration = _structure(native)
    native["volumes"] = "none"
    native["kernel-args"] = ["quiet", "console=ttyS0"]
    anaconda.node.Configuration = _structure(native)
    assert _config(anaconda.node)["kernel-args"] == ["quiet", "console=ttyS0"]
    assert "kernel-arg = console=ttyS0" in anaconda.node.GenerateKickstart()


def _structure(native: dict[str, object]) -> dict[str, GLib.Variant]:
    sig = {bool: "b", int: "t", str: "s", list: "as"}
    return {k: GLib.Variant(sig[type(v)], v) for k, v in native.items()}


def test_the_kickstart_activates_a_payload_of_boot_files_only(anaconda: Anaconda) -> None:
    anaconda.node.ReadKickstart("%addon org_ovirt_node\n%end\n")
    calls = anaconda.recorded()
    assert [c[0] for c in calls] == ["CreatePayload", "CreateSource", "Configuration", "Sources", "ActivatePayload"]
    (_, ptype, payload), (_, stype, source) = calls[0], calls[1]
    assert (ptype, stype) == ("LIVE_IMAGE", "LIVE_TAR")
    assert calls[2][2]["url"] == f"file://{anaconda.tmp}/work/node-boot.tar"
    assert calls[3][1:] == [payload, [source]]
    assert calls[4] == ["ActivatePayload", payload]


def test_the_configure_task_verifies_the_image_and_makes_the_payload(anaconda: Anaconda) -> None:
    img = IMAGES["tiny-ext4"]
    anaconda.node.ReadKickstart(f"%addon org_ovirt_node --image=file://{img['path']} --sha256={img['sha256']}\n%end\n")
    (path,) = anaconda.node.ConfigureWithTasks()
    task = anaconda.task(path)
    assert task.Name == "Verify the Node image and the storage layout"
    _run(task)
    import tarfile

    with tarfile.open(anaconda.tmp / "work/node-boot.tar") as tar:
        names = tar.getnames()
    kver = img["kernel_versions"][0]
    assert sorted(names) == sorted(["./boot", f"./boot/vmlinuz-{kver}", f"./boot/initramfs-{kver}.img"])
    assert [p for p in (anaconda.node.ConfigureBootloaderWithTasks([kver]), anaconda.node.InstallWithTasks())]
    assert anaconda.task(anaconda.node.InstallWithTasks()[0]).Name == "Finish the Node boot entries"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # onn's plan of the installer's storage: the engine's rules, their translated messages.
        ({"/": {"type": "lvmlv", "size": 20 * GIB}}, "/ must be a thin logical volume"),
        ({"/var": None}, "/var must be a logical volume of its own"),
        ({"/var": {"type": "lvmthinlv", "size": 4 * GIB, "pool_size": 40 * GIB}}, "/var must be at least 5 GiB"),
        ({"/boot": {"type": "partition", "size": 500 << 20}}, "/boot must be at least 1 GiB"),
        (
            {"/boot": {"type": "lvmlv", "size": GIB, "path": "/dev/mapper/onn-boot"}},
            "/boot must be a partition outside LVM",
        ),
        # a pool too small to grow its metadata to imgbased's 1 GiB
        (
            {
                "/": {"type": "lvmthinlv", "size": 20 * GIB, "pool_size": 100 << 20},
                "/var": {"type": "lvmthinlv", "size": 15 * GIB, "pool_size": 100 << 20},
            },
            "no free space to grow the pool's metadata",
        ),
    ],
)
def test_the_configure_task_refuses_storage_a_node_cannot_use(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    layout = {k: v for k, v in {**GOOD_LAYOUT, **change}.items() if v is not None}
    a = Anaconda(tmp_path, layout)  # type: ignore[arg-type]
    try:
        img = IMAGES["tiny-ext4"]
        a.node.ReadKickstart(f"%addon org_ovirt_node --image=file://{img['path']}\n%end\n")
        (path,) = a.node.ConfigureWithTasks()
        with pytest.raises(DBusError, match=message):
            _run(a.task(path))
        with tarfile.open(tmp_path / "work/node-boot.tar") as tar:
            assert tar.getnames() == []  # the archive reserved for the payload; nothing exported
    finally:
        a.close()


def test_without_the_boot_files_payload_the_configure_task_stops_and_says_what_to_add(anaconda: Anaconda) -> None:
    """An interactive start reads no kickstart: no payload was activated (on RHEL 9 the
    installer keeps it to itself); nothing may be written then."""
    native = _config(anaconda.node)
    native["image-url"] = f"file://{IMAGES['tiny-ext4']['path']}"
    anaconda.node.Configuration = _structure(native)
    (path,) = anaconda.node.ConfigureWithTasks()
    with pytest.raises(DBusError, match=r"payload is none.*liveimg --url=file://.*/work/node-boot\.tar"):
        _run(anaconda.task(path))
    assert not (anaconda.tmp / "work").exists()


def test_at_the_bootloader_hook_the_glue_rewrites_storage_config_and_appends_kernel_arguments(
    anaconda: Anaconda,
) -> None:
    """service/anaconda.py's calls into Storage and the Bootloader, from a process like the
    service's (InstallImageTask makes them after switching the system root)."""
    anaconda.node.ReadKickstart("%addon org_ovirt_node\n%end\n")  # activates the LIVE_IMAGE payload
    code = (
        "from org_ovirt_node.service import anaconda as glue\n"
        "glue.write_storage_configuration()\n"
        "glue.add_kernel_arguments(['console=ttyS0', 'crashkernel=auto'])\n"
    )
    subprocess.run([sys.executable, "-c", code], env=anaconda.env, check=True)
    calls = anaconda.recorded()[5:]
    task = calls[0][2]
    assert calls == [
        ["WriteConfigurationWithTask", "LIVE_IMAGE", task],
        ["Start", task],
        ["Finish", task],
        ["ExtraArguments", ["crashkernel=auto", "console=ttyS0"]],
    ]


def _configure_image(anaconda: Anaconda, sha256: str | None = None, **changes: object) -> dict[str, object]:
    img = IMAGES["tiny-ext4"]
    native = _config(anaconda.node)
    native.update({"image-url": f"file://{img['path']}", "sha256": sha256 or img["sha256"], **changes})
    anaconda.node.Configuration = _structure(native)
    return img


def _watch(anaconda: Anaconda, name: str) -> list[dict[str, object]]:
    seen: list[dict[str, object]] = []
    anaconda.node.PropertiesChanged.connect(
        lambda _i, props, _inv: seen.append(get_native(props)[name]) if name in props else None
    )
    return seen


def test_the_image_check_reports_verifying_then_the_image_facts(anaconda: Anaconda) -> None:
    img = _configure_image(anaconda)
    seen = _watch(anaconda, "ImageInfo")
    assert get_native(anaconda.node.ImageInfo)["state"] == "unverified"
    task = anaconda.task(anaconda.node.CheckImageWithTask())
    assert task.Name == "Check the Node image"
    _run(task)
    _wait(lambda: len(seen) == 2, "PropertiesChanged for ImageInfo twice")
    assert [s["state"] for s in seen] == ["verifying", "verified"]
    assert seen[1] == get_native(anaconda.node.ImageInfo)
    assert (seen[1]["path"], seen[1]["nvr"], seen[1]["kernel"]) == (img["path"], img["nvr"], img["kernel_versions"][0])
    assert seen[1]["size"] == Path(img["path"]).stat().st_size
    # A new data-volume choice keeps the verified image; a new image starts over.
    _configure_image(anaconda, volumes="minimal")
    assert get_native(anaconda.node.ImageInfo)["state"] == "verified"
    _configure_image(anaconda, sha256="0" * 64)
    assert get_native(anaconda.node.ImageInfo)["state"] == "unverified"


def test_a_wrong_checksum_is_a_mismatch_with_onns_error_id(anaconda: Anaconda) -> None:
    _configure_image(anaconda, sha256="0" * 64)
    _run(anaconda.task(anaconda.node.CheckImageWithTask()))
    info = get_native(anaconda.node.ImageInfo)
    assert (info["state"], info["message-id"]) == ("mismatch", "sha256.mismatch")
    assert "0" * 64 in info["message"]


def test_a_missing_image_is_an_error_that_says_what_to_check(anaconda: Anaconda) -> None:
    native = _config(anaconda.node)
    native["image-url"] = "file:///nonexistent/node.squashfs.img"
    anaconda.node.Configuration = _structure(native)
    _run(anaconda.task(anaconda.node.CheckImageWithTask()))
    info = get_native(anaconda.node.ImageInfo)
    assert info["state"] == "error"
    assert "/nonexistent/node.squashfs.img does not exist; check --image" in info["message"]


def test_a_signed_rpm_is_checked_with_its_key_and_the_check_names_the_signer(anaconda: Anaconda) -> None:
    signed = testdata.signed()
    anaconda.node.ReadKickstart(
        f"%addon org_ovirt_node --image=file://{signed['tiny.rpm']} --gpgkey=file://{signed['release.asc']}\n%end\n"
    )
    _run(anaconda.task(anaconda.node.CheckImageWithTask()))
    info = get_native(anaconda.node.ImageInfo)
    assert info["state"] == "verified", info
    assert (info["nvr"], info["signer-user-id"]) == (
        IMAGES["tiny-ext4"]["nvr"],
        "onn test release key <release@onn.test>",
    )
    assert len(info["signer-key-id"]) == 16 and info["package"] == "ovirt-node-ng-image-update-4.5.6-1.noarch"
    # The squashfs came out of the RPM into the work directory, verified by its file digest.
    assert info["path"] == str(anaconda.tmp / "work" / f"{IMAGES['tiny-ext4']['nvr']}.squashfs.img")
    # The generated kickstart keeps the key.
    assert f"--gpgkey=file://{signed['release.asc']}" in anaconda.node.GenerateKickstart()


def test_a_tampered_rpm_with_a_key_stops_the_install_before_any_disk_is_written(anaconda: Anaconda) -> None:
    """The kickstart names the release key and an RPM whose payload was changed after it was
    signed: the image check says so with onn's id, and the configure task, which runs before
    Anaconda creates any storage, fails; the payload's tarball stays empty."""
    signed = testdata.signed()
    anaconda.node.ReadKickstart(
        f"%addon org_ovirt_node --image=file://{signed['tiny-payload-changed.rpm']}"
        f" --gpgkey=file://{signed['release.asc']}\n%end\n"
    )
    _run(anaconda.task(anaconda.node.CheckImageWithTask()))
    info = get_native(anaconda.node.ImageInfo)
    assert (info["state"], info["message-id"]) == ("error", "rpm.tampered"), info
    assert "was changed after it was built: it does not match its own digests" in info["message"]
    (path,) = anaconda.node.ConfigureWithTasks()
    task = anaconda.task(path)
    task.Start()
    _wait(lambda: not task.IsRunning, "the task to stop", timeout=60)
    with pytest.raises(DBusError, match="its payload does not match the digest in its header"):
        task.Finish()
    with tarfile.open(anaconda.tmp / "work/node-boot.tar") as tar:
        assert tar.getnames() == []
    # Nothing of the RPM's image is left in the work directory.
    assert not list((anaconda.tmp / "work").glob("*.squashfs.img*"))


def test_the_storage_preview_is_onns_plan_for_the_installers_devices(anaconda: Anaconda) -> None:
    assert get_native(anaconda.node.GetStoragePreview())["state"] == "no-image"
    img = _configure_image(anaconda)
    _run(anaconda.task(anaconda.node.CheckImageWithTask()))
    preview = get_native(anaconda.node.GetStoragePreview())
    assert preview["state"] == "ready", preview
    assert (preview["vg"], preview["pool"], preview["pool-size"]) == ("onn", "pool00", 40 * GIB)
    assert (preview["base"], preview["layer"]) == (img["nvr"], img["nvr"] + "+1")
    # The installer's /var (15 GiB) and the NIST volumes it did not make.
    mounts = dict(zip(preview["volume-mounts"], preview["volume-sizes"], strict=True))
    assert list(mounts) == ["/home", "/tmp", "/var", "/var/crash", "/var/log", "/var/log/audit", "/var/tmp"]
    assert mounts["/var"] == 15 * GIB and mounts["/var/crash"] == 10 * GIB
    assert 0 < preview["pool-free-after"] < preview["pool-size"]
    _configure_image(anaconda, volumes="minimal")
    minimal = get_native(anaconda.node.GetStoragePreview())
    assert (minimal["volume-mounts"], minimal["volume-sizes"]) == (["/var"], [15 * GIB])


@pytest.mark.parametrize(
    ("layout", "state", "message_id"),
    [
        ({"/boot": GOOD_LAYOUT["/boot"]}, "no-storage", ""),
        ({**GOOD_LAYOUT, "/": {"type": "lvmlv", "size": 20 * GIB}}, "refused", "root.not-thin"),
        ({**GOOD_LAYOUT, "/boot": {"type": "partition", "size": 500 << 20}}, "refused", "boot.too-small"),
        ({k: v for k, v in GOOD_LAYOUT.items() if k != "/var"}, "refused", "var.not-separate"),
    ],
)
def test_the_storage_preview_says_when_there_is_no_plan_and_why(
    tmp_path: Path, layout: dict[str, dict[str, object]], state: str, message_id: str
) -> None:
    a = Anaconda(tmp_path, layout)
    try:
        _configure_image(a)
        _run(a.task(a.node.CheckImageWithTask()))
        preview = get_native(a.node.GetStoragePreview())
        assert (preview["state"], preview["message-id"]) == (state, message_id), preview
    finally:
        a.close()


def test_leaving_the_spoke_activates_the_boot_files_payload_once(anaconda: Anaconda) -> None:
    """No kickstart was read (an interactive install): the spoke's ActivatePayload makes the
    payload the configure task needs; a second call changes nothing."""
    seen = _watch(anaconda, "PayloadActive")
    assert anaconda.node.PayloadActive is False
    _configure_image(anaconda)
    anaconda.node.ActivatePayload()
    anaconda.node.ActivatePayload()
    _wait(lambda: seen == [True], "PropertiesChanged for PayloadActive")
    assert anaconda.node.PayloadActive is True
    assert [c[0] for c in anaconda.recorded()] == [
        "CreatePayload",
        "CreateSource",
        "Configuration",
        "Sources",
        "ActivatePayload",
    ]
    (path,) = anaconda.node.ConfigureWithTasks()
    _run(anaconda.task(path))
    assert (anaconda.tmp / "work/node-boot.tar").is_file()
