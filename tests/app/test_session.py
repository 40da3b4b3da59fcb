"""Session files from anywhere: every malformed one is one clear BadSession, a changed checkpoint is
offered for relinking, never opened silently (issue 11.7)."""
from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.session import BadSession, load_session, save_session, session_json
from engine import LetheError, RunRecord
import contextlib

RUN = {
    "method": "pour_p", "label": "POUR-P", "spec": {"method": "pour_p", "seed": 0},
    "metrics": {"forget_acc": 0.0, "test_acc": 0.95, "rmia": None}, "seconds": {"method": 0.4},
    "params": {"direction": "head"}, "per_class_acc": [0.9] * 10,
    "forget": {"kind": "class", "size": 180, "classes": ["3"], "hash": "ab"},
    "dataset": {"name": "digits", "classes": [str(i) for i in range(10)]}, "device": "cpu", "weights": None,
    "notes": ["a note"], "audit": {"verdicts": [{"key": "outputs", "status": "pass", "summary": "ok"}]},
    "references": [{"method": "original", "spec": {}, "metrics": {"test_acc": 0.96}, "label": "Original"}],
    "schema_version": 1,
}


def valid_session(tmp_path: Path) -> dict[str, Any]:
    ck = tmp_path / "original.safetensors"
    ck.write_bytes(b"weights of the original")
    return session_json("digits", {"checkpoint": str(ck)}, {"classes": [3]}, [RunRecord.from_json(RUN)],
                        tmp_path / "s.lethe.json")


def write(tmp_path: Path, content: Any, name: str = "s.lethe.json") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_a_valid_session_round_trips(tmp_path: Path) -> None:
    d = load_session(write(tmp_path, valid_session(tmp_path)))
    assert d["missing"] == [] and d["changed"] == [] and d["forget"] == {"classes": [3]}
    assert d["model"] == {"checkpoint": str((tmp_path / "original.safetensors").resolve())}
    assert [r.method for r in d["runs"]] == ["pour_p"] and d["runs"][0].references[0].method == "original"


@pytest.mark.parametrize("content", ["", "{", "not json at all", "[1, 2", "\x00\x01binary", "{" * 100_000])
def test_text_that_is_not_a_json_session_is_a_clear_message(tmp_path: Path, content: str) -> None:
    with pytest.raises(BadSession, match="not a session file"):
        load_session(write(tmp_path, content))


def test_binary_missing_and_folder_paths_are_clear_messages(tmp_path: Path) -> None:
    binary = tmp_path / "b.lethe.json"
    binary.write_bytes(b"\xff\xfe\x00\x81 weights?")
    with pytest.raises(BadSession, match="not text"):
        load_session(binary)
    with pytest.raises(BadSession, match="does not exist"):
        load_session(tmp_path / "nowhere.lethe.json")
    with pytest.raises(BadSession, match="is a folder"):
        load_session(tmp_path)


@pytest.mark.parametrize("content", [[], [1, 2], "session", 3, None, True])
def test_json_of_the_wrong_shape(tmp_path: Path, content: Any) -> None:
    with pytest.raises(BadSession, match="holds a JSON object"):
        load_session(write(tmp_path, json.dumps(content)))


@pytest.mark.parametrize("version", [None, "1", 1.0, True, [1], 0, -1])
def test_a_missing_or_malformed_schema_version(tmp_path: Path, version: Any) -> None:
    d = valid_session(tmp_path)
    d["schema_version"] = version
    with pytest.raises(BadSession, match="schema_version"):
        load_session(write(tmp_path, d))


@pytest.mark.parametrize("version", [2, 17, 10**30])
def test_a_session_from_a_newer_lethe_says_so(tmp_path: Path, version: int) -> None:
    d = valid_session(tmp_path)
    d["schema_version"] = version
    with pytest.raises(BadSession, match="newer Lethe") as info:
        load_session(write(tmp_path, d))
    assert "update Lethe" in info.value.hint


WRONG = ["<text>", 3, -1.5, True, None, [], ["x"], {}, {"a": 1}]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a JSON document (dict keys and list indices)."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:2]):
            out += _paths(v, (*prefix, i))
    return out


def _set(d: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        d = d[key]
    d[path[-1]] = value


def test_wrong_types_in_every_field_end_in_success_or_one_clear_message(tmp_path: Path) -> None:
    """Each field of a valid session (runs and references included) set to each wrong type."""
    base = valid_session(tmp_path)
    failures = []
    tried = 0
    for path in _paths(base):
        for wrong in WRONG:
            d = copy.deepcopy(base)
            _set(d, path, wrong)
            tried += 1
            try:
                load_session(write(tmp_path, d))
            except LetheError:
                pass
            except Exception as exc:  # noqa: BLE001 - the point: nothing else may escape
                failures.append(f"{path} = {wrong!r}: {type(exc).__name__}: {exc}")
    assert tried > 300 and not failures, "\n".join(failures[:20])


def test_wrong_types_where_the_tables_need_them_are_refused(tmp_path: Path) -> None:
    """What the runs table and verdict pane read must have the right type, or the file is refused."""
    for path in [("runs", 0, "metrics"), ("runs", 0, "metrics", "test_acc"), ("runs", 0, "method"),
                 ("runs", 0, "forget", "size"), ("runs", 0, "audit", "verdicts"), ("runs", 0, "per_class_acc"),
                 ("runs", 0, "references", 0, "metrics"), ("model",), ("files",), ("forget",), ("dataset",)]:
        d = valid_session(tmp_path)
        _set(d, path, 7 if path[-1] in ("method", "dataset") else "<b>text</b>")
        with pytest.raises(BadSession):
            load_session(write(tmp_path, d))


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["schema_version", "dataset", "model", "forget", "files", "runs", "extra"]), value=JSON)
def test_any_json_in_any_top_level_field_is_success_or_a_lethe_error(tmp_path: Path, field: str, value: Any) -> None:
    d = valid_session(tmp_path)
    d[field] = value
    with contextlib.suppress(LetheError):
        load_session(write(tmp_path, d))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(sorted(RUN)), value=JSON)
