"""A real HTTP(S) server on loopback for the download tests, and a real proxy (tinyproxy).

The server serves files by name with single `Range` requests (`If-Range` by ETag or
Last-Modified), and misbehaves on request the way servers and networks do: it cuts responses
(once, or every time), stalls mid-body, lies about the length, flips a byte, answers with an
error status, or ignores `Range`. It records every request it sees. TLS uses a throw-away CA made
with the `openssl` command. Stdlib only, so the guest tier can use it too.
"""

from __future__ import annotations

import email.utils
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CHUNK = 64 << 10


@dataclass
class Fault:
    """How the server misbehaves; the default is a well-behaved server."""

    drop_every: int | None = None  # cut every response after this many body bytes
    drop_at: int | None = None  # cut responses when they reach this byte of the file…
    drop_times: int | None = 1  # …this many times (None: always, so it never gets past it)
    stall_at: int | None = None  # stop sending at this byte of the file, once…
    stall_seconds: float = 0.0  # …for this long, then close the connection
    length_lie: int = 0  # announce this many bytes more (+) or fewer (-) than the file has
    corrupt_at: int | None = None  # serve this byte flipped (every time)
    status: int | None = None  # answer with this status and no body…
    status_times: int | None = None  # …this many times (None: always)
    ignore_range: bool = False  # answer every request with the whole file (200)


@dataclass
class Seen:
    """One request as the server saw it."""

    path: str
    range: str | None
    if_range: str | None
    status: int = 0
    sent: int = 0


@dataclass
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the fleet check connects 20 clients at once

    def __init__(self, owner: ImageServer, tls: ssl.SSLContext | None) -> None:
        self.owner = owner
        self.tls = tls
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001 - socketserver's
        pass  # a client that went away mid-body (as a timed-out one does) is not an error here

    def finish_request(self, request, client_address) -> None:  # noqa: ANN001 - socketserver's
        # The TLS handshake runs in the request's thread, so a client that rejects the
        # certificate cannot hold up the others.
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                self.owner.handshake_failures += 1
                return
        super().finish_request(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        owner = self.server.owner
        seen = Seen(self.path, self.headers.get("Range"), self.headers.get("If-Range"))
        with owner.lock:
            owner.requests.append(seen)
            fault = owner.fault
            fail = fault.status is not None and (fault.status_times is None or owner.statuses < fault.status_times)
            if fail:
                owner.statuses += 1
        if fail:
            assert fault.status is not None
            return self._empty(seen, fault.status)
        path = owner.files.get(self.path.lstrip("/").split("?", 1)[0])
        if path is None:
            return self._empty(seen, 404)
        st = path.stat()
        size = st.st_size
        etag = f'"{st.st_ino:x}-{st.st_mtime_ns:x}"'
        modified = email.utils.formatdate(st.st_mtime, usegmt=True)
        announced = size + fault.length_lie
        start, status = 0, 200
        wanted = re.fullmatch(r"bytes=(\d+)-", seen.range or "")
        if wanted and not fault.ignore_range and seen.if_range in (None, etag, modified):
            start, status = int(wanted[1]), 206
            if start >= size:
                return self._empty(seen, 416, {"Content-Range": f"bytes */{size}"})
        seen.status = status
        self.send_response(status)
        self.send_header("Content-Length", str(announced - start))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{announced - 1}/{announced}")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", modified)
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        # A server that announces fewer bytes than it has sends them all anyway.
        end = size if fault.length_lie <= 0 else min(size, announced)
        cut = self._cut(fault, start, end)
        with path.open("rb") as f:
            if cut is None and fault.corrupt_at is None and fault.length_lie == 0:
                seen.sent = self.connection.sendfile(f, start, end - start)
                return
            pos = start
            f.seek(pos)
            while pos < (cut if cut is not None else end):
                n = min(CHUNK, (cut if cut is not None else end) - pos)
                data = bytearray(f.read(n))
                if fault.corrupt_at is not None and pos <= fault.corrupt_at < pos + n:
                    data[fault.corrupt_at - pos] ^= 0xFF
                try:
                    self.wfile.write(data)
                except OSError:
                    break
                pos += n
                seen.sent += n
                if self._stall_here(fault, pos):
                    time.sleep(fault.stall_seconds)
                    break
        if pos != announced:
            # Cut short, or more than announced: this connection cannot carry another reply.
            self.close_connection = True

    def _cut(self, fault: Fault, start: int, end: int) -> int | None:
        """Where this response stops early, if it does."""
        owner = self.server.owner
        cut = None
        if fault.drop_every is not None:
            cut = min(end, start + fault.drop_every)
        if fault.drop_at is not None and start <= fault.drop_at < end:
            with owner.lock:
                if fault.drop_times is None or owner.drops < fault.drop_times:
                    owner.drops += 1
                    cut = fault.drop_at if cut is None else min(cut, fault.drop_at)
        if fault.stall_at is not None and not owner.stalled and start < fault.stall_at < end:
            cut = fault.stall_at if cut is None else min(cut, fault.stall_at)
        return cut

    def _stall_here(self, fault: Fault, pos: int) -> bool:
        owner = self.server.owner
        with owner.lock:
            if fault.stall_at == pos and not owner.stalled:
                owner.stalled = True
                return True
        return False

    def _empty(self, seen: Seen, status: int, headers: dict[str, str] | None = None) -> None:
        seen.status = status
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()


