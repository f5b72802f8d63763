"""The code in README.md and docs/*.md still runs, so the docs cannot drift from the code.

- ```python blocks run as they are, unless the line before the block is
  `<!-- illustrative -->` (a fragment shown for reading, e.g. with names it does not define).
- ```bash blocks are commands: every `python demos/<demo>.py FLAGS` line must parse with that
  demo's own argument parser, and every `make TARGET` must name a Makefile target. (Running
  them would take the demos' full time.)
"""
import importlib
import pathlib
import re
import shlex

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(<!-- illustrative -->\n)?```(python|bash)\n(.*?)```", re.S)
BLOCKS = [(f, i, lang, code, bool(mark)) for f in FILES if f.exists()
          for i, (mark, lang, code) in enumerate(BLOCK.findall(f.read_text()))]
PYTHON = [(f, i, code) for f, i, lang, code, illustrative in BLOCKS
          if lang == "python" and not illustrative]
COMMANDS = [(f, line.split("#")[0].strip()) for f, _, lang, code, _ in BLOCKS if lang == "bash"
            for line in code.splitlines() if line.split("#")[0].strip()]


@pytest.mark.parametrize("path,index,code", PYTHON, ids=[f"{p.name}#{i}" for p, i, _ in PYTHON])
def test_python_block_runs(path, index, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                       # a block that writes files writes here
    exec(compile(code, f"{path.name}#{index}", "exec"), {"__name__": "__doc_block__"})


@pytest.mark.parametrize("path,command", COMMANDS, ids=[f"{p.name}: {c}" for p, c in COMMANDS])
def test_shell_command_is_valid(path, command, monkeypatch):
    words = shlex.split(command)
    while words and "=" in words[0]:                  # leading VAR=value assignments
        words.pop(0)
    if words[0] == "make":
        targets = re.findall(r"^([\w-]+(?: [\w-]+)*):", (ROOT / "Makefile").read_text(), re.M)
        known = {t for line in targets for t in line.split()}
        assert all(w in known for w in words[1:] if "=" not in w), f"{command}: no such target"
        return
    if words[0] in ("python", "python3") and words[1].startswith("demos/"):
        monkeypatch.syspath_prepend(str(ROOT / "demos"))
        demo = importlib.import_module(pathlib.Path(words[1]).stem)
        monkeypatch.chdir(ROOT)                       # paths in flags are relative to the repo
        if hasattr(demo, "parse_args"):
            demo.parse_args(words[2:])
        return
    pytest.skip(f"not a demo or make command: {command}")


def test_there_are_blocks_of_both_kinds():
    assert len(PYTHON) >= 2 and len(COMMANDS) >= 2