def test_any_json_in_any_run_field_is_success_or_a_lethe_error(tmp_path: Path, field: str, value: Any) -> None:
    d = valid_session(tmp_path)
    d["runs"][0][field] = value
    with contextlib.suppress(LetheError):
        load_session(write(tmp_path, d))


def test_missing_linked_files_are_reported_for_relinking(tmp_path: Path) -> None:
    d = valid_session(tmp_path)
    d["files"]["dataset"] = {"relative": "gone.npz", "absolute": str(tmp_path / "gone.npz")}
    d["dataset"] = f"npz:{tmp_path / 'gone.npz'}"
    (tmp_path / "original.safetensors").unlink()
    out = load_session(write(tmp_path, d))
    assert sorted(out["missing"]) == ["checkpoint", "dataset"]


def test_a_checkpoint_whose_hash_differs_is_reported_as_changed(tmp_path: Path) -> None:
    d = valid_session(tmp_path)
    path = write(tmp_path, d)
    (tmp_path / "original.safetensors").write_bytes(b"someone replaced the weights")
    out = load_session(path)
    assert out["changed"] == ["checkpoint"] and out["missing"] == []


# ------------------------------------------------------------------------------------ in the window
@pytest.fixture
def window(qtbot, controller, monkeypatch):  # noqa: ANN001
    """A window that loads nothing; ``prepared`` records what opening a session would load."""
    from app.main_window import MainWindow

    w = MainWindow(controller=controller, autoload=False)
    qtbot.addWidget(w)
    w.prepared = []  # type: ignore[attr-defined]
    monkeypatch.setattr(w, "prepare", lambda source, model: w.prepared.append((source, model)) or "job")
    return w


def test_a_malformed_session_from_the_menu_is_a_dialog_not_a_traceback(window, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    window.show_dialogs = False
    for content in ("not json", json.dumps([1]), json.dumps({"schema_version": 9})):
        path = write(tmp_path, content)
        monkeypatch.setattr("app.main_window.QFileDialog.getOpenFileName", lambda *a, p=path, **k: (str(p), ""))
        window.last_error = None
        window._on_open_session_triggered()
        assert window.last_error is not None and window.last_error[0] == "The session cannot be opened"
    assert "newer Lethe" in window.last_error[1] and window.prepared == []


def test_a_changed_checkpoint_is_offered_for_relinking(window, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    session = write(tmp_path, valid_session(tmp_path))
    original = tmp_path / "original.safetensors"
    keep = tmp_path / "kept" / "original.safetensors"
    keep.parent.mkdir()
    shutil.copy(original, keep)
    original.write_bytes(b"changed after the session was saved")

    window.show_dialogs = False  # scripts and tests: a clear error, nothing opened
    with pytest.raises(LetheError, match="SHA-256"):
        window.open_session(session)
    assert window.prepared == []

    window.show_dialogs = True
    informed: list[str] = []
    monkeypatch.setattr(window, "_inform", lambda title, text: informed.append(title))
    monkeypatch.setattr(window, "_choose_file", lambda what: str(keep))
    assert window.open_session(session) is True
    assert informed == ["Relink a changed file"]
    assert window.prepared == [("digits", {"checkpoint": str(keep)})]


def test_a_relinked_file_that_differs_too_needs_a_yes(window, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    session = write(tmp_path, valid_session(tmp_path))
    (tmp_path / "original.safetensors").write_bytes(b"changed")
    other = tmp_path / "other.safetensors"
    other.write_bytes(b"another model")
    window.show_dialogs = True
    asked: list[str] = []
    monkeypatch.setattr(window, "_inform", lambda title, text: None)
    monkeypatch.setattr(window, "_choose_file", lambda what: str(other))
    monkeypatch.setattr(window, "_confirm", lambda title, text: asked.append(title) or False)
    assert window.open_session(session) is False and window.prepared == []
    monkeypatch.setattr(window, "_confirm", lambda title, text: True)
    assert window.open_session(session) is True and window.prepared == [("digits", {"checkpoint": str(other)})]
    assert asked == ["This checkpoint differs too"]
    monkeypatch.setattr(window, "_choose_file", lambda what: "")  # cancelled the file dialog
    assert window.open_session(session) is False


def test_save_session_then_open_in_the_window(window, tmp_path) -> None:  # noqa: ANN001
    window.state.model = {"arch": "cnn_small"}
    path = window.save_session(tmp_path / "w.lethe.json")
    assert window.open_session(path) is True
    assert window.prepared == [("digits", {"arch": "cnn_small"})]
    assert save_session  # the module-level writer is what the window uses


def test_saving_a_session_where_it_cannot_be_written_is_a_message(window, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    window.show_dialogs = False
    window.state.model = {"arch": "cnn_small"}
    (tmp_path / "a-file").write_text("not a folder")
    target = tmp_path / "a-file" / "s.lethe.json"  # its "folder" is a file: the write fails
    monkeypatch.setattr("app.main_window.QFileDialog.getSaveFileName", lambda *a, **k: (str(target), ""))
    window._on_save_session_triggered()
    assert window.last_error is not None and window.last_error[0] == "The session was not saved"
    assert not target.exists()
