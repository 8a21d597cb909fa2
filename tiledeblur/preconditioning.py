"""A change of variables ``x = P z`` that makes Newton-CG converge in a few steps.

scipy's Newton-CG takes no preconditioner, but it can solve for ``z`` in
``x = P z``: the Hessian it sees is then ``Pᵀ H P``, and with ``P Pᵀ`` close to
``H⁻¹`` the conjugate gradients converge in a few steps instead of hundreds.
The Hessians here are ``H = AᵀA + w RᵀR`` with ``R`` the loss's smoothness
operator, the differences ``D`` (Tikhonov, ``w = mu``) or the Laplacian
``DᵀD`` (``laplacian``), or close to it (smoothed total variation, whose
curvature is at most ``w = mu / eps`` per unit of ``DᵀD``); for the solves of
``nlmeans``, the identity.

``P Pᵀ`` is the sum of two parts (an additive Schwarz preconditioner):

* **Fourier.** ``(|K|² + w |R|²)⁻¹``, with ``K`` and ``R`` the spectra of the
  PSF and of the smoothness operator: the exact inverse where every pixel is observed
  and the boundary is periodic, so it treats the bulk of the image.
* **The unobserved band.** With ``boundary="free"`` the unknown extends a PSF
  radius beyond the observed pixels, and there the data hardly constrain the
  image: smooth changes along the band have a curvature near ``w`` times a
  small number where the Fourier part expects about 1. On those pixels ``P``
  adds the exact inverse of ``B = diag(Aᵀ1) + w R_bᵀ R_b`` (``R_b``: the
  rows of ``R`` touching the band), a sparse matrix factored once. ``Aᵀ1`` is the
  curvature of the data term for smooth images, which is what matters there.
  Missing pixels (NaN) and the unknowns within the PSF's reach around them
  join the band; ``P`` is zero outside the unknowns (``Blur.support``).

Measured on the 512² astronaut with the article's PSF and ``mu = 0.01``: the
conjugate gradients need 75 steps to 1e-3 with the Fourier part alone and 12
with both, against about 300 without ``P``.

``P`` needs a square root of each part: ``F (|K|² + w |R|²)^(-1/2) F⁻¹`` for the
Fourier part, and ``B⁻¹ G`` with ``G = [diag(√(Aᵀ1)), √w R_bᵀ]`` (so that
``G Gᵀ = B``) for the band. ``z`` therefore stacks one coordinate per Fourier
sample, per band pixel and per row of ``R_b``, more coordinates than ``x``
has pixels; the extra ones cost Newton-CG nothing, since its steps stay in the
range of ``Pᵀ``.
"""

import copy

import numpy as np
import scipy.fft
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg
from autograd.extend import defvjp, primitive

from .operators import fft_filter, smoothness_power, smoothness_rows

__all__ = ["Preconditioner", "chebyshev", "precondition", "precondition_adjoint", "spectrum_bounds"]

#: The share of the unknowns beyond the band of the ``free`` model up to which the band around missing pixels is
#: factored exactly. Measured on a 1142² tile with pixels missing at random: exact factors were faster up to 20%
#: of them missing (2.8 s, 300 MB more memory, against 3.5 s for the diagonal), slower from 30% (4.2 s and 500 MB
#: more, against 3.3 s).
MESH_BAND_FRACTION = 0.25


