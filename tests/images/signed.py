#!/usr/bin/env python3
"""Signed test material: OpenPGP keys made with Debian's gnupg, and RPMs shaped like oVirt's
image-update package made with Debian's rpm (rpmbuild, rpmsign), around the squashfs of a test
image; detached signatures of bare images.

    python3 tests/images/signed.py --json      # {name: path}; builds what is missing

oVirt's `ovirt-node-ng-image-update` (oVirt/ovirt-node-ng-image, `ovirt-node-ng.spec.in`)
holds one file, the image at `/usr/share/ovirt-node-ng-image-update/image/<NVR>.squashfs.img`,
with an uncompressed payload (`w0.gzdio`), signed with the release key. What is made here:

| name | what |
| --- | --- |
| `release.asc`, `release.gpg` | the release key's public half, armored and binary |
| `other.asc` | another key |
| `expired.asc`, `revoked.asc` | a key that expired in 2020; one revoked by its own revocation certificate |
| `secret.asc` | the release key's secret half (not a public key) |
| `not-a-key.asc` | a text file |
| `tiny.rpm`, `demo.rpm` | the tiny-ext4 / demo-1.0 squashfs, signed by the release key |
| `tiny-unsigned.rpm`, `tiny-other.rpm` | unsigned; signed by the other key |
| `tiny-header-changed.rpm` | tiny.rpm with one byte of its header (the description) changed |
| `tiny-payload-changed.rpm` | tiny.rpm with one byte of its payload (inside the squashfs) changed |
| `tiny-no-squashfs.rpm`, `tiny-two-squashfs.rpm` | signed, holding no image or two |
| `tiny-truncated.rpm` | tiny.rpm's first KiB (a cut download) |
| `tiny-file-digest.rpm` | signed, its header giving the squashfs a digest it does not have (header |
|   | digests made again, then signed) |
| `tiny.sig`, `tiny.asc` | detached signatures of tiny-ext4's squashfs (binary, armored) by the release key |
| `tiny-1.1-as-tiny.sig` | the release key's signature of tiny-1.1's squashfs (another image) |

Cached in ${ONN_CACHE:-~/.cache/onn}/signed/<key>/, key = this file's code and the images'
SHA-256, under build.py's lock. Needs root only for build.py's images.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import shutil
import struct
import sys
from pathlib import Path

from build import cache_lock, cache_root, image_facts, log, run, safe_rmtree, work_dir

SCRIPT = Path(__file__).resolve()
IMAGE_DIR = "/usr/share/ovirt-node-ng-image-update/image"
PACKAGE = "ovirt-node-ng-image-update"
GPG = "/usr/bin/gpg"
RELEASE_UID = "onn test release key <release@onn.test>"
OTHER_UID = "onn test other key <other@onn.test>"
EXPIRED_UID = "onn test expired key <expired@onn.test>"
REVOKED_UID = "onn test revoked key <revoked@onn.test>"
# The images packed: the corpus's and the guest's.
IMAGES = {"tiny": "tiny-ext4", "tiny-1.1": "tiny-1.1", "demo": "demo-1.0"}


def cache_key(images: dict[str, dict[str, object]]) -> str:
    h = hashlib.sha256(ast.dump(ast.parse(SCRIPT.read_text())).encode())
    for name in sorted(images):
        h.update(f"{name}={images[name]['sha256']}".encode())
    return h.hexdigest()[:12]


class Gpg:
    """gpg in a keyring of its own (GNUPGHOME), unattended."""

    def __init__(self, home: Path) -> None:
        self.home = home
        home.mkdir(mode=0o700)

    def __call__(self, *args: str, faked_time: str | None = None) -> str:
        extra = ["--faked-system-time", faked_time] if faked_time else []
        argv = [GPG, "--homedir", str(self.home), "--batch", "--yes", "--pinentry-mode", "loopback", *extra, *args]
        return run(argv).stdout

    def generate(self, uid: str, expire: str = "0", faked_time: str | None = None) -> str:
        """An RSA signing key without passphrase; returns its fingerprint."""
        name, email = uid[: uid.index(" <")], uid[uid.index("<") + 1 : -1]
        params = self.home / "params"
        params.write_text(
            "%no-protection\nKey-Type: RSA\nKey-Length: 2048\nKey-Usage: sign\n"
            f"Name-Real: {name}\nName-Email: {email}\nExpire-Date: {expire}\n%commit\n"
        )
        self("--gen-key", str(params), faked_time=faked_time)
        lines = self("--with-colons", "--list-keys", email).splitlines()
        return next(line.split(":")[9] for line in lines if line.startswith("fpr:"))

    def export(self, email: str, out: Path, armor: bool = True) -> Path:
        self(*(["--armor"] if armor else []), "--output", str(out), "--export", email)
        return out


def rpm_spec(version: str, files: dict[str, Path]) -> str:
    """An image-update package holding `files` (name in IMAGE_DIR → source), payload
    uncompressed (w0.gzdio) as oVirt's is."""
    install = "".join(f"cp {src} %{{buildroot}}{IMAGE_DIR}/{name}\n" for name, src in files.items())
    listed = "".join(f"{IMAGE_DIR}/{name}\n" for name in files)
    return (
        f"Name: {PACKAGE}\nVersion: {version}\nRelease: 1\nLicense: GPL-2.0-or-later\n"
        "Summary: onn's test stand-in of oVirt Node's image-update package\nBuildArch: noarch\n"
        "%define _binary_payload w0.gzdio\n"
        "%description\nThe squashfs of an onn test image, packed as oVirt packs its Node images.\n"
        f"%install\nmkdir -p %{{buildroot}}{IMAGE_DIR}\n{install}%files\n{listed}"
    )


