"""Downloading http(s) images with onn (`onn.fetch_image`, `onn image URL`) from a real server on
loopback that drops connections, stalls, lies about the length, flips a byte, fails, and speaks
TLS with its own CA; and through a real proxy. Each test checks what a user would: the file's
sha256, the requests the server saw, the error's id and text, and that nothing is left behind."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import pty
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import onn
import pytest
from guestlib import Ticker
from imageserver import Fault, ImageServer, TlsFiles, make_test_ca, tinyproxy
from testdata import IMAGES, Image

TINY = Image("tiny-ext4")
MIB = 1 << 20
# Short timeouts and waits: the faults show up in a second, not in half a minute.
FAST = {"timeout": 1.0, "retries": 3, "backoff": 0.01}


def sha256(path: os.PathLike[str] | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 * MIB):
            h.update(chunk)
    return h.hexdigest()


@pytest.fixture(scope="module")
def server() -> Iterator[ImageServer]:
    with ImageServer({"node.squashfs.img": TINY.path}) as s:
        yield s


@pytest.fixture
def srv(server: ImageServer) -> ImageServer:
    server.reset()
    return server


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def no_cert_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def fresh(parent: Path, name: str) -> Path:
    (parent / name).mkdir()
    return parent / name


def fetch(srv: ImageServer, dest: Path, **kw: object) -> onn.Download:
    return onn.fetch_image(srv.url("node.squashfs.img"), str(dest), **{"sha256": TINY.sha256, **FAST, **kw})  # type: ignore[arg-type]


def refused(srv: ImageServer, dest: Path, **kw: object) -> onn.Error:
    with pytest.raises(onn.Error) as e:
        fetch(srv, dest, **kw)
    assert list(dest.iterdir()) == [], "the partial download was left behind"
    return e.value


def test_a_download_is_verified_and_named_after_the_url(srv: ImageServer, tmp_path: Path) -> None:
    events: list[onn.Event] = []
    download = fetch(srv, tmp_path, progress=events.append)
    assert download.path == str(tmp_path / "node.squashfs.img") and sha256(download) == TINY.sha256
    assert (download.sha256, download.size) == (TINY.sha256, TINY.size)
    assert [p.name for p in tmp_path.iterdir()] == ["node.squashfs.img"]
    assert [(r.range, r.status) for r in srv.requests] == [(None, 200)]
    assert {e.step for e in events} == {"image.download"}
    assert [e.done for e in events] == sorted(e.done for e in events)
    assert (events[-1].done, events[-1].size) == (TINY.size, TINY.size)
    # What the engine reads next is the file it verified while downloading (by its path, or as
    # the download, whose digest spares a second read while the file is unchanged).
    assert onn.read_image(download.path, sha256=TINY.sha256).sha256 == TINY.sha256
    assert onn.read_image(download, sha256=TINY.sha256).sha256 == TINY.sha256
    with open(download, "ab") as f:
        f.write(b"\0")
    with pytest.raises(onn.PreconditionError) as e:
        onn.read_image(download, sha256=TINY.sha256)
    assert e.value.id == "sha256.mismatch", "a download changed since is hashed again"


def test_a_dropped_connection_is_resumed_where_it_stopped(srv: ImageServer, tmp_path: Path) -> None:
    srv.reset(Fault(drop_at=5 * MIB))
    assert sha256(fetch(srv, tmp_path)) == TINY.sha256
    first, second = srv.requests
    assert (first.status, first.sent) == (200, 5 * MIB)
    assert (second.range, second.status, second.sent) == (f"bytes={5 * MIB}-", 206, TINY.size - 5 * MIB)
    # If-Range: the server sends the rest only if the image is still the same.
    assert second.if_range and second.if_range.startswith('"')


def test_a_connection_dropped_every_4_mib_still_completes(srv: ImageServer, tmp_path: Path) -> None:
    srv.reset(Fault(drop_every=4 * MIB))
    assert sha256(fetch(srv, tmp_path)) == TINY.sha256
    starts = range(0, TINY.size, 4 * MIB)
    assert srv.ranges == [None] + [f"bytes={s}-" for s in starts[1:]]
    assert sum(r.sent for r in srv.requests) == TINY.size


def test_a_stalled_read_times_out_and_is_resumed(srv: ImageServer, tmp_path: Path) -> None:
    srv.reset(Fault(stall_at=3 * MIB, stall_seconds=4))
    assert sha256(fetch(srv, tmp_path)) == TINY.sha256
    assert srv.ranges == [None, f"bytes={3 * MIB}-"]


def test_a_server_that_ignores_range_is_read_again_from_the_start(srv: ImageServer, tmp_path: Path) -> None:
    srv.reset(Fault(drop_at=5 * MIB, ignore_range=True))
    path = fetch(srv, tmp_path)
    assert sha256(path) == TINY.sha256 and Path(path.path).stat().st_size == TINY.size
    assert [(r.range, r.status) for r in srv.requests] == [(None, 200), (f"bytes={5 * MIB}-", 200)]


def test_server_errors_are_retried_then_reported(srv: ImageServer, tmp_path: Path) -> None:
    srv.reset(Fault(status=503, status_times=2))
    assert sha256(fetch(srv, tmp_path)) == TINY.sha256
    assert [r.status for r in srv.requests] == [503, 503, 200]

    srv.reset(Fault(status=500))
    e = refused(srv, fresh(tmp_path, "500"), retries=2)
    assert isinstance(e, onn.PreconditionError) and e.id == "download.http"
    assert str(e) == (
        f"the server answered HTTP 500 Internal Server Error for {srv.url('node.squashfs.img')}, 3 times in a row; "
        "try again later or use another server"
    )
    assert len(srv.requests) == 3  # the first attempt and 2 retries


def test_a_missing_image_is_not_found_at_once(srv: ImageServer, tmp_path: Path) -> None:
    with pytest.raises(onn.NotFoundError) as e:
        onn.fetch_image(srv.url("missing.img"), str(tmp_path), **FAST)  # type: ignore[arg-type]
    assert e.value.id == "download.not-found"
    assert f"{srv.url('missing.img')} does not exist on the server (HTTP 404 Not Found)" in str(e.value)
    assert len(srv.requests) == 1 and list(tmp_path.iterdir()) == []


def test_a_server_announcing_more_than_it_has_is_refused(srv: ImageServer, tmp_path: Path) -> None:
    srv.reset(Fault(length_lie=1000))
    e = refused(srv, tmp_path)
    assert e.id == "download.length"
    assert str(e) == (
        f"{srv.url('node.squashfs.img')}: the server refused the bytes from {TINY.size} on (416): "
        f"it has {TINY.size} bytes, "
        f"after announcing {TINY.size + 1000} bytes; it does not have the image it describes"
    )
    assert srv.ranges == [None, f"bytes={TINY.size}-"]


def test_a_server_that_always_closes_at_the_same_byte_is_refused(srv: ImageServer, tmp_path: Path) -> None:
    srv.reset(Fault(drop_at=7 * MIB, drop_times=None))
    e = refused(srv, tmp_path)
    assert e.id == "download.length"
    assert str(e) == (
        f"the server closed the connection after {7 * MIB} of the {TINY.size} bytes it announced for "
        f"{srv.url('node.squashfs.img')}, 4 times in a row; it does not have the whole image"
    )
    assert srv.ranges == [None] + [f"bytes={7 * MIB}-"] * 3


def test_a_server_announcing_less_than_it_sends_fails_the_checksum(srv: ImageServer, tmp_path: Path) -> None:
    srv.reset(Fault(length_lie=-1000))
    e = refused(srv, tmp_path)
    assert e.id == "sha256.mismatch"
    assert f"{srv.url('node.squashfs.img')} ({TINY.size - 1000} bytes received): expected {TINY.sha256}" in str(e)


def test_a_corrupted_byte_is_a_checksum_mismatch(srv: ImageServer, tmp_path: Path) -> None:
    srv.reset(Fault(corrupt_at=TINY.size // 2))
    e = refused(srv, tmp_path)
    assert isinstance(e, onn.PreconditionError) and e.id == "sha256.mismatch"
    assert str(e).startswith(f"checksum mismatch for {srv.url('node.squashfs.img')} ({TINY.size} bytes received)")
    # The same id and words as for a local image that does not match.
    with pytest.raises(onn.PreconditionError) as local:
        onn.read_image(str(TINY.path), sha256="0" * 64)
    assert local.value.id == e.id and str(local.value).startswith("checksum mismatch for ")


def test_tls_is_verified_against_the_system_store(
    ca: TlsFiles, tmp_path: Path, no_cert_env: pytest.MonkeyPatch
) -> None:
    with ImageServer({"node.squashfs.img": TINY.path}, tls=ca) as tls:
        # Debian's store does not know the test CA: refused, and not retried.
        e = refused(tls, tmp_path)
        assert isinstance(e, onn.PreconditionError) and e.id == "download.tls"
        assert str(e).startswith(f"the TLS certificate of {tls.url('node.squashfs.img')} is not trusted (")
        assert "SSL_CERT_FILE" in str(e) and "--noverifyssl" in str(e)
        deadline = time.monotonic() + 5  # the server learns of the rejection a moment later
        while tls.handshake_failures == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (tls.handshake_failures, tls.requests) == (1, [])
        # Asked explicitly: not verified (the sha256 still is).
        assert sha256(fetch(tls, fresh(tmp_path, "insecure"), verify_tls=False)) == TINY.sha256
        # The CA named by SSL_CERT_FILE, as a trust store would hold it: verified, by IP and by name.
        no_cert_env.setenv("SSL_CERT_FILE", str(ca.ca))
        for host in ("127.0.0.1", "localhost"):
            url = tls.url("node.squashfs.img", host=host)
            path = onn.fetch_image(url, str(fresh(tmp_path, host)), sha256=TINY.sha256, **FAST)  # type: ignore[arg-type]
            assert sha256(path) == TINY.sha256


def test_downloads_go_through_the_proxy_given(ca: TlsFiles, tmp_path: Path, no_cert_env: pytest.MonkeyPatch) -> None:
    no_cert_env.setenv("SSL_CERT_FILE", str(ca.ca))
    with (
        ImageServer({"node.squashfs.img": TINY.path}) as plain,
        ImageServer({"node.squashfs.img": TINY.path}, tls=ca) as tls,
        tinyproxy(tmp_path / "proxy") as (proxy, log),
    ):
        for s in (plain, tls):
            assert sha256(fetch(s, fresh(tmp_path, str(s.port)), proxy=proxy)) == TINY.sha256
            assert f"CONNECT 127.0.0.1:{s.port} HTTP/1.1" in log.read_text()
        dead = fresh(tmp_path, "dead")
        e = refused(plain, dead, proxy="http://127.0.0.1:1", retries=1)
        assert e.id == "download.network" and "Connection refused" in str(e)
        e = refused(plain, dead, proxy="ftp://proxy")
        assert e.id == "download.proxy"


def test_onn_image_downloads_through_the_environments_proxy(
    srv: ImageServer, tmp_path: Path, no_cert_env: pytest.MonkeyPatch
) -> None:
    with tinyproxy(tmp_path / "proxy") as (proxy, log):
        env = dict(os.environ, http_proxy=proxy)
        proc = subprocess.run(
            [
                os.environ["ONN_BIN"],
                "image",
                srv.url("node.squashfs.img"),
                "--sha256",
                TINY.sha256,
                "--json",
                "--download-dir",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert f"CONNECT 127.0.0.1:{srv.port} HTTP/1.1" in log.read_text()
    facts = json.loads(proc.stdout)
    assert ("{name}-{version}-{release}".format(**facts["nvr"]), facts["sha256"]) == (
        TINY["nvr"],
        TINY.sha256,
    )
    # The download lived as long as the command.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proxy"]


def test_onn_exit_status_and_message_name_the_refusal(srv: ImageServer, tmp_path: Path) -> None:
    def onn_image(url: str, *extra: str, into: Path = tmp_path) -> subprocess.CompletedProcess[str]:
        argv = [os.environ["ONN_BIN"], "image", url, "--download-dir", str(into), *extra]
        return subprocess.run(argv, capture_output=True, text=True, check=False)

    proc = onn_image(srv.url("missing.img"))
    assert proc.returncode == 3
    missing = srv.url("missing.img")
    assert proc.stderr.endswith(
        f"onn: error (download.not-found): {missing} does not exist on the server (HTTP 404 Not Found); check the URL\n"
    )
    srv.reset(Fault(corrupt_at=1))
    proc = onn_image(srv.url("node.squashfs.img"), "--sha256", TINY.sha256)
    assert proc.returncode == 2 and "onn: error (sha256.mismatch): checksum mismatch for http://" in proc.stderr
    proc = onn_image(srv.url("node.squashfs.img"), into=tmp_path / "absent")
    assert proc.returncode == 2 and f"cannot download into {tmp_path / 'absent'}" in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs: the directory a caller picks to keep a download in RAM, too small here."""
    mnt = tmp_path / "ram"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "onn-test", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_a_full_directory_is_refused_before_the_download(srv: ImageServer, small_tmpfs: Path) -> None:
    events: list[onn.Event] = []
    e = refused(srv, small_tmpfs, progress=events.append)
    assert isinstance(e, onn.PreconditionError) and e.id == "download.no-space"
    assert str(e).startswith(f"{srv.url('node.squashfs.img')} is {TINY.size} bytes (20 MiB) but {small_tmpfs} has ")
    assert "--download-dir" in str(e)
    assert [ev.done for ev in events] == [0], "bytes were written before the space was checked"
    assert len(srv.requests) == 1


