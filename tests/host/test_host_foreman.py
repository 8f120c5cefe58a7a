"""The Foreman provisioning template onn ships (kickstart/foreman/): its metadata as Foreman
imports it, rendered with Ruby's ERB and a stand-in of Foreman's helpers
(tests/support/foreman_render.rb), into a kickstart that pykickstart and onn's validator accept,
which reports `failed` from %onerror and `built`, with onn's install report, last."""

from __future__ import annotations

import subprocess

import pytest
from foreman import PTABLE, TEMPLATE, metadata, render, sections
from org_ovirt_node.installer import NodeInstaller
from org_ovirt_node.kickstart import parse_section
from org_ovirt_node.ksvalidate import validate

SHA256 = "7c2c3b8f0e5d4a1b9f6e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a"
PARAMS = {
    "onn-image-url": "http://pxe.example/ovirt-node-ng-4.5.5-0.20231130.0.el9.squashfs.img",
    "onn-image-sha256": SHA256,
    "onn-proxy": "http://proxy.example:3128",
    "onn-gpg-keys": "http://pxe.example/RPM-GPG-KEY-oVirt-4.5 file:///run/install/repo/RPM-GPG-KEY-onn",
    "onn-volumes": "minimal",
    "onn-kernel-args": "console=ttyS0 intel_iommu=on",
}
FOREMAN = "https://foreman.example"
#: Where the addon leaves its report and its error (addon/org_ovirt_node/installer.py).
WORKDIR = "/run/install/onn"


def test_the_templates_carry_foremans_metadata() -> None:
    assert metadata(TEMPLATE) == {
        "kind": "provision",
        "name": "Kickstart oVirt Node (onn)",
        "model": "ProvisioningTemplate",
        "oses": ["oVirt", "RHVH", "CentOS", "RedHat"],
    }
    assert {k: v for k, v in metadata(PTABLE).items() if k != "oses"} == {
        "kind": "ptable",
        "name": "Kickstart oVirt Node (onn) thin",
        "model": "Ptable",
    }


def test_the_rendered_kickstart_is_valid_and_reports_failed_on_error_and_built_last() -> None:
    proc = render(PARAMS, foreman=FOREMAN)
    assert proc.returncode == 0, proc.stderr
    ks = proc.stdout
    errors, _ = validate(ks)
    assert errors == [], errors
    found = sections(ks)
    addon = [(h, b) for h, b in found if h.startswith("%addon org_ovirt_node")]
    assert len(addon) == 1
    section = parse_section("\n".join([addon[0][0], addon[0][1], "%end"]))
    assert (section.image, section.sha256, section.proxy) == (PARAMS["onn-image-url"], SHA256, PARAMS["onn-proxy"])
    assert (section.volumes, section.kernel_args) == ("minimal", ["console=ttyS0", "intel_iommu=on"])
    assert section.gpgkeys == PARAMS["onn-gpg-keys"].split()
    # %onerror: the addon's reason and the installer's logs, to `failed`.
    (onerror,) = [b for h, b in found if h == "%onerror"]
    assert f"cat {WORKDIR}/{NodeInstaller.ERROR_NAME}" in onerror and "/tmp/anaconda.log" in onerror
    assert f"--data-binary @/tmp/onn-failed.log '{FOREMAN}/unattended/failed'" in onerror
    assert "/unattended/built" not in onerror
    # The very end: onn's install report to `built`, or `failed` when there is none.
    header, last = found[-1]
    assert header.startswith("%post --nochroot") and ks.rstrip().endswith("%end")
    report = f"{WORKDIR}/{NodeInstaller.REPORT_NAME}"
    assert f"if [ -s {report} ]; then" in last
    built, missing = last.split("\nelse\n")
    assert f"--data-binary @{report} '{FOREMAN}/unattended/built'" in built
    assert f"'{FOREMAN}/unattended/failed'" in missing and "/unattended/built" not in missing
    assert sum(b.count("/unattended/built") for _, b in found) == 1
    # Every script is shell that parses.
    for header, body in found:
        if header.startswith(("%onerror", "%post")):
            sh = subprocess.run(["sh", "-n"], input=body, capture_output=True, text=True)
            assert sh.returncode == 0, (header, sh.stderr)


def test_the_partition_table_clears_only_the_disks_named() -> None:
    ks = render({**PARAMS, "onn-disks": "sda,sdb"}).stdout
    assert "ignoredisk --only-use=sda,sdb\nclearpart --all --initlabel --drives=sda,sdb\n" in ks
    assert validate(ks)[0] == []
    assert "clearpart --all --initlabel\n" in render(PARAMS).stdout


@pytest.mark.parametrize("missing", ["onn-image-url"])
def test_a_host_without_its_image_is_not_rendered(missing: str) -> None:
    proc = render({k: v for k, v in PARAMS.items() if k != missing})
    assert proc.returncode == 1
    assert "host parameter onn-image-url is not set" in proc.stderr


def test_a_minimal_host_renders_the_defaults() -> None:
    ks = render({"onn-image-url": "file:///run/install/repo/node.squashfs.img"}).stdout
    assert validate(ks)[0] == []
    assert "%addon org_ovirt_node --image=file:///run/install/repo/node.squashfs.img\nvolumes = default\n%end" in ks
