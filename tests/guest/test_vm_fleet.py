"""What a fleet of Nodes needs of onn (guest tier, real lvm2): one onn writing at a time."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from guestlib import GIB, Disks, Mounted, onn, stopped_onn, vg_tags

IMAGE = "tiny-ext4"


def install_argv(img: dict[str, object], pvs: list[str], boot: str, *extra: str) -> list[str]:
    argv = ["install", "--image", str(img["path"]), "--sha256", str(img["sha256"]), "--boot", boot]
    for pv in pvs:
        argv += ["--pv", pv]
    return [*argv, "--volumes", "minimal", *extra]


def busy(proc: subprocess.CompletedProcess[str], holder: subprocess.Popen[str], doing: str) -> None:
    """The run was refused at once because `holder` writes: exit 2, id busy, its pid and
    command named."""
    assert proc.returncode == 2, proc.stderr
    m = re.search(r"^onn: error \(busy\): another onn is running \(pid (\d+): (.*)\); run this", proc.stderr, re.M)
    assert m, proc.stderr
    assert int(m.group(1)) == holder.pid and doing in m.group(2), proc.stderr


def test_vm_onn_recover_and_a_second_install_are_refused_busy_while_an_install_copies(
    disks: Disks, images: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    img = images[IMAGE]
    boot, pv0, pv1 = disks.boot(), disks.add("pv0", 12 * GIB), disks.add("pv1", 12 * GIB)
    first = install_argv(img, [pv0], boot)
    # The install stops itself halfway through the base's copy: its VG is still unfinished,
    # what `onn recover` removes when the onn that made it was killed.
    with stopped_onn(first, "copied") as install:
        assert "onn:unfinished" in vg_tags()
        # The stopped install's own disk aside (its thin pool may still commit what it wrote).
        before = {name: d for name, d in disks.digests().items() if name != "pv0.img"}
        busy(onn("recover", "--boot", boot, check=False), install, f"install --image {img['path']}")
        busy(onn(*install_argv(img, [pv1], boot), check=False), install, f"--pv {pv0}")
        assert {n: d for n, d in disks.digests().items() if n != "pv0.img"} == before, "a refused onn wrote"
        assert "onn:unfinished" in vg_tags()
        # --wait: it waits, says for whom, and starts once the install has ended.
        waiting = subprocess.Popen(
            [os.environ["ONN_BIN"], "recover", "--wait", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(2)
        assert waiting.poll() is None, waiting.communicate()
        install.send_signal(signal.SIGCONT)
        _out, err = install.communicate(timeout=600)
        assert install.returncode == 0, err
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert f"onn: waiting for another onn to end (pid {install.pid}: " in err
    # It came after the install: nothing was left unfinished.
    assert '"removed_vgs": []' in out
    with Mounted(boot, tmp_path / "boot") as b:
        check = onn("check", "--boot", str(b), check=False)
        assert check.returncode == 0, check.stdout
    assert "onn:unfinished" not in vg_tags()


def test_vm_a_killed_onn_leaves_the_lock_free(disks: Disks, images: dict[str, dict[str, object]]) -> None:
    img = images[IMAGE]
    boot, pv = disks.boot(), disks.add("pv0", 12 * GIB)
    with stopped_onn(install_argv(img, [pv], boot), "copied") as install:
        install.kill()
        install.wait()
    # The kill left an unfinished VG and the lock file; the lock itself ended with the process.
    recovered = onn("recover", "--boot", boot)
    assert "Removed:    volume group onn" in recovered.stdout
