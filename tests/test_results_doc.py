"""docs/results.md quotes exactly the numbers in the committed results JSON files."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_results_tables_match_the_json_files():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "docs", "make_results.py"),
                          "--check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
