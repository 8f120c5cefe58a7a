"""The guest's half of the boot tier's power-cut test (test_boot.py), run in a UML guest with
the firmware disk as /dev/ubda (boot.FIRMWARE_TABLE) and the PV as /dev/ubdb. /boot is mounted
as an installer or a running host has it, and onn is given the directory; right after onn
exits 0 the guest's power is cut: no sync, no unmount (the reboot system call, as a power
button held down). What the guest wrote and did not flush is lost, as on a real machine.

    powercut.py install IMAGE OUT ARG...   # partition the disk, install, cut
    powercut.py layer-add OUT ARG...       # see /boot as GRUB will, then `onn layer add`, cut

OUT: a JSON file on a read-write directory of the host (written and flushed before the cut):
onn's output, and after `layer-add` what /boot held for GRUB after the first cut.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from pathlib import Path

from boot import BLS_DIR, FIRMWARE_BOOT, GRUBENV_PATH, parse_grubenv
from guestlib import format_firmware_disk, kernel_args, onn, run

DISK = "/dev/ubda"
PV = "/dev/ubdb"
BOOT = Path("/run/powercut/boot")
#: glibc's RB_POWER_OFF: the machine stops at once, nothing is synced or unmounted.
RB_POWER_OFF = 0x4321FEDC
#: A file written to /boot after onn, neither flushed nor checkpointed: GRUB must not see it
#: (the cut is real).
CANARY = "onn-powercut-canary"


def cut(out: Path, result: dict[str, object]) -> None:
    with out.open("w") as f:
        json.dump(result, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    print("powercut: the power goes now", flush=True)
    ctypes.CDLL(None, use_errno=True).reboot(RB_POWER_OFF)
    raise SystemExit(f"reboot(RB_POWER_OFF) failed: {os.strerror(ctypes.get_errno())}")


def mount_boot() -> None:
    BOOT.mkdir(parents=True, exist_ok=True)
    run(["mount", f"{DISK}{FIRMWARE_BOOT}", str(BOOT)])


def install(image: str, out: Path, args: list[str]) -> None:
    esp, _boot = format_firmware_disk(DISK)
    mount_boot()
    done = onn("install", "--image", image, "--pv", PV, "--boot", str(BOOT), "--efi", esp, "--json", *kernel_args(args))
    (BOOT / CANARY).write_text("written after onn, never flushed\n")
    cut(out, {"install": json.loads(done.stdout)})


def grubs_view() -> dict[str, object]:
    """/boot as GRUB reads it: the filesystem without its journal replayed."""
    at = Path("/run/powercut/grub-view")
    at.mkdir(parents=True, exist_ok=True)
    run(["mount", "-o", "ro,norecovery", f"{DISK}{FIRMWARE_BOOT}", str(at)])
    try:
        env = at / GRUBENV_PATH
        saved = parse_grubenv(env.read_bytes()).get("saved_entry") if env.is_file() else None
        entries = sorted(p.name for p in (at / BLS_DIR).glob("*.conf"))
        files = {str(p.relative_to(at)): p.stat().st_size for p in at.rglob("*") if p.is_file()}
    finally:
        run(["umount", str(at)])
    return {"saved_entry": saved, "entries": entries, "files": files, "canary": CANARY in files}


def layer_add(out: Path, args: list[str]) -> None:
    seen = grubs_view()
    mount_boot()  # replays the journal, as the booted host's mount does
    run(["lvm", "vgchange", "--activate", "y", "onn"])
    done = onn("layer", "add", "--boot", str(BOOT), "--json", *kernel_args(args))
    cut(out, {"grub_after_install": seen, "layer_add": json.loads(done.stdout)})


def main() -> int:
    what, *rest = sys.argv[1:]
    if what == "install":
        image, out, *args = rest
        install(image, Path(out), args)
    else:
        out, *args = rest
        layer_add(Path(out), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
