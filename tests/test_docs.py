"""The Python snippets in README.md and docs/*.md still run."""
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SNIPPETS = [(f, i, code) for f in FILES if f.exists()
            for i, code in enumerate(re.findall(r"```python\n(.*?)```", f.read_text(), re.S))]


@pytest.mark.parametrize("path,index,code", SNIPPETS,
                         ids=[f"{p.name}#{i}" for p, i, _ in SNIPPETS])
def test_snippet_runs(path, index, code):
    exec(compile(code, f"{path.name}#{index}", "exec"), {})


def test_there_are_snippets():
    assert len(SNIPPETS) >= 2