class Preconditioner:
    """``x = P z`` for the Hessians ``AᵀA + weight RᵀR`` of a :class:`~tiledeblur.operators.Blur`.

    Parameters
    ----------
    operator : tiledeblur.operators.Blur
        The blur ``A``; ``P`` works at its precision.
    weight : float
        The curvature of the regularizer, ``w`` in ``w RᵀR``.
    order : {0, 1, 2}, optional
        The smoothness operator ``R``: the differences ``D`` (1), the
        Laplacian ``DᵀD`` (2) or the identity (0), as ``SMOOTHNESS_ORDER``
        gives it for a loss.
    padding : int, optional
        Pixels added to each axis of the Fourier part's FFTs, whose periodic
        grid otherwise makes the image's opposite sides neighbours.

    Examples
    --------
    >>> from tiledeblur import gaussian_psf
    >>> from tiledeblur.operators import Blur
    >>> operator = Blur(gaussian_psf(5, 1.0), (32, 40), boundary="free")
    >>> preconditioner = Preconditioner(operator, 0.01)
    >>> preconditioner.apply(np.zeros(preconditioner.size)).shape
    (36, 44)
    """

    def __init__(self, operator, weight, order=1, *, padding=0):
        self.shape = operator.unknown_shape
        self.precision = operator.precision
        self._fft_shape = tuple(scipy.fft.next_fast_len(n + padding, real=True) for n in self.shape)
        self._fourier_size = int(np.prod(self._fft_shape))
        symbol = _fourier_symbol(operator.psf, self._fft_shape, weight, order)
        self._symbol = symbol.astype(self.precision)
        self._inverse_symbol = (symbol**2).astype(self.precision)
        self._band = np.flatnonzero(operator.unobserved)
        self._support = operator.support
        self._band_solve, self._band_root = _band_factors(operator, self._band, weight, order)
        #: Number of coordinates of ``z``.
        self.size = self._fourier_size + self._band_root.shape[1]

    def astype(self, precision):
        """This ``P`` with its FFTs at ``precision``, sharing the factors of the band.

        Examples
        --------
        >>> from tiledeblur import gaussian_psf
        >>> from tiledeblur.operators import Blur
        >>> Preconditioner(Blur(gaussian_psf(5, 1.0), (8, 8), boundary="free"), 0.01).astype(np.float32).precision
        dtype('float32')
        """
        twin = copy.copy(self)
        twin.precision = np.dtype(precision)
        twin._symbol = self._symbol.astype(precision)
        twin._inverse_symbol = self._inverse_symbol.astype(precision)
        return twin

    def apply(self, z):
        """``P z``: an image of the unknown's shape and of :attr:`precision` from a flat ``z`` of :attr:`size`."""
        fourier = z[: self._fourier_size].reshape(self._fft_shape).astype(self.precision, copy=False)
        return self._unknowns(fft_filter(fourier, self._symbol, self._fft_shape),
                              self._band_root @ z[self._fourier_size:])

    def adjoint(self, image):
        """``Pᵀ x``: a flat float64 ``z`` of :attr:`size` from an image of the unknown's shape."""
        z = np.empty(self.size)
        image, band = self._supported(image)
        fourier = fft_filter(image.astype(self.precision, copy=False), self._symbol, self._fft_shape)
        z[: self._fourier_size] = fourier.ravel()
        if self._band.size:
            z[self._fourier_size:] = self._band_root.T @ self._band_solve(band)
        return z

    def inverse(self, image):
        """``P Pᵀ x``, close to ``H⁻¹ x``: ``apply(adjoint(image))`` with one FFT pair where that takes two.

        The Fourier part's two filters make one, by the square of the
        symbol, and the band's ``B⁻¹ G Gᵀ B⁻¹`` is ``B⁻¹``: a quarter of the
        FFTs of a step of :func:`chebyshev` (0.8 s of the 11.8 s of
        ``nlmeans`` on a 1024² tile).

        Examples
        --------
        >>> from tiledeblur import gaussian_psf
        >>> from tiledeblur.operators import Blur
        >>> preconditioner = Preconditioner(Blur(gaussian_psf(5, 1.0), (32, 40), boundary="free"), 0.01)
        >>> image = np.random.default_rng(0).random(preconditioner.shape)
        >>> np.allclose(preconditioner.inverse(image), preconditioner.apply(preconditioner.adjoint(image)))
        True
        """
        image, band = self._supported(image)
        return self._unknowns(fft_filter(image.astype(self.precision, copy=False), self._inverse_symbol,
                                         self._fft_shape), band)

    def _supported(self, image):
        """``image`` zero outside the unknowns, and its values on the band in float64."""
        if self._support is not None:
            image = image * self._support
        return image, np.ascontiguousarray(image).ravel()[self._band].astype(np.float64)

    def _unknowns(self, filtered, band):
        """The image of the unknowns that the Fourier part's ``filtered`` grid and ``B⁻¹ band`` on the band make."""
        x = np.ascontiguousarray(filtered[tuple(slice(0, n) for n in self.shape)])
        if self._band.size:
            x.ravel()[self._band] += self._band_solve(band)
        if self._support is not None:
            x *= self._support
        return x


