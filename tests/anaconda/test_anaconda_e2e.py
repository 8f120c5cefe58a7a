"""The real Anaconda (45.21, from source) installs a Node from a kickstart, with the addon, in the
UML guest on sparse disks with real lvm2 and udev; the result is then booted under qemu.

Run by `make anaconda-e2e ANACONDA_SRC=… MEH_SRC=…`, which builds the toolchain
(tests/anaconda/toolchain.py) and passes its description in ONN_ANACONDA. Each case is one
guest (tests/anaconda/in_guest.py runs Anaconda there, then reports what the disk holds).

What the test changes in a kickstart before the run, and why:
- the image URL and --sha256 name the demo image (file://, or http:// from a server in the guest);
- `bootloader --location=none`: Anaconda's GRUB2 step runs EL's grub2-install and grub2-mkconfig
  in the target, and the demo image is Debian's. onn's own boot entry and grubenv are written
  either way, and the boot below reads them;
- a user and a %post script, whose results the test looks for in the layer.

And in the guest, once the system root is the layer (tests/anaconda/in_guest.py): a dracut module
that marks the initramfs it is in as the host's, as a host's own configuration (multipath,
iSCSI) would make it its own; the boot below asserts that the entry's initramfs has it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import jsonschema
import pytest
from boot import boot_default_entry
from foreman import render
from testdata import IMAGES
from uml import run as guest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

GIB = 1 << 30
WRONG_SHA256 = "0" * 64
ADDED = """\
bootloader --location=none
user --name=nodeadmin --lock
%post
echo "post ran in $(cat /etc/onn-nvr 2>/dev/null || hostname)" > /root/onn-e2e-post.txt
%end
"""


#: Where the stand-in Foreman listens in the guest (tests/anaconda/in_guest.py).
FOREMAN_PORT = 8081
SCHEMA = json.loads((REPO / "docs/install-report.schema.json").read_text())


def foreman_kickstart(case: str, image: dict[str, object], url: str) -> str:
    """What Foreman serves a host from onn's template (kickstart/foreman/onn-node.erb) and its
    partition table, rendered by Ruby's ERB with the stand-in of Foreman's helpers; the test's
    own lines go before the section, so that the template's `built` stays the very end."""
    sha256 = WRONG_SHA256 if case == "foreman-wrong-sha256" else str(image["sha256"])
    params = {"onn-image-url": url, "onn-image-sha256": sha256, "onn-volumes": "minimal"}
    proc = render(params, foreman=f"http://127.0.0.1:{FOREMAN_PORT}", host="node1.example")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.replace("\n%addon org_ovirt_node", f"\n{ADDED}\n%addon org_ovirt_node", 1)


def kickstart(case: str, image: dict[str, object], url: str) -> str:
    if case.startswith("foreman-"):
        return foreman_kickstart(case, image, url)
    if case == "autopart-thinp":
        text = (REPO / "kickstart" / "autopart-thinp.ks").read_text()
    else:
        text = (REPO / "kickstart" / "minimal-pxe.ks").read_text()
    sha256 = WRONG_SHA256 if case == "wrong-sha256" else str(image["sha256"])
    if case == "tui" or case.startswith("gui"):
        # The section without options names the image on the install media, which the guest has
        # none of: the Node spoke is where the operator chooses it. (Without any section the
        # installer starts on its default payload, DNF's, which needs libdnf5: an EL boot.iso
        # has it, Debian not; docs/anaconda.md.)
        text = re.sub(r"%addon org_ovirt_node.*?%end\n", "%addon org_ovirt_node\n%end\n", text, flags=re.S)
    if case.startswith("gui"):
        # The graphical mode (test_anaconda_gui.py), which the boot.iso's dracut would otherwise
        # turn the kickstart's `text` away from; the German run in German.
        text = text.replace("\ntext\n", "\ngraphical\n")
        text = text.replace("lang en_US.UTF-8", "lang de_DE.UTF-8" if case == "gui-de" else "lang en_US.UTF-8")
    text = re.sub(r"--image=\S+", f"--image={url}", text)
    text = re.sub(r"--sha256=\S+", f"--sha256={sha256}", text)
    return text + ADDED


CASES = {
    # case: (disk size, serve the image over http from the guest)
    "minimal-pxe": (24 * GIB, False),
    "autopart-thinp": (80 * GIB, False),
    "http-sha256": (24 * GIB, True),
    "wrong-sha256": (24 * GIB, False),
    "imgbased-update": (24 * GIB, False),
    "tui": (24 * GIB, False),
    "foreman-built": (24 * GIB, False),
    "foreman-wrong-sha256": (24 * GIB, False),
    "gui": (24 * GIB, False),
    "gui-wrong-sha256": (24 * GIB, False),
    "gui-de": (24 * GIB, False),
}


