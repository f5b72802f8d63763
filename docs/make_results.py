"""Regenerate the tables of docs/results.md from the committed results JSON files.

    python docs/make_results.py           # rewrite the tables in place
    python docs/make_results.py --check   # exit 1 if docs/results.md is out of date

Each table sits between `<!-- table:NAME -->` and `<!-- /table:NAME -->` markers;
only the text between markers is rewritten, so the prose around them is kept.
Numbers come only from the JSON files named in SOURCES.
"""
import json
import os
import re
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DOC = os.path.join(HERE, "results.md")

SOURCES = {
    "rts": "results/rts/winograd5-3seeds/results.json",
    "rts_default": "results/rts/make-demo-rst/results.json",
    "rts_search": "results/rts/cnn-search-6epochs/results.json",
    # experiment 1: how much rotation the transformer undoes, per 3-seed run (measured by the
    # run itself, or, for runs made before the demo measured it, by its --eval: eval.json)
    "rts_undone": ["results/rts/e24-3seeds/results.json",
                   "results/rts/e24-loc2-3seeds/results.json",
                   "results/rts/e24-loc0.1-stcnn/results.json",
                   "results/rts/cosine-3seeds/eval.json", "results/rts/default-3seeds/eval.json"],
    # experiment 1's training recipes (schedule, epochs, localisation lr), the same 3 seeds each
    "rts_recipes": ["results/rts/default-3seeds/results.json",
                    "results/rts/cosine-3seeds/results.json",
                    "results/rts/e24-3seeds/results.json",
                    "results/rts/e24-loc2-3seeds/results.json",
                    "results/rts/e24-loc0.1-stcnn/results.json"],
    "timeseries": "results/timeseries/numpy-blas-10seeds/results.json",
    # experiment 2: one run per seed, the same command and step count
    "addition": ["results/addition/steps18519-seed0/results.json",
                 "results/addition/steps18519-seed1/results.json",
                 "results/addition/steps18519-seed2/results.json"],
    # experiment 3 at the default budget: the sweep, and the U(-1, 1)-bias "random" setting
    # added later with the same steps
    "same_image": ["results/same_image/default-3seeds-c16/results.json",
                   "results/same_image/default-3seeds-random-uniform/results.json"],
    # experiment 3 at 3x the sweep's steps, run in parts (settings x seeds); the table
    # checks that the parts agree on every config value but those that split the work
    "same_image_3x": ["results/same_image/x3-lr-identity-seed0/results.json",
                      "results/same_image/x3-lr-identity-seeds12/results.json",
                      "results/same_image/x3-cnn-random-default-seed0/results.json",
                      "results/same_image/x3-cnn-random-default-seeds12/results.json"],
    # experiment 3 at 2x the sweep's steps: one `--minutes 120` sweep
    "same_image_2x": "results/same_image/sweep-minutes120/results.json",
    # beyond affine: the paper's distorted-MNIST table (FCN / CNN / ST-* on R, RTS, P, E)
    "distortions": "results/distortions/default-3seeds/results.json",
}
SAME_IMAGE_BUDGETS = ("same_image", "same_image_2x", "same_image_3x")   # the budget table's rows
SETTINGS = ("lr", "identity", "random-default", "random", "cnn")
# config keys that may differ between the parts of one sweep (experiment 3), or between the
# runs of experiment 2's seeds: they split the work or name
# the run (workers and threads change wall time only; a test checks workers), or are flags
# of another mode that a training sweep ignores (init_report, n_report: absent in runs made
# before they existed)
SPLIT_KEYS = {"seed", "seeds", "settings", "minutes", "steps", "run_id", "out", "overwrite",
              "workers", "threads", "init_report", "n_report"}


