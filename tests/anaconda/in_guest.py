"""Run the real Anaconda on a kickstart inside the UML guest, then report what the disk holds.

Started by tests/anaconda/test_anaconda_e2e.py through tests/support/uml.py, with the guest's
disks given as ubd devices (/dev/ubda, …). The installer's files (Anaconda's, from
tests/anaconda/toolchain.py, and onn's `make install`) are overlaid on /usr and /etc in a
private mount namespace, so neither the guest's nor the host's trees change. Writes, into
--out: anaconda.json (exit status, what the disk holds) and Anaconda's logs.

    PYTHONPATH=tests/support python3 in_guest.py --config toolchain.json --kickstart KS --out DIR
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import programs
from guestlib import Mounted, tree_manifest
from gui_session import GraphicalSession
from hostlib import Host, entries, python_packages, saved_entry

HERE = Path(__file__).resolve().parent

STANDINS = HERE / "standins"
#: what EL's Node image has and the demo image (Debian's) lacks, called by Anaconda in the target
TARGET_STANDINS = STANDINS / "target"
SYSTEMD_BUS_SERVICES = {
    "org.freedesktop.locale1": "systemd-localed",
    "org.freedesktop.hostname1": "systemd-hostnamed",
    "org.freedesktop.timedate1": "systemd-timedated",
}
#: What `make install` puts into the installer that makes it onn's (the addon, its D-Bus service,
#: its profile and configuration, the CLI), left out by --liveimg: the installer onn replaces.
ONN_INSTALLER_FILES = (
    "usr/share/anaconda/addons/org_ovirt_node",
    "usr/share/anaconda/dbus/services/org.fedoraproject.Anaconda.Addons.OvirtNode.service",
    "usr/share/anaconda/dbus/confs/org.fedoraproject.Anaconda.Addons.OvirtNode.conf",
    "etc/anaconda/profile.d/ovirt-node-onn.conf",
    "etc/anaconda/conf.d/90-onn.conf",
    "usr/bin/onn",
)
#: onn's install report, where the addon leaves it for the kickstart (installer.py's workdir)
REPORT = Path("/run/install/onn/install-report.json")
#: Anaconda's logs (anaconda.py's logging setup), copied out for the operator
LOGS = ("anaconda.log", "storage.log", "program.log", "packaging.log", "dbus.log", "ks-script-*.log", "anaconda-tb-*")


def sh(argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return programs.run(argv, check=check)


def overlay(root: Path) -> None:
    """The installer's tree over /usr and /etc, and /var made writable: overlays whose writes go
    to the guest's /tmp, so neither the guest's nor the host's trees change; an empty /mnt for
    its targets. The installer's tree is copied into the guest's /tmp first (it is small): a
    lower layer inside the directory it overlays (a checkout under /usr) is refused by
    overlayfs. The guest's read-write directories below those (the work directory of a
    checkout under /var) are moved onto the overlays, so what is written there stays the host's."""
    for top in ("usr", "etc", "var"):
        mounts = [m for m in mount_points() if m.startswith(f"/{top}/")]
        below = [m for m in mounts if not any(m.startswith(f"{o}/") for o in mounts)]
        held = {}
        for i, m in enumerate(below):
            held[m] = Path("/run/onn-held", top, str(i))
            held[m].mkdir(parents=True)
            sh(["mount", "--move", m, str(held[m])])
        layers = Path("/tmp/overlay", top)
        up, work, lower = layers / "up", layers / "work", layers / "lower"
        up.mkdir(parents=True)
        work.mkdir(parents=True)
        if (root / top).is_dir():
            sh(["cp", "-a", str(root / top), str(lower)])
        lowerdir = f"{lower}:/{top}" if lower.is_dir() else f"/{top}"
        sh(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={lowerdir},upperdir={up},workdir={work}", f"/{top}"])
        for m, at in held.items():
            sh(["mount", "--move", str(at), m])
    sh(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/mnt"])


def mount_points() -> list[str]:
    """Where something is mounted, in mount order (octal escapes of mountinfo decoded)."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        raw = line.split()[4]
        points.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), raw))
    return points


#: What makes a host's initramfs its own (as its multipath or iSCSI configuration would): a
#: dracut module that leaves a mark in /run, which the boot tier reads (tests/support/boot.py). The
#: image's initramfs lacks it; the one dracut makes in the layer after Anaconda configured it
#: (the addon's FinishBootTask) has it.
HOST_DRACUT_MODULE = {
    "usr/lib/dracut/modules.d/99onnhost/module-setup.sh": (
        "#!/bin/bash\ncheck() { return 255; }\ndepends() { return 0; }\n"
        'install() { inst_hook pre-pivot 99 "$moddir/onn-host-mark.sh"; }\n'
    ),
    "usr/lib/dracut/modules.d/99onnhost/onn-host-mark.sh": "#!/bin/sh\necho host > /run/onn-initramfs\n",
    "etc/dracut.conf.d/99-onn-host.conf": 'add_dracutmodules+=" onnhost "\n',
}


def running(program: str) -> bool:
    """Whether a process of `program` runs (the name of its argv[0])."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if os.path.basename(cmdline.read_text(errors="replace").split("\0", 1)[0]) == program:
                return True
        except OSError:  # it ended while being read
            pass
    return False


def layer_is_the_system_root() -> bool:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == "/mnt/sysroot" and fields[fields.index("-") + 2].endswith("+1"):
            return True
    return False


def when_the_payload_is_in_place(standins: Path, liveimg: bool) -> threading.Thread:
    """Once Anaconda's system root is the layer (the addon's InstallImageTask switched it), or
    with `liveimg` once Anaconda's rsync of the live image into the system root has ended: bind
    `standins` over its /usr/local/sbin (which writes nothing into it; Anaconda unmounts it with
    the system root), and give it HOST_DRACUT_MODULE, as its configuration."""

    def watch() -> None:
        if liveimg:
            while not running("rsync"):
                time.sleep(0.2)
            while running("rsync"):
                time.sleep(0.2)
        else:
            while not layer_is_the_system_root():
                time.sleep(0.2)
        sh(["mount", "--bind", str(standins), "/mnt/sysroot/usr/local/sbin"])
        for rel, text in HOST_DRACUT_MODULE.items():
            path = Path("/mnt/sysroot", rel)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            path.chmod(0o755)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def start_udev() -> None:
    """blivet and libblockdev wait for udev's events: a real udevd, as on the boot.iso."""
    sh(["/lib/systemd/systemd-udevd", "--daemon"])
    sh(["udevadm", "trigger", "--action=add"])
    sh(["udevadm", "settle", "--timeout=60"])


def start_network() -> None:
    """The boot.iso's network stack: a system bus and NetworkManager, which Anaconda's network
    module drives (over the system bus) and whose connection files it copies into the target."""
    Path("/run/dbus").mkdir(exist_ok=True)
    # systemd's services Anaconda asks on that bus (keyboard, hostname, clock) exit when idle
    # and are started again by bus activation, which without systemd as PID 1 runs them
    # itself: their activation files name the daemon instead of /bin/false.
    services = Path("/usr/share/dbus-1/system-services")
    for name, daemon in SYSTEMD_BUS_SERVICES.items():
        (services / f"{name}.service").write_text(
            f"[D-BUS Service]\nName={name}\nExec=/lib/systemd/{daemon}\nUser=root\n"
        )
    sh(["dbus-daemon", "--system", "--fork"])
    sh(["NetworkManager"])
    sh(["nm-online", "--startup", "--timeout", "30"], check=False)


def anaconda_env(config: dict) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        # the guest's lvm setup for running without udev (tests/support/guest-init); Anaconda has udev
        if k not in ("DM_DISABLE_UDEV", "LVM_SYSTEM_DIR", "PYTHONPATH")
    }
    venv = Path(config["venv"])
    env.update(config["env"])
    env["PYTHONPATH"] = ":".join([str(STANDINS), *config["pythonpath"], "/usr/lib/onn/site-packages"])
    env["PATH"] = f"{venv / 'bin'}:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"
    env["LANG"] = "en_US.UTF-8"
    return env


def lvm_report(vg: str) -> dict[str, dict[str, str]]:
    fields = "lv_name,lv_attr,lv_tags,lv_permissions,lv_skip_activation,origin,pool_lv,lv_metadata_size,lv_profile"
    report = ["--reportformat", "json", "--units", "b", "--nosuffix"]
    lvs = json.loads(sh(["lvm", "lvs", *report, "-o", fields, vg]).stdout)
    return {r["lv_name"]: r for r in lvs["report"][0]["lv"]}


def imgbased_vg() -> tuple[str, list[str]] | None:
    """The VG imgbased would find (its tag), and its tags: the kickstart's, or autopart's."""
    vgs = json.loads(sh(["lvm", "vgs", "--reportformat", "json", "-o", "vg_name,vg_tags"]).stdout)
    tagged = [v for v in vgs["report"][0]["vg"] if "imgbased:vg" in v["vg_tags"].split(",")]
    return (tagged[0]["vg_name"], tagged[0]["vg_tags"].split(",")) if len(tagged) == 1 else None


def inspect(image: Path) -> dict:
    """What an operator would look at once the installer has finished: onn's LVs and their
    tags, the base against the image, and what Anaconda wrote into the layer and /boot."""
    found: dict = {}
    # What the installer left mounted when it stopped, newest first: an error ends it without its
    # clean-up, and a %post may leave mounts of its own (imgbased's `layout --init` leaves the new
    # layer mounted in the target's /tmp, its /etc bound over the target's), as a reboot would.
    for m in reversed([m for m in mount_points() if m.startswith("/mnt/")]):
        sh(["umount", m], check=False)
    tagged = imgbased_vg()
    if tagged is None:
        found["disks"] = sh(["lsblk", "--json", "-o", "NAME,TYPE,FSTYPE,SIZE"]).stdout
        return found
    vg, found["vg_tags"] = tagged
    found["vg"] = vg
    found["lvs"] = lvm_report(vg)
    layers = [n for n in found["lvs"] if n.endswith("+1")]
    if len(layers) != 1:
        return found
    layer = found["layer"] = layers[0]
    base = found["lvs"][layer]["origin"]
    work = Path("/tmp/inspect")
    with Mounted(str(image), work / "squashfs", "ro,loop") as sq:
        with Mounted(str(sq / "LiveOS/rootfs.img"), work / "image", "ro,loop,noload") as image_root:
            want = tree_manifest(image_root)
    sh(["lvm", "lvchange", "--activate", "y", "--ignoreactivationskip", f"{vg}/{base}"])
    with Mounted(f"/dev/{vg}/{base}", work / "base", "ro,noload") as base_root:
        found["base_is_image"] = tree_manifest(base_root) == want
    sh(["lvm", "lvchange", "--activate", "n", f"{vg}/{base}"])
    sh(["lvm", "lvchange", "--activate", "y", f"{vg}/{layer}"])
    with Mounted(f"/dev/{vg}/{layer}", work / "layer", "ro,noload") as root:
        etc = root / "etc"
        found["passwd"] = (etc / "passwd").read_text()
        found["shadow"] = [line.split(":")[:2] for line in (etc / "shadow").read_text().splitlines()]
        found["fstab"] = (etc / "fstab").read_text()
        connections = sorted((etc / "NetworkManager/system-connections").glob("*"))
        found["connections"] = {p.name: p.read_text() for p in connections}
        found["root_files"] = sorted(p.name for p in (root / "root").iterdir())
        ks_copy = root / "root/anaconda-ks.cfg"
        found["kickstart_copy"] = ks_copy.read_text() if ks_copy.exists() else None
        boot_uuid = next(line.split()[0] for line in found["fstab"].splitlines() if line.split()[1:2] == ["/boot"])
    boot_dev = sh(["blkid", "--match-token", boot_uuid, "--output", "device"]).stdout.strip()
    with Mounted(boot_dev, work / "boot", "ro") as boot:  # ext4 or xfs (autopart's)
        found["boot_device"] = boot_dev
        found["entries"] = sorted(p.name for p in (boot / "loader/entries").glob("*"))
        grubenv = boot / "grub2/grubenv"
        found["grubenv"] = grubenv.read_text() if grubenv.exists() else None
    return found


class Terminal:
    """Anaconda's text mode on an 80×24 terminal (a serial console's size) in tmux, as the
    boot.iso runs it: what is on the screen is read, choices are typed."""

    SESSION = "anaconda"

    def __init__(self, argv: list[str], env: dict[str, str], out: Path) -> None:
        self.out = out
        conf = Path("/tmp/tmux.conf")
        # the whole session kept (its history becomes console.log), and the pane's exit status
        conf.write_text("set -g history-limit 100000\nset -g remain-on-exit on\n")
        env = {**env, "TERM": "screen"}
        self.tmux("-f", str(conf), "new-session", "-d", "-s", self.SESSION, "-x", "80", "-y", "24",
                  "env", "-i", *(f"{k}={v}" for k, v in env.items()), *argv)  # fmt: skip

    def tmux(self, *args: str) -> str:
        return sh(["tmux", "-u", "-L", "onn-e2e", *args]).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-t", self.SESSION)  # wrapped lines joined

    def pane(self) -> tuple[bool, int | None]:
        """Is the pane dead, and Anaconda's exit status as subprocess gives it (-N for signal N)
        once tmux has it: a pane is dead when its terminal closes, which can be before its
        process is reaped, and tmux keeps the status of a process that exited, the signal of
        one that was killed."""
        shown = "#{pane_dead}:#{pane_dead_status}:#{pane_dead_signal}"
        dead, status, signal = self.tmux("display-message", "-p", "-t", self.SESSION, shown).strip().split(":")
        return dead == "1", int(status) if status else -int(signal) if signal else None

    def wait_for(self, text: str, timeout: float) -> str:
        """The screen once `text` is on its last three lines and a prompt waits there (the last
        line ends with a colon, nothing typed after it)."""
        end = time.monotonic() + timeout
        while True:
            screen = self.screen()
            last = screen.rstrip().splitlines()[-3:]
            if text in "\n".join(last) and last[-1].endswith(":"):
                return screen
            if self.pane()[0] or time.monotonic() > end:
                raise TimeoutError(f"{text!r} not on the screen:\n{screen}")
            time.sleep(0.5)

    def type(self, keys: str) -> None:
        if keys:
            self.tmux("send-keys", "-t", self.SESSION, "-l", keys)
        self.tmux("send-keys", "-t", self.SESSION, "Enter")

    def converse(self, dialogue: list[dict]) -> str | None:
        """Each step waits for its `wait` text, then types its `type` keys, or the number of the
        menu entry titled `choose`; each screen a step saw is kept (out/tui-NN.txt). The error
        that stopped the dialogue, if one did."""
        for i, step in enumerate(dialogue):
            try:
                screen = self.wait_for(step["wait"], step.get("timeout", 600))
            except TimeoutError as e:
                (self.out / f"tui-{i:02}.txt").write_text(self.screen())
                return f"step {i}: {e}"
            (self.out / f"tui-{i:02}.txt").write_text(screen)
            keys = step.get("type", "")
            if "choose" in step:
                entries = re.findall(rf"(\d+)\) (?:\[.\] )?{re.escape(step['choose'])}", screen)
                if not entries:
                    return f"step {i}: no menu entry {step['choose']!r} on the screen:\n{screen}"
                keys = entries[-1]
            self.type(keys)
        return None

    def wait_exit(self, timeout: float) -> int | None:
        """Anaconda's exit status; None if it has none within `timeout` (or a minute after its
        terminal closed)."""
        end = time.monotonic() + timeout
        while True:
            dead, status = self.pane()
            if status is not None or time.monotonic() > end:
                break
            if dead:
                end = min(end, time.monotonic() + 60)
            time.sleep(1)
        history = self.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", self.SESSION)
        (self.out / "console.log").write_text(history)
        self.tmux("kill-server")
        return status


class StandInForeman(http.server.BaseHTTPRequestHandler):
    """A stand-in for Foreman's unattended endpoints (`built`, `failed`): it records each
    request the kickstart makes, its method, path and body, and answers as Foreman does (201)."""

    calls: list[dict[str, str]] = []

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        self.calls.append({"method": self.command, "path": self.path, "body": body})
        self.send_response(201)
        self.end_headers()

    do_POST = _record  # noqa: N815 - http.server's name
    do_GET = _record  # noqa: N815 - http.server's name

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


def stand_in_foreman(port: int) -> list[dict[str, str]]:
    """Serve the stand-in Foreman on 127.0.0.1:`port` while Anaconda runs; its record."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), StandInForeman)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return StandInForeman.calls


def update(found: dict, image: Path) -> dict:
    """The installed host's own imgbased on what Anaconda installed, in a chroot of the layer
    with its fstab mounted and its own LVM configuration, as it boots (tests/support/hostlib.py):
    `imgbase check`, an update to IMAGE, a check of the new layer, and a rollback. What each step
    showed, for the test to assert; a failed step ends it, with its error."""
    vg, layer = found["vg"], found["layer"]
    work = Path("/tmp/update")
    steps: dict = {}
    sh(["lvm", "vgchange", "--activate", "y", vg])
    packages = python_packages(work / "packages")
    with Mounted(found["boot_device"], work / "boot", "rw") as boot:
        # The one file of /boot that imgbased's grubby wrapper copies around each call and that
        # Anaconda's bootloader step writes, which `bootloader --location=none` leaves out here.
        (boot / "grub2/grub.cfg").write_text("# Anaconda's bootloader step writes this\n")
        steps["entries_before"] = entries(boot)
        try:
            with Host(layer, work / "root1", packages, image.parent, vg=vg, guest_lvm=False) as host:
                steps["check"] = host.imgbase("check").splitlines()
                steps["w"] = host.imgbase("w").strip()
                host.imgbase("--debug", "update", "--format", "liveimg", f"/run/onn-images/{image.name}")
            steps["lvs"] = lvm_report(vg)
            steps["entries"] = entries(boot)
            steps["saved_entry"] = saved_entry(boot)
            (new_layer,) = [n for n in steps["lvs"] if n.endswith("+1") and n != layer]
            with Host(new_layer, work / "root2", packages, image.parent, vg=vg, guest_lvm=False) as host:
                steps["new_check"] = host.imgbase("check").splitlines()
                steps["new_w"] = host.imgbase("w").strip()
                host.imgbase("rollback")
            steps["rolled_back_to"] = saved_entry(boot)
        except (AssertionError, ValueError) as e:
            steps["error"] = str(e)
    return steps


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--kickstart", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--image", type=Path, required=True, help="the image the kickstart installs, to compare")
    ap.add_argument("--serve", type=Path, help="serve this directory over http://127.0.0.1:8080/")
    ap.add_argument("--update-to", type=Path, help="then update with the host's imgbased to this image")
    ap.add_argument("--tui", type=Path, help="run the text mode in tmux, with this dialogue (JSON)")
    ap.add_argument("--foreman", type=int, help="serve a stand-in Foreman's built/failed on this port")
    ap.add_argument("--gui", type=Path, help="run the graphical mode, with this scenario (JSON, gui_driver.py)")
    ap.add_argument("--standins", type=Path, default=TARGET_STANDINS, help="bound over the target's /usr/local/sbin")
    ap.add_argument(
        "--liveimg",
        action="store_true",
        help="the installer without onn, on Anaconda's own oVirt profile: the kickstart installs with liveimg",
    )
    ap.add_argument("--private", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not args.private:
        # A mount namespace of its own: the overlays and Anaconda's mounts end with it.
        return subprocess.call(
            ["unshare", "--mount", "--propagation", "private", sys.executable, __file__, "--private", *sys.argv[1:]]
        )
    config = json.loads(args.config.read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    setup = time.monotonic()
    overlay(Path(config["root"]))
    for rel in ONN_INSTALLER_FILES if args.liveimg else ():
        sh(["rm", "-r", f"/{rel}"])
    start_udev()
    start_network()
    print(f"in_guest: udev, the system bus and NetworkManager up in {time.monotonic() - setup:.0f} s", flush=True)
    env = anaconda_env(config)
    if args.serve:
        subprocess.Popen(
            [sys.executable, "-m", "http.server", "8080", "--bind", "127.0.0.1", "--directory", str(args.serve)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    foreman = stand_in_foreman(args.foreman) if args.foreman else None
    when_the_payload_is_in_place(args.standins, args.liveimg)
    started = time.monotonic()
    argv = [
        str(Path(config["venv"]) / "bin" / "python3"),
        config["anaconda"],
        "--text" if args.tui else "--graphical" if args.gui else "--cmdline",
        # No SELinux policy is loaded here (a boot.iso loads EL's): with it on, blivet mounts
        # selinuxfs in the target and useradd there fails to label /etc/passwd.
        "--noselinux",
        "--profile",
        "ovirt" if args.liveimg else "ovirt-node-onn",
        "--kickstart",
        str(args.kickstart.resolve()),
    ]
    report: dict = {}
    if args.tui:
        os.chdir("/tmp")
        terminal = Terminal(argv, env, args.out)
        report["tui_error"] = terminal.converse(json.loads(args.tui.read_text()))
        returncode = terminal.wait_exit(timeout=60 if report["tui_error"] else 3000)
    elif args.gui:
        session = GraphicalSession(args.out)
        # All of it within the guest's 3600 s (test_anaconda_e2e.py), with time left to inspect.
        returncode, report["gui_error"] = session.run(argv, env, args.gui, timeout=3300)
        session.close()
    else:
        # Its output as it is, and each line again with the seconds since its start (the phases
        # of an install, which bench/anaconda.py reads).
        with (args.out / "console.log").open("w") as console, (args.out / "console-times.log").open("w") as times:
            proc = subprocess.Popen(
                argv, env=env, cwd="/tmp", stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True, errors="replace",
            )  # fmt: skip
            assert proc.stdout is not None
            for line in proc.stdout:
                console.write(line)
                times.write(f"{time.monotonic() - started:8.1f} {line}")
            returncode = proc.wait()
    report.update(returncode=returncode, seconds=round(time.monotonic() - started, 1))
    if foreman is not None:
        report["foreman"] = list(foreman)
        (args.out / "foreman.json").write_text(json.dumps(foreman, indent=2))
    for pattern in LOGS:
        for log in Path("/tmp").glob(pattern):
            shutil.copy2(log, args.out / log.name)
    if REPORT.exists():
        shutil.copy2(REPORT, args.out / REPORT.name)
    print(f"in_guest: Anaconda exited {returncode} after {report['seconds']} s", flush=True)
    report["found"] = inspect(args.image)
    if args.update_to and returncode == 0 and "layer" in report["found"]:
        report["update"] = update(report["found"], args.update_to)
    (args.out / "anaconda.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: report[k] for k in ("returncode", "seconds")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
