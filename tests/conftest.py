"""The whole test tree's configuration: each test's tier marker from its directory (`-m host`,
`-m guest`, …; see pytest.ini), and the images `make images` made as fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
import testdata

HERE = Path(__file__).resolve().parent
TIERS = {
    "addon": "host",
    "bad": "host",
    "host": "host",
    "python": "host",
    "guest": "guest",
    "boot": "boot",
    "anaconda": "anaconda",
    "lifecycle": "lifecycle",
    "rpm": "rpm",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        directory = item.path.relative_to(HERE).parts[0]
        item.add_marker(TIERS[directory])


@pytest.fixture(scope="session")
def images() -> testdata.Facts:
    return testdata.images()


@pytest.fixture(scope="session")
def bad_images() -> testdata.Facts:
    return testdata.bad_images()


@pytest.fixture(scope="session")
def signed() -> dict[str, str]:
    return testdata.signed()
