"""A five-minute tour of a spatial transformer, on real MNIST, in four stops.

    python demos/tour.py             # or: make tour  (≈ 2 minutes on one core)
    python demos/tour.py --smoke     # seconds, on a few images (CI runs this)

Read it top to bottom. Each stop saves a figure (docs/figures/tour_*.png by
default), prints one sentence of what to notice, and names the code to read next.
  1. the grid: where an affine θ tells the sampler to read, and what it reads;
  2. the gradient with respect to θ: the op's backward against finite differences;
  3. why a blank view cannot learn: the gradient is the image's slope;
  4. a small ST-CNN trained on rotated digits: the transformer learns to undo the
     rotation it is shown.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import minstn  # noqa: E402
import minstn.functional as F  # noqa: E402
from minstn import cli, experiment, optim  # noqa: E402
from minstn.data import mnist  # noqa: E402
from minstn.data.distort import RTS, place, rts_distort  # noqa: E402
from minstn.models import STCNN  # noqa: E402
from minstn.train import accuracy, progress  # noqa: E402

STEPS = 5000                  # stop 4: training steps of batch 64 (≈ 1.5 minutes on one core)
ROTATION = 60.0               # stop 4: digits rotated uniformly in ±ROTATION degrees
SEED = 0
THETA = np.array([[0.8, -0.3, 0.15], [0.3, 0.8, -0.1]])      # a rotate-zoom-shift to look at


def say(stop, notice, read):
    print(f"\n[{stop}] {notice}\n    read next: {read}", flush=True)


def savefig(fig, out, name):
    path = os.path.join(out, name)
    fig.tight_layout()
    experiment.save_figure(fig, path, dpi=90)
    return path


# ---- stop 1: the grid ----------------------------------------------------------
def grid_and_sample(image, theta):
    """image (28, 28) float, theta (2, 3) → grid (28, 28, 2) in [-1, 1], sampled view (28, 28)."""
    x = minstn.Tensor(image[None, None].astype(np.float32))                   # (1, 1, 28, 28)
    t = minstn.Tensor(theta[None].astype(np.float32))                         # (1, 2, 3)
    grid = F.affine_grid(t, (1, 1, 28, 28), align_corners=False)              # (1, 28, 28, 2)
    view = F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)  # (1, 1, 28, 28)
    return grid.numpy()[0], view.numpy()[0, 0]


def to_pixels(grid, size=28):
    """Normalised (x, y) in [-1, 1] → pixel coordinates (align_corners=False: pixel centres)."""
    return ((grid + 1) * size - 1) / 2


# ---- stop 2: the gradient with respect to θ ------------------------------------------
def sampled_loss(image, theta, weights, grid=None):
    """L(θ) = Σ_p w_p · sample(image, grid(θ))_p in float64, and the θ tensor. With `grid`
    (a leaf Tensor (1, H, W, 2)) the sampler reads there instead, to get dL/dgrid."""
    x = minstn.Tensor(image[None, None].astype(np.float64))
    t = minstn.Tensor(theta[None].astype(np.float64), requires_grad=True)
    if grid is None:
        grid = F.affine_grid(t, (1, 1) + image.shape, align_corners=False)    # (1, H, W, 2)
    view = F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)
    return (view * minstn.Tensor(weights[None, None])).sum(), t


def theta_gradient(image, theta, weights, eps=1e-6):
    """dL/dθ (2, 3) two ways: the ops' backward, and central differences on each entry;
    plus the per-pixel contribution to dL/dθ_00 (H, W)."""
    loss, t = sampled_loss(image, theta, weights)
    loss.backward()
    analytic = np.asarray(t.grad)[0]
    grid = minstn.Tensor(F.affine_grid(minstn.Tensor(theta[None]), (1, 1) + image.shape,
                                       align_corners=False).numpy(), requires_grad=True)
    sampled_loss(image, theta, weights, grid)[0].backward()              # grid.grad (1, H, W, 2)
    numeric = np.zeros_like(theta)
    for i in np.ndindex(theta.shape):
        up, down = theta.copy(), theta.copy()
        up[i] += eps
        down[i] -= eps
        numeric[i] = (sampled_loss(image, up, weights)[0].item()
                      - sampled_loss(image, down, weights)[0].item()) / (2 * eps)
    # x_src = θ00 x + θ01 y + θ02 at every output pixel, so pixel p adds dL/dx_src(p) · x_p
    h, w = image.shape
    xs = (2 * np.arange(w) + 1) / w - 1                                   # output x, (W,)
    per_pixel = np.asarray(grid.grad)[0, :, :, 0] * xs[None, :]          # (H, W)
    return analytic, numeric, per_pixel


# ---- stop 4: a small ST-CNN on rotated digits ---------------------------------------
def rotated(images, rng, rotation):
    """uint8 (N, 28, 28) → float32 (N, 1, 28, 28) rotated by U(±rotation)°, and the angles."""
    x, p = rts_distort(images, rng, RTS(rotation, 0.0, (1.0, 1.0)), canvas=28, return_params=True)
    return x, p["angle"]


def theta_angle(theta):
    """The rotation (degrees) in θ (N, 2, 3) = s·R(a) (+ shear): atan2(θ10, θ00)."""
    return np.degrees(np.arctan2(theta[:, 1, 0], theta[:, 0, 0]))


def train_stcnn(args, train_x, train_y):
    rng = np.random.default_rng([args.seed, 1])
    model = STCNN(canvas=28, st_out=28, channels=(16, 32), hidden=64, dropout=0.0,
                  generator=np.random.default_rng(args.seed))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    sched = optim.StepLR(opt, [int(0.8 * args.steps)], 0.1)
    bar = progress(range(args.steps), "stop 4: training")
    for step in bar:
        idx = rng.integers(0, len(train_x), 64)
        x, _ = rotated(train_x[idx], rng, args.rotation)                  # (64, 1, 28, 28)
        loss = F.cross_entropy(model(minstn.Tensor(x)), train_y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 99:
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    return model


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=cli.positive_int, default=STEPS)
    p.add_argument("--rotation", type=cli.nonneg_float, default=ROTATION)
    p.add_argument("--seed", type=cli.nonneg_int, default=SEED)
    p.add_argument("--out", default="docs/figures", help="folder for the figures")
    p.add_argument("--smoke", action="store_true", help="a few steps and images (CI)")
    args = p.parse_args(argv)
    if args.smoke:
        args.steps = 20
    return args


def main(argv=None):
    args = parse_args(argv)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    train_x, train_y = mnist.load("train")
    test_x, test_y = mnist.load("test")
    digit = place(test_x[:1], canvas=28)[0, 0].astype(np.float64)          # (28, 28) in [0, 1]

    # 1. The grid. θ maps each output pixel's (x, y) to where the sampler reads the input.
    fig, axes = plt.subplots(1, 4, figsize=(11, 3))
    for col, (name, theta) in enumerate((("identity", np.array([[1., 0, 0], [0, 1, 0]])),
                                         ("θ", THETA))):
        grid, view = grid_and_sample(digit, theta)
        px = to_pixels(grid)[::3, ::3]                                     # every third point
        axes[2 * col].imshow(digit, cmap="gray")
        axes[2 * col].plot(px[..., 0].ravel(), px[..., 1].ravel(), ".", ms=3, color="tab:red")
        axes[2 * col].set_title(f"{name}: where the grid reads", fontsize=9)
        axes[2 * col + 1].imshow(view, cmap="gray")
        axes[2 * col + 1].set_title(f"{name}: the sampled view", fontsize=9)
    for a in axes:
        a.set_xticks([]), a.set_yticks([])
    path = savefig(fig, args.out, "tour_1_grid.png")
    plt.close(fig)
    say(1, f"The identity grid reads every pixel where it is; θ's grid is rotated, smaller and "
           f"shifted, so its view shows the digit turned and enlarged ({path}).",
        "minstn/ops/sampling.py: affine_grid and grid_sample, then docs/stn.md")

    # 2. The gradient. L = Σ w·view; backward through grid_sample and affine_grid gives dL/dθ.
    weights = np.random.default_rng(args.seed).standard_normal(digit.shape)
    analytic, numeric, per_pixel = theta_gradient(digit, THETA, weights)
    print("    dL/dθ by backward:           ", np.array2string(analytic.ravel(), precision=6))
    print("    dL/dθ by central differences:", np.array2string(numeric.ravel(), precision=6))
    fig, axes = plt.subplots(1, 3, figsize=(9.5, 3))
    axes[0].imshow(digit, cmap="gray"), axes[0].set_title("input", fontsize=9)
    axes[1].imshow(grid_and_sample(digit, THETA)[1], cmap="gray")
    axes[1].set_title("the view of θ", fontsize=9)
    lim = np.abs(per_pixel).max()
    im = axes[2].imshow(per_pixel, cmap="RdBu", vmin=-lim, vmax=lim)
    axes[2].set_title("each view pixel's share of dL/dθ₀₀", fontsize=9)
    fig.colorbar(im, ax=axes[2], fraction=0.046)
    for a in axes:
        a.set_xticks([]), a.set_yticks([])
    path = savefig(fig, args.out, "tour_2_gradient.png")
    plt.close(fig)
    say(2, f"Backward and finite differences agree to {np.abs(analytic - numeric).max():.1e}; "
           f"only pixels that read the digit's edges contribute ({path}).",
        "minstn/kernels/cpu/grid_sample.py (the backward) and minstn/autograd/gradcheck.py")

    # 3. A blank view. Zoom into an empty corner: every sample is 0, and so is its slope.
    corner = np.array([[0.1, 0.0, -0.85], [0.0, 0.1, -0.85]])
    blank_grad, _, per_pixel_blank = theta_gradient(digit, corner, weights)
    fig, axes = plt.subplots(1, 2, figsize=(6.5, 3))
    grid, view = grid_and_sample(digit, corner)
    px = to_pixels(grid)
    axes[0].imshow(digit, cmap="gray")
    axes[0].plot(px[..., 0].ravel(), px[..., 1].ravel(), ".", ms=1, color="tab:red")
    axes[0].set_title("a window on blank paper", fontsize=9)
    axes[1].imshow(per_pixel_blank, cmap="RdBu", vmin=-lim, vmax=lim)
    axes[1].set_title("its dL/dθ₀₀ shares", fontsize=9)
    for a in axes:
        a.set_xticks([]), a.set_yticks([])
    path = savefig(fig, args.out, "tour_3_blank.png")
    plt.close(fig)
    say(3, f"On a blank view |dL/dθ| = {np.abs(blank_grad).max():.1e}: the sampler's gradient is "
           f"the image's slope, so a transformer that starts off the digit never moves ({path}).",
        "docs/results.md, experiment 3 (random-default init)")

    # 4. A small ST-CNN on digits rotated by up to ±rotation degrees.
    n_test = 64 if args.smoke else 2000
    model = train_stcnn(args, train_x, train_y)
    tx, angle = rotated(test_x[:n_test], np.random.default_rng([args.seed, 2]), args.rotation)
    acc = accuracy(model, tx, test_y[:n_test])
    model.eval()
    with minstn.no_grad():
        views = model.transformers[0](minstn.Tensor(tx)).numpy()           # (n, 1, 28, 28)
    learned = theta_angle(model.transformers[0].theta.numpy())
    slope = np.polyfit(angle, learned, 1)[0]
    fig = plt.figure(figsize=(11, 3.4))
    gs = fig.add_gridspec(2, 9, width_ratios=[1] * 5 + [0.3] + [1.2] * 3)
    for c in range(5):
        for r, img in enumerate((tx, views)):
            a = fig.add_subplot(gs[r, c])
            a.imshow(img[c, 0], cmap="gray"), a.set_xticks([]), a.set_yticks([])
            a.set_title(f"input {angle[c]:+.0f}°" if r == 0 else "its view", fontsize=8)
    a = fig.add_subplot(gs[:, 6:])
    a.plot(angle, learned, ".", ms=2, alpha=0.5)
    a.plot([-args.rotation, args.rotation], [-args.rotation, args.rotation], "k--", lw=0.8,
           label="fully undone")
    a.set_xlabel("applied rotation (°)"), a.set_ylabel("rotation in the learned θ (°)")
    a.set_title(f"slope {slope:.2f}, test accuracy {100 * acc:.1f}%", fontsize=9)
    a.legend(fontsize=8), a.grid(alpha=0.3)
    path = savefig(fig, args.out, "tour_4_stcnn.png")
    plt.close(fig)
    say(4, f"After {args.steps} steps, the rotation in the learned θ against the applied one has "
           f"slope {slope:.2f} (1: every rotation undone, 0: none; the views in the figure "
           f"show how upright the classifier sees the digits); test accuracy "
           f"{100 * acc:.1f}% ({path}).",
        "minstn/nn/spatial.py (SpatialTransformer), then demos/rts.py (experiment 1)")
    print(f"\ntour done in {time.time() - t0:.0f} s")
    return {"analytic": analytic, "numeric": numeric, "blank_grad": blank_grad,
            "slope": slope, "accuracy": acc, "seconds": time.time() - t0}


if __name__ == "__main__":
    main()
