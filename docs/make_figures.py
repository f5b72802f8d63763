"""Draw the figures of docs/stn.md and docs/results.md into docs/figures/ (run by `make docs`)."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import minstn  # noqa: E402
import minstn.functional as F  # noqa: E402
from minstn.data import mnist  # noqa: E402
from minstn.data.distort import place  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "figures")


def to_pixels(grid, size):
    """Normalised (x, y) → pixel positions (align_corners=False)."""
    return ((grid + 1) * size - 1) / 2


def grid_overlay():
    img, _ = mnist.load("test")
    x = place(img[:1], 42)                                    # (1, 1, 42, 42)
    theta = np.array([[[0.7, -0.3, 0.1], [0.3, 0.7, 0.0]]], np.float32)
    ident = np.array([[[1, 0, 0], [0, 1, 0]]], np.float32)
    n = 12                                                    # draw a 12×12 grid of points
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
    for ax, th, title in ((axes[0], ident, "identity grid on the input"),
                          (axes[1], theta, "grid of θ on the input")):
        g = F.affine_grid(minstn.Tensor(th), (1, 1, n, n)).data[0]   # (n, n, 2)
        p = to_pixels(g, 42)
        ax.imshow(x[0, 0], cmap="gray")
        ax.plot(p[..., 0], p[..., 1], "-", color="tab:orange", lw=0.6)
        ax.plot(p[..., 0].T, p[..., 1].T, "-", color="tab:orange", lw=0.6)
        ax.scatter(p[0, 0, 0], p[0, 0, 1], color="tab:red", s=20, zorder=3, label="output (0, 0)")
        ax.set_title(title, fontsize=9)
        ax.set_xlim(-0.5, 41.5), ax.set_ylim(41.5, -0.5)
    axes[0].legend(fontsize=7, loc="lower right")
    out = F.affine_grid_sample(minstn.Tensor(x), minstn.Tensor(theta), (1, 1, 42, 42)).data
    axes[2].imshow(out[0, 0], cmap="gray")
    axes[2].set_title("output: the input read at the grid", fontsize=9)
    for a in axes:
        a.set_xticks([]), a.set_yticks([])
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "grid_overlay.png"), dpi=90)
    plt.close(fig)


def align_corners():
    fig, axes = plt.subplots(1, 2, figsize=(9, 2.2))
    size = 4
    for ax, ac in zip(axes, (True, False)):
        for i in range(size):
            ax.add_patch(plt.Rectangle((i - 0.5, -0.5), 1, 1, fill=False, color="gray"))
            ax.plot(i, 0, "o", color="tab:blue")
        for c in (-1.0, 1.0):
            p = (c + 1) * (size - 1) / 2 if ac else ((c + 1) * size - 1) / 2
            ax.axvline(p, color="tab:red", lw=2)
            ax.text(p, 0.62, f"{c:+.0f}", color="tab:red", ha="center")
        ax.set_title(f"align_corners={ac}: -1 and +1 at the " +
                     ("corner pixel centres" if ac else "outer pixel edges"), fontsize=9)
        ax.set_xlim(-1, size), ax.set_ylim(-0.8, 0.9), ax.set_yticks([])
        ax.set_xticks(range(size)), ax.set_xlabel("pixel index", fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "align_corners.png"), dpi=90)
    plt.close(fig)


def three_grids():
    """One digit under an affine, a projective and a thin-plate-spline grid: the points each
    grid reads (top) and the view the sampler returns (bottom)."""
    img, _ = mnist.load("test")
    x = minstn.Tensor(place(img[:1], 42))                     # (1, 1, 42, 42)
    size = (1, 1, 42, 42)
    affine = np.array([[[0.75, -0.25, 0.05], [0.25, 0.75, 0.0]]], np.float32)
    homography = np.array([[[0.8, -0.1, 0.0], [0.05, 0.7, 0.0], [0.25, 0.35, 1.0]]], np.float32)
    offsets = 0.12 * np.random.default_rng(3).standard_normal((1, 16, 2)).astype(np.float32)
    grids = {"affine θ (2×3)": F.affine_grid(minstn.Tensor(affine), size),
             "projective θ (3×3)": F.projective_grid(minstn.Tensor(homography), size),
             "TPS, 4×4 control points": F.tps_grid(minstn.Tensor(offsets), size)}
    fig, axes = plt.subplots(2, 3, figsize=(9, 6))
    for col, (title, grid) in enumerate(grids.items()):
        p = to_pixels(grid.numpy()[0], 42)[::3, ::3]          # every third point
        axes[0, col].imshow(x.numpy()[0, 0], cmap="gray")
        axes[0, col].plot(p[..., 0], p[..., 1], "-", color="tab:orange", lw=0.6)
        axes[0, col].plot(p[..., 0].T, p[..., 1].T, "-", color="tab:orange", lw=0.6)
        if "TPS" in title:
            from minstn.ops.grids import control_points
            src = to_pixels(control_points((4, 4)) + offsets[0], 42)
            axes[0, col].plot(src[:, 0], src[:, 1], "o", ms=3, color="tab:red")
        axes[0, col].set_title(title, fontsize=9)
        axes[1, col].imshow(F.grid_sample(x, grid).numpy()[0, 0], cmap="gray")
        axes[1, col].set_title("sampled view", fontsize=9)
    for a in axes.flat:
        a.set_xticks([]), a.set_yticks([]), a.set_xlim(-1, 42), a.set_ylim(42, -1)
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "three_grids.png"), dpi=80)
    plt.close(fig)


def same_image_budget():
    """Experiment 3: test accuracy (mean ± sample std over seeds) against the steps each
    run trained, from the committed sweeps make_results.py tabulates; the talk's numbers
    dashed. Left: every setting; right: LR, identity and the CNN, zoomed in."""
    import make_results as R
    sweeps = R.load_budgets(None)
    if sweeps is None:
        print("same_image_budget: a results file is missing, figure not drawn")
        return
    first = [R.as_parts(r)[0] for r in sweeps.values()]
    steps = [r["steps"] for r in first]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    colors = ("tab:blue", "tab:orange", "tab:gray", "tab:purple", "tab:green")
    for s, color in zip(R.SETTINGS, colors):
        accs = [R.seed_accuracies(r).get(s) for r in sweeps.values()]     # None: not run
        at = [(n, R.mean_std(list(a.values()))) for n, a in zip(steps, accs) if a]
        x = [n for n, _ in at]
        mean, std = (100 * np.array([v[i] for _, v in at]) for i in (0, 1))
        talk = 100 * next(p["summary"][s]["talk"] for r in sweeps.values()
                          for p in R.as_parts(r) if s in p["summary"])
        for ax in axes if not s.startswith("random") else axes[:1]:
            ax.errorbar(x, mean, yerr=std, marker="o", capsize=3, color=color, label=s)
            ax.axhline(talk, ls="--", lw=0.8, color=color)
    axes[0].set_ylim(0, 100), axes[0].legend(fontsize=8, loc="center right")
    axes[0].set_title("all settings (dashed: the talk's numbers)", fontsize=9)
    axes[1].set_ylim(84, 98)
    axes[1].set_title("zoom: LR, identity, CNN", fontsize=9)
    for ax in axes:
        ax.set_xlabel("training steps per run (batch 32)"), ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (%), mean ± std of seeds")
    fig.suptitle("Experiment 3, addition in one image: accuracy against training length",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "same_image_budget.png"), dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    grid_overlay()
    align_corners()
    three_grids()
    same_image_budget()
    print(f"wrote figures to {OUT}")
