"""What the spoke shows and when it lets the install go on (pure; the GUI and the text spoke
both show this), and the translated message of every engine progress id."""

from __future__ import annotations

import onn
import pytest
from org_ovirt_node.installer import STEP_MESSAGES
from org_ovirt_node.spoke_model import SpokeModel, size_text
from org_ovirt_node.structures import NodeConfigurationData, NodeImageData, StoragePreviewData

GIB = 1 << 30


def _image(state: str, message_id: str = "", message: str = "") -> NodeImageData:
    data = NodeImageData()
    data.state, data.nvr, data.size, data.kernel = state, "node-4.5-1", 900 << 20, "5.14.0"
    data.message_id, data.message = message_id, message
    return data


def _preview(state: str = "ready", message_id: str = "", message: str = "") -> StoragePreviewData:
    p = StoragePreviewData()
    p.state, p.message_id, p.message = state, message_id, message
    p.vg, p.pool, p.pool_size, p.pool_free_after = "onn", "pool00", 40 * GIB, 38 * GIB + (GIB >> 1)
    p.base, p.layer = "node-4.5-1", "node-4.5-1+1"
    p.volume_mounts, p.volume_sizes = ["/var"], [15 * GIB]
    return p


def test_every_engine_progress_id_has_a_message() -> None:
    """onn.STEP_IDS comes from the engine: a new step without a message fails here."""
    assert onn.STEP_IDS
    missing = [step for step in onn.STEP_IDS if step not in STEP_MESSAGES]
    assert missing == []


@pytest.mark.parametrize(
    ("image", "payload", "preview", "ready", "completed", "status"),
    [
        (_image("verifying"), True, None, False, False, "Verifying the Node image…"),
        (_image("unverified"), True, None, True, False, "The Node image is not verified yet"),
        (
            _image("mismatch", "sha256.mismatch", "checksum mismatch: …"),
            True,
            None,
            True,
            False,
            "The image's SHA-256 checksum does not match the one given.",
        ),
        (
            _image("error", "", "the Node image /x does not exist"),
            True,
            None,
            True,
            False,
            "the Node image /x does not exist",
        ),
        (_image("verified"), False, _preview(), True, False, "node-4.5-1 verified; open this screen to confirm it"),
        (
            _image("verified"),
            True,
            _preview("refused", "boot.too-small", "/boot is 500 MiB"),
            True,
            False,
            "The installation destination cannot hold a Node: /boot must be at least 1 GiB: imgbased keeps a kernel "
            "per layer there.",
        ),
        (_image("verified"), True, _preview("no-storage"), True, True, "node-4.5-1, data volumes: default"),
        (_image("verified"), True, _preview(), True, True, "node-4.5-1, data volumes: default"),
    ],
)
def test_ready_completed_and_status(
    image: NodeImageData, payload: bool, preview: StoragePreviewData | None, ready: bool, completed: bool, status: str
) -> None:
    model = SpokeModel(NodeConfigurationData(), image, payload_active=payload, preview=preview)
    assert (model.ready, model.completed, model.status) == (ready, completed, status)


def test_the_plan_in_plain_words() -> None:
    model = SpokeModel(NodeConfigurationData(), _image("verified"), True, _preview())
    assert model.plan_lines() == [
        "Volume group onn, thin pool pool00 (40 GiB)",
        "Base node-4.5-1: the image, written once and kept read-only",
        "First layer node-4.5-1+1: the system that boots, writable",
        "Data volumes, shared by all layers:",
        "    /var  15 GiB",
        "Space left in the pool: 38.5 GiB",
    ]
    model.checking = True
    assert model.plan_lines() == ["The storage plan is shown once the image is verified."]
    assert model.ready is False
    model.checking, model.preview = False, _preview("no-storage")
    assert model.plan_lines()[0].startswith("Choose the installation destination first")


def test_sizes_read_like_people_write_them() -> None:
    assert [size_text(n) for n in (512 << 20, GIB, 3 * GIB // 2, 2 << 40, 100)] == [
        "512 MiB",
        "1 GiB",
        "1.5 GiB",
        "2 TiB",
        "100 bytes",
    ]


def test_an_image_the_host_could_not_update_says_why_in_the_check_row() -> None:
    """Each of onn's warnings has its translated reason; the install is not held up by them."""
    ids = [f"image.update.{item}" for item in ("name", "nvr-space", "release-cpe", "factory-etc")]
    ids += [f"image.update.{item}" for item in ("default-grub", "sshd-config", "rpmdb", "dev-urandom")]
    img = _image("verified")
    img.warning_ids, img.warnings = ids, [f"onn's English for {i}" for i in ids]
    model = SpokeModel(NodeConfigurationData(), img, payload_active=True)
    check = dict(model.image_lines())["Check"]
    assert check.startswith("Read and checked (no checksum given)\nIt installs, but the installed host's imgbased")
    assert "onn's English" not in check  # every id has its own message
    assert "/etc/default/grub" in check and "rhvh" in check
    assert model.completed


def test_the_signer_is_shown_beside_the_nvr() -> None:
    """The verified signer (user id, key id) and the RPM the image came out of; without a key,
    that nothing was checked."""
    img = _image("verified")
    model = SpokeModel(NodeConfigurationData(), img, payload_active=True)
    assert dict(model.image_lines())["Signed by"] == "not checked: no key given (--gpgkey)"
    assert model.image_summary() == "node-4.5-1, 900 MiB, kernel 5.14.0"
    img.signer_key_id, img.signer_user_id = "AB8F2A1C24901D0C", "oVirt <infra@ovirt.org>"
    img.package = "ovirt-node-ng-image-update-4.5.6-1.el9.noarch"
    lines = [label for label, _value in model.image_lines()]
    assert lines.index("Signed by") == lines.index("Version (NVR)") + 1
    assert dict(model.image_lines())["Signed by"] == (
        "oVirt <infra@ovirt.org> (key AB8F2A1C24901D0C), verified; "
        "package ovirt-node-ng-image-update-4.5.6-1.el9.noarch"
    )
    assert model.image_summary().endswith("; signed by oVirt <infra@ovirt.org> (key AB8F2A1C24901D0C)")
    # A failed check says why in the user's words: each signature refusal has its message.
    failed = SpokeModel(NodeConfigurationData(), _image("error", "signature.unknown-key", "onn's English"))
    assert failed.status == "The image is signed by a key that is none of the keys given."