@pytest.fixture(scope="module")
def toolchain() -> Path:
    path = os.environ.get("ONN_ANACONDA")
    assert path, "run through `make anaconda-e2e ANACONDA_SRC=… MEH_SRC=…` (it builds the toolchain)"
    return Path(path)


@pytest.fixture(scope="module")
def demo() -> dict[str, object]:
    return IMAGES["demo-1.0"]


@pytest.fixture(scope="module")
def compat() -> tuple[dict[str, object], dict[str, object]]:
    """The images of the update case: compat-1.0 (installed) and compat-1.1 (updated to), made
    for the host's imgbased (tests/images/build.py); imgbased's and nodectl's checkouts."""
    path = os.environ.get("ONN_COMPAT_IMAGES")
    sources = [os.environ.get(name) for name in ("IMGBASED_SRC", "NODECTL_SRC")]
    assert path and all(sources), "run through `make anaconda-e2e … IMGBASED_SRC=… NODECTL_SRC=…`"
    images = json.loads(Path(path).read_text())
    return images["compat-1.0"], images["compat-1.1"]


def anaconda_in_guest(work: Path, ks: str, toolchain: Path, image: Path, size: int, *options: str,
                      env: dict[str, str] | None = None) -> tuple[dict, Path]:  # fmt: skip
    """One guest: a fresh sparse disk of `size` in `work`, Anaconda run there on kickstart `ks`
    (tests/anaconda/in_guest.py, with its further `options`); its report and the disk. Its logs
    are in work/out, the guest's console in work/console.log."""
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    disk = work / "disk0.img"
    disk.unlink(missing_ok=True)
    with disk.open("wb") as f:
        f.truncate(size)
    (work / "ks.cfg").write_text(ks)
    argv = [sys.executable, str(HERE / "in_guest.py"), "--config", str(toolchain), "--kickstart", str(work / "ks.cfg")]
    argv += ["--out", str(out), "--image", str(image), *options]
    result = guest(
        argv,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO / "tests" / "support"), **(env or {})},
        disks=[disk],
        nic=True,  # eth0, for the kickstart's `network` command
        rw_dirs=[work],
        mem="6G",
        timeout=3600,
        log=work / "console.log",
    )
    assert result.returncode == 0, f"the guest failed ({result.returncode}):\n{result.log[-4000:]}"
    return json.loads((out / "anaconda.json").read_text()), disk


def install(
    case: str,
    toolchain: Path,
    demo: dict[str, object],
    update_to: dict[str, object] | None = None,
    dialogue: list[dict[str, object]] | None = None,
    scenario: dict[str, object] | None = None,
) -> tuple[dict, Path]:
    size, http = CASES[case]
    work = Path(os.environ["ONN_VM_WORK"]) / "anaconda-e2e" / case
    work.mkdir(parents=True, exist_ok=True)
    image = Path(str(demo["path"]))
    url = f"http://127.0.0.1:8080/{image.name}" if http else f"file://{image}"
    options: list[str] = []
    if http:
        options += ["--serve", str(image.parent)]
    if dialogue is not None:
        (work / "dialogue.json").write_text(json.dumps(dialogue, indent=1))
        options += ["--tui", str(work / "dialogue.json")]
    if case.startswith("foreman-"):
        options += ["--foreman", str(FOREMAN_PORT)]
    if scenario is not None:
        (work / "scenario.json").write_text(json.dumps(scenario, indent=1, ensure_ascii=False))
        options += ["--gui", str(work / "scenario.json")]
    env = {}
    if update_to is not None:
        options += ["--update-to", str(update_to["path"])]
        env = {name: os.environ[name] for name in ("IMGBASED_SRC", "NODECTL_SRC")}
    return anaconda_in_guest(work, kickstart(case, demo, url), toolchain, image, size, *options, env=env)


