#!/usr/bin/env python3
"""What a signed image adds to an install: the same image (demo-1.0) read by `onn image` as
the bare squashfs, as the bare squashfs with --sha256, with its detached signature, and as
oVirt's image-update RPM with its release key (header and signature checked, the squashfs
streamed out of the payload into the download directory with its digests checked). `onn image`
does what an install does before its first write (obtain the image, verify it, read its
facts), so the difference between the rows is what verification and extraction add to an
install; the rest of the install is the same squashfs either way. A script, not a test: times
are measured, never asserted.

    python3 bench/signed.py [--runs 5] [--onn target/release/onn]     # as root, on the host

The page cache is dropped before every run, so each reads the image from disk as an install
does right after the image arrived; the download directory is a tmpfs (as the installer's
/run/install is). The signed material comes from tests/images/signed.py.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIB = 1 << 20


def drop_caches() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run (which must succeed)."""
    drop_caches()
    before = os.times()
    t = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = time.monotonic() - t
    after = os.times()
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed: {proc.stderr}")
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--onn", type=Path, default=ROOT / "target/release/onn")
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=f"{ROOT}/tests/support:{ROOT}/tests/images")
    build = [sys.executable, str(ROOT / "tests/images/signed.py"), "--json"]
    signed = json.loads(subprocess.run(build, env=env, capture_output=True, text=True, check=True).stdout)
    images = [sys.executable, str(ROOT / "tests/images/build.py"), "--json", "demo-1.0"]
    demo = json.loads(subprocess.run(images, env=env, capture_output=True, text=True, check=True).stdout)["demo-1.0"]
    squashfs, rpm, key = demo["path"], signed["demo.rpm"], signed["release.asc"]
    with tempfile.TemporaryDirectory(prefix="onn-bench-signed.") as tmp:
        downloads = Path(tmp) / "downloads"
        downloads.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2g", "onn-bench", str(downloads)], check=True)
        try:
            sig = Path(tmp) / "demo.squashfs.img.sig"
            gpg_home = Path(tmp) / "gnupg"
            gpg_home.mkdir(mode=0o700)
            # A detached signature of the squashfs by a key of this run's own.
            gpg = ["gpg", "--homedir", str(gpg_home), "--batch", "--pinentry-mode", "loopback"]
            subprocess.run([*gpg, "--quick-gen-key", "--passphrase", "", "bench <bench@onn.test>", "rsa2048", "sign"],
                           check=True, capture_output=True)  # fmt: skip
            subprocess.run([*gpg, "--output", str(sig), "--detach-sign", squashfs], check=True, capture_output=True)
            bench_key = Path(tmp) / "bench.asc"
            subprocess.run([*gpg, "--armor", "--output", str(bench_key), "--export", "bench@onn.test"], check=True)
            onn = [str(args.onn), "image", "--download-dir", str(downloads)]
            rows = [
                ("squashfs", "the bare squashfs (no check)", [*onn, squashfs]),
                ("squashfs --sha256", "its SHA-256 checked", [*onn, squashfs, "--sha256", demo["sha256"]]),
                (
                    "squashfs --signature",
                    "its detached OpenPGP signature checked",
                    [*onn, squashfs, "--gpg-key", str(bench_key), "--signature", str(sig)],
                ),  # fmt: skip
                (
                    "rpm --gpg-key",
                    "the image-update RPM: signature, digests, squashfs unpacked",
                    [*onn, rpm, "--gpg-key", key],
                ),  # fmt: skip
            ]
            results = []
            for name, what, argv in rows:
                runs = [timed(argv) for _ in range(args.runs)]
                results.append(
                    (name, what, statistics.median(w for w, _c in runs), statistics.median(c for _w, c in runs))
                )
        finally:
            subprocess.run(["umount", str(downloads)], check=True)
    size = Path(squashfs).stat().st_size
    base = results[0][2]
    print(f"demo-1.0: squashfs {size / MIB:.0f} MiB, RPM {Path(rpm).stat().st_size / MIB:.0f} MiB; "
          f"median of {args.runs} runs, page cache dropped before each")  # fmt: skip
    print(f"{'what onn image reads':<22} {'wall s':>7} {'cpu s':>7} {'added s':>8}  how")
    for name, what, wall, cpu in results:
        print(f"{name:<22} {wall:7.2f} {cpu:7.2f} {wall - base:+8.2f}  {what}")
    rpm_wall = results[-1][2]
    print(f"the RPM adds {rpm_wall - base:.2f} s to an install ({size / MIB / max(rpm_wall - base, 1e-9):.0f} MiB/s "
          "for signature, digests and unpacking)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
