"""Deconvolution of one 2-D image: autograd derivatives into scipy's Newton-CG.

:func:`deconvolve` is the public entry point and validates its arguments;
:func:`solve` is the validated core that tiles call on the workers.

Fixes of the seed article's defects
-----------------------------------
* The article passes ``jac=objective_with_grad``, a function it never defines.
  Here the loss and its gradient come together from
  :func:`autograd.value_and_grad` (``jac=True``), and ``hessp`` is an exact
  Hessian-vector product (autograd's, or for ``tikhonov`` a hand-derived one
  tested equal to it), not scipy's finite-difference default.
* The article's ``learning_rate`` argument is never used; Newton-CG takes its
  step lengths from a line search, so there is no such option here.
* The article starts from random noise, so two runs differ. Here the start is
  the observed image (extended by edge replication for ``boundary="free"``),
  and every run gives the same bytes.
"""

import dataclasses
import math
import warnings

import autograd.numpy as anp
import numpy as np
import scipy.optimize
from autograd import value_and_grad
from autograd.differential_operators import make_hvp

from .image import check_image
from .objectives import DEFAULT_MU, HESSIAN_PRODUCTS, LOSSES
from .operators import BOUNDARIES, Blur
from .psf import check_psf
from .regularization import auto_mu, estimate_noise, is_auto

__all__ = ["ConvergenceWarning", "SolveInfo", "SolverSettings", "deconvolve", "solve"]



#: Smoothing of total variation, on a [0, 1] intensity scale.
DEFAULT_EPS = 3e-2
#: Mean absolute change of a pixel per Newton iteration at which to stop. Newton
#: converges quadratically, so 1e-7 costs a few iterations more than scipy's
#: 1e-5 and makes every pixel, not only the mean, settle well below 1e-3: two
#: solves of overlapping tiles then agree where they overlap.
DEFAULT_TOL = 1e-7
DEFAULT_MAXITER = 200


class ConvergenceWarning(RuntimeWarning):
    """Newton-CG stopped before it met its tolerance."""


@dataclasses.dataclass(frozen=True)
class SolverSettings:
    """Validated options of one solve; ``None`` picks the loss's default.

    Parameters
    ----------
    loss : {"tikhonov", "tv", "article"}
        The loss to minimize, see :mod:`tiledeblur.objectives`.
    mu : float, optional
        Regularization weight, positive. Default: ``DEFAULT_MU[loss]``.
    boundary : {"free", "zero"}, optional
        The boundary model, see :class:`tiledeblur.operators.Blur`. Default:
        ``"zero"`` for ``article`` (as the article does) and ``"free"`` for the
        others, which does not ring along the image's border.
    eps : float
        Smoothing of total variation, used by ``tv`` only.
    tol : float
        Newton-CG stops when the mean absolute change of a pixel in one
        iteration falls below ``tol`` (scipy's ``xtol``).
    maxiter : int
        Most Newton iterations.

    Examples
    --------
    >>> SolverSettings(loss="article").boundary
    'zero'
    """

    loss: str = "tikhonov"
    mu: float | None = None
    boundary: str | None = None
    eps: float = DEFAULT_EPS
    tol: float = DEFAULT_TOL
    maxiter: int = DEFAULT_MAXITER

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss: expected one of {tuple(LOSSES)}, got {self.loss!r} instead.")
        if self.mu is None:
            object.__setattr__(self, "mu", DEFAULT_MU[self.loss])
        if self.boundary is None:
            object.__setattr__(self, "boundary", "zero" if self.loss == "article" else "free")
        if self.boundary not in BOUNDARIES:
            raise ValueError(f"boundary: expected one of {BOUNDARIES}, got {self.boundary!r} instead.")
        for name in ("mu", "eps", "tol"):
            _check_positive(name, getattr(self, name))
        if not isinstance(self.maxiter, int) or isinstance(self.maxiter, bool) or self.maxiter < 1:
            raise ValueError(f"maxiter: expected a positive int, got {self.maxiter!r} instead.")


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a positive number, got {value!r} instead.")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name}: expected a positive finite number, got {value!r} instead.")


@dataclasses.dataclass(frozen=True)
class SolveInfo:
    """What Newton-CG did: counts and convergence, from scipy's result."""

    iterations: int
    function_evaluations: int
    gradient_evaluations: int
    hessian_products: int
    converged: bool
    message: str
    mu: float


class _Objective:
    """The loss of one problem, with its gradient and exact Hessian products.

    Quadratic losses have a hand-derived product (``HESSIAN_PRODUCTS``). For
    the others, scipy calls ``hessp`` many times at the same point inside one
    CG solve; autograd's ``make_hvp`` linearizes the gradient once at that
    point and then costs one reverse pass per product.
    """

    def __init__(self, observed, operator, settings):
        loss = LOSSES[settings.loss]
        shape = operator.unknown_shape

        def flat_loss(flat):
            return loss(anp.reshape(flat, shape), observed, operator, settings)

        self.value_and_grad = value_and_grad(flat_loss)
        self._make_hvp = make_hvp(flat_loss)
        self._hand_hessp = HESSIAN_PRODUCTS.get(settings.loss)
        self._operator, self._settings, self._shape = operator, settings, shape
        self._point = None

    def hessp(self, x, vector):
        if self._hand_hessp is not None:
            return self._hand_hessp(vector.reshape(self._shape), self._operator, self._settings).ravel()
        if self._point is None or not np.array_equal(x, self._point):
            self._point = x.copy()
            self._hvp = self._make_hvp(self._point)[0]
        return self._hvp(vector)


