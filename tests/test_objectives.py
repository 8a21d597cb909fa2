"""autograd's gradients and Hessian products against finite differences."""

import numpy as np
import pytest
from autograd import grad, hessian_vector_product

from tiledeblur import SolverSettings, gaussian_psf
from tiledeblur.objectives import LOSSES
from tiledeblur.operators import Blur
from tiledeblur.solver import _loss_of_z, _Objective


def _holes(shape):
    """Missing pixels: a block wide enough to drop unknowns from the loss, and one lone pixel."""
    missing = np.zeros(shape, dtype=bool)
    missing[2:10, :7] = True
    missing[10, 11] = True
    return missing


def _problem(loss, boundary, holes=False):
    rng = np.random.default_rng(4)
    observed_shape = (12, 14)
    missing = _holes(observed_shape) if holes else None
    operator = Blur(gaussian_psf(5, (1, 2)), observed_shape, boundary=boundary, missing=missing)
    observed = rng.random(operator.observed_shape)
    if holes:
        observed[missing] = 0.0
    x = rng.random(operator.unknown_shape)
    if loss == "ridge":  # nlmeans' step, no loss to choose
        settings = SolverSettings(loss="nlmeans", boundary=boundary).ridge_step(0.05)
    else:  # tv's smoothing alone, as the others take none
        settings = SolverSettings(loss=loss, mu=0.05, boundary=boundary, **({"eps": 0.1} if loss == "tv" else {}))

    def value(array):
        return LOSSES[loss](array, observed, operator, settings)

    return value, x, rng.standard_normal(x.shape), (observed, operator, settings, missing)


CASES = [(loss, boundary, holes) for loss in LOSSES for boundary in ("zero", "free") for holes in (False, True)]


def test_holes_leave_unknowns_out():
    """The block's far side is beyond the PSF's reach of any datum; the lone pixel's neighbours are not."""
    operator = _problem("tikhonov", "free", holes=True)[3][1]
    assert not operator.support.all() and operator.support.sum() > operator.support.size / 2
    assert operator.unobserved[operator.observed_in_unknown][10, 11]
    assert np.array_equal(operator.matvec(np.ones(operator.unknown_shape)) == 0, _holes((12, 14)))


@pytest.mark.parametrize(("loss", "boundary", "holes"), CASES)
def test_gradient_matches_finite_differences(loss, boundary, holes):
    value, x, direction, _ = _problem(loss, boundary, holes)
    step = 1e-6
    numeric = (value(x + step * direction) - value(x - step * direction)) / (2 * step)
    exact = np.vdot(grad(value)(x), direction)
    assert exact == pytest.approx(numeric, rel=1e-6)


@pytest.mark.parametrize(("loss", "boundary", "holes"), CASES)
def test_hessian_product_matches_finite_differences(loss, boundary, holes):
    value, x, direction, _ = _problem(loss, boundary, holes)
    gradient = grad(value)
    step = 1e-5
    numeric = (gradient(x + step * direction) - gradient(x - step * direction)) / (2 * step)
    exact = hessian_vector_product(value)(x, direction)
    np.testing.assert_allclose(exact, numeric, rtol=1e-5, atol=1e-7 * np.abs(numeric).max())


@pytest.mark.parametrize(("loss", "boundary", "holes"), CASES)
def test_solver_hessian_product_is_autograds(loss, boundary, holes):
    """The solver's products in ``z`` (float32 FFTs) are autograd's float64 ones to float32 accuracy."""
    _, _, _, (observed, operator, settings, missing) = _problem(loss, boundary, holes)
    objective = _Objective(observed, operator.psf, settings, missing)
    product = hessian_vector_product(_loss_of_z(observed, objective.operator, objective.preconditioner, settings))
    rng = np.random.default_rng(5)
    z, direction = rng.standard_normal((2, objective.preconditioner.size))
    for point in (z, z + 0.5):  # a second point must not reuse the first point's linearization
        reference = product(point, direction)
        np.testing.assert_allclose(objective.hessp(point, direction), reference, rtol=1e-4,
                                   atol=1e-5 * np.abs(reference).max())


def test_tv_dual_is_bounded_and_agrees_with_the_hessian_at_rest():
    """The dual after a zero step is ``g / s``, with which the primal-dual matrix is the Hessian."""
    from tiledeblur.objectives import tv_dual, tv_hessian

    _, x, direction, (_, operator, settings, _) = _problem("tv", "free")
    at_rest = tv_dual(x, np.zeros_like(x), None, operator, settings)
    np.testing.assert_allclose(tv_hessian(x, operator, settings, at_rest)(direction),
                               tv_hessian(x, operator, settings)(direction), rtol=1e-12, atol=1e-12)
    moved = tv_dual(x, 10 * direction, at_rest, operator, settings)
    assert np.sqrt(np.sum(moved**2, axis=0)).max() <= 1 + 1e-12
    assert not np.allclose(moved, at_rest)
