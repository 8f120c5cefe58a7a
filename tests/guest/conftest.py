"""Guest tier: runs inside the User-Mode-Linux guest (tests/vm/uml.py) against real lvm2.

The host prepares: the onn binary (ONN_BIN), the test images (ONN_IMAGES, a JSON file from
tests/images/build.py --json) and a read-write work directory (ONN_VM_WORK). Every test makes
its own sparse disk files, attaches them as loop devices and removes what it made.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from guestlib import Disks

# The bad-input corpus and its helpers (tests/bad/corpus.py) are shared with the host tier.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bad"))


@pytest.fixture
def disks(tmp_path: Path) -> Iterator[Disks]:
    d = Disks(tmp_path)
    yield d
    d.release()


@pytest.fixture(scope="session")
def images() -> dict[str, dict[str, object]]:
    return json.loads(Path(os.environ["ONN_IMAGES"]).read_text())


@pytest.fixture(scope="session")
def work() -> Path:
    return Path(os.environ["ONN_VM_WORK"])
