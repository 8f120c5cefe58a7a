#!/usr/bin/env python3
"""A whole install by the real Anaconda (45.21, from its checkout) in the User-Mode-Linux guest,
timed from start to exit, side by side with the flow onn replaces:

(a) Anaconda with onn's `%addon org_ovirt_node` (kickstart/minimal-pxe.ks, as the e2e case
    `minimal-pxe` runs it: tests/anaconda/test_anaconda_e2e.py);
(b) the same kickstart with the section's payload lines replaced by `liveimg --url=…
    --checksum=…` and `%post imgbase layout --init` with the image's own imgbased (what
    Foreman's oVirt template does): Anaconda's rsync of the image into the kickstart's thin root
    LV, then imgbased makes base and layer of it.

Both install compat-1.0 (the demo tree with what imgbased runs on; its checkout is copied into
the target by a `%post --nochroot`, where a Node image has it installed). Both get the same
stand-ins in the target's /usr/local/sbin, bound once the payload is in place
(tests/anaconda/in_guest.py): EL's grub2-mkconfig (tests/anaconda/standins/target), the
grubby and systemctl that imgbased calls (tests/guest/imgbased-standins) and (b)'s boot entry as
EL's bootloader step writes it (bench/standins/el-boot-entries); dracut is the image's real one
in both. Each round runs (a) and (b) at the same time, one guest each (a UML guest uses
one core), so both see the same machine. Prints each run, the medians, (b)/(a), the phases of
both (between Anaconda's progress headlines) and onn's share of (a) by step (its install
report's step timings).

Started by `make bench-anaconda ANACONDA_SRC=… MEH_SRC=… IMGBASED_SRC=… NODECTL_SRC=…`, which
builds the toolchain as `make anaconda-e2e` does. A script, not a test: it prints; it asserts only
that each run installed what it should (a VG tagged by imgbased, a base and its +1 layer).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hostlib import python_packages
from test_anaconda_e2e import GIB, HERE, REPO, anaconda_in_guest, kickstart

FLOWS = {"a": "Anaconda + onn (%addon org_ovirt_node)", "b": "Anaconda liveimg + imgbase layout --init"}
#: Anaconda's progress headlines (its cmdline output) that begin a phase of an install, in order;
#: a phase lasts until the next headline that run printed, the last one until Anaconda exits.
PHASES = {
    "": "start, kickstart, storage check",
    "Configuring storage": "storage made (disklabel, LVs, mkfs)",
    "Running pre-installation scripts": "pre-install scripts and tasks",
    "Installing the software": "payload (a: tarball + onn; b: rsync)",
    "Installing boot loader": "boot loader",
    "Performing post-installation setup tasks": "system configuration",
    "Writing the Node boot entries": "onn's entries, host initramfs",
    "Generating initramfs": "Anaconda's initramfs (dracut)",
    "Storing configuration files and kickstarts": "logs and kickstart copy",
    "Running post-installation scripts": "%post (b: imgbase layout)",
}
#: (b)'s lines after the kickstart: imgbased into the target, then what the template's %post runs.
LIVEIMG_POST = """
%post --nochroot --erroronfail
# The image's own imgbased: a Node image has it installed (its RPM: the Python package and the
# pool's LVM profile); here from its checkout (bench/anaconda.py).
cp -a {packages} "$ANA_INSTALL_PATH/var/tmp/onn-bench-imgbased"
install -D -m 644 {profile} "$ANA_INSTALL_PATH/etc/lvm/profile/imgbased-pool.profile"
%end
%post --erroronfail
set -e
# The target's stand-ins (grubby, systemctl, grub2-mkconfig) ahead of its own tools, as for (d).
export PATH=/usr/local/sbin:$PATH
# What Anaconda's bootloader step leaves on EL (`bootloader --location=none` here; a stand-in).
el-boot-entries
# EL 8's Anaconda names the root LV in the fstab by its device path; Anaconda 45's blivet writes
# UUID=, which imgbased 1.2.26 cannot map back to an LV (osupdater's _update_grub_cmdline).
sed -i "s|^UUID=$(findmnt -n -o UUID /) |$(findmnt -n -o SOURCE /) |" /etc/fstab
# Anaconda 34.22 and later mount a tmpfs on the target's /tmp for the install (EL 8's did not);
# imgbased 1.2.26 then takes /tmp for a volume already made, makes none, and fails on its missing
# mount unit (osupdater's _update_fstab). So imgbased sees the target's own /tmp, as on EL 8, and
# Anaconda gets its tmpfs back for its teardown (this script, in that /tmp, runs on from its open file).
umount -l /tmp
PYTHONPATH=/var/tmp/onn-bench-imgbased python3 -m imgbased --debug layout --init
mount -t tmpfs tmpfs /tmp
rm -rf /var/tmp/onn-bench-imgbased
%end
"""


def kickstarts(image: dict[str, object], packages: Path) -> dict[str, str]:
    url = f"file://{image['path']}"
    a = kickstart("minimal-pxe", image, url)
    payload = re.compile(r"%addon org_ovirt_node.*?%end\n", re.S)
    assert len(payload.findall(a)) == 1, a
    b = payload.sub(f"liveimg --url={url} --checksum={image['sha256']}\n", a) + LIVEIMG_POST.format(
        packages=packages, profile=Path(os.environ["IMGBASED_SRC"]) / "data/imgbased-pool.profile"
    )
    return {"a": a, "b": b}


def standins(where: Path) -> Path:
    """The target's stand-ins of both flows, in one directory."""
    where.mkdir(parents=True)
    imgbased = REPO / "tests/guest/imgbased-standins"
    bench = Path(__file__).resolve().parent / "standins/el-boot-entries"
    for src in (HERE / "standins/target/grub2-mkconfig", imgbased / "grubby", imgbased / "systemctl", bench):
        shutil.copy2(src, where / src.name)
    return where


