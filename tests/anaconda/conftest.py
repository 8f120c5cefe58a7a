"""The anaconda tier's two guests side by side (the Makefile's anaconda-e2e-1 and -2): `--shard
WORD,WORD…` keeps the cases whose test id contains one of the words, so that `-k` stays the
caller's (`make anaconda-e2e … PYTEST_ARGS="-k gui"` runs the graphical cases, each in the
shard that has it). The e2e cases' fixtures serve test_anaconda_gui.py too."""

from __future__ import annotations

import pytest
from test_anaconda_e2e import demo, toolchain  # noqa: F401 - fixtures


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--shard", default="", help="comma-separated words: run the cases whose id contains one")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    words = [w for w in config.getoption("shard").split(",") if w]
    if not words:
        return
    keep = [item for item in items if any(w in item.nodeid for w in words)]
    config.hook.pytest_deselected(items=[item for item in items if item not in keep])
    items[:] = keep