def build_rpm(work: Path, name: str, version: str, files: dict[str, Path]) -> Path:
    top = work / f"rpmbuild-{name}"
    spec = top / f"{name}.spec"
    spec.parent.mkdir(parents=True)
    spec.write_text(rpm_spec(version, files))
    defines = ["--define", f"_topdir {top}", "--define", "_build_id_links none"]
    # No stripping or compression of "binaries" (a squashfs is none): the brp scripts off.
    defines += ["--define", "__os_install_post %{nil}"]
    run(["/usr/bin/rpmbuild", "-bb", "--quiet", *defines, str(spec)])
    (rpm,) = (top / "RPMS/noarch").glob("*.rpm")
    return rpm


def rpmsign(rpm: Path, gpg: Gpg, email: str) -> None:
    run(
        [
            "/usr/bin/rpmsign",
            "--addsign",
            "--define",
            f"_gpg_name {email}",
            "--define",
            f"_gpg_path {gpg.home}",
            "--define",
            f"__gpg {GPG}",
            str(rpm),
        ]
    )


def _header_bounds(data: bytes, start: int) -> tuple[int, int, int]:
    """(index start, data start, end) of the rpm header structure at `start`."""
    if data[start : start + 3] != b"\x8e\xad\xe8":
        raise ValueError(f"no rpm header at {start}")
    count, size = struct.unpack(">II", data[start + 8 : start + 16])
    store = start + 16 + 16 * count
    return start + 16, store, store + size


def _tag(data: bytes, bounds: tuple[int, int, int], tag: int) -> tuple[int, int]:
    """Offset and length of the value of `tag` in a header: its (first) string, or its bytes."""
    index, store, _end = bounds
    for i in range(index, store, 16):
        t, kind, offset, count = struct.unpack(">IIII", data[i : i + 16])
        if t == tag:
            at = store + offset
            return at, (count if kind == 7 else data.index(b"\0", at) - at)  # 7: BIN
    raise ValueError(f"no tag {tag}")


