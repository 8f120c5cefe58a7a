"""atheris targets for the `%addon org_ovirt_node` section (fuzz/run.py runs them).

    python3 fuzz/python/fuzz_kickstart.py section|validate [libFuzzer flags] [CORPUS_DIR...]

section:  parse_section raises only KickstartParseError (with a stable `id`); a section that
          parses writes back a text that parses to the same data and the same text.
validate: the whole-file validator never raises; every error has a line and a `ks.` id; a
          valid kickstart's section round-trips through the validator too.
"""

from __future__ import annotations

import sys
import warnings

import atheris

with atheris.instrument_imports():
    from org_ovirt_node.kickstart import SectionError, parse_section
    from org_ovirt_node.ksvalidate import validate
    from pykickstart.errors import KickstartParseError


def text_of(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def fuzz_section(data: bytes) -> None:
    text = text_of(data)
    try:
        ks = parse_section(text)
    except SectionError as e:
        assert e.id.startswith("ks.") and e.message, repr(text)
        return
    except KickstartParseError:
        raise AssertionError(f"a KickstartParseError without an id for {text!r}") from None
    out = str(ks)
    again = parse_section(out.rstrip("\n"))
    assert again == ks, (text, out)
    assert str(again) == out, (text, out)


def fuzz_validate(data: bytes) -> None:
    text = text_of(data)
    errors, ks = validate(text)
    for e in errors:
        assert e.line >= 0 and e.message and e.id.startswith("ks."), (text, e)
    if not errors:
        errors2, again = validate(str(ks))
        assert errors2 == [] and again == ks, (text, errors2)


# pykickstart warns about odd but valid storage commands; the fuzzer makes many.
warnings.simplefilter("ignore")

TARGETS = {"section": fuzz_section, "validate": fuzz_validate}

if __name__ == "__main__":
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()
