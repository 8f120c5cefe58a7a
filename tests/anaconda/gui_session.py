"""Anaconda's graphical mode in the UML guest, and a person at it (tests/anaconda/gui_driver.py).

What a boot.iso gives the installer's GUI, made here from Debian's packages: a screen (Xvfb,
1024×768, a small laptop's), a window manager that shows the installer's window over the whole
screen and its dialogs centred on it (matchbox's; the boot.iso's gnome-kiosk is a Wayland
compositor, which the person's synthesized mouse and keys could not reach), and the
accessibility bus (at-spi-bus-launcher, started by D-Bus activation from a session bus) through
which GTK's widgets are read and the mouse and keyboard are driven, as by a screen reader or a
person's assistive tools. Used by tests/anaconda/in_guest.py --gui.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCREEN = "1024x768x24"
DISPLAY = ":7"


class GraphicalSession:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.procs: list[subprocess.Popen[bytes]] = []
        log = (out / "display.log").open("ab")
        # The guest's home is the host's, read-only: the accessibility bus's socket and the
        # settings' cache go to the guest's /tmp (Anaconda's HOME, anaconda.py:121).
        runtime = Path("/tmp/onn-xdg-runtime")
        runtime.mkdir(mode=0o700, exist_ok=True)
        # GTK's animations off (the settings file GTK reads under XDG_CONFIG_HOME): the
        # progress screen's spinner would redraw 60 times a second for the whole installation,
        # on the guest's one core, through UML's slow system calls; nothing the person reads moves.
        config = Path("/tmp/onn-xdg-config")
        (config / "gtk-3.0").mkdir(parents=True, exist_ok=True)
        (config / "gtk-3.0" / "settings.ini").write_text("[Settings]\ngtk-enable-animations=false\n")
        self.env = {"DISPLAY": DISPLAY, "GDK_BACKEND": "x11", "HOME": "/tmp", "XDG_RUNTIME_DIR": str(runtime),
                    "XDG_CONFIG_HOME": str(config)}  # fmt: skip
        self._start(["Xvfb", DISPLAY, "-screen", "0", SCREEN, "-nolisten", "tcp"], log)
        self._wait(lambda: Path(f"/tmp/.X11-unix/X{DISPLAY[1:]}").exists(), "Xvfb")
        self._start(["matchbox-window-manager", "-use_titlebar", "no"], log)
        # The session bus the accessibility bus is found on; started with DISPLAY set, since the
        # AT-SPI registry it activates synthesizes the person's mouse and keys on that display.
        bus = subprocess.run(
            ["dbus-daemon", "--session", "--fork", "--print-address=1", "--print-pid=2"],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            check=True,
        )
        self.env["DBUS_SESSION_BUS_ADDRESS"] = bus.stdout.strip()
        self._bus_pid = int(bus.stderr.strip())

    def _start(self, argv: list[str], log: object) -> None:
        env = {**os.environ, **self.env}
        self.procs.append(subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log))

    @staticmethod
    def _wait(ready, what: str, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
        end = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > end:
                raise SystemExit(f"{what} did not start in {timeout} s")
            time.sleep(0.2)

    def anaconda_env(self, env: dict[str, str]) -> dict[str, str]:
        # Anaconda starts a Wayland compositor of its own (gnome-kiosk) unless one is already
        # there, which WAYLAND_DISPLAY in its environment says (anaconda.py:137,
        # display.py:374); the display here is Xvfb's, which GDK_BACKEND=x11 makes GTK use.
        return {**env, **self.env, "WAYLAND_DISPLAY": "onn-e2e-none"}

    def run(
        self, argv: list[str], env: dict[str, str], scenario: Path, timeout: float
    ) -> tuple[int | None, str | None]:
        """Anaconda in graphical mode with the person's scenario; its exit status (None if it
        had none within `timeout`) and the error that stopped the person, if one did."""
        deadline = time.monotonic() + timeout
        with (self.out / "console.log").open("w") as console:
            anaconda = subprocess.Popen(
                argv, env=self.anaconda_env(env), cwd="/tmp", stdin=subprocess.DEVNULL, stdout=console, stderr=console
            )
            log = self.out / "gui_driver.log"
            with log.open("w") as driver_log:
                driver = subprocess.Popen(
                    [sys.executable, str(HERE / "gui_driver.py"), "--scenario", str(scenario), "--out", str(self.out)]
                    + ["--pid", str(anaconda.pid)],
                    env={**os.environ, **self.env},
                    stdout=driver_log,
                    stderr=subprocess.STDOUT,
                )
                self._wait_noting_cpu(driver, deadline)
            error = None
            if driver.returncode != 0:
                lines = log.read_text().strip().splitlines()
                error = lines[-1] if lines else f"the person's driver exited {driver.returncode}"
                # Nothing more will happen on the screen: Anaconda ends as on SIGTERM (exit 1).
                anaconda.send_signal(signal.SIGTERM)
                deadline = time.monotonic() + 60
            try:
                returncode: int | None = anaconda.wait(max(deadline - time.monotonic(), 1))
            except subprocess.TimeoutExpired:
                anaconda.kill()
                anaconda.wait()
                returncode = None
        return returncode, error

    def _wait_noting_cpu(self, driver: subprocess.Popen[bytes], deadline: float) -> None:
        """Wait for the person's driver until the deadline (then kill it), writing every minute
        which of the guest's processes had its one core (out/cpu.log): what an install that
        runs long spent its time on."""
        with (self.out / "cpu.log").open("w") as cpu:
            while driver.poll() is None and time.monotonic() < deadline:
                try:
                    driver.wait(min(60, max(deadline - time.monotonic(), 0)))
                except subprocess.TimeoutExpired:
                    top = subprocess.run(
                        ["ps", "-eo", "pid,etimes,times,pcpu,args", "--sort=-times"], capture_output=True, text=True
                    )
                    cpu.write(time.strftime("%T\n") + "\n".join(top.stdout.splitlines()[:12]) + "\n\n")
                    cpu.flush()
            if driver.poll() is None:
                driver.kill()
                driver.wait()

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
            proc.wait(10)
        os.kill(self._bus_pid, signal.SIGTERM)
