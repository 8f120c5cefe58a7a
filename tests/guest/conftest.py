"""Guest tier: runs inside the User-Mode-Linux guest (tests/support/uml.py) against real lvm2.

The host prepares: the onn binary (ONN_BIN), the test images (ONN_IMAGES, a JSON file from
tests/images/build.py --json) and a read-write work directory (ONN_VM_WORK). Every test makes
its own sparse disk files, attaches them as loop devices and removes what it made.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from guestlib import Disks


@pytest.fixture
def disks(tmp_path: Path) -> Iterator[Disks]:
    d = Disks(tmp_path)
    yield d
    d.release()


@pytest.fixture(scope="session")
def work() -> Path:
    return Path(os.environ["ONN_VM_WORK"])
