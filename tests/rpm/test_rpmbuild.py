"""onn.spec built (`make rpm`, opt-in: a release build from the vendored crates takes several
minutes): `rpmbuild -ba` with Debian's rpm makes onn, python3-onn and onn-anaconda-addon (and
the source RPM), and their files together are exactly the tree `make install` lays out.

Debian's rpm has the macros the spec uses but an empty package database: every BuildRequires
(cargo, rust, maturin, python3-devel, gettext, make) is on this machine from rustup, pip and
Debian's packages, none of them known to rpm, so the build runs with --nodeps. Sources as the
spec names them: Source0 the checkout's tracked files, Source1 `cargo vendor` of Cargo.lock.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path

import programs

ROOT = Path(__file__).resolve().parents[2]
SITEARCH = "/usr/lib64/python3.13/site-packages"  # a Fedora boot.iso's, as test_packaging.py


def run(argv: list[str], **kw: object) -> str:
    return programs.run(argv, **kw).stdout  # type: ignore[arg-type]


def spec_value(tag: str) -> str:
    lines = (ROOT / "onn.spec").read_text().splitlines()
    return next(line.split(":", 1)[1].strip() for line in lines if line.startswith(f"{tag}:"))


def sources(into: Path) -> None:
    top = f"onn-{spec_value('Version')}"
    files = run(["git", "-C", str(ROOT), "ls-files", "-z"]).split("\0")
    with tarfile.open(into / f"{top}.tar.gz", "w:gz") as tar:
        for rel in filter(None, files):
            if (ROOT / rel).exists():
                tar.add(ROOT / rel, f"{top}/{rel}", recursive=False)
    vendor = into / "vendor-tree"
    run(["cargo", "vendor", "--locked", "--manifest-path", str(ROOT / "Cargo.toml"), str(vendor / "vendor")])
    xz = "--use-compress-program=xz -T0 -1"
    run(["tar", "-C", str(vendor), "-cf", str(into / f"{top}-vendor.tar.xz"), xz, "vendor"])
    shutil.rmtree(vendor)


def test_rpmbuild_makes_the_three_packages_and_they_hold_the_install_tree(tmp_path: Path) -> None:
    top = tmp_path / "rpmbuild"
    (top / "SOURCES").mkdir(parents=True)
    sources(top / "SOURCES")
    env = dict(os.environ, CARGO_HOME=str(tmp_path / "cargo-home"))
    run(
        ["rpmbuild", "-ba", "--nodeps", "--define", f"_topdir {top}", "--define", f"python3_sitearch {SITEARCH}",
         str(ROOT / "onn.spec")],
        env=env,
    )  # fmt: skip
    rpms = sorted((top / "RPMS").rglob("*.rpm"))
    names = {run(["rpm", "-qp", "--qf", "%{NAME}", str(p)]) for p in rpms}
    assert names == {"onn", "python3-onn", "onn-anaconda-addon"}, rpms
    assert len(list((top / "SRPMS").glob("onn-*.src.rpm"))) == 1
    packaged: dict[str, str] = {}  # file → its package
    for rpm in rpms:
        name = run(["rpm", "-qp", "--qf", "%{NAME}", str(rpm)])
        for line in run(["rpm", "-qp", "--qf", "[%{FILEMODES:perms} %{FILENAMES}\n]", str(rpm)]).splitlines():
            perms, path = line.split(" ", 1)
            # Directories, the docs, and rpm's own links from an ELF file's build id to it
            # (/usr/lib/.build-id, added by rpmbuild to every package that has one) are no files
            # of `make install`'s.
            if perms.startswith("d") or path.startswith(("/usr/share/doc/", "/usr/lib/.build-id/")):
                continue
            assert path not in packaged, f"{path} is in {packaged[path]} and {name}"
            packaged[path] = name
    installed = tmp_path / "destdir"
    run(["make", "-s", "-C", str(ROOT), "install", f"DESTDIR={installed}", f"PYTHON_SITEARCH={SITEARCH}"])
    tree = {"/" + str(p.relative_to(installed)) for p in installed.rglob("*") if p.is_file()}
    assert set(packaged) == tree, (
        f"only in the RPMs: {sorted(set(packaged) - tree)}; only installed: {sorted(tree - set(packaged))}"
    )
    print(f"rpmbuild: {', '.join(p.name for p in rpms)}; {len(packaged)} files, as `make install` lays them out")
