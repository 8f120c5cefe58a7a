#!/usr/bin/env python3
"""Write a Node image's root filesystem onto the same target, side by side, the ways the old
flow and the obvious tools do it, and onn's way; print a table of speed, CPU, memory and each
method's ratio to onn and to the machine's limits. A script, not a test: timings are
measured here, never asserted.

    make bench BENCH_ARGS="[--image demo-1.0] [--runs 3]"   # as root, on the host; then the guest part
    PYTHONPATH=tests/support:tests/images python3 bench/run.py [--baseline OTHER/copy_bench] ...

`--baseline` adds a row for another build of onn's copy (the `copy_bench` example built from
another commit, e.g. `git worktree add ../base main && cargo build --release -p onn-core
--example copy_bench` there), run in the same run as this tree's, so a change to the write
path is measured against what it replaces on the same machine in the same minutes.

The target is a fresh sparse file on a loop device for every run (no LVM needed for the copy);
the page cache is dropped before every run. Needs: rsync, e2fsprogs, squashfs-tools, GNU time
and `cargo` (it builds onn's copy as the `copy_bench` example of onn-core).
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
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import programs

ROOT = Path(__file__).resolve().parents[1]
MIB = 1 << 20


@dataclass
class Run:
    wall: float
    cpu: float
    rss: int  # peak resident set of the largest process, bytes


@dataclass
class Method:
    name: str
    what: str
    runs: list[Run] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(r.wall for r in self.runs)


def sh(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return programs.run(argv, cwd=cwd)


def measured(*pipeline: list[str], stdout_to: str | None = None) -> Run:
    """Run a pipeline of argv lists (no shell); wall time, CPU time and peak RSS of its processes.
    The RSS comes from GNU time around each program: a child's own ru_maxrss starts at the RSS
    of the process it was forked from (this Python), which would hide small programs."""
    with ExitStack() as stack:
        procs: list[subprocess.Popen[bytes]] = []
        peaks = [stack.enter_context(tempfile.NamedTemporaryFile("r")) for _ in pipeline]
        start = time.monotonic()
        prev = None
        for i, argv in enumerate(pipeline):
            last = i == len(pipeline) - 1
            out = (
                stack.enter_context(open(stdout_to, "wb"))
                if last and stdout_to
                else (subprocess.DEVNULL if last else subprocess.PIPE)
            )
            p = subprocess.Popen(
                ["/usr/bin/time", "-f", "%M", "-o", peaks[i].name, *argv],
                stdin=prev.stdout if prev else subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.PIPE,
            )
            if prev and prev.stdout:
                prev.stdout.close()
            procs.append(p)
            prev = p
        cpu, rss = 0.0, 0
        for p, peak in zip(procs, peaks, strict=True):
            _pid, status, usage = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
            cpu += usage.ru_utime + usage.ru_stime  # GNU time's, with its child's
            rss = max(rss, int(peak.read().split()[-1]) * 1024)
        wall = time.monotonic() - start
        for p, argv in zip(procs, pipeline, strict=True):
            if p.returncode != 0:
                err = p.stderr.read().decode() if p.stderr else ""
                raise RuntimeError(f"{argv} failed ({p.returncode}): {err[-500:]}")
    return Run(wall, cpu, rss)


def drop_caches() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


class Target:
    """A fresh sparse file of `size` on a loop device; optionally formatted and mounted."""

    def __init__(self, work: Path, size: int) -> None:
        self.work, self.size = work, size
        self.file = work / "target.img"
        self.dev = ""
        self.mnt = work / "target"

    def __enter__(self) -> Target:
        self.file.unlink(missing_ok=True)
        with self.file.open("wb") as f:
            f.truncate(self.size)
        self.dev = sh("losetup", "--find", "--show", str(self.file)).stdout.strip()
        return self

    def filesystem(self, fstype: str) -> Path:
        sh(f"mkfs.{fstype}", "-q", self.dev)
        self.mnt.mkdir(exist_ok=True)
        sh("mount", self.dev, str(self.mnt))
        return self.mnt

    def allocated(self) -> int:
        return self.file.stat().st_blocks * 512

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["umount", str(self.mnt)], capture_output=True)
        subprocess.run(["losetup", "-d", self.dev], capture_output=True)
        self.file.unlink(missing_ok=True)


IMAGES = ("demo-1.0", "demo-xz", "big-zstd", "big-xz")
# issue 6's targets, printed beside what was measured
TARGET_LIMIT = 0.90
TARGET_VS_RSYNC = {"xz": 2.2, "zstd": 2.8}
TARGET_RSS = 64 * MIB
TARGET_SHA256 = 1e9


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", action="append", help=f"a test image name (default: {', '.join(IMAGES)})")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path("/var/tmp/onn-bench"))
    ap.add_argument("--baseline", type=Path, help="another build's copy_bench, measured beside this tree's")
    args = ap.parse_args()

    names = args.image or list(IMAGES)
    images = json.loads(sh(sys.executable, str(ROOT / "tests/images/build.py"), "--json", *names).stdout)
    sh("cargo", "build", "--quiet", "--release", "-p", "onn-core", "--example", "copy_bench", cwd=ROOT)
    sh("cargo", "build", "--quiet", "--release", "-p", "onn-cli", cwd=ROOT)
    args.work.mkdir(parents=True, exist_ok=True)
    for name in names:
        bench_image(images[name], args.runs, Path(tempfile.mkdtemp(dir=args.work)), args.baseline)
        print(flush=True)
    return 0


def bench_image(facts: dict[str, object], runs: int, work: Path, baseline: Path | None) -> None:
    image, fs, logical = Path(str(facts["path"])), str(facts["fs"]), int(str(facts["tree_bytes"]))
    copy_bench = str(ROOT / "target/release/examples/copy_bench")
    onn = str(ROOT / "target/release/onn")
    sq, tree = work / "sq", work / "tree"
    sq.mkdir()
    tree.mkdir()
    sh("mount", "-o", "ro,loop", str(image), str(sq))
    rootfs = sq / "LiveOS/rootfs.img"
    rootfs_size = rootfs.stat().st_size
    ro = "ro,loop,noload" if fs == "ext4" else "ro,loop,norecovery"
    sh("mount", "-o", ro, str(rootfs), str(tree))
    comp = next(
        (
            ln.split()[1]
            for ln in sh("unsquashfs", "-s", str(image)).stdout.splitlines()
            if ln.startswith("Compression")
        ),
        "?",
    )

    # Each method: (name, what it is, how to run it on a fresh target) → Run.
    def raw(t: Target) -> Run:
        return measured(
            ["dd", "if=/dev/zero", f"of={t.dev}", "bs=4M", f"count={rootfs_size // (4 * MIB)}", "oflag=direct"]
        )

    methods: list[tuple[str, str, Callable[[Target], Run]]] = [
        ("limit: target write", "dd of zeros, O_DIRECT, rootfs.img's size", raw),
        (
            "limit: kernel squashfs read",
            "cat rootfs.img from the squashfs mount",
            lambda t: measured(["cat", str(rootfs)]),
        ),
        (
            "limit: unsquashfs read",
            "unsquashfs -cat rootfs.img (all cores)",
            lambda t: measured(["unsquashfs", "-cat", str(image), "LiveOS/rootfs.img"]),
        ),
        ("onn", "onn's base write", lambda t: measured([copy_bench, str(image), t.dev])),
        *(
            [("onn (baseline)", f"{baseline}", lambda t: measured([str(baseline), str(image), t.dev]))]
            if baseline
            else []
        ),
        (
            "dd conv=sparse",
            "dd of rootfs.img",
            lambda t: measured(["dd", f"if={rootfs}", f"of={t.dev}", "bs=4M", "conv=sparse,fsync"]),
        ),
        (
            "dd",
            "dd of rootfs.img (allocates all)",
            lambda t: measured(["dd", f"if={rootfs}", f"of={t.dev}", "bs=4M", "conv=fsync"]),
        ),
        (
            "unsquashfs -cat",
            "rootfs.img streamed from userspace",
            lambda t: measured(["unsquashfs", "-cat", str(image), "LiveOS/rootfs.img"], stdout_to=t.dev),
        ),
        (
            "rsync (Anaconda)",
            "rsync -pogAXtlHrDx from the mounted tree",
            lambda t: _into_fs(t, fs, ["rsync", "-pogAXtlHrDx", f"{tree}/", "{mnt}/"]),
        ),
        ("tar | tar (imgbased)", "tar -c | tar -x from the mounted tree", lambda t: _tar(t, fs, tree)),
    ]
    if fs == "ext4":
        methods.append(
            ("e2image -ra", "e2image of rootfs.img", lambda t: measured(["e2image", "-ra", str(rootfs), t.dev]))
        )

    results: list[Method] = []
    alloc: dict[str, int] = {}
    try:
        for name, what, fn in methods:
            m = Method(name, what)
            for _ in range(runs):
                with Target(work, rootfs_size + 256 * MIB) as t:
                    drop_caches()
                    run = fn(t)
                    start = time.monotonic()
                    os.sync()  # a write is done when it is on the target
                    m.runs.append(Run(run.wall + time.monotonic() - start, run.cpu, run.rss))
                    alloc[name] = t.allocated()
            results.append(m)
            print(f"  {name}: {', '.join(f'{r.wall:.1f}s' for r in m.runs)}", file=sys.stderr)
        # Checksums, with the image in the page cache: the hashing itself, not the disk.
        sha = str(facts["sha256"])
        hashers = [
            ("sha256: onn image --sha256", [onn, "image", str(image), "--sha256", sha]),
            ("sha256: onn image (no sum)", [onn, "image", str(image)]),
            ("sha256: sha256sum", ["sha256sum", str(image)]),
            ("sha256: openssl dgst", ["openssl", "dgst", "-sha256", str(image)]),
        ]
        sha_runs: dict[str, list[Run]] = {}
        for name, argv in hashers:
            measured(argv)  # warm the cache
            sha_runs[name] = [measured(argv) for _ in range(runs)]
    finally:
        subprocess.run(["umount", str(tree)], capture_output=True)
        subprocess.run(["umount", str(sq)], capture_output=True)

    by = {m.name: m for m in results}
    write_s = by["limit: target write"].wall
    decomp_s = min(by["limit: kernel squashfs read"].wall, by["limit: unsquashfs read"].wall)
    limit_s = max(write_s, decomp_s)
    onn_s = by["onn"].wall
    print(
        f"image {image.name}: {comp}, {image.stat().st_size / MIB:.0f} MiB; rootfs.img {rootfs_size / MIB:.0f} MiB, "
        f"file data {logical / MIB:.0f} MiB; {runs} runs each, page cache dropped before each; median wall"
    )
    print(
        f"physical limit = max(target write {write_s:.2f}s, fastest decompression {decomp_s:.2f}s) = {limit_s:.2f}s\n"
    )
    head = (
        f"{'method':30} {'wall s (min/med)':>17} {'MB/s':>7} {'CPU s':>6} {'RSS MiB':>8} {'alloc MiB':>9}"
        f" {'vs onn':>7} {'vs limit':>8}"
    )
    print(head)
    print("-" * len(head))
    for m in results:
        walls = sorted(r.wall for r in m.runs)
        limit_row = m.name.startswith("limit")
        print(
            f"{m.name:30} {walls[0]:8.2f}/{m.wall:<8.2f} {logical / m.wall / 1e6:7.0f} "
            f"{statistics.median(r.cpu for r in m.runs):6.1f} {max(r.rss for r in m.runs) / MIB:8.1f} "
            f"{'' if limit_row else f'{alloc[m.name] / MIB:9.0f}':>9} "
            f"{onn_s / m.wall:6.2f}x {limit_s / m.wall:7.2f}x"
        )
    size = image.stat().st_size
    print()
    for name, rs in sha_runs.items():
        walls = sorted(r.wall for r in rs)
        med = statistics.median(walls)
        print(f"{name:30} {walls[0]:8.2f}/{med:<8.2f} {size / med / 1e6:7.0f} MB/s of image (page cache warm)")
    verify_s = statistics.median(r.wall for r in sha_runs["sha256: onn image --sha256"]) - statistics.median(
        r.wall for r in sha_runs["sha256: onn image (no sum)"]
    )
    rsync_x = by["rsync (Anaconda)"].wall / onn_s
    onn_rss = max(r.rss for r in by["onn"].runs)
    hash_rate = size / statistics.median(r.wall for r in sha_runs["sha256: onn image --sha256"])
    want_x = TARGET_VS_RSYNC.get(comp, TARGET_VS_RSYNC["zstd"])
    print(
        "\ntargets: "
        f"onn/limit {limit_s / onn_s:.2f} (>= {TARGET_LIMIT}); "
        f"onn vs rsync {rsync_x:.2f}x (>= {want_x}x for {comp}); "
        f"onn RSS {onn_rss / MIB:.1f} MiB (<= {TARGET_RSS // MIB}); "
        f"verify + read {hash_rate / 1e9:.2f} GB/s, the checksum adds {max(verify_s, 0):.2f}s "
        f"(>= {TARGET_SHA256 / 1e9:.0f} GB/s)"
    )
    print(
        "MB/s: the image's file data (logical) per second of wall time. 'vs onn': speed relative to onn "
        "(<1 is slower). 'vs limit': speed relative to the physical limit. alloc: target blocks allocated."
    )


def _into_fs(t: Target, fs: str, argv: list[str]) -> Run:
    mnt = t.filesystem(fs)
    return measured([a.replace("{mnt}", str(mnt)) for a in argv])


def _tar(t: Target, fs: str, tree: Path) -> Run:
    mnt = t.filesystem(fs)
    return measured(
        ["tar", "--xattrs", "--acls", "-C", str(tree), "-cf", "-", "."],
        ["tar", "--xattrs", "--acls", "--numeric-owner", "-C", str(mnt), "-xf", "-"],
    )


if __name__ == "__main__":
    sys.exit(main())