#: scipy's status when its line search can no longer decrease the loss.
_PRECISION_LOSS = 2


def _converged(result, tol):
    """scipy's success, or a stop for precision loss at an already tiny gradient.

    Near the minimum the loss changes by less than float64 can resolve, and
    the line search may give up although the solution no longer moves; with
    every gradient entry below ``tol`` (the smallest curvature of these
    problems is about 1e-2, so pixels are within about 100 ``tol`` of the
    minimum) that is convergence, not failure.
    """
    if result.success:
        return True
    return result.status == _PRECISION_LOSS and float(np.abs(result.jac).max()) <= tol


def _start(observed, operator):
    """The observed image, edge-extended to the unknown's shape."""
    pad = [(s.start, u - s.stop) for s, u in zip(operator.observed_in_unknown, operator.unknown_shape)]
    return np.pad(observed, pad, mode="edge")


def solve(observed, psf, settings):
    """Deconvolve a validated float image; the core that tiles run on.

    Parameters
    ----------
    observed : (M, N) ndarray of float32 or float64
    psf : (P, Q) ndarray of float64, normalized
    settings : SolverSettings

    Returns
    -------
    restored : (M, N) ndarray, of ``observed.dtype``
    info : SolveInfo
    """
    operator = Blur(psf, observed.shape, boundary=settings.boundary)
    data = observed.astype(np.float64)
    objective = _Objective(data, operator, settings)
    result = scipy.optimize.minimize(
        objective.value_and_grad,
        _start(data, operator).ravel(),
        jac=True,
        hessp=objective.hessp,
        method="Newton-CG",
        options={"xtol": settings.tol, "maxiter": settings.maxiter},
    )
    restored = result.x.reshape(operator.unknown_shape)[operator.observed_in_unknown]
    info = SolveInfo(
        iterations=int(result.nit),
        function_evaluations=int(result.nfev),
        gradient_evaluations=int(result.njev),
        hessian_products=int(result.nhev),
        converged=_converged(result, settings.tol),
        message=str(result.message),
        mu=settings.mu,
    )
    return restored.astype(observed.dtype), info


def deconvolve(image, psf, *, loss="tikhonov", mu=None, boundary=None, eps=DEFAULT_EPS,
               tol=DEFAULT_TOL, maxiter=DEFAULT_MAXITER, return_info=False):
    """Deblur a 2-D image by regularized least squares, solved with Newton-CG.

    Minimizes ``loss`` over the unknown sharp image; autograd gives the exact
    gradient and Hessian-vector products, and :func:`scipy.optimize.minimize`
    with ``method="Newton-CG"`` does the rest, starting from the observed image.

    Parameters
    ----------
    image : (M, N) array_like
        The blurred image: uint8, uint16, other ints, float32 or float64.
        Integers are scaled to [0, 1] (see :mod:`tiledeblur.image`).
    psf : (P, Q) array_like
        The point spread function, odd-sized; normalized to sum 1 if it is not.
    loss, boundary, eps, tol, maxiter
        See :class:`SolverSettings`.
    mu : float or "auto", optional
        See :class:`SolverSettings`; ``"auto"`` sets it from the image's noise
        level (:mod:`tiledeblur.regularization`), reported in ``info.mu``.
    return_info : bool, optional
        Also return a :class:`SolveInfo` with the iteration counts.

    Returns
    -------
    restored : (M, N) ndarray
        float32 for a float32 image, float64 for every other dtype.
    info : SolveInfo
        Only with ``return_info=True``.

    Warns
    -----
    ConvergenceWarning
        When Newton-CG stops before meeting ``tol``, with scipy's reason.

    Examples
    --------
    >>> import numpy as np
    >>> from tiledeblur import deconvolve, gaussian_psf
    >>> image = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    >>> restored, info = deconvolve(image, gaussian_psf(5, 1.0), return_info=True)
    >>> restored.shape, restored.dtype, info.converged
    ((32, 32), dtype('float32'), True)
    """
    observed = check_image(image)
    automatic = is_auto(mu)
    settings = SolverSettings(loss=loss, mu=None if automatic else mu, boundary=boundary, eps=eps, tol=tol,
                              maxiter=maxiter)
    if automatic:
        settings = dataclasses.replace(settings, mu=auto_mu(estimate_noise(observed), settings.loss))
    restored, info = solve(observed, check_psf(psf), settings)
    if not info.converged:
        warnings.warn(f"Newton-CG did not converge: {info.message}", ConvergenceWarning, stacklevel=2)
    return (restored, info) if return_info else restored