def test_cancelling_stops_the_download_and_removes_it(srv: ImageServer, tmp_path: Path) -> None:
    token = onn.CancelToken()
    cancelled_at: list[int] = []

    def cancel_once_started(event: onn.Event) -> None:
        if event.done:
            cancelled_at.append(event.done)
            token.cancel()

    # The stall outlasts the progress interval, so an event with bytes done comes mid-body.
    srv.reset(Fault(stall_at=TINY.size // 2, stall_seconds=0.5))
    e = refused(srv, tmp_path, progress=cancel_once_started, cancel=token)
    assert isinstance(e, onn.CancelledError)
    assert cancelled_at[0] < TINY.size, "the cancel came only once the whole image was in"

    def fail(event: onn.Event) -> None:
        if event.done:
            raise KeyError("from the callback")

    with pytest.raises(KeyError, match="from the callback"):
        fetch(srv, tmp_path, progress=fail)
    assert list(tmp_path.iterdir()) == []


def test_fleet_of_20_concurrent_downloads_of_the_demo_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """20 threads of this process call onn.fetch_image at once against one server: every copy
    is verified, and they overlap (the GIL is released), which 20 processes would not show."""
    demo = IMAGES["demo-1.0"]
    image, digest = Path(demo["path"]), str(demo["sha256"])
    size = image.stat().st_size
    results: dict[int, str | BaseException] = {}
    finished: dict[int, float] = {}

    def one(i: int) -> None:
        try:
            path = onn.fetch_image(s.url("demo.squashfs.img"), str(fresh(tmp_path, f"host{i:02d}")), sha256=digest)
            finished[i] = time.monotonic()
            results[i] = sha256(path)  # read back: what landed on disk is the image
            os.unlink(path)
        except BaseException as e:  # noqa: BLE001 - reported below, per thread
            results[i] = e

    with ImageServer({"demo.squashfs.img": image}) as s:
        threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
        with Ticker() as ticker:
            start = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    assert results == dict.fromkeys(range(20), digest)
    assert [(r.range, r.status, r.sent) for r in s.requests] == [(None, 200, size)] * 20
    assert ticker.ran_freely(), (ticker.ticks, ticker.elapsed)
    wall = max(finished.values()) - start
    with capsys.disabled():
        print(
            f"\nfleet: 20 concurrent downloads of {size / 1e6:.0f} MB, each hashed while downloading and verified, "
            f"in {wall:.1f} s: {20 * size / wall / 1e6:.0f} MB/s aggregate"
        )


def _onn_image_download(srv: ImageServer, tmp_path: Path, stderr_on_a_terminal: bool) -> str:
    """stderr of `onn image URL`, on a pseudo-terminal or a pipe; the server pauses halfway,
    so that there is progress to show."""
    srv.fault = Fault(stall_at=TINY.size // 2, stall_seconds=1.0)
    argv = [os.environ["ONN_BIN"], "image", srv.url("node.squashfs.img"), "--sha256", TINY.sha256]
    argv += ["--download-dir", str(tmp_path)]
    if not stderr_on_a_terminal:
        proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        return proc.stderr
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 160, 0, 0))  # 160 columns
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=terminal)
    os.close(terminal)
    out = b""
    with contextlib.suppress(OSError):  # EIO once onn has closed its end
        while chunk := os.read(controller, 65536):
            out += chunk
    os.close(controller)
    assert proc.wait() == 0, out.decode(errors="replace")
    return out.decode(errors="replace")


def test_on_a_terminal_progress_is_one_bar_redrawn_in_place(srv: ImageServer, tmp_path: Path) -> None:
    out = _onn_image_download(srv, tmp_path, stderr_on_a_terminal=True)
    assert "\r\x1b[2K" in out  # the line is cleared and drawn again…
    lines = [line.rsplit("\x1b[2K", 1)[-1] for line in out.split("\r\n")]  # as the screen shows them
    finished = [line for line in lines if line.startswith("downloading ") and line.endswith("20 MiB of 20 MiB")]
    assert len(finished) == 1, out  # …and what it showed stays as one line when it is done
    assert "\u2588" in out  # a bar


def test_elsewhere_progress_is_a_plain_line_per_event(srv: ImageServer, tmp_path: Path) -> None:
    err = _onn_image_download(srv, tmp_path, stderr_on_a_terminal=False)
    lines = [line for line in err.splitlines() if line.startswith("downloading ")]
    assert len(lines) >= 2 and lines[-1].endswith("20 MiB of 20 MiB (100 %)"), err
    assert "\x1b[2K" not in err and "\r" not in err
