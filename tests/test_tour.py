"""demos/tour.py: its gradient stop is right, and the whole tour runs (--smoke)."""
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "demos"))


def test_the_tours_backward_and_finite_differences_agree():
    import tour
    rng = np.random.default_rng(0)
    image = np.zeros((12, 12))
    image[3:9, 4:8] = rng.random((6, 4))                                 # ink in the middle
    weights = rng.standard_normal(image.shape)
    analytic, numeric, per_pixel = tour.theta_gradient(image, tour.THETA, weights)
    assert np.abs(numeric).max() > 1e-3                                  # not trivially zero
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)
    # the per-pixel shares of dL/dθ00 add up to it
    assert per_pixel.sum() == pytest.approx(analytic[0, 0], rel=1e-9, abs=1e-12)
    blank = np.array([[0.1, 0.0, -0.85], [0.0, 0.1, -0.85]])             # an empty corner
    assert not np.any(tour.theta_gradient(image, blank, weights)[0])


def test_theta_angle_reads_the_rotation_back():
    import tour
    from minstn.data.distort import theta_for
    angles = np.array([-50.0, 0.0, 30.0])
    theta = theta_for(angles, np.ones(3), np.zeros((3, 2)))
    # θ is the inverse map: it holds R(-a), so the angle it reads is -a
    np.testing.assert_allclose(tour.theta_angle(theta), -angles, atol=1e-9)


@pytest.mark.skipif(not os.environ.get("MINSTN_DATA"), reason="needs MINSTN_DATA (real MNIST)")
def test_the_tour_runs_and_saves_a_figure_per_stop(tmp_path, capsys):
    import tour
    res = tour.main(["--smoke", "--out", str(tmp_path)])
    for k in range(1, 5):
        assert len(list(tmp_path.glob(f"tour_{k}_*.png"))) == 1
    out = capsys.readouterr().out
    assert out.count("read next:") == 4
    np.testing.assert_allclose(res["analytic"], res["numeric"], rtol=1e-5, atol=1e-7)
