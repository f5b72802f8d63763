"""Command-line pieces the demos share: flag types checked at parse time, run folders.

A bad value ends in one usage line from argparse (`error: argument --batch-size:
must be a positive integer, got 0`), never a traceback from deep inside a run.

    p.add_argument("--batch-size", type=cli.positive_int, default=64)
    p.add_argument("--device", type=cli.device, default="cpu")
    out_dir = cli.run_dir(args.out, run_id, args.overwrite)
"""
from __future__ import annotations

import argparse
import os


def _number(kind, text, ok, what):
    try:
        v = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if not ok(v):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
    return v


def positive_int(text) -> int:
    return _number(int, text, lambda v: v > 0, "a positive integer")


def nonneg_int(text) -> int:
    return _number(int, text, lambda v: v >= 0, "an integer ≥ 0")


def positive_float(text) -> float:
    return _number(float, text, lambda v: v > 0 and v != float("inf"), "a positive number")


def nonneg_float(text) -> float:
    return _number(float, text, lambda v: 0 <= v < float("inf"), "a number ≥ 0")


def fraction(text) -> float:
    return _number(float, text, lambda v: 0 <= v <= 1, "a number in [0, 1]")


def open_fraction(text) -> float:
    return _number(float, text, lambda v: 0 <= v < 1, "a number in [0, 1)")


def int_list(text) -> str:
    """A comma list of integers ≥ 0 ("0,1,2"), checked now; kept as the text given."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items or not all(t.isdigit() for t in items):
        raise argparse.ArgumentTypeError(f"must be a comma list of integers ≥ 0, got {text!r}")
    return text


def device(text) -> str:
    """'cpu' or 'cuda' (a GPU, or NUMBA_ENABLE_CUDASIM=1), checked now rather than mid-run."""
    from .device import check_device
    try:
        return check_device(text)
    except (ValueError, RuntimeError) as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def existing_dir(text) -> str:
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"no such folder: {text!r}")
    return text


def add_run_flags(p: argparse.ArgumentParser, out: str) -> None:
    """--out, --run-id and --overwrite, as every demo has them."""
    p.add_argument("--out", default=out, help="parent folder of the run folders")
    p.add_argument("--run-id", default=None, help="the run folder's name (default: a time stamp)")
    p.add_argument("--overwrite", action="store_true",
                   help="reuse an existing run folder (its files are replaced)")


def add_length_flags(p: argparse.ArgumentParser, steps: int, what: str = "") -> None:
    """--steps (default `steps`) or --minutes, a wall-clock budget instead; `what` says what
    the budget covers. A step count is the default so that a run means the same on every
    machine; call `resolve_length` after parsing."""
    p.add_argument("--steps", type=positive_int, default=None,
                   help=f"train exactly this many steps (default {steps:,}, unless --minutes)")
    p.add_argument("--minutes", type=positive_float, default=None,
                   help=f"a budget instead of --steps{what}: as many steps as fit, from "
                        "measured step times (so the count depends on the machine)")


def resolve_length(p: argparse.ArgumentParser, args, steps: int) -> None:
    """--steps and --minutes are exclusive; with neither, args.steps = the default `steps`."""
    if args.steps and args.minutes:
        p.error("give --steps or --minutes, not both")
    if not args.steps and not args.minutes:
        args.steps = steps


def run_dir(out, run_id, overwrite=False) -> str:
    """Create and return out/run_id; refuse a folder that already holds files unless overwrite,
    so that one run never silently replaces another's results and checkpoints."""
    path = os.path.join(out, run_id)
    if os.path.isdir(path) and os.listdir(path) and not overwrite:
        raise SystemExit(f"error: run folder {path!r} already holds a run; choose another "
                         "--run-id, or pass --overwrite to replace it")
    os.makedirs(path, exist_ok=True)
    return path
