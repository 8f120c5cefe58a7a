"""`onn install --image http://…` into real LVM (guest tier).

The UML guest has no network device, only its own loopback: the host's servers are out of its
reach. So the image server runs inside the guest, in this pytest process, on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from guestlib import GIB, Disks, onn
from imageserver import Fault, ImageServer
from test_vm_install import assert_imgbased_layout


def test_vm_install_from_http_resumes_a_dropped_download_and_keeps_no_copy(
    disks: Disks, images: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    img = images["tiny-ext4"]
    nvr, size = str(img["nvr"]), Path(str(img["path"])).stat().st_size
    boot = disks.boot()
    pv = disks.add("pv0", 20 * GIB)
    downloads = tmp_path / "downloads"  # the guest's /tmp: a tmpfs, so the image is in RAM
    downloads.mkdir()
    progress = tmp_path / "progress.jsonl"
    with ImageServer({"node.squashfs.img": Path(str(img["path"]))}, fault=Fault(drop_at=5 << 20)) as s:
        with progress.open("w") as fd:
            argv = [os.environ["ONN_BIN"], "install", "--image", s.url("node.squashfs.img"), "--sha256",
                    str(img["sha256"]), "--pv", pv, "--boot", boot, "--volumes", "minimal", "--json",
                    "--download-dir", str(downloads), "--progress-fd", str(fd.fileno())]  # fmt: skip
            proc = subprocess.run(argv, capture_output=True, text=True, pass_fds=(fd.fileno(),), check=False)
    assert proc.returncode == 0, proc.stderr
    layer = f"{nvr}+1"
    assert json.loads(proc.stdout)["layer"] == layer
    assert_imgbased_layout(nvr, layer, ["var"])
    assert onn("list").stdout == f"{nvr}\n +- {layer}\n"
    # The connection was dropped once at 5 MiB; the download went on from there.
    assert s.ranges == [None, f"bytes={5 << 20}-"]
    events = [json.loads(line) for line in progress.read_text().splitlines()]
    steps = [e["step"] for e in events]
    last_download = max(i for i, step in enumerate(steps) if step == "image.download")
    assert {e["v"] for e in events} == {1}
    assert (events[last_download]["done"], events[last_download]["size"]) == (size, size)
    assert "image.download" not in steps[last_download + 1 :] and "base.copy" in steps[last_download + 1 :]
    # The download lived as long as the command.
    assert list(downloads.iterdir()) == []
