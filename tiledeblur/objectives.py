"""The losses that deconvolution minimizes, one function each.

Every loss has the signature ``loss(x, observed, operator, settings)``: ``x`` is
the unknown image (of ``operator.unknown_shape``), ``observed`` the blurred
image, ``operator`` a :class:`tiledeblur.operators.Blur` and ``settings`` a
:class:`tiledeblur.SolverSettings` that carries ``mu`` (and ``eps`` for
``tv``). Each is written with :mod:`autograd.numpy`, so ``autograd.grad`` and
Hessian-vector products of it are exact.

Why ``article`` is not used for tiles
-------------------------------------
The article's loss ``||Ax - b|| + mu ||Dx||`` has no squares. Its gradient is
that of ``||Ax - b||^2 / 2 + (mu ||Ax - b|| / ||Dx||) ||Dx||^2 / 2``: a
Tikhonov problem whose effective weight ``mu ||Ax - b|| / ||Dx||`` depends on
the whole image the loss sees. Each tile sees another part of the scene, so
each tile solves with another weight, and tiled results never converge to the
whole-image result (a difference of about 0.012 measured on the astronaut).
``tikhonov``, ``laplacian`` and ``tv`` are sums over pixels, so a tile
with enough halo solves the same problem as the whole image.
"""

import autograd.numpy as anp
import numpy as np
from autograd.extend import defvjp, primitive

from .operators import blur, differences, differences_adjoint, grid_laplacian

__all__ = [
    "ADDITIVE_LOSSES",
    "CHOICES",
    "DEFAULT_MU",
    "DUAL_UPDATES",
    "HESSIANS",
    "LOSSES",
    "QUADRATIC_LOSSES",
    "SMOOTHNESS_ORDER",
    "article",
    "laplacian",
    "laplacian_hessian",
    "regularizer_curvature",
    "ridge",
    "ridge_hessian",
    "sum_of_squares",
    "tikhonov",
    "tikhonov_hessian",
    "tv",
    "tv_dual",
    "tv_hessian",
]


@primitive
def sum_of_squares(a):
    """``sum(a**2)`` without the array of squares, which autograd's tape would keep until the gradient.

    For a tile of 1142² pixels the squares of the residual and of the
    differences are 32 MB of float64 that the loss's gradient never reads.

    Examples
    --------
    >>> float(sum_of_squares(np.array([[1.0, 2.0], [3.0, 4.0]])))
    30.0
    """
    return np.vdot(a, a)


defvjp(sum_of_squares, lambda ans, a: lambda g: 2 * g * a)

# doctest skips what autograd's primitive wraps, as defined elsewhere: name its example.
__test__ = {"sum_of_squares": sum_of_squares.__doc__}


def article(x, observed, operator, settings):
    """The seed article's loss, ``sqrt(||Ax - b||^2 / 2) + mu sqrt(||Dx||^2 / 2)``.

    Kept for fidelity to the article; its weight depends on the image size
    (see the module notes), so prefer ``tikhonov`` or ``tv``.
    """
    data = anp.sqrt(0.5 * sum_of_squares(blur(x, operator) - observed))
    return data + settings.mu * anp.sqrt(0.5 * sum_of_squares(differences(x, operator.edges)))


def tikhonov(x, observed, operator, settings):
    """Quadratic smoothness: ``||Ax - b||^2 / 2 + mu ||Dx||^2 / 2``."""
    regularizer = sum_of_squares(differences(x, operator.edges))
    return 0.5 * sum_of_squares(blur(x, operator) - observed) + 0.5 * settings.mu * regularizer


def tikhonov_hessian(x, operator, settings, dual=None):
    """The Hessian of ``tikhonov`` as a product ``v -> (AᵀA + mu DᵀD) v``, derived by hand.

    The loss is quadratic, so ``x`` is not used, and it has no ``dual``. A
    product costs two FFT convolutions and no autograd tape, about 30% less
    than autograd's; the tests check it against autograd's.
    """
    return lambda vector: (operator.rmatvec(operator.matvec(vector))
                           + settings.mu * differences_adjoint(differences(vector, operator.edges)))


def ridge(x, observed, operator, settings):
    """Quadratic size: ``||Ax - b||^2 / 2 + mu ||x||^2 / 2``.

    Not a loss to deconvolve with, since it pulls the image to zero: it is
    the step of ``nlmeans`` that fits the data, solved for the change ``x``
    from the latest denoised image (see :mod:`tiledeblur.plugandplay`).
    """
    return 0.5 * sum_of_squares(blur(x, operator) - observed) + 0.5 * settings.mu * sum_of_squares(x)


def ridge_hessian(x, operator, settings, dual=None):
    """The Hessian of ``ridge`` as a product ``v -> (AᵀA + mu I) v``; as :func:`tikhonov_hessian`."""
    return lambda vector: operator.rmatvec(operator.matvec(vector)) + settings.mu * vector