def phase_times(timed_console: Path, seconds: float) -> dict[str, float]:
    """How long each phase of PHASES took in one run, from its timed console (in_guest.py)."""
    seen: dict[str, float] = {"": 0.0}
    for line in timed_console.read_text().splitlines():
        at, _, text = line.strip().partition(" ")
        if text in PHASES:
            seen.setdefault(text, float(at))
    starts = sorted((t, h) for h, t in seen.items())
    ends = [t for t, _h in starts[1:]] + [seconds]
    return {h: end - t for (t, h), end in zip(starts, ends, strict=True)}


def one_run(flow: str, n: int, ks: str, toolchain: Path, image: dict[str, object], work: Path, bins: Path) -> dict:
    run_dir = work / f"{flow}{n}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    options = ["--standins", str(bins), *(["--liveimg"] if flow == "b" else [])]
    start = time.monotonic()
    report, disk = anaconda_in_guest(run_dir, ks, toolchain, Path(str(image["path"])), 24 * GIB, *options)
    guest_s = time.monotonic() - start
    disk.unlink()
    out = run_dir / "out"
    found = report["found"]
    assert report["returncode"] == 0, f"{flow}{n}: Anaconda exited {report['returncode']}; logs in {out}"
    assert found.get("layer") == f"{image['nvr']}+1", f"{flow}{n}: no imgbased layout: {found}; logs in {out}"
    phases = phase_times(out / "console-times.log", report["seconds"])
    onn_report = out / "install-report.json"
    steps = json.loads(onn_report.read_text())["steps"] if onn_report.exists() else []
    result = {"flow": flow, "round": n, "seconds": report["seconds"], "guest_seconds": guest_s, "phases": phases,
              "onn_steps": steps}  # fmt: skip
    (run_dir / "result.json").write_text(json.dumps(result))
    return result


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--image", default="compat-1.0")
    ap.add_argument("--flows", default="ab", help="one flow only: a or b")
    ap.add_argument("--first", type=int, default=1, help="the first round's number (to add rounds to a run)")
    args = ap.parse_args()
    toolchain = Path(os.environ["ONN_ANACONDA"])
    image = json.loads(Path(os.environ["ONN_IMAGES"]).read_text())[args.image]
    work = Path(os.environ["ONN_VM_WORK"]) / "bench-anaconda"
    work.mkdir(parents=True, exist_ok=True)
    # This run's own (a guest of an earlier run may still read that run's)
    packages = python_packages(work / f"packages-{os.getpid()}")
    texts = kickstarts(image, packages)
    bins = standins(work / f"standins-{os.getpid()}")
    print(f"image {image['nvr']} ({int(image['image_size']) >> 20} MiB squashfs); {args.runs} rounds of (a) "
          "beside (b), one guest each", flush=True)  # fmt: skip
    try:
        with ThreadPoolExecutor(2) as pool:
            for n in range(args.first, args.first + args.runs):
                both = [pool.submit(one_run, f, n, texts[f], toolchain, image, work, bins) for f in args.flows]
                for r in (job.result() for job in both):
                    print(f"round {n} ({r['flow']}): Anaconda {r['seconds']:.0f} s (guest {r['guest_seconds']:.0f} s)",
                          flush=True)  # fmt: skip
    finally:
        shutil.rmtree(packages)
        shutil.rmtree(bins)
    # Every round in the work directory, this run's and those an earlier run with --first added.
    runs: dict[str, list[dict]] = {"a": [], "b": []}
    for path in sorted(work.glob("[ab]*/result.json")):
        result = json.loads(path.read_text())
        runs[result["flow"]].append(result)
    if not (runs["a"] and runs["b"]):
        return 0
    print(f"\nrounds: (a) {[r['round'] for r in runs['a']]}, (b) {[r['round'] for r in runs['b']]}")
    a, b = (statistics.median(r["seconds"] for r in runs[f]) for f in "ab")
    print("\nflow                                          min s  median s   (start to exit of Anaconda)")
    for f, label in FLOWS.items():
        walls = [r["seconds"] for r in runs[f]]
        print(f"({f}) {label:40} {min(walls):6.0f} {statistics.median(walls):9.0f}")
    print(f"\n(b)/(a) = {b / a:.2f}")
    print("\nwhere the time goes (Anaconda's progress headlines; median s)     (a)      (b)")
    for headline, label in PHASES.items():
        med = [statistics.median(r["phases"].get(headline, 0.0) for r in runs[f]) for f in "ab"]
        print(f"  {label:60} {med[0]:7.0f}  {med[1]:7.0f}")
    print("\nonn's share of (a), by step (its install report, median of the runs):")
    names = list(dict.fromkeys(s["step"] for s in runs["a"][0]["onn_steps"]))  # a step may recur (volumes)
    total = 0.0
    for step in names:
        sec = statistics.median(sum(s["seconds"] for s in r["onn_steps"] if s["step"] == step) for r in runs["a"])
        total += sec
        print(f"  {step:28} {sec:7.1f} s")
    print(f"  {'onn in all':28} {total:7.1f} s = {total / a:.0%} of (a); Anaconda's own: {a - total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
