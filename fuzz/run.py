#!/usr/bin/env python3
"""Run every fuzz target for a bounded time; exit 1 when one finds a crash or a broken property.

    python3 fuzz/run.py [--seconds N] [--seed N] [TARGET ...]   # default: every target, 180 s each

Rust (cargo fuzz, libFuzzer + ASan; RUSTC_BOOTSTRAP=1 lets the stable toolchain take the
nightly flags): `names` (NVR parsing, LV-name rules against LVM's), `rpmvercmp` (a total
order). Python (atheris): `section` (parse_section, round-trip), `validate` (the whole-file
validator). Seeds are in fuzz/seeds/; what a run learns stays in target/fuzz/ (not tracked);
a failing input is written to target/fuzz/artifacts/ — make it a unit test.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "target/fuzz"
RUST = ("names", "rpmvercmp")
PYTHON = ("section", "validate")


def argv_of(target: str, seconds: int, seed: int, corpus: Path, artifacts: Path) -> list[str]:
    flags = [f"-max_total_time={seconds}", f"-artifact_prefix={artifacts}/{target}-", "-print_final_stats=1"]
    if seed:
        flags.append(f"-seed={seed}")
    seeds = str(ROOT / "fuzz/seeds" / target)
    if target in RUST:
        return ["cargo", "fuzz", "run", "--fuzz-dir", "fuzz/rust", "-O", target, str(corpus), seeds, "--", *flags]
    return [sys.executable, str(ROOT / "fuzz/python/fuzz_kickstart.py"), target, *flags, str(corpus), seeds]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=180, help="time per target")
    ap.add_argument("--seed", type=int, default=0, help="libFuzzer's seed (default 0: a new one each run)")
    ap.add_argument("targets", nargs="*", help=f"some of {', '.join([*RUST, *PYTHON])} (default: all)")
    args = ap.parse_args()
    args.targets = args.targets or [*RUST, *PYTHON]
    if unknown := set(args.targets) - {*RUST, *PYTHON}:
        ap.error(f"unknown targets: {', '.join(sorted(unknown))}")
    env = dict(os.environ, RUSTC_BOOTSTRAP="1", PYTHONPATH=str(ROOT / "addon"))
    failed = []
    for target in args.targets:
        corpus, artifacts = WORK / "corpus" / target, WORK / "artifacts"
        corpus.mkdir(parents=True, exist_ok=True)
        artifacts.mkdir(parents=True, exist_ok=True)
        print(f"fuzz: {target} for {args.seconds} s", flush=True)
        proc = subprocess.run(
            argv_of(target, args.seconds, args.seed, corpus, artifacts), cwd=ROOT, env=env, check=False
        )
        if proc.returncode != 0:
            failed.append(target)
    print(f"fuzz: {len(args.targets) - len(failed)} passed, {len(failed)} failed {' '.join(failed)}".rstrip())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
