"""`make anaconda-e2e`'s two guests side by side: which cases each runs (ONN_E2E_SHARD), so
that a selection of the operator's own (`PYTEST_ARGS="-k foreman"`, `-k gui`) narrows both
instead of being replaced by theirs. The e2e cases' fixtures serve test_anaconda_gui.py too."""

from __future__ import annotations

import os

import pytest
from test_anaconda_e2e import demo, toolchain  # noqa: F401 - fixtures

#: The words of each shard's cases in their test ids; about the same time each.
SHARDS = {
    "1": ("minimal-pxe", "wrong_checksum", "tui", "gui_an_operator"),
    "2": ("http-sha256", "autopart-thinp", "imgbased", "foreman_hears_built", "gui_a_wrong", "gui_the_hub"),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    shard = os.environ.get("ONN_E2E_SHARD")
    if not shard:
        return
    # The update by the host's imgbased needs its checkouts (IMGBASED_SRC, NODECTL_SRC).
    update = bool(os.environ.get("IMGBASED_SRC") and os.environ.get("NODECTL_SRC"))
    keep, drop = [], []
    for item in items:
        ours = any(word in item.nodeid for word in SHARDS[shard])
        (keep if ours and (update or "imgbased" not in item.nodeid) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