def laplacian(x, observed, operator, settings):
    """Quadratic curvature: ``||Ax - b||^2 / 2 + mu ||DᵀD x||^2 / 2``, with ``DᵀD`` the grid's Laplacian.

    Tikhonov's regularizer of second order, the one that scikit-image's
    ``wiener`` uses: it lets edges through that ``tikhonov`` rounds, and takes
    out the smooth ripples that ``tikhonov`` leaves. On ``bench_quality``'s 72
    cases, each at its ``mu="auto"``, it gained a median 0.09 dB of interior
    PSNR over ``tikhonov`` (from -0.21 to +1.72 dB; 60 cases of 72 gained).
    A Hessian product costs about a tenth more (two more passes of
    differences), and a solve needed more of them: 44 and 21 against 27 and
    16 on ``bench_core``'s 512² and 1024² tiles at the automatic weight.
    """
    regularizer = sum_of_squares(grid_laplacian(x, operator.edges))
    return 0.5 * sum_of_squares(blur(x, operator) - observed) + 0.5 * settings.mu * regularizer


def laplacian_hessian(x, operator, settings, dual=None):
    """The Hessian of ``laplacian`` as a product ``v -> (AᵀA + mu (DᵀD)²) v``, derived by hand.

    As :func:`tikhonov_hessian`: ``x`` is not used, and there is no ``dual``.
    """
    return lambda vector: (operator.rmatvec(operator.matvec(vector))
                           + settings.mu * grid_laplacian(grid_laplacian(vector, operator.edges), operator.edges))


def tv(x, observed, operator, settings):
    """Smoothed total variation: ``||Ax - b||^2 / 2 + mu sum (sqrt(|Dx|^2 + eps^2) - eps)``.

    ``eps`` rounds the corner of the absolute value at zero gradient, so the
    loss is twice differentiable and Newton-CG applies; smaller is closer to
    true total variation and slower to solve.

    On the band of unobserved pixels that the ``free`` model adds, the
    regularizer is total variation's quadratic model on flat ground,
    ``mu |Dx|^2 / (2 eps)``, as in ``tikhonov``. No data reach the band's
    outer pixels, and total variation is nearly indifferent between monotone
    profiles, so there Newton's steps swung by up to 0.8, and the 512²
    astronaut took 23 Newton iterations instead of 15 (measured). The band
    is never part of the result. Missing pixels keep total variation: with
    the quadratic model on them too, a 512² tile with 30% of its pixels
    missing at random lost 1.0 dB on the others (1.5 dB with 90%), and a
    hole or a footprint's edge converged no faster
    (``benchmarks/bench_missing.py``).
    """
    # sqrt(|Dx|^2 + eps^2) - eps, with r = |Dx|^2 / eps: r / (sqrt(r / eps + 1) + 1), whose limit on flat ground is
    # the band's r / 2. Neither the constant eps, mu eps per pixel, which swamped the loss's changes, nor eps^2,
    # which overflows float32, is formed where eps is large for the values (found by a probe: on fluxes of 1e-20
    # the line search overflowed).
    ratio = anp.sum(differences(x, operator.edges) ** 2, axis=0) / settings.eps
    penalty = anp.where(operator.outer_band, ratio / 2, ratio / (anp.sqrt(ratio / settings.eps + 1) + 1))
    return 0.5 * sum_of_squares(blur(x, operator) - observed) + settings.mu * anp.sum(penalty)


def tv_hessian(x, operator, settings, dual=None):
    """The Hessian of ``tv`` at ``x`` as a product ``v -> H v``, derived by hand.

    With ``g = Dx`` and ``s = sqrt(|g|^2 + eps^2)`` at each pixel, the
    regularizer's Hessian is ``mu Dᵀ (I - g gᵀ / s²) / s D``; on the band,
    ``mu DᵀD / eps``. Given the ``dual`` of :func:`tv_dual`, an estimate
    ``w`` of ``g / s``, it is Chan, Golub and Mulet's primal-dual Newton
    matrix instead, ``mu Dᵀ (I - (w gᵀ + g wᵀ) / (2 s)) / s D``, which is the
    Hessian where ``w = g / s``. It is computed in ``x``'s precision, with no
    autograd tape.
    """
    gradient = differences(x, operator.edges)
    magnitude = _smoothed_magnitude(gradient, settings.eps)
    dual = (gradient / magnitude).astype(x.dtype) if dual is None else dual.astype(x.dtype, copy=False)
    weight = (settings.mu * np.where(operator.outer_band, 1 / settings.eps, 1 / magnitude)).astype(x.dtype)
    across = (settings.mu * np.where(operator.outer_band, 0, 0.5 / magnitude**2)).astype(x.dtype)

    def product(vector):
        change = differences(vector, operator.edges)
        turn = dual * np.sum(gradient * change, axis=0) + gradient * np.sum(dual * change, axis=0)
        return operator.rmatvec(operator.matvec(vector)) + differences_adjoint(weight * change - across * turn)

    return product