def renamed(r):
    """A results dict with the settings' current names: runs made before "random" meant a
    U(-1, 1) bias called the default layer init "random"; that is now "random-default"."""
    inits = r.get("theta_inits", {})
    if not isinstance(inits.get("random"), list):
        return r                                   # a U(-1, 1) run, or no random setting
    r = dict(r, theta_inits=dict(inits), config=dict(r["config"]))
    new = lambda s: "random-default" if s == "random" else s
    r["theta_inits"]["random-default"] = r["theta_inits"].pop("random")
    r["config"]["settings"] = [new(s) for s in r["config"]["settings"]]
    for key in ("summary", "param_counts"):
        r[key] = {new(s): v for s, v in r[key].items()}
    r["runs"] = {seed: {new(s): v for s, v in runs.items()} for seed, runs in r["runs"].items()}
    return r


def differ(runs, also=lambda r: None):
    """Whether runs meant to be read together differ in a config value outside SPLIT_KEYS,
    in their step count, or in also(r)."""
    def shared(r):
        return ({k: v for k, v in r["config"].items() if k not in SPLIT_KEYS}, r["steps"],
                also(r))
    return any(shared(r) != shared(runs[0]) for r in runs[1:])


def as_parts(r):
    """A sweep (its results, or its SOURCES entry) as a list of parts: a sweep run in one go
    is one part."""
    return r if isinstance(r, list) else [r]


def load(name):
    """The results dict of SOURCES[name] (a list of them for a list), or None if missing."""
    paths = as_parts(SOURCES[name])
    if not all(os.path.exists(os.path.join(ROOT, p)) for p in paths):
        return None
    found = []
    for p in paths:
        with open(os.path.join(ROOT, p)) as f:
            r = json.load(f)
        found.append(renamed(r) if r.get("demo") == "same_image" else r)
    return found if isinstance(SOURCES[name], list) else found[0]


def pct(v):
    return f"{100 * v:.2f}%"


def table_rts(r, name="rts"):
    """Experiment 1: every test set, mean ± std over the seeds (and the seeds' values)."""
    acc, sizes, models = r["test_accuracy"], r["sizes"], list(r["test_accuracy"])
    ms = lambda v: f"{pct(v['mean'])} ± {100 * v['std']:.2f}" if len(v["per_seed"]) > 1 \
        else pct(v["mean"])
    label = {"stcnn": "ST-CNN", "cnn": "CNN"}
    rows = ["| | " + " | ".join(label.get(m, m) for m in models) + " |",
            "| --- |" + " --- |" * len(models),
            "| parameters | " + " | ".join(f"{sizes[m]['parameters']:,}" for m in models) + " |",
            "| neurons (activations per image) | "
            + " | ".join(f"{sizes[m]['neurons']:,}" for m in models) + " |"]
    err = r["test_error_in_range"]
    rows.append("| **test error, training range** | " + " | ".join(
        f"**{ms(err[m])}**" for m in models) + " |")
    if len(r["seeds"]) > 1:
        rows.append("| … per seed | " + " | ".join(", ".join(pct(e) for e in err[m]["per_seed"])
                                                  for m in models) + " |")
    for k in acc[models[0]]:
        rows.append(f"| accuracy, {k} | " + " | ".join(ms(acc[m][k]) for m in models) + " |")
    rows.append("| selected epoch (validation accuracy) | " + " | ".join(", ".join(
        f"{run['selection']['epoch']} ({pct(run['selection']['val_acc'])})"
        for run in r["runs"][m].values()) for m in models) + " |")
    env, c = r["environment"], r["config"]
    jobs = {m: [run["wall_s"] / 60 for run in r["runs"][m].values()] for m in models}
    rows += ["", f"Run: `{SOURCES[name]}` — seeds {r['seeds']}, {c['epochs']} epochs of batch "
                 f"{c['batch_size']}, {c['workers']} worker processes, "
                 f"**{r['wall_time_s']['total'] / 60:.1f} min wall** in all; each (model, seed) "
                 "took " + "; ".join(f"{label.get(m, m)} " + ", ".join(f"{t:.1f}" for t in jobs[m])
                                     for m in models)
                 + f" min. {env['cpu']}, threads env {env.get('thread_env', {})}, commit "
                   f"{env.get('git_commit')}."]
    return "\n".join(rows)


