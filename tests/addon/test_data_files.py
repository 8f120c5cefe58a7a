"""The files the addon installs beside its code: D-Bus activation and policy, the product
profile and the conf.d that makes the addon mandatory."""

from __future__ import annotations

import configparser
import fnmatch
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
NAME = "org.fedoraproject.Anaconda.Addons.OvirtNode"


def _ini(path: Path) -> configparser.ConfigParser:
    cp = configparser.ConfigParser()
    with path.open() as f:
        cp.read_file(f)
    return cp


def test_dbus_activation_starts_the_service_module_as_root() -> None:
    service = _ini(DATA / f"{NAME}.service")["D-BUS Service"]
    assert service["Name"] == NAME and service["User"] == "root"
    exe, module = service["Exec"].split()
    assert exe == "/usr/libexec/anaconda/start-module"
    assert (ROOT / "addon" / Path(*module.split("."))).joinpath("__main__.py").is_file()


def test_bus_policy_lets_only_root_own_the_name() -> None:
    policies = ET.parse(DATA / f"{NAME}.conf").getroot().findall("policy")
    by = {p.get("user") or p.get("context"): p for p in policies}
    assert by["root"].find("allow").get("own") == NAME
    assert by["default"].find("deny").get("own") == NAME


def test_the_profile_asks_for_what_imgbased_needs() -> None:
    profile = _ini(DATA / "profile.d/ovirt-node-onn.conf")
    assert profile["Storage"]["default_scheme"] == "LVM_THINP"
    constraints = profile["Storage Constraints"]
    assert constraints["root_device_types"] == "LVM_THINP"
    assert constraints["must_not_be_on_root"] == "/var"
    sizes = dict(line.split(None, 1) for line in constraints["req_partition_sizes"].strip().splitlines())
    assert sizes == {"/var": "5  GiB", "/var/tmp": "10 GiB", "/boot": "1  GiB"}
    # A Node install has no package payload to choose: those spokes are hidden in both UIs.
    hidden = profile["User Interface"]["hidden_spokes"].split()
    assert {"SourceSpoke", "SoftwareSelectionSpoke", "SoftwareSpoke"} <= set(hidden)


def test_conf_d_makes_a_failed_start_of_the_addon_fatal() -> None:
    optional = _ini(DATA / "conf.d/90-onn.conf")["Anaconda"]["optional_modules"].split()
    assert optional and not any(fnmatch.fnmatch(NAME, pattern) for pattern in optional)