def _smoothed_magnitude(gradient, eps):
    """``sqrt(|g|^2 + eps^2)`` at each pixel, in float64 whatever the gradient's precision.

    ``eps`` of values far below the [0, 1] scale is huge in the solver's
    units, and its square overflowed float32 (found by a probe: on fluxes of
    1e-21 every weight of the float32 Hessian became zero, and Newton-CG's
    inner loop ran for minutes).
    """
    return np.sqrt(np.sum(gradient**2, axis=0, dtype=np.float64) + eps**2)


def tv_dual(x, step, dual, operator, settings):
    """The dual of ``tv`` after the Newton step ``step`` from ``x``: Chan, Golub and Mulet's update.

    The dual ``w`` stands for ``g / s`` (see :func:`tv_hessian`), but is
    linearized along the step rather than recomputed from the new ``x``:
    ``w + dw = g / s + (D step - w (g · D step) / s) / s``, then scaled back
    to ``|w| <= 1`` where it leaves that ball. ``g / s`` swings across edges
    far more than the step that moved them suggests, and Newton steps built
    on it overshoot; with the linearized dual a 512² ``tv`` solve took 11 to
    12 Newton iterations instead of 16 to 17, and 30–40% less time
    (measured on three ``skimage.data`` crops). ``dual=None`` starts from
    ``g / s``.
    """
    gradient = differences(x, operator.edges)
    magnitude = _smoothed_magnitude(gradient, settings.eps)
    dual = gradient / magnitude if dual is None else dual
    change = differences(step, operator.edges)
    updated = (gradient + change - dual * (np.sum(gradient * change, axis=0) / magnitude)) / magnitude
    return updated / np.maximum(1, np.sqrt(np.sum(updated**2, axis=0)))


#: The losses by name, as ``deconvolve(loss=...)`` accepts them.
LOSSES = {"article": article, "laplacian": laplacian, "ridge": ridge, "tikhonov": tikhonov, "tv": tv}
#: The losses by name that ``deconvolve(loss=...)`` accepts: ``nlmeans`` alternates ``ridge`` solves with
#: non-local means (:mod:`tiledeblur.plugandplay`), and ``ridge`` alone is only its step.
CHOICES = ("laplacian", "nlmeans", "tikhonov", "tv", "article")
#: The losses whose Hessian does not depend on ``x``: one Newton step solves them.
QUADRATIC_LOSSES = ("laplacian", "ridge", "tikhonov")
#: The losses whose result depends on every pixel only through the pixels near it: a tile with enough halo
#: solves the whole image's problem (see the notes).
ADDITIVE_LOSSES = ("laplacian", "nlmeans", "tikhonov", "tv")
#: The order of each loss's smoothness term: its curvature is ``DᵀD`` (1), ``(DᵀD)²`` (2) or ``I`` (0), and its
#: spectrum ``|D|²``, ``|D|⁴`` or 1 (:func:`tiledeblur.operators.smoothness_power`).
SMOOTHNESS_ORDER = {"article": 1, "laplacian": 2, "ridge": 0, "tikhonov": 1, "tv": 1}
#: Hand-derived Hessians, ``hessian(x, operator, settings, dual)``, which
#: return the product ``v -> H v`` at ``x``; the other losses use autograd's.
HESSIANS = {"laplacian": laplacian_hessian, "ridge": ridge_hessian, "tikhonov": tikhonov_hessian, "tv": tv_hessian}
#: Dual updates, ``dual(x, step, dual, operator, settings)``, of the losses whose
#: Newton matrix carries a dual variable between steps.
DUAL_UPDATES = {"tv": tv_dual}

#: Default ``mu`` per loss, for images on a [0, 1] scale with noise near 0.01:
#: the best of a sweep on the noisy astronaut crop of the quality test.
DEFAULT_MU = {"article": 0.2, "laplacian": 5e-3, "nlmeans": 3e-5, "tikhonov": 1e-2, "tv": 2e-3}


def regularizer_curvature(settings):
    """The largest curvature of the loss's regularizer per unit of its smoothness operator: the weight of ``P``.

    The operator is ``DᵀD``, or ``(DᵀD)²`` for ``laplacian``
    (``SMOOTHNESS_ORDER``). Smoothed total variation curves most where the
    image is flat, ``mu / eps``; the article's loss is preconditioned as
    Tikhonov with its ``mu``. It also scales the stopping threshold (see
    :func:`tiledeblur.newton.newton_cg`).
    """
    return settings.mu / settings.eps if settings.loss == "tv" else settings.mu
