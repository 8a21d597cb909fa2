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
``tikhonov`` and ``tv`` are sums over pixels, so a tile with enough halo
solves the same problem as the whole image.
"""

import autograd.numpy as anp
import numpy as np

from .operators import blur, differences, differences_adjoint

__all__ = [
    "DEFAULT_MU", "HESSIANS", "LOSSES", "QUADRATIC_LOSSES", "article", "tikhonov", "tikhonov_hessian", "tv",
    "tv_hessian",
]


def article(x, observed, operator, settings):
    """The seed article's loss, ``sqrt(||Ax - b||^2 / 2) + mu sqrt(||Dx||^2 / 2)``.

    Kept for fidelity to the article; its weight depends on the image size
    (see the module notes), so prefer ``tikhonov`` or ``tv``.
    """
    residual = blur(x, operator) - observed
    data = anp.sqrt(0.5 * anp.sum(residual**2))
    return data + settings.mu * anp.sqrt(0.5 * anp.sum(differences(x) ** 2))


def tikhonov(x, observed, operator, settings):
    """Quadratic smoothness: ``||Ax - b||^2 / 2 + mu ||Dx||^2 / 2``."""
    residual = blur(x, operator) - observed
    return 0.5 * anp.sum(residual**2) + 0.5 * settings.mu * anp.sum(differences(x) ** 2)


def tikhonov_hessian(x, operator, settings):
    """The Hessian of ``tikhonov`` as a product ``v -> (AᵀA + mu DᵀD) v``, derived by hand.

    The loss is quadratic, so ``x`` is not used. A product costs two FFT
    convolutions and no autograd tape, about 30% less than autograd's; the
    tests check it against autograd's.
    """
    return lambda vector: (operator.rmatvec(operator.matvec(vector))
                           + settings.mu * differences_adjoint(differences(vector)))


def tv(x, observed, operator, settings):
    """Smoothed total variation: ``||Ax - b||^2 / 2 + mu sum sqrt(|Dx|^2 + eps^2)``.

    ``eps`` rounds the corner of the absolute value at zero gradient, so the
    loss is twice differentiable and Newton-CG applies; smaller is closer to
    true total variation and slower to solve.

    On the band of unobserved pixels that the ``free`` model adds, the
    regularizer is total variation's quadratic model on flat ground,
    ``mu |Dx|^2 / (2 eps)``, as in ``tikhonov``. No data reach the band's
    outer pixels, and total variation is nearly indifferent between monotone
    profiles, so there Newton's steps swung by up to 0.8 and a 512² tile
    took 23 iterations instead of 13 (measured). The band is never part of
    the result.
    """
    residual = blur(x, operator) - observed
    squared = anp.sum(differences(x) ** 2, axis=0)
    magnitude = anp.where(operator.unobserved, squared / (2 * settings.eps), anp.sqrt(squared + settings.eps**2))
    return 0.5 * anp.sum(residual**2) + settings.mu * anp.sum(magnitude)


def tv_hessian(x, operator, settings):
    """The Hessian of ``tv`` at ``x`` as a product ``v -> H v``, derived by hand.

    With ``g = Dx`` and ``s = sqrt(|g|^2 + eps^2)`` at each pixel, the
    regularizer's Hessian is ``mu Dᵀ (I / s - g gᵀ / s³) D``; on the band,
    ``mu DᵀD / eps``. It is computed in ``x``'s precision, with no autograd
    tape.
    """
    gradient = differences(x)
    inverse = 1 / np.sqrt(np.sum(gradient**2, axis=0) + settings.eps**2)
    weight = settings.mu * np.where(operator.unobserved, 1 / settings.eps, inverse)
    across = (settings.mu * np.where(operator.unobserved, 0, inverse**3)) * gradient

    def product(vector):
        change = differences(vector)
        curvature = weight * change - across * np.sum(gradient * change, axis=0)
        return operator.rmatvec(operator.matvec(vector)) + differences_adjoint(curvature)

    return product


#: The losses by name, as ``deconvolve(loss=...)`` accepts them.
LOSSES = {"article": article, "tikhonov": tikhonov, "tv": tv}
#: The losses whose Hessian does not depend on ``x``: one Newton step solves them.
QUADRATIC_LOSSES = ("tikhonov",)
#: Hand-derived Hessians, ``hessian(x, operator, settings)``, which return
#: the product ``v -> H v`` at ``x``; the other losses use autograd's.
HESSIANS = {"tikhonov": tikhonov_hessian, "tv": tv_hessian}

#: Default ``mu`` per loss, for images on a [0, 1] scale with noise near 0.01:
#: the best of a sweep on the noisy astronaut crop of the quality test.
DEFAULT_MU = {"article": 0.2, "tikhonov": 1e-2, "tv": 2e-3}
