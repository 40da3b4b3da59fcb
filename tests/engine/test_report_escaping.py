"""Hostile records: markup in any field of a record.json is shown as text, never run (issue 11.5).

A record.json may come from someone else. Every string of a real record (method, label, spec,
params, notes, dataset name / source / class names, forget classes, verdict texts, evidence keys
and values, the references) is replaced by markup, the report is rendered, parsed with
``html.parser``, and no element or attribute that came from the payload may exist.
"""
from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest

from engine._core.errors import BadRecord
from engine.report.html import esc, render_html, write_report
from engine.runs.record import RunRecord
from engine.runs.spec import JobSpec

PAYLOADS = (
    "<script>alert('x')</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)></svg>",
    "</td></tr></table><x-pwn id=pwn>",
    "<iframe src=javascript:alert(1)></iframe> $\\frac{$",
    "&lt;b&gt; & &amp; \" ' <b>bold</b>",
)
AMP_TEXT = "&lt;b&gt; & &amp;"  # shown literally only if every & was escaped
INJECTED_TAGS = {"script", "svg", "iframe", "x-pwn", "object", "embed"}
ALLOWED_STYLE = re.compile(r"^(background:#[0-9a-f]{3,6}|width:\d+(px|%)|background:#e9ecef)$")


class _Parsed(HTMLParser):
    """Every start tag with its attributes, and the document's text (character references decoded)."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def assert_no_injection(document: str) -> _Parsed:
    """No element or attribute of the payloads survived; returns the parse for further checks."""
    parsed = _Parsed(document)
    for tag, attrs in parsed.tags:
        assert tag not in INJECTED_TAGS, f"injected <{tag}> element"
        for name, value in attrs:
            assert not name.startswith("on"), f"injected {name}= attribute on <{tag}>"
            assert name != "id" or value != "pwn", "injected id attribute"
            if tag == "img" and name == "src":
                assert (value or "").startswith("data:image/png;base64,"), f"img src from the record: {value!r}"
            if name == "style":
                assert ALLOWED_STYLE.match(value or ""), f"style attribute from the record: {value!r}"
        if tag == "img":
            assert dict(attrs).get("src", "").startswith("data:image/png;base64,")  # type: ignore[union-attr]
    return parsed


def _poison(value: Any, payloads: Iterator[str], *, keys: bool, numbers: bool) -> Any:
    """``value`` with every string (and, if asked, every dict key / every number) replaced by the
    next payload; the nesting is kept."""
    if isinstance(value, dict):
        return {(next(payloads) if keys and isinstance(k, str) else k): _poison(v, payloads, keys=keys, numbers=numbers)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_poison(v, payloads, keys=keys, numbers=numbers) for v in value]
    if isinstance(value, str) or (numbers and isinstance(value, (int, float)) and not isinstance(value, bool)):
        return next(payloads)
    return value


def poison_record(d: dict[str, Any], *, keys: bool = False, numbers: bool = False) -> dict[str, Any]:
    """A record's JSON with every field poisoned (its own field names, and its references', kept)."""
    payloads = itertools.cycle(PAYLOADS)
    out = {k: _poison(v, payloads, keys=keys, numbers=numbers) for k, v in d.items() if k != "references"}
    out["references"] = [poison_record(r, keys=keys, numbers=numbers) for r in d.get("references", [])]
    return out


@pytest.fixture(scope="module")
def record_json(runner) -> dict[str, Any]:  # noqa: ANN001
    """A real record with an audit against the retrained model (all verdicts, evidence, references)."""
    rec = runner.run_to_record(JobSpec(method="finetune", params={"epochs": 1}, geometry=False))
    d = rec.to_json()
    assert d["audit"]["verdicts"] and d["references"] and d["dataset"]["classes"]
    return d


def test_esc_is_the_one_escaping_function() -> None:
    assert esc("<a href='x'>&\"") == "&lt;a href=&#x27;x&#x27;&gt;&amp;&quot;"
    assert esc(3) == "3" and esc(None) == "None"


def test_markup_in_every_string_field_is_shown_as_text(record_json) -> None:  # noqa: ANN001
    hostile = poison_record(record_json)
    # the two fields of the original finding (shared/cases/reliability/r5_record_xss.py)
    hostile["audit"]["verdicts"][0]["status"] = PAYLOADS[0]
    hostile["forget"]["size"] = PAYLOADS[1]
    record = RunRecord.from_json(hostile)
    assert record.method in PAYLOADS and all(c in PAYLOADS for c in record.dataset["classes"])
    document = render_html([record])
    parsed = assert_no_injection(document)
    text = "".join(parsed.text)
    for p in PAYLOADS:  # each payload reached the page, as text
        assert p.replace(" $\\frac{$", "") in text or p in text
    assert AMP_TEXT in text
    # the numbers were left alone: every figure is still drawn, class names with "$" included
    assert document.count("data:image/png;base64,") >= 4


def test_markup_in_keys_and_numbers_renders_without_injection(record_json, tmp_path) -> None:  # noqa: ANN001
    for keys, numbers in ((True, False), (False, True), (True, True)):
        hostile = poison_record(record_json, keys=keys, numbers=numbers)
        try:
            record = RunRecord.from_json(hostile)
        except BadRecord as exc:  # a record with text where numbers belong is refused in one line
            assert numbers and "\n" not in exc.message
            continue
        out = write_report(record, tmp_path / f"r-{keys}-{numbers}.html")
        assert_no_injection(out.read_text(encoding="utf-8"))


def test_malformed_field_types_render_without_raising(record_json, monkeypatch) -> None:  # noqa: ANN001
    """A record whose fields hold other types is refused in one line, or renders without injection."""
    import engine.report.html as report_html

    def quick_png(fig: Any) -> str:  # figures are built (where wrong types raise) but not encoded
        report_html._plt().close(fig)
        return "data:image/png;base64,AA=="

    monkeypatch.setattr(report_html, "_png", quick_png)
    for field in ("audit", "dataset", "forget", "spec", "metrics", "seconds", "per_class_acc", "notes", "label"):
        for bad in ("<script>x</script>", 7, ["<b>x</b>"], {"<i>": "<i>"}):
            d = dict(record_json)
            d[field] = bad
            try:
                record = RunRecord.from_json(d)
            except BadRecord as exc:  # refused at the boundary, in one line naming the field
                assert field in exc.message and "\n" not in exc.message
                continue
            assert_no_injection(render_html([record]))


def test_the_title_and_a_checkpoint_path_are_escaped(record_json, tmp_path) -> None:  # noqa: ANN001
    d = dict(record_json)
    d["label"] = "</title><script>alert(1)</script>"
    weights = tmp_path / "<img src=x onerror=alert(1)>.safetensors"
    weights.write_bytes(b"not really weights")
    d["weights"] = str(weights)
    out = write_report(RunRecord.from_json(d), tmp_path / "t.html")
    text = "".join(assert_no_injection(out.read_text(encoding="utf-8")).text)
    assert "</title><script>alert(1)</script>" in text and weights.name in text


def test_a_device_file_as_weights_is_never_read(record_json) -> None:  # noqa: ANN001
    """A hostile record naming /dev/zero must not hang the report hashing an endless file."""
    d = dict(record_json)
    d["weights"] = "/dev/zero"
    assert "checkpoint file not found" in render_html([RunRecord.from_json(d)])
