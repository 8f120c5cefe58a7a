"""`make install`, `make updates.img` and onn.spec: the tree a Node installer and host get,
file by file; the inst.updates= image unpacks to that same tree; the spec's %files name it."""

from __future__ import annotations

import fnmatch
import gettext
import gzip
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITEARCH = "/usr/lib64/python3.13/site-packages"  # a Fedora boot.iso's


def _tree(root: Path) -> dict[str, tuple[str, bytes]]:
    """Relative path → (mode, content) of every file below root."""
    return {
        str(p.relative_to(root)): (f"{p.stat().st_mode & 0o7777:04o}", p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _make(*args: str) -> None:
    subprocess.run(["make", "-s", "-C", str(ROOT), *args, f"PYTHON_SITEARCH={SITEARCH}"], check=True)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("destdir")
    _make("install", f"DESTDIR={dest}")
    return dest


def test_make_install_lays_out_exactly_the_expected_files(installed: Path) -> None:
    lines = (ROOT / "tests/addon/install-tree.txt").read_text().splitlines()
    expected = dict(reversed(line.split(" ", 1)) for line in lines if line and not line.startswith("#"))
    tree = _tree(installed)
    assert {path: mode for path, (mode, _) in tree.items()} == expected
    # The addon is its sources, unchanged.
    addon = "usr/share/anaconda/addons/org_ovirt_node/"
    for path, (_mode, content) in tree.items():
        if path.startswith(addon):
            assert content == (ROOT / "addon/org_ovirt_node" / path[len(addon) :]).read_bytes(), path
    for src, dest in [
        ("data/org.fedoraproject.Anaconda.Addons.OvirtNode.service", "usr/share/anaconda/dbus/services/"),
        ("data/org.fedoraproject.Anaconda.Addons.OvirtNode.conf", "usr/share/anaconda/dbus/confs/"),
        ("data/profile.d/ovirt-node-onn.conf", "etc/anaconda/profile.d/"),
        ("data/conf.d/90-onn.conf", "etc/anaconda/conf.d/"),
    ]:
        assert tree[dest + Path(src).name][1] == (ROOT / src).read_bytes()


def test_the_installed_pieces_work(installed: Path) -> None:
    with (installed / "usr/share/locale/de/LC_MESSAGES/onn-anaconda-addon.mo").open("rb") as mo:
        assert gettext.GNUTranslations(mo).gettext("Storage plan") == "Speicherplan"
    out = subprocess.run([installed / "usr/bin/onn", "--help"], capture_output=True, text=True, check=True)
    assert "install" in out.stdout
    # The module is abi3: the one built for the boot.iso's Python imports in this one too.
    site = str(installed) + SITEARCH
    code = f"import sys; sys.path.insert(0, {site!r}); import onn; print(onn.__file__, onn.STEP_IDS)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.startswith(str(installed)) and "base.write" in out.stdout


def test_updates_img_unpacks_to_the_install_tree(installed: Path, tmp_path: Path) -> None:
    _make("updates.img")
    data = gzip.decompress((ROOT / "build/updates.img").read_bytes())
    subprocess.run(["cpio", "-i", "-d", "--quiet"], input=data, cwd=tmp_path, check=True)
    assert _tree(tmp_path) == _tree(installed)


def test_the_spec_parses_and_its_files_are_the_install_tree(installed: Path) -> None:
    """rpmspec (rpm 4.18) expands the spec as rpmbuild would; each installed file must be
    owned by exactly one %files entry and each entry must exist. Building the RPMs needs a
    Fedora or EL build root, which this machine is not."""
    spec = subprocess.run(
        ["rpmspec", "-P", str(ROOT / "onn.spec"), "--define", f"python3_sitearch {SITEARCH}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    entries: list[str] = []
    section = False
    for line in spec.splitlines():
        if line.startswith("%files"):
            section = True
            if " -f " in line:
                # %find_lang's list: the domain's .mo files
                domain = line.split(" -f ")[1].removesuffix(".lang")
                entries.append(f"/usr/share/locale/*/LC_MESSAGES/{domain}.mo")
        elif re.match(r"%(changelog|package|description|prep|build|install|check)\b", line):
            section = False
        elif section and line.strip() and not line.startswith("%doc"):
            entries.append(line.split()[-1])
    assert entries, spec
    files = ["/" + p for p in _tree(installed)]
    for path in files:
        owners = [e for e in entries if (path.startswith(e) if e.endswith("/") else fnmatch.fnmatch(path, e))]
        assert len(owners) == 1, (path, owners)
    for entry in entries:
        assert any(fnmatch.fnmatch(p, entry) or p.startswith(entry) for p in files), entry
    for doc in ("README.md", "kickstart/README.md", "docs/anaconda.md"):
        assert (ROOT / doc).is_file()
