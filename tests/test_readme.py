"""The README's Python examples run as written and print what their comments promise."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that save files write here
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(BLOCKS[index], f"README.md python block {index}", "exec"), {})
    assert out.getvalue().strip(), "every README example prints something"


def test_engine_example_prints_the_textbook_gradients():
    block = next(b for b in BLOCKS if "1.83" in b)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(block, {})
    assert "0.00927609" in out.getvalue() and "0.02782828" in out.getvalue()
    assert "0.0927609" in out.getvalue()


def test_ten_line_example_is_ten_lines_and_learns(tmp_path, monkeypatch):
    block = next(b for b in BLOCKS if "load_digits" in b)
    assert len(block.strip().splitlines()) <= 11  # ten lines of code plus the imports' blank-free header
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(block, {})
    assert float(out.getvalue().split()[-1]) > 0.9
    assert (tmp_path / "digits.npz").is_file()


def test_every_test_the_guarantees_name_exists():
    """Each promise in README's "Guarantees" names the tests that keep it: those must exist."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Guarantees"):text.index("\n## ", text.index("## Guarantees") + 1)]
    root = README.parent
    current = None
    named = 0
    for match in re.finditer(r"`(tests/[\w/]+\.py)?(::(\w+))?(\[[^\]]*\])?`", section):
        path, name = match.group(1), match.group(3)  # a bare `[case]` belongs to the test named before it
        if path:
            current = root / path
            assert current.is_file(), f"README Guarantees names {path}, which does not exist"
        if name:
            assert current is not None and f"def {name}(" in current.read_text(encoding="utf-8"), (
                f"README Guarantees names {name} in {current}, which has no such test")
            named += 1
    assert named >= 8  # the section names its tests; a rewrite that drops them should fail here
