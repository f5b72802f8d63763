"""results/ is a record: every run folder in it is listed in results/README.md, and every run
the README lists exists."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"


def _folders():
    return {f"{demo.name}/{run.name}" for demo in RESULTS.iterdir() if demo.is_dir()
            for run in demo.iterdir() if run.is_dir()}


def _listed():
    text = (RESULTS / "README.md").read_text()
    return set(re.findall(r"^\| `([\w.-]+/[\w.-]+)/?` \|", text, re.M))


def test_every_run_folder_is_listed_in_the_index():
    unlisted = _folders() - _listed()
    assert not unlisted, f"run folders not in results/README.md: {sorted(unlisted)}"


def test_every_listed_run_exists():
    missing = _listed() - _folders()
    assert not missing, f"results/README.md lists runs that are not there: {sorted(missing)}"