def _fourier_symbol(psf, fft_shape, weight, order):
    """``(|K|² + weight |R|²)^(-1/2)`` on the rfft grid of ``fft_shape``."""
    blur_power = np.abs(scipy.fft.rfftn(psf, s=fft_shape)) ** 2
    return (blur_power + weight * smoothness_power(fft_shape, order)) ** -0.5


def _band_factors(operator, band, weight, order):
    """``B⁻¹`` (as a solve) and ``G`` with ``G Gᵀ = B = diag(Aᵀ1) + weight R_bᵀ R_b`` on ``band``."""
    if not band.size:
        return None, scipy.sparse.csr_matrix((0, 0))
    # The rows of R that touch the band, on the band's pixels: a pixel outside the band drops out of a row, as if
    # fixed, which couples the band to the rest. Differences with a pixel outside the unknowns (``Blur.support``)
    # are no part of the loss, and neither part of R.
    rows = smoothness_rows(operator.unknown_shape, order, band, operator.edges)
    curvature = np.clip(operator.rmatvec(np.ones(operator.observed_shape)).ravel()[band], 0, None)
    matrix = scipy.sparse.diags(curvature) + weight * (rows.T @ rows)
    unknowns, observed = np.prod(operator.unknown_shape), np.prod(operator.observed_shape)
    if band.size - (unknowns - observed) > MESH_BAND_FRACTION * unknowns:
        # Missing pixels scattered over the image make the band a mesh, whose sparse factors fill in like a whole
        # image's (measured on a 1142² tile, 90% missing at random: 8 GB and more than 13 minutes). Jacobi's
        # diagonal instead: 2 to 3 times the Hessian products, and less time from 30% missing on.
        diagonal = matrix.diagonal()
        return (lambda vector: vector / diagonal), scipy.sparse.diags(np.sqrt(diagonal)).tocsr()
    root = scipy.sparse.hstack([scipy.sparse.diags(np.sqrt(curvature)), np.sqrt(weight) * rows.T])
    # A minimum-degree ordering of the ring-shaped band keeps its factors sparse: 9.9 million entries against
    # COLAMD's 16.6 million for a 101 px PSF on a 1024² tile. Around missing pixels it can take long to find:
    # 11 s for NaN on every 9th row and column of a 1024² tile, where COLAMD took 0.3 s (found by a probe).
    ordering = "MMD_AT_PLUS_A" if operator.support is None else "COLAMD"
    return scipy.sparse.linalg.splu(matrix.tocsc(), permc_spec=ordering).solve, root.tocsr()


def chebyshev(product, rhs, preconditioner, steps, bounds):
    """An approximate solution of ``H x = rhs``: ``steps`` steps of the Chebyshev iteration preconditioned by ``P Pᵀ``,
    after the first estimate ``P Pᵀ rhs`` scaled, for the eigenvalues of ``P Pᵀ H`` within ``bounds``.

    Its coefficients depend on ``bounds`` and the step alone, where the
    conjugate gradients take theirs from sums over the whole image, so a
    pixel's result depends only on the pixels within a fixed reach of it,
    the same in a tile as in the whole image, however far from its solution
    the iteration stops.

    Each step shrinks the error at every eigenvalue within ``bounds`` by
    about ``(√κ - 1) / (√κ + 1)``, with ``κ`` their ratio (Golub and Varga,
    1961; the recurrence as Gutknecht and Röllin, 2002, state it). The
    Richardson iteration ``x + P Pᵀ (rhs - H x)``, which the rounds of
    ``nlmeans`` took before, shrinks it by ``|1 - λ|``: by nothing where
    ``λ`` is near 2, as it is on the band of the ``free`` model, where both
    parts of ``P Pᵀ`` hold, and by 6% a step at the least ``λ`` of the
    second round's weight for the article's PSF, 0.06, where the Chebyshev
    steps shrink it by 28%.

    Parameters
    ----------
    product : callable
        ``H v`` for an image ``v`` of the unknowns' shape.
    rhs : ndarray
        An image of the unknowns' shape.
    preconditioner : Preconditioner
        ``P``, with ``P Pᵀ`` close to ``H⁻¹``.
    steps : int
        Steps after the first estimate, each one product with ``H``.
    bounds : (float, float)
        The least and the greatest eigenvalue of ``P Pᵀ H``, or bounds
        around them (see :func:`spectrum_bounds`).

    Returns
    -------
    x : ndarray

    Examples
    --------
    >>> from tiledeblur import gaussian_psf
    >>> from tiledeblur.operators import Blur
    >>> operator = Blur(gaussian_psf(5, 1.0), (32, 32), boundary="free")
    >>> preconditioner = Preconditioner(operator, 0.01, order=0)
    >>> def product(x):
    ...     return operator.rmatvec(operator.matvec(x)) + 0.01 * x
    >>> rhs = operator.rmatvec(np.random.default_rng(0).random((32, 32)))
    >>> bounds = spectrum_bounds(product, preconditioner)
    >>> errors = [np.linalg.norm(rhs - product(chebyshev(product, rhs, preconditioner, steps, bounds)))
    ...           for steps in (0, 8)]
    >>> bool(errors[1] < errors[0] / 20)
    True
    """
    low, high = bounds
    centre, radius = (high + low) / 2, (high - low) / 2
    x, residual = np.zeros_like(rhs), rhs
    for step in range(steps + 1):
        change = preconditioner.inverse(residual)
        if step == 0:
            direction, weight = change, 1 / centre
        else:
            momentum = (radius * weight) ** 2 / (2 if step == 1 else 4)
            weight = 1 / (centre - momentum / weight)
            direction = change + momentum * direction
        x = x + weight * direction
        if step < steps:
            residual = rhs - product(x)
    return x