def with_file_digest(signed_from: Path, out: Path, gpg: Gpg, email: str) -> Path:
    """The unsigned RPM `signed_from` with another digest in its file list: its header digests
    (SHA-1, SHA-256, and the MD5 of header and payload) made again, then signed. Its payload is untouched, so
    its payload digest still holds; only the squashfs's file digest is wrong."""
    data = bytearray(signed_from.read_bytes())
    sig = _header_bounds(data, 96)
    main_start = sig[2] + (-sig[2]) % 8
    main = _header_bounds(data, main_start)
    at, length = _tag(data, main, 1035)  # RPMTAG_FILEDIGESTS
    data[at : at + length] = hashlib.sha256(b"another squashfs").hexdigest().encode()
    header = bytes(data[main_start : main[2]])
    digests = (
        (269, hashlib.sha1(header).hexdigest().encode()),  # RPMSIGTAG_SHA1
        (273, hashlib.sha256(header).hexdigest().encode()),  # RPMSIGTAG_SHA256
        (1004, hashlib.md5(data[main_start:]).digest()),  # RPMSIGTAG_MD5: header and payload
    )
    for tag, digest in digests:
        at, length = _tag(data, sig, tag)
        assert length == len(digest)
        data[at : at + length] = digest
    out.write_bytes(data)
    rpmsign(out, gpg, email)
    return out


def flip(src: Path, out: Path, at: int) -> Path:
    data = bytearray(src.read_bytes())
    data[at] ^= 0x01
    out.write_bytes(data)
    return out


def test_keys(work: Path) -> Gpg:
    """A keyring in `work` with the test keys: the release key, another one, one that expired in
    2020 and one that carries its own revocation."""
    gpg = Gpg(work / "gnupg")
    gpg.generate(RELEASE_UID)
    gpg.generate(OTHER_UID)
    gpg.generate(EXPIRED_UID, expire="1d", faked_time="20200101T000000")
    revoked = gpg.generate(REVOKED_UID)
    # gpg keeps a revocation certificate of each key it makes, its first line guarded by a ':'.
    cert = work / "gnupg/openpgp-revocs.d" / f"{revoked}.rev"
    (work / "revoke.asc").write_text(cert.read_text().replace(":-----BEGIN", "-----BEGIN"))
    gpg("--import", str(work / "revoke.asc"))
    return gpg


