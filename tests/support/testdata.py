"""What `make images` made, for the tests: the test images' facts (ONN_IMAGES, the JSON of
tests/images/build.py --json), the bad-input images (ONN_BAD_IMAGES, tests/bad/images.py) and
the signed material (ONN_SIGNED, tests/images/signed.py),
each read when a test first uses it. Importing a test module reads neither (IMAGES and Image
are lazy), and tests parametrize over the image specs' names (IMAGE_NAMES), which need no
build."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from build import IMAGES as SPECS

#: the images `make images` builds (the specs' default set)
IMAGE_NAMES = sorted(name for name, spec in SPECS.items() if spec.default)

Facts = dict[str, dict[str, object]]


def _load(variable: str, made_by: str) -> Facts:
    path = os.environ.get(variable)
    if not path or not Path(path).is_file():
        raise LookupError(f"{variable} names no file ({path!r}): run `{made_by}`, or the tier's make target")
    return json.loads(Path(path).read_text())


@functools.cache
def images() -> Facts:
    return _load("ONN_IMAGES", "make images")


@functools.cache
def bad_images() -> Facts:
    return _load("ONN_BAD_IMAGES", "make images")


@functools.cache
def signed() -> dict[str, str]:
    """The signed test material by name (ONN_SIGNED, tests/images/signed.py): keys, image-update
    RPMs, detached signatures."""
    return _load("ONN_SIGNED", "make images")  # type: ignore[return-value]


class _Images(Mapping[str, dict[str, object]]):
    def __getitem__(self, name: str) -> dict[str, object]:
        return images()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(images())

    def __len__(self) -> int:
        return len(images())


#: every built image's facts by name, read at the first look-up
IMAGES: Mapping[str, dict[str, object]] = _Images()


class Image:
    """One test image's facts (its JSON keys, and typed shortcuts), read at the first use."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getitem__(self, key: str) -> object:
        return images()[self.name][key]

    @property
    def path(self) -> Path:
        return Path(str(self["path"]))

    @property
    def sha256(self) -> str:
        return str(self["sha256"])

    @property
    def size(self) -> int:
        return self.path.stat().st_size
