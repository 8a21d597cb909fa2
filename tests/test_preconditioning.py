"""The change of variables ``x = P z`` of the solver, on problems small enough for dense matrices."""

import numpy as np
import pytest

from tiledeblur import gaussian_psf
from tiledeblur.objectives import tikhonov_hessian
from tiledeblur.preconditioning import Preconditioner
from tiledeblur.solver import SolverSettings


def _dense(function, size):
    return np.column_stack([function(column) for column in np.eye(size)])


def _problem(boundary, mu=1e-2):
    from tiledeblur.operators import Blur

    operator = Blur(gaussian_psf(7, (1, 2)), (20, 22), boundary=boundary)
    settings = SolverSettings(mu=mu, boundary=boundary)
    size = int(np.prod(operator.unknown_shape))
    product = tikhonov_hessian(None, operator, settings)
    hessian = _dense(lambda v: product(v.reshape(operator.unknown_shape)).ravel(), size)
    return operator, Preconditioner(operator, mu), hessian


@pytest.mark.parametrize("boundary", ["zero", "free"])
def test_adjoint(boundary):
    _, preconditioner, _ = _problem(boundary)
    rng = np.random.default_rng(0)
    z = rng.standard_normal(preconditioner.size)
    image = rng.standard_normal(preconditioner.shape)
    assert np.vdot(preconditioner.apply(z), image) == pytest.approx(np.vdot(z, preconditioner.adjoint(image)))


@pytest.mark.parametrize("boundary", ["zero", "free"])
@pytest.mark.parametrize("mu", [1e-3, 1e-2])
def test_preconditioned_hessian_is_well_conditioned(boundary, mu):
    """``P Pᵀ H`` has a condition number below 60, and at least 5 times below that of ``H`` alone.

    Measured: 10 to 52 against 77 to 2354 on this small problem, whose border
    is a large part of it; on 512² tiles CG needs 12 steps where it needed 75
    with the Fourier part alone.
    """
    operator, preconditioner, hessian = _problem(boundary, mu)
    size = hessian.shape[0]
    inverse = _dense(lambda v: preconditioner.apply(preconditioner.adjoint(v.reshape(operator.unknown_shape))).ravel(),
                     size)
    preconditioned = np.sort(np.linalg.eigvals(inverse @ hessian).real)
    plain = np.linalg.eigvalsh(hessian)
    condition = preconditioned[-1] / preconditioned[0]
    assert preconditioned[0] > 0 and condition < 60
    assert plain[-1] / plain[0] > 5 * condition
