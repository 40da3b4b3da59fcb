"""Issue 12, item 4: every method says where it departs from its paper or reference code, and why."""
from __future__ import annotations

import inspect
import re

import pytest

from engine.methods import available, get


@pytest.mark.parametrize("name", available())
def test_module_docstring_has_a_departures_paragraph(name: str) -> None:
    module = inspect.getmodule(get(name).fn)
    doc = inspect.getdoc(module) or ""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", doc)]
    departures = [p for p in paragraphs if p.startswith("Departures:")]
    assert len(departures) == 1, f"{name}: {module.__name__ if module else '?'} needs one 'Departures:' paragraph"
    assert len(departures[0]) > len("Departures: none"), departures[0]  # "none" plus a word of what or why
