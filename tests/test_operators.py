import numpy as np
import pytest
import scipy.signal

from tiledeblur import gaussian_psf
from tiledeblur.operators import Blur, differences, differences_adjoint, grid_laplacian, smoothness_rows


def _random_psf(rng, shape):
    psf = rng.random(shape)
    return psf / psf.sum()


@pytest.mark.parametrize("boundary", ["zero", "free"])
@pytest.mark.parametrize("shape", [(64, 64), (31, 40), (17, 9), (1, 1)])
@pytest.mark.parametrize("psf_shape", [(13, 13), (5, 7), (1, 3)])
def test_blur_dot_test(boundary, shape, psf_shape):
    rng = np.random.default_rng(1)
    operator = Blur(_random_psf(rng, psf_shape), shape, boundary=boundary)
    x = rng.standard_normal(operator.unknown_shape)
    y = rng.standard_normal(operator.observed_shape)
    forward = np.vdot(operator.matvec(x), y)
    adjoint = np.vdot(x, operator.rmatvec(y))
    assert abs(forward - adjoint) <= 1e-10 * abs(forward)


@pytest.mark.parametrize(("boundary", "mode"), [("zero", "same"), ("free", "valid")])
def test_blur_matches_direct_convolution(boundary, mode):
    rng = np.random.default_rng(2)
    psf = _random_psf(rng, (5, 9))
    x = rng.random((23, 30))
    observed_shape = x.shape if mode == "same" else (19, 22)
    operator = Blur(psf, observed_shape, boundary=boundary)
    assert operator.unknown_shape == x.shape
    expected = scipy.signal.convolve(x, psf, mode=mode, method="direct")
    np.testing.assert_allclose(operator.matvec(x), expected, atol=1e-13)


def test_blur_rejects_unknown_boundary():
    with pytest.raises(ValueError, match=r"boundary: expected one of \('zero', 'free'\), got 'wrap'"):
        Blur(gaussian_psf(3, 1.0), (8, 8), boundary="wrap")


def test_differences_dot_test_and_values():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((9, 12))
    grad = rng.standard_normal((2, 9, 12))
    forward = np.vdot(differences(x), grad)
    assert abs(forward - np.vdot(x, differences_adjoint(grad))) <= 1e-10 * abs(forward)
    d = differences(x)
    np.testing.assert_array_equal(d[0, :-1], np.diff(x, axis=0))
    np.testing.assert_array_equal(d[1, :, :-1], np.diff(x, axis=1))
    assert not d[0, -1].any() and not d[1, :, -1].any()


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("missing", [False, True])
def test_smoothness_rows_are_the_operators_rows_on_the_pixels(order, missing):
    """The rows built near the pixels alone are those of the operator applied to each pixel's unit image."""
    rng = np.random.default_rng(4)
    holes = np.zeros((11, 14), dtype=bool)
    if missing:
        holes[3:6, 4:9] = True
        holes[rng.random(holes.shape) < 0.1] = True
    edges = Blur(gaussian_psf(3, 1.0), holes.shape, boundary="zero", missing=holes).edges if missing else None
    shape = holes.shape
    apply = (lambda x: differences(x, edges).ravel()) if order == 1 else (lambda x: grid_laplacian(x, edges).ravel())
    dense = np.stack([apply(unit.reshape(shape)) for unit in np.eye(holes.size)], axis=1)
    pixels = np.sort(rng.choice(holes.size, size=30, replace=False))
    expected = dense[:, pixels]
    expected = expected[np.abs(expected).sum(axis=1) > 0]
    np.testing.assert_array_equal(smoothness_rows(shape, order, pixels, edges).toarray(), expected)
