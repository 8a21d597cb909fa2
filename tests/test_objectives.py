"""autograd's gradients and Hessian products against finite differences."""

import numpy as np
import pytest
from autograd import grad, hessian_vector_product

from tiledeblur import SolverSettings, gaussian_psf
from tiledeblur.objectives import LOSSES
from tiledeblur.operators import Blur
from tiledeblur.solver import _loss_of_z, _Objective


def _problem(loss, boundary):
    rng = np.random.default_rng(4)
    operator = Blur(gaussian_psf(5, (1, 2)), (12, 14), boundary=boundary)
    observed = rng.random(operator.observed_shape)
    x = rng.random(operator.unknown_shape)
    settings = SolverSettings(loss=loss, mu=0.05, boundary=boundary, eps=0.1)

    def value(array):
        return LOSSES[loss](array, observed, operator, settings)

    return value, x, rng.standard_normal(x.shape), (observed, operator, settings)


CASES = [(loss, boundary) for loss in LOSSES for boundary in ("zero", "free")]


@pytest.mark.parametrize(("loss", "boundary"), CASES)
def test_gradient_matches_finite_differences(loss, boundary):
    value, x, direction, _ = _problem(loss, boundary)
    step = 1e-6
    numeric = (value(x + step * direction) - value(x - step * direction)) / (2 * step)
    exact = np.vdot(grad(value)(x), direction)
    assert exact == pytest.approx(numeric, rel=1e-6)


@pytest.mark.parametrize(("loss", "boundary"), CASES)
def test_hessian_product_matches_finite_differences(loss, boundary):
    value, x, direction, _ = _problem(loss, boundary)
    gradient = grad(value)
    step = 1e-5
    numeric = (gradient(x + step * direction) - gradient(x - step * direction)) / (2 * step)
    exact = hessian_vector_product(value)(x, direction)
    np.testing.assert_allclose(exact, numeric, rtol=1e-5, atol=1e-7 * np.abs(numeric).max())


@pytest.mark.parametrize(("loss", "boundary"), CASES)
def test_solver_hessian_product_is_autograds(loss, boundary):
    """The solver's products in ``z`` (float32 FFTs) are autograd's float64 ones to float32 accuracy."""
    _, _, _, (observed, operator, settings) = _problem(loss, boundary)
    objective = _Objective(observed, operator.psf, settings)
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

    _, x, direction, (_, operator, settings) = _problem("tv", "free")
    at_rest = tv_dual(x, np.zeros_like(x), None, settings)
    np.testing.assert_allclose(tv_hessian(x, operator, settings, at_rest)(direction),
                               tv_hessian(x, operator, settings)(direction), rtol=1e-12, atol=1e-12)
    moved = tv_dual(x, 10 * direction, at_rest, settings)
    assert np.sqrt(np.sum(moved**2, axis=0)).max() <= 1 + 1e-12
    assert not np.allclose(moved, at_rest)
