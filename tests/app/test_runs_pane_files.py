"""*Save weights…* and *Export HTML report…* never replace a file silently, and never the loaded
original checkpoint, whatever the person picks (issue 11.3, studio side)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.background import wait_for_background
from app.panes.runs_pane import RunsPane
from app.safe_paths import WouldOverwriteInput, next_free, same_file, slug
from app.state import SessionModel
from engine import RunRecord
from engine.models.registry import create_model


@pytest.fixture
def pane(qtbot, tmp_path: Path):  # noqa: ANN001
    """A runs pane with one in-memory run of a tiny model, the original loaded from a checkpoint."""
    state = SessionModel()
    original = tmp_path / "models" / "original.safetensors"
    original.parent.mkdir()
    original.write_bytes(b"the original weights")
    state.model = {"checkpoint": str(original)}
    model = create_model("cnn_small", 1, 8, 10)
    record = RunRecord("pour_p", spec={"method": "pour_p"}, metrics={"forget_acc": 0.0}, label="POUR-P",
                       dataset={"classes": [str(i) for i in range(10)], "source": "digits"}, model=model)
    p = RunsPane(state)
    qtbot.addWidget(p)
    p.last_folder = tmp_path
    state.add_run(record)  # selects the row
    p.errors = []  # type: ignore[attr-defined]
    p.sig_error.connect(lambda title, text: p.errors.append((title, text)))
    return p


def _click_save(qtbot, pane: RunsPane, picked: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr("app.panes.runs_pane.QFileDialog.getExistingDirectory", lambda *a, **k: str(picked))
    pane.exports.clear()
    pane._on_save_clicked()
    wait_for_background()
    qtbot.wait(50)  # the queued "done" signal


def test_helpers_name_new_files_and_spot_hard_links(tmp_path: Path) -> None:
    (tmp_path / "pour_p-1").mkdir()
    assert next_free(tmp_path, "pour_p") == tmp_path / "pour_p-2"
    assert next_free(tmp_path, "r", ".html") == tmp_path / "r-1.html"
    assert slug("POUR-P (small)") == "pour-p-small" and slug("../../etc") == "etc" and slug("") == "run"
    a = tmp_path / "a.bin"
    a.write_bytes(b"x")
    os.link(a, tmp_path / "hard.bin")
    (tmp_path / "soft.bin").symlink_to(a)
    assert same_file(a, tmp_path / "hard.bin") and same_file(a, tmp_path / "soft.bin")
    assert not same_file(a, tmp_path / "missing.bin")


def test_save_into_an_empty_or_new_folder_writes_there(qtbot, pane, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    empty = tmp_path / "empty"
    empty.mkdir()
    _click_save(qtbot, pane, empty, monkeypatch)
    assert (empty / "record.json").exists() and (empty / "unlearned.safetensors").exists()


def test_a_folder_with_other_files_gets_a_new_method_n_subfolder(qtbot, pane, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    _click_save(qtbot, pane, busy, monkeypatch)
    assert (busy / "pour_p-1" / "record.json").exists() and (busy / "notes.txt").read_text() == "mine"
    _click_save(qtbot, pane, busy, monkeypatch)  # a second save never reuses the first folder
    assert (busy / "pour_p-2" / "record.json").exists()


def test_a_folder_holding_a_saved_run_asks_before_replacing(qtbot, pane, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    for name in ("record.json", "unlearned.safetensors", "unlearned.json"):
        (earlier / name).write_text(f"earlier {name}")
    answers = iter(["new", None, "replace"])
    asked: list[Path] = []
    monkeypatch.setattr(pane, "ask_replace_run", lambda folder, alt: asked.append(alt) or next(answers))

    _click_save(qtbot, pane, earlier, monkeypatch)  # "save beside it"
    assert (earlier / "record.json").read_text() == "earlier record.json"
    assert (earlier / "pour_p-1" / "record.json").exists() and asked[0] == earlier / "pour_p-1"

    _click_save(qtbot, pane, earlier, monkeypatch)  # cancel
    assert (earlier / "record.json").read_text() == "earlier record.json" and not (earlier / "pour_p-2").exists()

    _click_save(qtbot, pane, earlier, monkeypatch)  # replace, confirmed
    assert (earlier / "record.json").read_text() != "earlier record.json"


def test_never_over_the_loaded_original_even_when_replacing(qtbot, pane, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """The original was itself a saved run (unlearned.safetensors): replacing that folder is refused,
    through a hard link too."""
    folder = tmp_path / "models"
    original = Path(pane.state.model["checkpoint"])
    os.link(original, folder / "unlearned.safetensors")  # the same inode under save_run's name
    (folder / "record.json").write_text("earlier record")
    monkeypatch.setattr(pane, "ask_replace_run", lambda folder, alt: "replace")
    _click_save(qtbot, pane, folder, monkeypatch)
    assert pane.errors and "refusing to write" in pane.errors[0][1]
    assert original.read_bytes() == b"the original weights" and (folder / "record.json").read_text() == "earlier record"
    with pytest.raises(WouldOverwriteInput):
        pane.save_weights(pane.state.runs[0], folder, replace=True)
    assert original.read_bytes() == b"the original weights"


def test_save_weights_refuses_an_earlier_run_unless_told_to_replace(pane, tmp_path) -> None:  # noqa: ANN001
    out = tmp_path / "out"
    record = pane.state.runs[0]
    pane.save_weights(record, out)
    with pytest.raises(Exception, match="already holds a saved run"):
        pane.save_weights(record, out)
    assert '"label": "POUR-P"' in (out / "record.json").read_text()
    record.label = "second save"
    pane.save_weights(record, out, replace=True)
    assert '"label": "second save"' in (out / "record.json").read_text()  # replaced on request


def _click_report(qtbot, pane: RunsPane, chosen: Path | None, monkeypatch) -> list[str]:  # noqa: ANN001
    offered: list[str] = []

    def dialog(parent, title, default, filt, options=None):  # noqa: ANN001, ANN202
        offered.append(default)
        return (str(chosen) if chosen is not None else default, "")

    monkeypatch.setattr("app.panes.runs_pane.QFileDialog.getSaveFileName", dialog)
    monkeypatch.setattr("app.panes.runs_pane.write_report", lambda recs, path, bundle: Path(path).write_text("report"))
    pane._on_report_clicked()
    wait_for_background()
    qtbot.wait(50)
    return offered


def test_export_offers_a_new_name_and_asks_before_replacing(qtbot, pane, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    offered = _click_report(qtbot, pane, None, monkeypatch)
    assert offered == [str(tmp_path / "pour-p-report-1.html")] and (tmp_path / "pour-p-report-1.html").exists()
    offered = _click_report(qtbot, pane, None, monkeypatch)
    assert offered == [str(tmp_path / "pour-p-report-2.html")]  # never the one written before

    mine = tmp_path / "mine.html"
    mine.write_text("my own page")
    monkeypatch.setattr(pane, "ask_replace_file", lambda path: False)
    _click_report(qtbot, pane, mine, monkeypatch)
    assert mine.read_text() == "my own page"
    monkeypatch.setattr(pane, "ask_replace_file", lambda path: True)
    _click_report(qtbot, pane, mine, monkeypatch)
    assert mine.read_text() == "report"


def test_export_never_over_the_original_checkpoint(qtbot, pane, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """A report name that is the original under another name (hard link, symlink) is refused."""
    original = Path(pane.state.model["checkpoint"])
    monkeypatch.setattr(pane, "ask_replace_file", lambda path: True)  # even when the person says yes
    hard, soft = tmp_path / "hard.html", tmp_path / "soft.html"
    os.link(original, hard)
    soft.symlink_to(original)
    for chosen in (hard, soft):
        pane.errors.clear()
        _click_report(qtbot, pane, chosen, monkeypatch)
        assert pane.errors and "refusing to write" in pane.errors[0][1]
    assert original.read_bytes() == b"the original weights"
