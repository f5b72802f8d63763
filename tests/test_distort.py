"""RTS distortion: the inverse map does what its parameters say."""
import numpy as np
import pytest

from minstn.data.distort import RTS, place, rts_distort, theta_for, warp


def _square(side=10, size=28):
    img = np.zeros((1, size, size), np.uint8)
    lo = (size - side) // 2
    img[0, lo:lo + side, lo:lo + side] = 255
    return img


def _centroid(x):
    ys, xs = np.mgrid[:x.shape[0], :x.shape[1]]
    return np.array([(x * xs).sum(), (x * ys).sum()]) / x.sum()


def _extent(x, axis):
    prof = x.sum(axis=axis)
    idx = np.nonzero(prof > 0.5 * prof.max())[0]
    return idx[-1] - idx[0] + 1


def test_identity_keeps_the_digit():
    x = place(_square(), 42)
    out = warp(x, theta_for([0.0], [1.0], [[0.0, 0.0]]))
    np.testing.assert_allclose(out, x, atol=1e-6)


@pytest.mark.parametrize("s", [0.7, 1.3, 2.0])
def test_scale_grows_the_bounding_box(s):
    x = place(_square(side=12), 42)
    out = warp(x, theta_for([0.0], [s], [[0.0, 0.0]]))[0, 0]
    assert abs(_extent(out, 0) - 12 * s) <= 1.5


def test_translation_moves_the_centroid_by_a_fraction_of_the_side():
    x = place(_square(), 42)
    out = warp(x, theta_for([0.0], [1.0], [[2 * 0.1, 0.0]]))[0, 0]      # +0.1 of the side in x
    shift = _centroid(out) - _centroid(x[0, 0])
    np.testing.assert_allclose(shift, [4.2, 0.0], atol=0.05)


@pytest.mark.parametrize("angle", [30.0, -60.0])
def test_rotation_turns_a_bar_by_the_angle(angle):
    bar = np.zeros((1, 28, 28), np.uint8)
    bar[0, 13:15, 4:24] = 255                                            # horizontal bar
    out = warp(place(bar, 42), theta_for([angle], [1.0], [[0.0, 0.0]]))[0, 0]
    ys, xs = np.nonzero(out > 0.5)
    cov = np.cov(np.stack([xs, ys]).astype(float))
    evals, evecs = np.linalg.eigh(cov)
    vx, vy = evecs[:, -1]
    measured = np.degrees(np.arctan2(vy, vx))                             # image y points down
    measured = (measured + 90) % 180 - 90
    # the image's y axis points down, so a positive angle turns the bar clockwise on screen
    assert abs(abs(measured) - abs(angle)) < 3 and np.sign(measured) == np.sign(angle)


def test_seeded_distortion_is_reproducible_and_in_range():
    imgs = np.repeat(_square(), 6, axis=0)
    a, pa = rts_distort(imgs, np.random.default_rng(5), RTS(), return_params=True)
    b = rts_distort(imgs, np.random.default_rng(5), RTS())
    np.testing.assert_array_equal(a, b)
    assert a.shape == (6, 1, 42, 42) and a.dtype == np.float32
    assert np.all(np.abs(pa["angle"]) <= 45) and np.all((pa["scale"] >= 0.7) & (pa["scale"] <= 1.3))
    assert np.all(np.abs(pa["shift"]) <= 0.2)
    _, pf = rts_distort(imgs, np.random.default_rng(5), RTS(fixed_rotation=75), return_params=True)
    np.testing.assert_array_equal(np.abs(pf["angle"]), 75)
