"""onn's Foreman templates (kickstart/foreman/) rendered as Foreman renders them: Ruby's ERB,
with a stand-in of Foreman's helpers (foreman_render.rb, named and kept minimal), for the host
tier's checks and the real Anaconda's end-to-end run."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "kickstart/foreman/onn-node.erb"
PTABLE = REPO / "kickstart/foreman/onn-node-ptable.erb"
RENDERER = Path(__file__).resolve().parent / "foreman_render.rb"


def render(
    params: dict[str, str],
    *,
    foreman: str = "http://foreman.example",
    host: str = "node1.example",
    template: Path = TEMPLATE,
    ptable: Path | None = PTABLE,
) -> subprocess.CompletedProcess[str]:
    """The kickstart Foreman would serve a host with these parameters (its partition table
    rendered into `@host.diskLayout`); a template that raises exits 1 with its message."""
    config = {
        "host": {"name": host},
        "params": params,
        "foreman": foreman,
        "template_name": "Kickstart oVirt Node (onn)",
        "ptable": str(ptable) if ptable else None,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(config, f)
        f.flush()
        return subprocess.run(["ruby", str(RENDERER), str(template), f.name], capture_output=True, text=True)


def metadata(template: Path) -> dict[str, object]:
    """The template's metadata header (`<%# kind: … -%>`), the keys Foreman imports it by."""
    header = template.read_text().split("<%#", 1)[1].split("%>", 1)[0]
    found: dict[str, object] = {}
    key = ""
    for line in header.splitlines():
        if line.startswith("- ") and key:
            found.setdefault(key, [])
            found[key].append(line[2:].strip())  # type: ignore[union-attr]
        elif ":" in line and not line.startswith(" "):
            key, value = (part.strip() for part in line.split(":", 1))
            if value and value != "|":
                found[key] = value
    return found


def sections(kickstart: str) -> list[tuple[str, str]]:
    """The kickstart's %-sections in order: (header line, body)."""
    found, current, body = [], None, []
    for line in kickstart.splitlines():
        if line.startswith("%end"):
            if current is not None:
                found.append((current, "\n".join(body)))
            current, body = None, []
        elif line.startswith("%") and current is None:
            current = line
        elif current is not None:
            body.append(line)
    return found