def table_rts_search(r):
    """The CNN baseline search: validation only, one seed."""
    rows = ["| model | parameters | neurons | validation error, best of 6 epochs | at epoch |",
            "| --- | --- | --- | --- | --- |"]
    for m, by_seed in r["runs"].items():
        sel = by_seed["0"]["selection"]
        rows.append(f"| {m} | {r['sizes'][m]['parameters']:,} | {r['sizes'][m]['neurons']:,} | "
                    f"{pct(1 - sel['val_acc'])} | {sel['epoch']} |")
    rows += ["", f"Run: `{SOURCES['rts_search']}` — seed {r['seeds'][0]}, "
                 f"{r['config']['epochs']} epochs, 5,000 validation images, no test set touched."]
    return "\n".join(rows)


def table_rts_recipes(runs):
    """Experiment 1 under each training recipe (learning-rate schedule, localisation lr):
    validation error (what selects), then test; "—" where a run did not train a model."""
    def sched(c):
        if c.get("schedule", "step") == "cosine":
            return f"warm-up {100 * c['warmup']:.0f}%, cosine to 0"
        return "×0.1 at " + ", ".join(f"{100 * f:.0f}%" for f in c["lr_drops"])
    ms = lambda vals: "{:.2f} ± {:.2f}%".format(*(100 * v for v in mean_std(vals)))
    rows = ["| schedule | epochs | localisation lr | run | validation error, ST-CNN "
            "| validation error, CNN | test error, ST-CNN | test error, CNN "
            "| ST-CNN at 45/60/75/90° |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for path, r in zip(SOURCES["rts_recipes"], runs):
        c, models = r["config"], r["runs"]
        val = {m: ms([1 - run["selection"]["val_acc"] for run in models[m].values()])
               if m in models else "—" for m in ("stcnn", "cnn")}
        err = {m: ms(r["test_error_in_range"][m]["per_seed"]) if m in models else "—"
               for m in ("stcnn", "cnn")}
        sweep = "/".join(f"{100 * r['test_accuracy']['stcnn'][f'rot{a}']['mean']:.1f}"
                         for a in (45, 60, 75, 90)) + "%" if "stcnn" in models else "—"
        rows.append(f"| {sched(c)} | {c['epochs']} | {c['loc_lr_scale']:g}× | "
                    f"`{os.path.dirname(path)}` | "
                    f"{val['stcnn']} | {val['cnn']} | {err['stcnn']} | {err['cnn']} | {sweep} |")
    seeds = sorted({tuple(r["seeds"]) for r in runs})
    rows += ["", f"Seeds {', '.join(map(str, seeds))}; errors are mean ± std over the seeds "
                 "(validation: the selected epoch's). The localisation lr does not touch the CNN, "
                 "which has no localisation net."]
    return "\n".join(rows)


def table_rts_undone(runs):
    """The ST-CNN's undone rotation per angle: median fraction (mean ± std over seeds), and
    the mean in degrees; one row per run."""
    angles = list(runs[0]["rotation_undone"]["stcnn"])
    rows = ["| run (schedule) | " + " | ".join(f"{a}°" for a in angles) + " |",
            "| --- |" + " --- |" * len(angles)]
    for path, r in zip(SOURCES["rts_undone"], runs):
        u, trained = r["rotation_undone"]["stcnn"], r["config"]
        if r["mode"] == "eval":          # --eval's config holds the eval call's flags: read the
            with open(os.path.join(ROOT, os.path.dirname(path), "results.json")) as f:
                trained = json.load(f)["config"]                          # training run's
        recipe = f"{trained.get('schedule', 'step')}, {trained['epochs']} epochs"
        if trained["loc_lr_scale"] != 1:
            recipe += f", localisation lr {trained['loc_lr_scale']:g}×"
        rows.append(f"| `{os.path.dirname(path)}` ({recipe}) | "
                    + " | ".join(f"{u[a]['mean']:.2f} ± {u[a]['std']:.2f} "
                                 f"({float(a) * u[a]['mean']:.0f}°)" for a in angles) + " |")
    rows += ["", "Fraction of a rotation of ±a undone (median over 2,000 test digits; mean ± std "
                 f"over seeds {runs[0]['seeds']}), and in brackets the mean in degrees. Measured "
                 "by the run itself (results.json), or for runs made before the demo did, by "
                 "`python demos/rts.py --eval results/rts/<run> --seeds 3` (eval.json)."]
    return "\n".join(rows)


def table_timeseries(r):
    s = r["summary"]
    ms = lambda v: f"{v['mean']:.4f} ± {v['std']:.4f}"
    rows = ["| model | params | test AUROC (mean ± std) | test AUPRC | val AUROC | best epoch |",
            "| --- | --- | --- | --- | --- | --- |"]
    for m, v in s.items():
        rows.append(f"| {m} | {r['param_counts'][m]:,} | {ms(v['test_auroc'])} | "
                    f"{ms(v['test_auprc'])} | {ms(v['val_auroc'])} | {v['best_epoch']['mean']:.1f} |")
    rows += ["", "| paired bootstrap on set b | ΔAUROC | 95% interval | share of resamples with Δ > 0 |",
             "| --- | --- | --- | --- |"]
    for name, d in r["comparisons"].items():
        lo, hi = d["auroc_diff_ci"]
        rows.append(f"| {name.replace('_vs_', ' − ')} | {d['auroc_diff']:+.4f} | "
                    f"[{lo:+.4f}, {hi:+.4f}] | {d['auroc_frac_positive']:.2f} |")
    env = r["environment"]
    rows += ["", f"Run: `{SOURCES['timeseries']}` — seeds {r['config']['seeds']}, "
                 f"{r['wall_time_s']['total'] / 60:.1f} min in all, {env['cpu']}, "
                 f"threads env {env.get('thread_env', {})}."]
    return "\n".join(rows)


def table_addition(runs):
    """One row per model over experiment 2's runs, one run per seed, whose configs agree on
    everything but the keys that split the work (the seed, the run's name)."""
    runs = as_parts(runs)

    def threads(r):                                       # BLAS/Numba threads can move bits
        return r["environment"].get("thread_env")
    if differ(runs, threads):
        raise ValueError("experiment 2's runs differ beyond their seeds")
    seeds = [r["seed"] for r in runs]
    if len(set(seeds)) < len(seeds):
        raise ValueError(f"experiment 2 has a seed twice: {seeds}")
    rows = ["| model | params | test accuracy (10,000 pairs), mean ± std | per seed | "
            "selected at step (val acc), per seed |", "| --- | --- | --- | --- | --- |"]
    for m in runs[0]["test_accuracy"]:
        acc = [r["test_accuracy"][m] for r in runs]
        mean, std = mean_std(acc)
        sel = ", ".join(f"{r['selection'][m]['step']} ({pct(r['selection'][m]['val_acc'])})"
                        for r in runs)
        rows.append(f"| {m} | {runs[0]['param_counts'][m]:,} | {pct(mean)} ± {100 * std:.2f} | "
                    + ", ".join(f"{k}: {pct(a)}" for k, a in zip(seeds, acc)) + f" | {sel} |")
    r0 = runs[0]
    rows += ["", f"Runs: {', '.join(f'`{p}`' for p in SOURCES['addition'])} — seeds "
                 f"{', '.join(map(str, seeds))}, {r0['steps']:,} steps of batch "
                 f"{r0['config']['batch_size']} ({r0['pairs_seen']:,} pairs) each, training "
                 + ", ".join(f"{r['wall_time_s']['train'] / 60:.1f}" for r in runs)
                 + f" min with {r0['config'].get('workers', 1)} worker processes, "
                 f"at {', '.join(sorted({r['environment']['git_commit'] for r in runs}))}, "
                 f"{', '.join(sorted({r['environment']['cpu'] for r in runs}))}, "
                 f"threads env {threads(r0) or {}}."]
    return "\n".join(rows)


def table_same_image(parts, name="same_image"):
    """One row per setting of a sweep (or of a sweep run in parts), in SETTINGS order."""
    parts = as_parts(parts)
    acc = seed_accuracies(parts)
    rows = ["| init | params | test accuracy, mean ± std | per seed | talk |",
            "| --- | --- | --- | --- | --- |"]
    for s in [s for s in SETTINGS if s in acc]:
        r = next(r for r in parts if s in r["summary"])
        mean, std = mean_std([acc[s][k] for k in sorted(acc[s])])
        seeds = ", ".join(pct(acc[s][k]) for k in sorted(acc[s]))
        rows.append(f"| {s} | {r['param_counts'][s]:,} | {pct(mean)} ± {100 * std:.2f} | "
                    f"{seeds} | {r['summary'][s]['talk'] * 100:.0f}% |")
    rows.append("")
    for p, r in zip(as_parts(SOURCES[name]), parts):
        env = r["environment"]
        rows.append(f"Run: `{p}` — {', '.join(r['config']['settings'])}; seeds {r['seeds']}, "
                    f"{r['steps']:,} steps of batch {r['config']['batch_size']} per run, "
                    f"{r['wall_time_s']['total'] / 60:.1f} min on {r['config']['workers']} "
                    f"worker(s), {env['cpu']}, threads env {env.get('thread_env', {})}.")
    return "\n".join(rows)


def seed_accuracies(parts):
    """{setting: {seed: test accuracy}} of one sweep, or of a sweep run in parts (a list)
    whose configs agree on everything but the keys that split the work."""
    parts = as_parts(parts)
    if differ(parts):
        raise ValueError("the parts of a sweep differ beyond seeds and settings")
    acc = {}
    for r in parts:
        for seed, runs in r["runs"].items():
            for s, run in runs.items():
                if int(seed) in acc.setdefault(s, {}):
                    raise ValueError(f"the sweep has {s} seed {seed} twice")
                acc[s][int(seed)] = run["test_acc"]
    return acc


def mean_std(values):
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def table_same_image_3x(parts):
    """One row per setting, gathered from runs made in parts with otherwise equal configs."""
    acc = seed_accuracies(parts)
    rows = ["| init | per seed | test accuracy, mean ± std | talk |", "| --- | --- | --- | --- |"]
    for s in [s for s in SETTINGS if s in acc]:
        seeds = sorted(acc[s])
        mean, std = mean_std([acc[s][k] for k in seeds])
        talk = next(r["summary"][s]["talk"] for r in parts if s in r["summary"])
        rows.append(f"| {s} | " + ", ".join(f"{k}: {pct(acc[s][k])}" for k in seeds)
                    + f" | {pct(mean)} ± {100 * std:.2f} | {100 * talk:.0f}% |")
    rows += ["", f"Runs: {', '.join(f'`{p}`' for p in SOURCES['same_image_3x'])} — "
                 f"{parts[0]['steps']:,} steps of batch {parts[0]['config']['batch_size']} per run."]
    return "\n".join(rows)


def table_same_image_budget(sweeps):
    """Mean ± std per setting against the steps each run trained, one row per sweep."""
    rows = ["| steps per run | wall time | " + " | ".join(SETTINGS) + " | order of the means |",
            "| --- | --- | " + " | ".join("---" for _ in SETTINGS) + " | --- |"]
    for r in sweeps.values():
        acc = seed_accuracies(r)
        means = {s: mean_std(list(acc[s].values())) for s in SETTINGS if s in acc}
        order = " > ".join(sorted(means, key=lambda s: -means[s][0]))
        parts = as_parts(r)
        minutes = sum(p["wall_time_s"]["total"] for p in parts) / 60
        wall = f"{minutes:.0f} min" + (f" in {len(parts)} parts" if len(parts) > 1 else "")
        rows.append(f"| {parts[0]['steps']:,} | {wall} | "
                    + " | ".join(f"{100 * means[s][0]:.2f} ± {100 * means[s][1]:.2f}"
                                 if s in means else "—" for s in SETTINGS)
                    + f" | {order} |")
    return "\n".join(rows)


def table_distortions(r):
    """Test error mean ± std over seeds per model and distortion, the paper's beside it, and
    the two checks the issue asks for: each ST model against its own base model, and which
    transformer is best on E."""
    dists = list(r["distortions"])
    order = list(r["paper"])                       # R, RTS, P, E as in the paper's table
    err, std, paper = r["test_error"], r["test_error_std"], r["paper"]
    cell = lambda m, d: (f"{100 * err[m][d]:.2f} ± {100 * std[m][d]:.2f} "
                         f"({paper[m][['R', 'RTS', 'P', 'E'].index(d)]:.1f})")
    rows = ["| model | params (R) | " + " | ".join(dists) + " |",
            "| --- | --- | " + " | ".join("---" for _ in dists) + " |"]
    params = {x["model"]: x["params"] for x in r["runs"] if x["distortion"] == dists[0]}
    for m in [m for m in order if m in err]:
        rows.append(f"| {m} | {params[m]:,} | " + " | ".join(cell(m, d) for d in dists) + " |")
    rows += ["", "| check | " + " | ".join(dists) + " |",
             "| --- | " + " | ".join("---" for _ in dists) + " |"]
    for m in [m for m in order if m.startswith("st-") and m in err]:
        base = "cnn" if "cnn" in m else "fcn"
        marks = [("yes" if err[m][d] < err[base][d] else "**no**") +
                 f" ({100 * (err[m][d] - err[base][d]):+.2f})" for d in dists]
        rows.append(f"| {m} < {base} | " + " | ".join(marks) + " |")
    for fam in ("st-fcn", "st-cnn"):
        kinds = [m for m in err if m.startswith(fam + "-")]
        if kinds:
            best = [min(kinds, key=lambda m: err[m][d]).rsplit("-", 1)[1] for d in dists]
            rows.append(f"| best {fam.upper()} transformer | " + " | ".join(best) + " |")
    env = r["environment"]
    rows += ["", f"Run: `{SOURCES['distortions']}` — {r['steps']:,} steps of batch "
                 f"{r['config']['batch_size']} per cell, seeds {r['seeds']}, test error on "
                 f"{r['config'].get('n_test') or 10000:,} distorted test digits (the paper's in "
                 f"brackets), {r['wall_time_s']['total'] / 60:.1f} min in all with "
                 f"{r['config']['workers']} worker processes, {env['cpu']}, commit "
                 f"{env.get('git_commit', '?')}."]
    return "\n".join(rows)


TABLES = {"rts": table_rts, "rts_default": lambda r: table_rts(r, "rts_default"),
          "rts_search": table_rts_search, "rts_recipes": table_rts_recipes,
          "rts_undone": table_rts_undone,
          "timeseries": table_timeseries, "addition": table_addition,
          "same_image": table_same_image,
          "same_image_2x": lambda r: table_same_image(r, "same_image_2x"),
          "same_image_3x": table_same_image_3x, "same_image_budget": table_same_image_budget,
          "distortions": table_distortions}


def load_budgets(_name):
    """{source name: its results} of every experiment-3 budget, or None if any is missing."""
    sweeps = {n: load(n) for n in SAME_IMAGE_BUDGETS}
    return None if any(r is None for r in sweeps.values()) else sweeps


LOADERS = {"same_image_budget": load_budgets}                # the rest: load(name)


def render(text):
    for name, fn in TABLES.items():
        r = LOADERS.get(name, load)(name)
        body = fn(r) if r is not None else \
            f"*(no results file at `{SOURCES.get(name, SAME_IMAGE_BUDGETS)}` yet)*"
        text = re.sub(rf"(<!-- table:{name} -->\n)(?:.*?\n)?(<!-- /table:{name} -->)",
                      lambda m: m.group(1) + body + "\n" + m.group(2), text, flags=re.S)
    return text


def main(argv):
    with open(DOC) as f:
        old = f.read()
    new = render(old)
    if "--check" in argv:
        if new != old:
            print("docs/results.md is out of date: run python docs/make_results.py")
            return 1
        return 0
    with open(DOC, "w") as f:
        f.write(new)
    print(f"updated {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