def assert_installed(report: dict, demo: dict[str, object], disk: Path, work_log: Path, root_hash: str = "!") -> None:
    assert report["returncode"] == 0, f"Anaconda exited {report['returncode']}; logs in {work_log}"
    found = report["found"]
    nvr = str(demo["nvr"])
    layer = f"{nvr}+1"
    assert "vg" in found, f"no VG tagged imgbased:vg; the disks: {found.get('disks')}"
    vg, lvs = found["vg"], found["lvs"]
    assert lvs["pool00"]["lv_tags"] == "imgbased:pool" and lvs["pool00"]["lv_profile"] == "imgbased-pool"
    assert int(lvs["pool00"]["lv_metadata_size"]) >= GIB
    assert lvs[nvr]["lv_tags"] == "imgbased:base"
    assert (lvs[nvr]["lv_permissions"], lvs[nvr]["lv_skip_activation"]) == ("read-only", "skip activation")
    assert lvs[layer]["lv_tags"] == "imgbased:layer" and lvs[layer]["origin"] == nvr
    assert found["base_is_image"], "the base differs from the image's file system"
    # What Anaconda wrote after the payload landed in the layer.
    assert "nodeadmin:" in found["passwd"]
    assert ["root", root_hash[:1]] in [entry[:1] + [entry[1][:1]] for entry in found["shadow"]], "rootpw"
    assert "anaconda-ks.cfg" in found["root_files"] and "org_ovirt_node" in found["kickstart_copy"]
    assert "onn-e2e-post.txt" in found["root_files"]
    assert f"/dev/{vg}/{layer} / " in found["fstab"]
    kver = str(demo["kernel_versions"][0])  # type: ignore[index]
    assert found["entries"] == [f"{layer}-{kver}.conf"], "onn's entry is the only one"
    assert f"saved_entry={layer}-{kver}\n" in found["grubenv"]


@pytest.mark.parametrize("case", ["minimal-pxe", "http-sha256", "autopart-thinp"])
def test_anaconda_installs_a_node_from_the_kickstart(case: str, toolchain: Path, demo: dict[str, object]) -> None:
    report, disk = install(case, toolchain, demo)
    assert_installed(report, demo, disk, disk.parent / "out")
    boot_partition = int(re.sub(r"\D*", "", report["found"]["boot_device"].rsplit("/", 1)[1]) or 0)
    result = boot_default_entry([disk], disk, timeout=900, log=disk.parent / "boot.log", boot_partition=boot_partition)
    layer = f"{demo['nvr']}+1"
    assert result.report is not None, f"no boot report; console tail:\n{result.log[-3000:]}"
    assert result.report["lv"] == f"{report['found']['vg']}/{layer}"
    assert result.report["target"] == "multi-user:active"
    assert result.report["initramfs"] == "host"
    # The kickstart's `network --bootproto=dhcp`, for the guest's one card, is the layer's.
    connections = report["found"]["connections"]
    assert any("interface-name=eth0" in text and "method=auto" in text for text in connections.values()), connections


def test_an_operator_chooses_the_image_in_the_text_spoke_of_anacondas_tui(
    toolchain: Path, demo: dict[str, object]
) -> None:
    """Anaconda's text mode in tmux on an 80×24 terminal, the minimal PXE kickstart with an
    empty %addon section (the image on the install media, which there is none of): the hub waits
    on the incomplete Node spoke; the operator gives the image's URL and SHA-256 there,
    continues and begins the installation."""
    nvr = str(demo["nvr"])
    hub, spoke = "to begin installation", "to continue"
    dialogue: list[dict[str, object]] = [
        {"wait": hub, "choose": "Node image", "timeout": 1800},
        {"wait": spoke, "choose": "An image at a URL"},
        {"wait": "Image URL", "type": f"file://{demo['path']}"},
        {"wait": spoke, "choose": "SHA-256"},
        {"wait": "SHA-256 of the image", "type": str(demo["sha256"])},
        {"wait": spoke, "type": "c", "timeout": 900},
        {"wait": hub, "type": "b"},
        {"wait": "Installation complete", "type": "", "timeout": 3000},
    ]
    report, disk = install("tui", toolchain, demo, dialogue=dialogue)
    out = disk.parent / "out"
    assert report["tui_error"] is None, f"{report['tui_error']}\n(screens in {out})"
    screens = [(out / f"tui-{i:02}.txt").read_text() for i in range(len(dialogue))]
    assert re.search(r"\d+\) \[!\] Node image", screens[0]), screens[0]
    # The spoke's last drawing, its lines as the terminal wrapped them joined again.
    verified = " ".join(screens[5][screens[5].rindex("Node image") :].split())
    assert f"[x] An image at a URL: file://{demo['path']}" in verified, verified
    assert f"Image: {nvr}" in verified, verified
    assert re.search(r"\d+\) \[x\] Node image", screens[6]), screens[6]
    assert_installed(report, demo, disk, out)
    assert f"--image=file://{demo['path']}" in report["found"]["kickstart_copy"]


def assert_imgbase_check_ok(lines: list[str]) -> None:
    """`imgbase check`: every group and every check of it OK."""
    assert lines[0] == "Status: OK", lines
    assert len(lines) >= 14 and all(line.endswith(" ... OK") for line in lines[1:]), lines


