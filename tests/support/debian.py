"""The Debian archive this machine's apt is configured with, for the scripts that fetch from it
(the demo images' debootstrap, the Anaconda toolchain's source tarballs).

No mirror is written in the repository: a machine with another mirror, or one behind a proxy,
builds the same way as this one. ``ONN_DEBIAN_MIRROR`` overrides what apt says.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

APT_CONFIG = "/usr/bin/apt-config"
#: Suites that are not a release's own (security fixes and updates live beside it).
_SIDE_SUITES = ("-security", "-updates", "-backports", "-proposed-updates")


class NoMirror(RuntimeError):
    """apt names no Debian archive this script could fetch from."""


def _apt_config(key: str) -> str:
    """One value of apt's configuration (empty when unset)."""
    proc = subprocess.run(
        [APT_CONFIG, "shell", "VALUE", key], capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
    )
    # `VALUE='…'` when set, nothing otherwise.
    line = proc.stdout.strip()
    return line.partition("=")[2].strip("'") if line else ""


def _source_files() -> list[Path]:
    etc = Path("/etc/apt")
    listed = etc / (_apt_config("Dir::Etc::sourcelist") or "sources.list")
    parts = etc / (_apt_config("Dir::Etc::sourceparts") or "sources.list.d")
    files = [listed] if listed.is_file() else []
    if parts.is_dir():
        files += sorted(p for p in parts.iterdir() if p.suffix in (".list", ".sources"))
    return files


def _entries(path: Path) -> list[tuple[list[str], list[str], list[str], list[str]]]:
    """(types, URIs, suites, components) of each source a file declares, one-line or deb822."""
    text = path.read_text(errors="replace")
    if path.suffix == ".list":
        out = []
        for line in text.splitlines():
            words = line.split("#", 1)[0].split()
            if words and words[1:2] and words[1].startswith("["):  # [arch=… signed-by=…]
                while words[1:] and not words[1].endswith("]"):
                    del words[1]
                del words[1]
            if len(words) >= 4:
                out.append(([words[0]], [words[1]], [words[2]], words[3:]))
        return out
    stanzas: list[dict[str, str]] = [{}]
    for line in text.splitlines():
        if not line.strip():
            stanzas.append({})
        elif not line.startswith(("#", " ", "\t")) and ":" in line:
            key, _, value = line.partition(":")
            stanzas[-1][key.strip().lower()] = value.strip()
    return [
        (
            s.get("types", "").split(),
            s.get("uris", "").split(),
            s.get("suites", "").split(),
            s.get("components", "").split(),
        )
        for s in stanzas
        if s and s.get("enabled", "yes").lower() != "no"
    ]


def debian_mirror(suite: str) -> str:
    """The URI of the archive apt fetches `suite`'s main component from (e.g. the demo image's
    bookworm), or of the first Debian release archive it names."""
    override = os.environ.get("ONN_DEBIAN_MIRROR")
    if override:
        return override.rstrip("/")
    candidates: list[tuple[bool, str]] = []
    for path in _source_files():
        for types, uris, suites, components in _entries(path):
            if "deb" not in types or "main" not in components:
                continue
            for s in suites:
                if not s.endswith(_SIDE_SUITES) and "/" not in s:
                    candidates += [(s == suite, uri.rstrip("/")) for uri in uris if uri.startswith(("http", "ftp"))]
    if not candidates:
        raise NoMirror(
            f"apt's sources ({', '.join(map(str, _source_files())) or 'none'}) name no Debian archive with "
            f"a release suite and its main component: add one, or set ONN_DEBIAN_MIRROR to a mirror's URL"
        )
    return max(candidates, key=lambda c: c[0])[1]


def apt_proxy_env() -> dict[str, str]:
    """The proxy apt uses, as the environment variables debootstrap and urllib read (those
    already set in the environment win)."""
    env = {}
    for scheme in ("http", "https"):
        proxy = _apt_config(f"Acquire::{scheme}::Proxy")
        if proxy and proxy.upper() != "DIRECT" and f"{scheme}_proxy" not in os.environ:
            env[f"{scheme}_proxy"] = proxy
    return env