def spectrum_bounds(product, preconditioner, iterations=40):
    """The least and the greatest eigenvalue of ``P Pᵀ H``, as ``iterations`` steps of the conjugate gradients
    preconditioned by ``P Pᵀ`` estimate them: the extreme eigenvalues of the Lanczos matrix of their coefficients
    (the conjugate gradients' relation to the Lanczos process; Golub and Van Loan, *Matrix Computations*).

    Those converge from within, the least from above and the greatest from
    below, fastest of all the eigenvalues. The start is seeded, so that
    every worker finds the same bounds.

    Examples
    --------
    With zeros beyond the image, far beyond 2, where a step of the Richardson
    iteration ``x + P Pᵀ (rhs - H x)`` grows the error:

    >>> from tiledeblur import gaussian_psf
    >>> from tiledeblur.operators import Blur
    >>> for boundary in ("free", "zero"):
    ...     blur = Blur(gaussian_psf(13, (1, 3)), (64, 64), boundary=boundary)
    ...     bounds = spectrum_bounds(lambda x: blur.rmatvec(blur.matvec(x)) + 2e-3 * x,
    ...                              Preconditioner(blur, 2e-3, order=0, padding=64))
    ...     print(boundary, [round(value, 2) for value in bounds])
    free [0.07, 2.0]
    zero [0.89, 11.25]
    """
    residual = np.random.default_rng(0).standard_normal(preconditioner.shape)
    change = preconditioner.inverse(residual)
    direction, progress = change, np.vdot(residual, change)
    first, steps, momenta = progress, [], []
    for _ in range(iterations):
        curved = product(direction)
        steps.append(progress / np.vdot(direction, curved))
        residual = residual - steps[-1] * curved
        change = preconditioner.inverse(residual)
        momenta.append(np.vdot(residual, change) / progress)
        progress = np.vdot(residual, change)
        if progress <= 1e-20 * first:
            # Solved: the Lanczos values are eigenvalues already (a PSF of one pixel took one step, and the next one
            # divided by zero).
            break
        direction = change + momenta[-1] * direction
    steps, momenta = np.array(steps), np.array(momenta)
    diagonal = 1 / steps + np.concatenate([[0.0], momenta[:-1] / steps[:-1]])
    beside = np.sqrt(momenta[:-1]) / steps[:-1]
    eigenvalues = scipy.linalg.eigvalsh_tridiagonal(diagonal, beside)
    return float(eigenvalues[0]), float(eigenvalues[-1])


@primitive
def precondition(z, preconditioner):
    """``preconditioner.apply(z)``, differentiable by autograd through its adjoint."""
    return preconditioner.apply(z)


@primitive
def precondition_adjoint(image, preconditioner):
    """``preconditioner.adjoint(image)``, differentiable by autograd through ``precondition``."""
    return preconditioner.adjoint(image)


defvjp(precondition, lambda ans, z, preconditioner: lambda g: precondition_adjoint(g, preconditioner))
defvjp(precondition_adjoint, lambda ans, image, preconditioner: lambda g: precondition(g, preconditioner))
