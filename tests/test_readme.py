"""The README's shell blocks paste as commands (issue 16, item 18)."""
from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _bash_lines() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    return [ln for b in blocks for ln in b.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def test_no_engine_synopsis_line_runs_a_pipe() -> None:
    """``bench pour|features`` pasted into a shell would pipe into a command named ``features``."""
    lines = _bash_lines()
    assert any("-m engine bench" in ln for ln in lines)
    for ln in lines:
        code = ln.split("  #", 1)[0]
        assert "|" not in code, f"a README command line holds a pipe: {ln!r}"


def test_the_readme_names_the_xcb_system_packages() -> None:
    text = README.read_text(encoding="utf-8")
    for pkg in ("libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1"):
        assert pkg in text
