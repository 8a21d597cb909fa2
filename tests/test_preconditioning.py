"""The change of variables ``x = P z`` of the solver, on problems small enough for dense matrices."""

import numpy as np
import pytest

from tiledeblur import gaussian_psf
from tiledeblur.objectives import HESSIANS, SMOOTHNESS_ORDER
from tiledeblur.preconditioning import Preconditioner, spectrum_bounds
from tiledeblur.settings import SolverSettings


def _dense(function, size):
    return np.column_stack([function(column) for column in np.eye(size)])


def _problem(boundary, mu=1e-2, missing=None, loss="tikhonov"):
    from tiledeblur.operators import Blur

    operator = Blur(gaussian_psf(7, (1, 2)), (20, 22), boundary=boundary, missing=missing)
    settings = SolverSettings(loss=loss, mu=mu, boundary=boundary)
    size = int(np.prod(operator.unknown_shape))
    product = HESSIANS[loss](None, operator, settings)
    hessian = _dense(lambda v: product(v.reshape(operator.unknown_shape)).ravel(), size)
    return operator, Preconditioner(operator, mu, SMOOTHNESS_ORDER[loss]), hessian



@pytest.mark.parametrize("boundary", ["zero", "free"])
@pytest.mark.parametrize("loss", ["tikhonov", "laplacian"])
def test_adjoint(boundary, loss):
    _, preconditioner, _ = _problem(boundary, loss=loss)
    rng = np.random.default_rng(0)
    z = rng.standard_normal(preconditioner.size)
    image = rng.standard_normal(preconditioner.shape)
    assert np.vdot(preconditioner.apply(z), image) == pytest.approx(np.vdot(z, preconditioner.adjoint(image)))


@pytest.mark.parametrize(("loss", "boundary"), [("tikhonov", "zero"), ("tikhonov", "free"), ("laplacian", "free")])
@pytest.mark.parametrize("mu", [1e-3, 1e-2])
def test_preconditioned_hessian_is_well_conditioned(boundary, mu, loss):
    """``P Pᵀ H`` has a condition number below 60, and at least 5 times below that of ``H`` alone.

    Measured: 10 to 59 against 77 to 3066 on this small problem, whose border
    is a large part of it; on 512² tiles CG needs 12 steps where it needed 75
    with the Fourier part alone. (``laplacian`` with the zero boundary, which
    it does not default to, gave 21 to 53 against 66 to 507.)
    """
    operator, preconditioner, hessian = _problem(boundary, mu, loss=loss)
    size = hessian.shape[0]
    inverse = _dense(lambda v: preconditioner.apply(preconditioner.adjoint(v.reshape(operator.unknown_shape))).ravel(),
                     size)
    preconditioned = np.sort(np.linalg.eigvals(inverse @ hessian).real)
    plain = np.linalg.eigvalsh(hessian)
    condition = preconditioned[-1] / preconditioned[0]
    assert preconditioned[0] > 0 and condition < 60
    assert plain[-1] / plain[0] > 5 * condition


def _holes(kind):
    if kind == "mesh":
        return np.random.default_rng(0).random((20, 22)) < 0.5
    missing = np.zeros((20, 22), dtype=bool)
    missing[3:17, :9] = True
    missing[15, 17] = True
    return missing


@pytest.mark.parametrize(("loss", "holes"), [("tikhonov", "block"), ("tikhonov", "mesh"), ("laplacian", "block")])
@pytest.mark.parametrize("mu", [1e-3, 1e-2])
def test_missing_pixels_keep_the_hessian_well_conditioned(holes, mu, loss):
    """On the unknowns, ``P Pᵀ H`` has a condition number below 80, at least 5 times below that of ``H``.

    A block of missing pixels joins the band's exact factors; half of the pixels missing at random make it a
    mesh, which Jacobi's diagonal preconditions instead. Measured: 12 to 76 against 203 to 3066. ``P`` is zero
    beyond the unknowns, which are then never moved. (Jacobi's diagonal does little for ``laplacian``'s mesh:
    194 to 207 against 399 to 2163.)
    """
    operator, preconditioner, hessian = _problem("free", mu, _holes(holes), loss)
    mesh = preconditioner._band_root.shape[1] == preconditioner._band.size
    assert mesh == (holes == "mesh")
    inverse = _dense(lambda v: preconditioner.apply(preconditioner.adjoint(v.reshape(operator.unknown_shape))).ravel(),
                     hessian.shape[0])
    # The one FFT pair that the rounds of nlmeans take for the two.
    np.testing.assert_allclose(_dense(lambda v: preconditioner.inverse(v.reshape(operator.unknown_shape)).ravel(),
                                      hessian.shape[0]), inverse, atol=1e-5 * np.abs(inverse).max())
    unknowns = operator.support.ravel()
    assert not inverse[~unknowns].any() and not inverse[:, ~unknowns].any()
    on_unknowns = np.ix_(unknowns, unknowns)
    preconditioned = np.sort(np.linalg.eigvals(inverse[on_unknowns] @ hessian[on_unknowns]).real)
    plain = np.linalg.eigvalsh(hessian[on_unknowns])
    condition = preconditioned[-1] / preconditioned[0]
    assert preconditioned[0] > 0 and condition < 80
    assert plain[-1] / plain[0] > 5 * condition


def test_padding_keeps_the_image_s_opposite_sides_apart():
    """Without it the FFTs' periodic grid made a pixel by the left side a neighbour of the right side, and a fixed
    number of steps of nlmeans' rounds differed between a corner tile and the whole image (found by a test)."""
    from tiledeblur.operators import Blur
    from tiledeblur.tiling import auto_halo

    psf, weight = gaussian_psf(7, (1, 2)), 1e-2
    reach = auto_halo(psf, weight, order=0)

    def response(columns, padding):
        """``P Pᵀ`` of an impulse by the left side of an image ``columns`` wide."""
        operator = Blur(psf, (40, columns), boundary="free")
        impulse = np.zeros(operator.unknown_shape)
        impulse[20, 0] = 1.0
        preconditioner = Preconditioner(operator, weight, order=0, padding=padding)
        return preconditioner.apply(preconditioner.adjoint(impulse))

    # The same impulse in an image wider by the reach: on the columns both hold but the right band, the same
    # response, unless the first image's right side reaches its left.
    for padding, differs in ((0, True), (reach, False)):
        narrow, wide = response(60, padding), response(60 + reach, padding)
        assert (np.abs(narrow[:, :55] - wide[:, :55]).max() > 1e-3 * np.abs(narrow).max()) == differs


def test_the_bounds_of_a_psf_of_one_pixel():
    """Its preconditioned Hessian is the identity, which one step of the conjugate gradients solves; the step after
    it divided by zero (found by a probe)."""
    from tiledeblur.operators import Blur

    operator = Blur(np.ones((1, 1)), (16, 16), boundary="free")
    preconditioner = Preconditioner(operator, 0.01, order=0)
    low, high = spectrum_bounds(lambda x: operator.rmatvec(operator.matvec(x)) + 0.01 * x, preconditioner)
    assert low == pytest.approx(1.0) and high == pytest.approx(1.0)