def test_the_hosts_imgbased_updates_and_rolls_back_what_anaconda_installed(
    toolchain: Path, compat: tuple[dict[str, object], dict[str, object]]
) -> None:
    """The minimal PXE kickstart installs compat-1.0; then, in a chroot of the layer as the host
    boots it, the host's own imgbased (IMGBASED_SRC) checks it, updates it to compat-1.1 and rolls
    back (tests/anaconda/in_guest.py `update`; its stand-ins are those of `make imgbased-compat`,
    built into the compat images: grubby, systemctl, dracut). These images are not booted: they
    lack the kernel's modules."""
    old, new = compat
    report, disk = install("imgbased-update", toolchain, old, update_to=new)
    assert_installed(report, old, disk, disk.parent / "out")
    steps = report["update"]
    assert "error" not in steps, f"{steps['error']}; the guest's output in {disk.parent / 'console.log'}"
    layer1, layer2 = f"{old['nvr']}+1", f"{new['nvr']}+1"
    kver = str(old["kernel_versions"][0])  # type: ignore[index]
    assert_imgbase_check_ok(steps["check"])
    assert steps["w"] == f"You are on {layer1}"
    lvs = steps["lvs"]
    assert lvs[str(new["nvr"])]["lv_tags"] == "imgbased:base"
    assert lvs[str(new["nvr"])]["lv_permissions"] == "read-only"
    assert lvs[layer2]["lv_tags"] == "imgbased:layer" and lvs[layer2]["origin"] == new["nvr"]
    before = steps["entries_before"]
    assert all(steps["entries"][eid] == entry for eid, entry in before.items()), "onn's entry was changed"
    (new_id,) = set(steps["entries"]) - set(before)
    entry = steps["entries"][new_id]
    assert entry["linux"].lstrip("/") == f"{layer2}/vmlinuz-{kver}"
    assert steps["saved_entry"] in (new_id, entry["title"])
    assert_imgbase_check_ok(steps["new_check"])
    assert steps["new_w"] == f"You are on {layer2}"
    assert steps["rolled_back_to"] in (f"{layer1}-{kver}", before[f"{layer1}-{kver}"]["title"])


def test_anaconda_stops_at_a_wrong_checksum_before_any_disk_is_written(
    toolchain: Path, demo: dict[str, object]
) -> None:
    report, disk = install("wrong-sha256", toolchain, demo)
    assert report["returncode"] != 0
    console = (disk.parent / "out" / "console.log").read_text()
    # The Node spoke names the refusal; Anaconda's cmdline mode stops on the incomplete spoke.
    assert "SHA-256 checksum" in console and "does not match" in console, console[-3000:]
    assert "The following mandatory spokes are not completed:\nNode image." in console, console[-3000:]
    assert "lvs" not in report["found"], "a VG was made"
    assert os.stat(disk).st_blocks == 0, "the disk was written"


def test_foreman_hears_built_once_with_the_install_report(
    toolchain: Path, demo: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    """onn's Foreman template (kickstart/foreman/onn-node.erb, with its partition table) as
    Foreman renders it for a host: the install succeeds and the stand-in Foreman in the guest
    hears exactly one `built`, whose body is onn's install report."""
    report, disk = install("foreman-built", toolchain, demo)
    assert_installed(report, demo, disk, disk.parent / "out", root_hash="$6$")
    calls = report["foreman"]
    with capsys.disabled():
        print(f"\nthe stand-in Foreman received: {[(c['method'], c['path'], len(c['body'])) for c in calls]}")
    assert [(c["method"], c["path"]) for c in calls] == [("POST", "/unattended/built")], calls
    sent = json.loads(calls[0]["body"])
    jsonschema.validate(sent, SCHEMA)
    layer = f"{demo['nvr']}+1"
    assert (sent["action"], sent["outcome"], sent["layer"]) == ("install", "success", layer)
    assert sent["image"]["verified"] and sent["image"]["sha256"] == demo["sha256"]
    assert sent["file"].startswith("/var/log/onn/")


def test_foreman_hears_failed_once_with_the_logs_for_a_wrong_checksum(
    toolchain: Path, demo: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    """The same template with a wrong onn-image-sha256: nothing is written to the disk, and the
    stand-in Foreman hears exactly one `failed`, with the reason and the installer's logs."""
    report, disk = install("foreman-wrong-sha256", toolchain, demo)
    assert report["returncode"] != 0
    calls = report["foreman"]
    with capsys.disabled():
        print(f"\nthe stand-in Foreman received: {[(c['method'], c['path'], len(c['body'])) for c in calls]}")
        print("\n".join(calls[0]["body"].splitlines()[:6]) if calls else "")
    assert [(c["method"], c["path"]) for c in calls] == [("POST", "/unattended/failed")], calls
    body = calls[0]["body"]
    assert "The oVirt Node installation of node1.example failed." in body
    assert "checksum mismatch" in body and WRONG_SHA256 in body, body[:3000]
    assert "== /tmp/anaconda.log" in body
    assert "lvs" not in report["found"], "a VG was made"
    assert os.stat(disk).st_blocks == 0, "the disk was written"