@dataclass
class ImageServer:
    """`with ImageServer({"name.img": path}) as s: s.url("name.img")`; `s.fault` may be changed
    between downloads; `s.requests` lists what the server saw."""

    files: dict[str, Path]
    tls: TlsFiles | None = None
    fault: Fault = field(default_factory=Fault)
    requests: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    drops: int = 0
    statuses: int = 0
    stalled: bool = False
    handshake_failures: int = 0

    def __enter__(self) -> ImageServer:
        context = None
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.tls.cert, self.tls.key)
        self._server = _Server(self, context)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, name: str, host: str = "127.0.0.1") -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host}:{self.port}/{name}"

    def reset(self, fault: Fault | None = None) -> None:
        with self.lock:
            self.fault = fault or Fault()
            self.requests.clear()
            self.drops = self.statuses = self.handshake_failures = 0
            self.stalled = False

    @property
    def ranges(self) -> list[str | None]:
        return [r.range for r in self.requests]


def make_test_ca(where: Path) -> TlsFiles:
    """A CA and a certificate for 127.0.0.1/localhost signed by it, made with `openssl`."""
    where.mkdir(parents=True, exist_ok=True)
    ca, ca_key = where / "ca.pem", where / "ca.key"
    csr, cert, key, ext = where / "server.csr", where / "server.pem", where / "server.key", where / "server.ext"
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"]
    ca_ext = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    _openssl(["req", "-x509", *new_key, "-keyout", ca_key, "-out", ca, "-subj", "/CN=onn test CA", *ca_ext])
    _openssl(["req", "-new", *new_key, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"])
    ext.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
    )
    signed_by_ca = ["-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "2", "-extfile", ext]
    _openssl(["x509", "-req", "-in", csr, "-out", cert, *signed_by_ca])
    return TlsFiles(ca=ca, cert=cert, key=key)


def _openssl(args: list[str | Path]) -> None:
    argv = ["openssl", *map(str, args)]
    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"{argv} failed: {proc.stderr}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def tinyproxy(where: Path) -> Iterator[tuple[str, Path]]:
    """A real forward proxy (Debian's tinyproxy) on a free loopback port, logging each request;
    yields its URL and its log file."""
    exe = shutil.which("tinyproxy")
    assert exe, "tinyproxy is not installed (Debian package tinyproxy-bin; see the Makefile)"
    where.mkdir(parents=True, exist_ok=True)
    log, conf, port = where / "tinyproxy.log", where / "tinyproxy.conf", free_port()
    # No ConnectPort line: CONNECT is allowed to any port, as the test server's is random.
    conf.write_text(f'Port {port}\nListen 127.0.0.1\nTimeout 60\nMaxClients 64\nLogFile "{log}"\nLogLevel Connect\n')
    proc = subprocess.Popen([exe, "-d", "-c", str(conf)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "tinyproxy did not start"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", log
    finally:
        proc.terminate()
        proc.wait(timeout=10)