def build_all(work: Path, out: Path, images: dict[str, dict[str, object]]) -> dict[str, Path]:
    made: dict[str, Path] = {}
    gpg = test_keys(work)
    for name, uid in (
        ("release", RELEASE_UID),
        ("other", OTHER_UID),
        ("expired", EXPIRED_UID),
        ("revoked", REVOKED_UID),
    ):
        email = uid[uid.index("<") + 1 : -1]
        made[f"{name}.asc"] = gpg.export(email, out / f"{name}.asc")
    made["release.gpg"] = gpg.export("release@onn.test", out / "release.gpg", armor=False)
    made["secret.asc"] = out / "secret.asc"
    gpg("--armor", "--output", str(made["secret.asc"]), "--export-secret-keys", "release@onn.test")
    made["not-a-key.asc"] = out / "not-a-key.asc"
    made["not-a-key.asc"].write_text("This is the release key (it is not: a text file).\n")

    squash = {short: Path(str(images[name]["path"])) for short, name in IMAGES.items()}
    nvr = {short: str(images[name]["nvr"]) for short, name in IMAGES.items()}

    def package(name: str, short: str, files: dict[str, Path] | None = None, key: str | None = "release") -> Path:
        files = files if files is not None else {f"{nvr[short]}.squashfs.img": squash[short]}
        rpm = build_rpm(work, name, "4.5.6", files)
        if key is not None:
            rpmsign(rpm, gpg, f"{key}@onn.test")
        made[f"{name}.rpm"] = out / f"{name}.rpm"
        shutil.move(rpm, made[f"{name}.rpm"])
        return made[f"{name}.rpm"]

    log("signed: RPMs of tiny-ext4")
    tiny = package("tiny", "tiny")
    unsigned = package("tiny-unsigned", "tiny", key=None)
    package("tiny-other", "tiny", key="other")
    readme = work / "README"
    readme.write_text("no image here\n")
    package("tiny-no-squashfs", "tiny", files={"README": readme})
    package(
        "tiny-two-squashfs",
        "tiny",
        files={f"{nvr['tiny']}.squashfs.img": squash["tiny"], f"{nvr['tiny-1.1']}.squashfs.img": squash["tiny-1.1"]},
    )
    data = tiny.read_bytes()
    description = data.index(b"The squashfs of an onn test image")
    made["tiny-header-changed.rpm"] = flip(tiny, out / "tiny-header-changed.rpm", description)
    # A byte in the middle of the squashfs, inside the payload (stored uncompressed: w0).
    made["tiny-payload-changed.rpm"] = flip(tiny, out / "tiny-payload-changed.rpm", len(data) // 2)
    made["tiny-file-digest.rpm"] = with_file_digest(unsigned, out / "tiny-file-digest.rpm", gpg, "release@onn.test")
    made["tiny-truncated.rpm"] = out / "tiny-truncated.rpm"
    made["tiny-truncated.rpm"].write_bytes(data[:1024])  # cut inside its signature header

    log("signed: detached signatures")
    for name, image, armor in (
        ("tiny.sig", "tiny", False),
        ("tiny.asc", "tiny", True),
        ("tiny-1.1-as-tiny.sig", "tiny-1.1", False),
    ):
        made[name] = out / name
        gpg(
            "--local-user",
            "release@onn.test",
            *(["--armor"] if armor else []),
            "--output",
            str(made[name]),
            "--detach-sign",
            str(squash[image]),
        )

    log("signed: the RPM of demo-1.0")
    package("demo", "demo")
    return made


def fixtures(out: Path) -> None:
    """The small set rust/onn-core's unit tests read (image/fixtures/signed): the keys, an
    8 KiB stand-in squashfs (random bytes), its detached signature, and RPMs of it (signed,
    unsigned, by the other key, its payload changed)."""
    work = work_dir("signed-fixtures")
    try:
        gpg = test_keys(work)
        out.mkdir(parents=True, exist_ok=True)
        for name in ("release", "other", "expired", "revoked"):
            gpg.export(f"{name}@onn.test", out / f"{name}.asc")
        gpg.export("release@onn.test", out / "release.gpg", armor=False)
        gpg("--armor", "--output", str(out / "secret.asc"), "--export-secret-keys", "release@onn.test")
        image = out.resolve() / "onn-fixture-1.0-1.squashfs.img"
        image.write_bytes(os.urandom(8 << 10))
        gpg("--local-user", "release@onn.test", "--output", f"{image}.sig", "--detach-sign", str(image))
        for name, key in (("signed", "release"), ("unsigned", None), ("other", "other")):
            rpm = build_rpm(work, name, "1.0", {image.name: image})
            if key is not None:
                rpmsign(rpm, gpg, f"{key}@onn.test")
            shutil.move(rpm, out / f"{name}.rpm")
        data = (out / "signed.rpm").read_bytes()
        flip(out / "signed.rpm", out / "payload-changed.rpm", len(data) - 1000)
    finally:
        safe_rmtree(work)


def ensure() -> dict[str, str]:
    images = {name: image_facts(name) for name in IMAGES.values()}
    final = cache_root() / "signed" / cache_key(images)
    index = final / "signed.json"
    if index.is_file():
        return json.loads(index.read_text())
    with cache_lock():
        if index.is_file():
            return json.loads(index.read_text())
        work = work_dir("signed")
        try:
            out = work / "out"
            out.mkdir()
            made = build_all(work, out, images)
            paths = {n: str(final / p.name) for n, p in made.items()}
            paths.update({f"{short}.squashfs": str(images[name]["path"]) for short, name in IMAGES.items()})
            (out / "signed.json").write_text(json.dumps(paths, indent=1, sort_keys=True))
            final.parent.mkdir(parents=True, exist_ok=True)
            os.rename(out, final)
        finally:
            safe_rmtree(work)
    return json.loads(index.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description="Build (or reuse) onn's signed test material.")
    parser.add_argument("--json", action="store_true", help="print {name: path} as JSON")
    parser.add_argument("--fixtures", type=Path, metavar="DIR", help="write the unit tests' small set into DIR")
    args = parser.parse_args()
    if args.fixtures:
        fixtures(args.fixtures)
        return 0
    paths = ensure()
    print(json.dumps(paths, indent=1, sort_keys=True) if args.json else "\n".join(paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
