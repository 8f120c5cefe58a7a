"""The storage preview's translation of the installer's device tree into onn's facts (pure),
planned by the real engine (onn.plan_from_facts) with a real image's facts."""

from __future__ import annotations

import onn
import pytest
from org_ovirt_node.ksdata import NodeKickstart
from org_ovirt_node.preview import Device, image_data, image_failure, storage_facts, storage_preview
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
        Device("root", "lvmthinlv", f"{m}-root", f"/dev/mapper/{m}-root", 20 * GIB, ("pool",)),
        Device("var", "lvmthinlv", f"{m}-var", f"/dev/mapper/{m}-var", 6 * GIB, ("pool",)),
        Device("log", "lvmthinlv", f"{m}-var_log", f"/dev/mapper/{m}-var_log", 8 * GIB, ("pool",)),
    ]
    return {"/": "root", "/var": "var", "/var/log": "log", "/boot": "p1"}, {d.id: d for d in devices}


def test_the_installers_thin_layout_becomes_lvm_rows_onn_reads() -> None:
    facts = storage_facts(*_tree())
    assert facts is not None
    (vg,) = facts["lvm"]["vgs"]  # type: ignore[index]
    assert (vg["vg_name"], int(vg["vg_free"])) == ("node-vg", 14 * GIB)
    assert facts["root_lv"]["lv_name"] == "root" and facts["root_lv"]["pool_lv"] == "pool00"  # type: ignore[index]
    assert facts["root_volumes"] == [
        {"lv": "var", "mount": "/var", "size": 6 * GIB},
        {"lv": "var_log", "mount": "/var/log", "size": 8 * GIB},
    ]
    assert facts["boot"]["device"] == "/dev/vda1"  # type: ignore[index]


def test_nothing_at_root_means_storage_is_not_configured() -> None:
    mounts, devices = _tree()
    del mounts["/"]
    assert storage_facts(mounts, devices) is None
    assert storage_preview(NodeKickstart(), None, None).state == "no-storage"


def test_the_preview_is_the_engines_plan_and_follows_the_volume_choice() -> None:
    image = onn.read_image(IMAGE["path"])
    facts = storage_facts(*_tree())
    default = storage_preview(NodeKickstart(), image, facts)
    assert (default.state, default.vg, default.pool, default.base) == ("ready", "node-vg", "pool00", IMAGE["nvr"])
    assert default.layer == IMAGE["nvr"] + "+1"
    assert len(default.volume_mounts) == 7
    minimal = storage_preview(NodeKickstart(volumes="minimal"), image, facts)
    assert minimal.volume_mounts == ["/var", "/var/log"]
    assert minimal.volume_sizes == [6 * GIB, 8 * GIB]
    other = storage_preview(NodeKickstart(vg="data"), image, facts)
    assert (other.state, other.message_id) == ("refused", "root.other-vg")


def test_a_root_outside_lvm_is_refused_in_onns_words() -> None:
    mounts, devices = _tree()
    mounts["/"] = "p2"
    preview = storage_preview(NodeKickstart(), onn.read_image(IMAGE["path"]), storage_facts(mounts, devices))
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
