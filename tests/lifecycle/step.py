"""One step of the Node's life, run on the booted host by its image's onn-after-report once the
boot report is out (tests/lifecycle/standins/onn-after-report), from the test's driver disk
(label ONNLIFE, mounted read-only at /run/onn-life). The step to run follows from what
this host did before, kept in /var (shared by all layers):

1. on onn's layer: `imgbase update --format liveimg` to the next image, then reboot;
2. on the layer imgbased made: `imgbase check`, `imgbase rollback`, then reboot;
3. on onn's layer again: power off.

Each step prints `ONN-LIFECYCLE <json>` on the serial console: where the host runs (`imgbase
w`, /proc/cmdline), what it found and what each command printed, with its time. imgbased and
nodectl are the host's own (their checkouts, on the driver disk's Python path); the image has
stand-ins only for EL's grubby and dracut's multipath module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

DRIVER = Path("/run/onn-life")
STATE = Path("/var/lib/onn-lifecycle/state")
#: A file written in onn's layer's /etc before the update: imgbased carries /etc's changes.
ETC_MARK = Path("/etc/onn-lifecycle-written-in-layer-1")
#: What EL's grub2-mkconfig leaves and imgbased's grubby wrapper copies around each call; the
#: machine's GRUB reads its configuration from the ESP (tests/support/bootloader.py).
GRUB_CFG = Path("/boot/grub2/grub.cfg")
ENV = dict(os.environ, PYTHONPATH=str(DRIVER / "python"), LC_ALL="C", PATH="/usr/local/sbin:/usr/sbin:/usr/bin")


def console(what: dict[str, object]) -> None:
    line = "ONN-LIFECYCLE " + json.dumps(what)
    for tty in ("/dev/ttyS0", "/dev/console"):
        try:
            Path(tty).write_text(line + "\n")
            return
        except OSError:
            continue


def imgbase(*args: str) -> dict[str, object]:
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "imgbased", *args], env=ENV, capture_output=True, text=True, check=False
    )
    return {
        "argv": ["imgbase", *args],
        "returncode": proc.returncode,
        "seconds": round(time.monotonic() - start, 1),
        "stdout": proc.stdout[-4000:],
        "stderr": proc.stderr[-4000:],
    }


def where() -> dict[str, object]:
    w = imgbase("w")
    selinux = subprocess.run(["getenforce"], capture_output=True, text=True, check=False).stdout.strip()
    return {"w": str(w["stdout"]).strip(), "cmdline": Path("/proc/cmdline").read_text().strip(), "selinux": selinux}


def standins() -> list[str]:
    """The programs of the image's stand-ins called so far (their record)."""
    record = Path("/var/log/onn-standins.jsonl")
    lines = record.read_text().splitlines() if record.exists() else []
    return [json.loads(line)["program"] for line in lines]


def finish(step: str, facts: dict[str, object], then: str) -> None:
    STATE.parent.mkdir(parents=True, exist_ok=True)
    STATE.write_text(step)
    console({"step": step, **facts, "then": then})
    subprocess.run(["sync"], check=False)
    subprocess.run(["systemctl", then], check=False)


def main() -> int:
    done = STATE.read_text().strip() if STATE.exists() else ""
    facts: dict[str, object] = where()
    if not done:
        ETC_MARK.write_text("written in onn's layer before the update\n")
        if not GRUB_CFG.exists():
            GRUB_CFG.parent.mkdir(parents=True, exist_ok=True)
            GRUB_CFG.write_text("# the installer's bootloader step writes this; onn's CLI does not\n")
        facts["check"] = imgbase("check")
        (image,) = (DRIVER / "images").glob("*.squashfs.img")
        facts["update"] = imgbase("--debug", "update", "--format", "liveimg", str(image))
        facts["standins"] = standins()
        finish("updated", facts, "reboot")
    elif done == "updated":
        facts["etc_mark"] = ETC_MARK.exists()
        facts["check"] = imgbase("check")
        facts["rollback"] = imgbase("rollback")
        finish("rolled-back", facts, "reboot")
    else:
        facts["check"] = imgbase("check")
        finish("done", facts, "poweroff")
    return 0


if __name__ == "__main__":
    sys.exit(main())
