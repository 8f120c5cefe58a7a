"""The storage preview's description of the installer's device tree in onn's terms (pure),
planned by the real engine (onn.plan_for_installer) with a real image's facts."""

from __future__ import annotations

import onn
import pytest
from org_ovirt_node.kickstart import NodeKickstart
from org_ovirt_node.preview import Device, image_data, image_failure, installer_storage, storage_preview
from testdata import Image

GIB = 1 << 30
IMAGE = Image("tiny-ext4")


def _tree(vg: str = "node-vg") -> tuple[dict[str, str], dict[str, Device]]:
    """What autopart --type=thinp makes, as the device tree names it (dashes doubled)."""
    m = vg.replace("-", "--")
    devices = [
        Device("d", "disk", "vda", "/dev/vda", 60 * GIB, (), ("p1", "p2")),
        Device("p1", "partition", "vda1", "/dev/vda1", GIB, ("d",)),
        Device("p2", "partition", "vda2", "/dev/vda2", 59 * GIB, ("d",), ("vg",)),
        Device("vg", "lvmvg", vg, f"/dev/{vg}", 59 * GIB, ("p2",), ("pool",)),
        Device("pool", "lvmthinpool", f"{m}-pool00", "", 45 * GIB, ("vg",), ("root", "var", "log")),
        Device("root", "lvmthinlv", f"{m}-root", f"/dev/mapper/{m}-root", 20 * GIB, ("pool",), (), "xfs"),
        Device("var", "lvmthinlv", f"{m}-var", f"/dev/mapper/{m}-var", 6 * GIB, ("pool",), (), "xfs"),
        Device("log", "lvmthinlv", f"{m}-var_log", f"/dev/mapper/{m}-var_log", 8 * GIB, ("pool",), (), "xfs"),
    ]
    return {"/": "root", "/var": "var", "/var/log": "log", "/boot": "p1"}, {d.id: d for d in devices}


def test_the_installers_thin_layout_is_described_in_onns_terms() -> None:
    storage = installer_storage(*_tree())
    assert storage is not None
    assert (storage["vg"]["name"], storage["vg"]["free"]) == ("node-vg", 14 * GIB)
    assert storage["root"] == {"name": "root", "size": 20 * GIB, "mount": "/", "thin": True, "fs": "xfs"}
    assert storage["pool"] == {"name": "pool00", "size": 45 * GIB}
    assert sorted((v["name"], v["mount"], v["size"]) for v in storage["volumes"]) == [
        ("var", "/var", 6 * GIB),
        ("var_log", "/var/log", 8 * GIB),
    ]
    assert storage["boot"]["device"] == "/dev/vda1"


def test_nothing_at_root_means_storage_is_not_configured() -> None:
    mounts, devices = _tree()
    del mounts["/"]
    assert installer_storage(mounts, devices) is None
    assert storage_preview(NodeKickstart(), None, None).state == "no-storage"


def test_the_preview_is_the_engines_plan_and_follows_the_volume_choice() -> None:
    image = onn.read_image(IMAGE["path"])
    storage = installer_storage(*_tree())
    default = storage_preview(NodeKickstart(), image, storage)
    assert (default.state, default.vg, default.pool, default.base) == ("ready", "node-vg", "pool00", IMAGE["nvr"])
    assert default.layer == IMAGE["nvr"] + "+1"
    assert len(default.volume_mounts) == 7
    minimal = storage_preview(NodeKickstart(volumes="minimal"), image, storage)
    assert minimal.volume_mounts == ["/var", "/var/log"]
    assert minimal.volume_sizes == [6 * GIB, 8 * GIB]
    other = storage_preview(NodeKickstart(vg="data"), image, storage)
    assert (other.state, other.message_id) == ("refused", "root.other-vg")


def test_a_root_outside_lvm_is_refused_in_onns_words() -> None:
    mounts, devices = _tree()
    mounts["/"] = "p2"
    preview = storage_preview(NodeKickstart(), onn.read_image(IMAGE["path"]), installer_storage(mounts, devices))
    assert (preview.state, preview.message_id) == ("refused", "root.not-thin")


def test_image_outcomes_carry_the_facts_or_onns_error_id() -> None:
    image = onn.read_image(IMAGE["path"])
    data = image_data(image)
    assert (data.state, data.nvr, data.kernel) == ("verified", IMAGE["nvr"], IMAGE["kernel_versions"][0])
    with pytest.raises(onn.Error) as bad:
        onn.read_image(IMAGE["path"], sha256="1" * 64)
    try:
        raise RuntimeError("the Node image cannot be used") from bad.value
    except RuntimeError as e:
        failure = image_failure(IMAGE["path"], e)
    assert (failure.state, failure.message_id) == ("mismatch", "sha256.mismatch")
    assert image_failure("/x", RuntimeError("no such file")).state == "error"
