"""What the real Anaconda needs on this machine, built once and cached (`make anaconda-e2e`).

Debian 12 has neither libblockdev 3 (blivet 3.14 needs its GObject bindings) nor util-linux's
libmount Python binding (blivet writes fstab with it), and pyanaconda is not on PyPI. This
script builds, under $ONN_CACHE/anaconda/toolchain-<key>:

- prefix/: libblockdev 3.4.0 and pylibmount 2.38.1 (util-linux, the version of Debian's
  libmount it links against), from Debian's source tarballs, checked against pinned digests;
- venv/: a venv with the system's packages visible (PyGObject), with Anaconda's Python
  dependencies from PyPI, and a .pth making the prefix's gi overrides and Debian's `bytesize`
  module importable;

and lays out, under --root (a tree the guest overlays on /usr and /etc), links to Anaconda's
files where its `make install` would put them (the D-Bus bus and module services,
start-module, anaconda.conf and the profiles), next to what onn's `make install` put there.
Anaconda's and python-meh's source trees are used in place: on the Python path, read, never
built or installed (neither is on PyPI). It prints the environment the guest runs Anaconda
with, as JSON. The source tarballs come from the Debian mirror this machine's apt uses
(tests/support/debian.py).

    python3 tests/anaconda/toolchain.py --anaconda-src DIR --meh-src DIR --root DIR
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

import programs
from debian import apt_proxy_env, debian_mirror

#: Debian's source tarballs, by their path in the archive, and their digests.
SOURCES = {
    "libblockdev": (
        "pool/main/libb/libblockdev/libblockdev_3.4.0.orig.tar.gz",
        "7cb0b4018600ab82d1d1f00e46c1b1d7a0cdab8f4682952dd9dba1ce7f6ebed4",
    ),
    "util-linux": (
        "pool/main/u/util-linux/util-linux_2.38.1.orig.tar.xz",
        "60492a19b44e6cf9a3ddff68325b333b8b52b6c59ce3ebd6a0ecaa4c5117e84f",
    ),
}
# libblockdev's plugins blivet asks for, less the ones needing libraries Debian 12 lacks
# (lvm-dbus, nvdimm, smart, s390: blivet logs a missing plugin and goes on).
LIBBLOCKDEV_CONFIGURE = (
    "--without-gtk-doc",
    "--disable-tests",
    "--without-escrow",
    "--without-tools",
    "--without-smart",
    "--without-smartmontools",
    "--without-lvm_dbus",
    "--without-nvdimm",
    "--without-s390",
)
UTIL_LINUX_CONFIGURE = (
    "--disable-all-programs",
    "--enable-libmount",
    "--enable-libblkid",
    "--enable-pylibmount",
    "--with-python=3",
    "--without-systemd",
    "--disable-nls",
    "--disable-bash-completion",
)
# The versions of one run that worked together (anaconda 45.21).
PIP = (
    "blivet==3.14.2",
    "pykickstart==3.78",
    "dasbus==1.7",
    "simpleline==1.9.0",
    "pyudev==0.24.0",
    "pyparted==3.12.0",
    "systemd-python==235",
    "langtable==0.0.71",
    "productmd==1.51",
    "pid==3.0.4",
    "requests-file==3.0.1",
    "requests-ftp==0.3.1",
    "xkbregistry==1.5",
    "iso639==0.1.4",
)
#: Debian's Python modules not on PyPI: bytesize (libblockdev's gi overrides import it), rpm
#: (pyanaconda.core.payload), pwquality (the password checks), selinux (the target's contexts)
DEBIAN_PY = (
    "/usr/lib/python3/dist-packages/selinux",
    "/usr/lib/python3/dist-packages/_selinux.cpython-311-x86_64-linux-gnu.so",
    "/usr/lib/python3/dist-packages/bytesize",
    "/usr/lib/python3/dist-packages/rpm",
    "/usr/lib/python3/dist-packages/pwquality.cpython-311-x86_64-linux-gnu.so",
)
PY_VER = f"python{sys.version_info.major}.{sys.version_info.minor}"


def run(argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    """A build step: said, and its output shown as it comes."""
    programs.run(argv, cwd=cwd, env=env, echo=True)


def download(name: str, into: Path) -> Path:
    rel, digest = SOURCES[name]
    url = f"{debian_mirror('bookworm')}/{rel}"
    path = into / rel.rsplit("/", 1)[1]
    os.environ.update(apt_proxy_env())
    with urllib.request.urlopen(url, timeout=120) as resp, path.open("wb") as out:
        shutil.copyfileobj(resp, out)
    got = hashlib.sha256(path.read_bytes()).hexdigest()
    if got != digest:
        raise SystemExit(f"{url}: sha256 {got}, expected {digest} (a mirror that lacks the file, or a changed one)")
    with tarfile.open(path) as tar:
        tar.extractall(into / name, filter="tar")
    (top,) = (into / name).iterdir()
    return top


def build_prefix(prefix: Path, work: Path) -> None:
    env = {"PYTHON": "/usr/bin/python3"}
    jobs = f"-j{os.cpu_count() or 1}"
    src = download("libblockdev", work)
    run(["./autogen.sh"], cwd=src)  # Debian's orig tarball is the release tag's tree
    run(["./configure", f"--prefix={prefix}", *LIBBLOCKDEV_CONFIGURE], cwd=src, env=env)
    run(["make", jobs], cwd=src)
    run(["make", "install"], cwd=src)
    src = download("util-linux", work)
    run(["./configure", f"--prefix={work / 'ul'}", *UTIL_LINUX_CONFIGURE], cwd=src, env=env)
    run(["make", jobs], cwd=src)
    run(["make", "install"], cwd=src)
    # Only the binding: it links against the system's libmount of the same version.
    site = prefix / "lib" / PY_VER / "site-packages"
    shutil.copytree(work / "ul" / "lib" / PY_VER / "site-packages" / "libmount", site / "libmount")


def build_venv(venv: Path, prefix: Path) -> None:
    run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)])
    pip = [str(venv / "bin" / "python3"), "-m", "pip", "install", "-q", "--no-input"]
    run([*pip, *PIP])
    debpy = venv / "debian-py"
    debpy.mkdir()
    for path in DEBIAN_PY:
        (debpy / Path(path).name).symlink_to(path)
    site = venv / "lib" / PY_VER / "site-packages"
    (site / "onn-anaconda-toolchain.pth").write_text(f"{prefix / 'lib' / PY_VER / 'site-packages'}\n{debpy}\n")


def toolchain(cache: Path) -> Path:
    spec = json.dumps(
        [SOURCES, LIBBLOCKDEV_CONFIGURE, UTIL_LINUX_CONFIGURE, PIP, DEBIAN_PY, sys.version],
        sort_keys=True,
    )
    out = cache / f"toolchain-{hashlib.sha256(spec.encode()).hexdigest()[:16]}"
    done = out / ".complete"
    if done.exists():
        return out
    # Paths are baked into the venv and the .pth: build at the final path; a build that did not
    # finish has no marker and starts again.
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="toolchain-src-") as tmp:
        build_prefix(out / "prefix", Path(tmp))
    build_venv(out / "venv", out / "prefix")
    done.touch()
    return out


def anaconda_version(anaconda_src: Path) -> str:
    ac_init = re.search(r"AC_INIT\(\[anaconda\], \[([^]]+)\]", (anaconda_src / "configure.ac").read_text())
    if not ac_init:
        raise SystemExit(f"{anaconda_src}: no anaconda version in configure.ac")
    return ac_init.group(1)


def stage(anaconda_src: Path, meh_src: Path, root: Path) -> None:
    """Links to Anaconda's and python-meh's data files where their `make install` puts them,
    under root."""
    data = anaconda_src / "data"
    gui = anaconda_src / "pyanaconda" / "ui" / "gui"
    installs = [
        (anaconda_src / "scripts" / "start-module", "usr/libexec/anaconda"),
        (data / "dbus" / "anaconda-bus.conf", "usr/share/anaconda/dbus"),
        *((f, "usr/share/anaconda/dbus/services") for f in (data / "dbus").glob("*.service")),
        *((f, "usr/share/anaconda/dbus/confs") for f in (data / "dbus").glob("org.fedoraproject.Anaconda*.conf")),
        (data / "anaconda.conf", "etc/anaconda"),
        (data / "interactive-defaults.ks", "usr/share/anaconda"),
        (data / "tmux.conf", "usr/share/anaconda"),
        *((f, "etc/anaconda/conf.d") for f in (data / "conf.d").glob("*.conf")),
        *((f, "etc/anaconda/profile.d") for f in (data / "profile.d").glob("*.conf")),
        # The graphical interface's: its .glade files, stylesheet and icons.
        *((f, f"usr/share/anaconda/ui/{f.parent.relative_to(gui)}") for f in gui.rglob("*.glade")),
        (data / "anaconda-gtk.css", "usr/share/anaconda"),
        *((f, "usr/share/anaconda/pixmaps") for f in (data / "pixmaps").glob("*.svg")),
        *((f, "usr/share/python-meh") for f in (meh_src / "ui").glob("*.glade")),
    ]
    for src, dest in installs:
        link = root / dest / src.name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(src)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--anaconda-src", type=Path, required=True)
    ap.add_argument("--meh-src", type=Path, required=True, help="a python-meh source tree (0.52)")
    ap.add_argument("--root", type=Path, required=True, help="the tree onn's `make install DESTDIR=` made")
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("ONN_CACHE", "~/.cache/onn")).expanduser())
    args = ap.parse_args()
    anaconda_src = args.anaconda_src.resolve()
    built = toolchain(args.cache / "anaconda")
    stage(anaconda_src, args.meh_src.resolve(), args.root.resolve())
    prefix = built / "prefix" / "lib"
    json.dump(
        {
            "venv": str(built / "venv"),
            "root": str(args.root.resolve()),
            "anaconda": str(anaconda_src / "anaconda.py"),
            # The source trees themselves, read in place.
            "pythonpath": [str(anaconda_src), str(args.meh_src.resolve())],
            "env": {
                "LD_LIBRARY_PATH": str(prefix),
                "GI_TYPELIB_PATH": str(prefix / "girepository-1.0"),
                "ONN_ANACONDA_VERSION": anaconda_version(anaconda_src),
            },
        },
        sys.stdout,
        indent=2,
    )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
