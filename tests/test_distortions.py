"""The paper's four distortions honour their parameters (minstn/data/distortions.py)."""
import numpy as np
import pytest

import minstn.functional as F
from minstn import Tensor
from minstn.data import distortions as D


def _square(side=12, size=28):
    img = np.zeros((1, size, size), np.uint8)
    lo = (size - side) // 2
    img[0, lo:lo + side, lo:lo + side] = 255
    return img


def test_homography_maps_each_point_where_asked(rng):
    src = np.repeat(D.CORNERS[None], 3, 0)
    dst = src * 0.8 + 0.1 * rng.standard_normal((3, 4, 2))
    theta = D.homography(src, dst)
    uvw = np.einsum("nij,nkj->nki", theta, np.concatenate([src, np.ones((3, 4, 1))], -1))
    np.testing.assert_allclose(uvw[..., :2] / uvw[..., 2:], dst, atol=1e-12)


def test_projective_distortion_reads_the_corners_it_drew(rng):
    out, p = D.projective_distort(np.repeat(_square(), 4, 0), rng, return_params=True)
    assert out.shape == (4, 1, 28, 28) and out.dtype == np.float32
    assert np.all((0.75 <= p["scale"]) & (p["scale"] <= 1.0))
    # the grid's corner points (align_corners=True puts them exactly on ±1) are the reads
    grid = F.projective_grid(Tensor(p["theta"]), (4, 1, 2, 2), align_corners=True).numpy()
    np.testing.assert_allclose(grid.reshape(4, 4, 2)[:, [0, 1, 3, 2]], p["corner_reads"],
                               atol=1e-9)
    noise = p["corner_reads"] - D.CORNERS[None] / p["scale"][:, None, None]
    assert np.abs(noise).max() < 0.6                                     # σ = 0.1


def test_elastic_distortion_moves_the_control_points_within_the_amplitude(rng):
    out, p = D.elastic_distort(np.repeat(_square(), 5, 0), rng, amplitude=0.15,
                               return_params=True)
    assert out.shape == (5, 1, 28, 28)
    assert p["offsets"].shape == (5, 16, 2) and np.abs(p["offsets"]).max() <= 0.15
    assert np.abs(p["offsets"]).max() > 0.1
    # small offsets keep the square's ink mass roughly, but move its pixels
    ink = out.sum(axis=(1, 2, 3))
    assert np.all(np.abs(ink / (144) - 1) < 0.35)
    assert not np.allclose(out[0], out[1])


def test_rts_anywhere_keeps_the_digit_on_the_canvas(rng):
    out, p = D.rts_distort_anywhere(np.repeat(_square(16), 50, 0), rng, return_params=True)
    assert out.shape == (50, 1, 42, 42)
    assert np.all(np.abs(p["angle"]) <= 45) and np.all((0.7 <= p["scale"]) & (p["scale"] <= 1.2))
    assert np.abs(p["shift"]).max() > 0.2                                  # placed anywhere
    # no ink lost off the canvas: the square's mass is scale² · 256 (bilinear keeps it closely)
    np.testing.assert_allclose(out.sum(axis=(1, 2, 3)), 256 * p["scale"] ** 2, rtol=0.05)


@pytest.mark.parametrize("name, side", [("R", 28), ("RTS", 42), ("P", 28), ("E", 28)])
def test_every_distortion_is_seeded_and_sized(name, side):
    img = np.repeat(_square(), 3, 0)
    a = D.distort(name, img, np.random.default_rng(1))
    b = D.distort(name, img, np.random.default_rng(1))
    assert a.shape == (3, 1, side, side)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="distortion must be one of"):
        D.distort("Z", img, np.random.default_rng(1))


@pytest.mark.skipif(not __import__("os").environ.get("MINSTN_DATA"), reason="needs real MNIST")
def test_distortions_demo_smoke(tmp_path):
    import json
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                    "demos"))
    import distortions as demo
    res = demo.main(["--smoke", "--out", str(tmp_path), "--run-id", "s", "--seeds", "2"])
    saved = json.loads((tmp_path / "s" / "results.json").read_text())
    assert set(saved["test_error"]) == {"fcn", "st-cnn-tps"} and saved["steps"] == 3
    assert saved["seeds"] == [0, 1] and len(saved["runs"]) == 2 * 2
    for m, errs in saved["test_error"].items():        # the mean of the two seeds' runs
        per_seed = [r["test_error"] for r in saved["runs"] if r["model"] == m]
        assert errs["E"] == pytest.approx(np.mean(per_seed))
        assert saved["test_error_std"][m]["E"] == pytest.approx(np.std(per_seed, ddof=1))
    assert (tmp_path / "s" / "E_fcn_seed1.npz").exists()
    assert saved["distortions"]["E"] == {"ctrl": [4, 4], "amplitude": 0.15, "canvas": 28}
    assert (tmp_path / "s" / "transformed.png").stat().st_size > 1000
    args = demo.parse_args([])
    for d, spec in D.DISTORTIONS.items():                 # comparable sizes in each family
        n = {m: demo.make_model(m, args, spec["canvas"], 0).num_parameters() for m in demo.MODELS}
        for m in demo.MODELS:
            base = n["cnn" if "cnn" in m else "fcn"]
            assert abs(n[m] / base - 1) <= 0.1, (d, m)
    assert res["paper"]["st-cnn-tps"] == (0.7, 0.5, 0.8, 1.1)
