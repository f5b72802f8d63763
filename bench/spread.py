"""Run-to-run spread of the benchmark ratios: several bench/run.py results side by side.

    python bench/spread.py bench/results/2026-11-26_01*.json   # the runs to compare
    python bench/spread.py --markdown spread.md FILES          # also write the table

On a shared VM one run's ratio can move by ±30% from the next, while both
frameworks run the same ops: a target that passes in one run and fails in the
next is within the noise. This table shows, per benchmark row and per target
metric (forward+backward time ratio, training-step images/s ratio), the median
ratio over the given runs, the range, and in how many runs the row passed. It
also gives the ratio of the fastest samples (min ÷ min, median over runs): the
fastest sample is the one least disturbed by other work on the machine, so when
the median ratio fails and the min ratio passes, noise is the likelier cause.
Only runs with the same thread count can be compared; the script refuses a mix.
"""
from __future__ import annotations

import argparse
import json
import statistics


def load(paths):
    runs = []
    for path in paths:
        with open(path) as f:
            runs.append(json.load(f))
    threads = {r["machine"]["threads"] for r in runs}
    if len(threads) > 1:
        raise SystemExit(f"runs with different thread counts {sorted(threads)}: compare like "
                         f"with like")
    return runs


def rows(runs):
    """{row name: [(median ratio, min-sample ratio, pass, target text) per run]}, in
    first-seen order."""
    out = {}
    for r in runs:
        for op in r.get("ops", []):
            fb = op["forward_backward"]
            if "torch" not in fb:
                continue
            out.setdefault(f"{op['op']} | {op['shape']}", []).append(
                (op["ratio_forward_backward"], fb["minstn"]["min_ms"] / fb["torch"]["min_ms"],
                 op["pass"], f"≤ {op['target']:g}×"))
        s = r.get("stcnn_step")
        if s and "torch" in s["step"]:
            out.setdefault("training step, images/s | ST-CNN batch 64", []).append(
                (s["ratio_images_per_s"], s["step"]["torch"]["min_ms"] / s["step"]["minstn"]["min_ms"],
                 s["pass"], f"≥ {s['target']:g}×"))
    return out


def markdown(runs, paths):
    lines = [f"Spread over {len(runs)} runs ({', '.join(paths)}), "
             f"{runs[0]['machine']['threads']} thread(s), {runs[0]['machine']['cpu_model']}. "
             "Ratio = minstn ÷ torch time (training step: images/s, minstn ÷ torch).", "",
             "| op | shape | runs | median ratio, median over runs [min – max] | target "
             "| runs passing | min-sample ratio, median over runs |",
             "|---|---|---|---|---|---|---|"]
    for name, vals in rows(runs).items():
        med = [v[0] for v in vals]
        mins = [v[1] for v in vals]
        passing = sum(v[2] == "pass" for v in vals)
        lines.append(f"| {name} | {len(vals)} | {statistics.median(med):.2f}× "
                     f"[{min(med):.2f} – {max(med):.2f}] | {vals[0][3]} | {passing}/{len(vals)} "
                     f"| {statistics.median(mins):.2f}× |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("results", nargs="+", help="bench/results/*.json files of bench/run.py")
    p.add_argument("--markdown", default=None, help="also write the table here")
    args = p.parse_args(argv)
    text = markdown(load(args.results), args.results)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    return text


if __name__ == "__main__":
    main()
