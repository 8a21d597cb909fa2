"""Linear operators of the deblurring problem, as autograd primitives.

Two operators appear in every loss: the blur ``A`` (a convolution with the PSF)
and the forward differences ``D`` (with ``DᵀD``, the grid's Laplacian, built
from them). Both are wrapped as autograd primitives
whose vector-Jacobian product is their exact adjoint, so autograd never traces
through an FFT or a slice; gradients and Hessian-vector products cost a handful
of FFTs each. The adjoint of each adjoint is the operator again, which is what
reverse-over-reverse Hessian-vector products need.
"""

import numpy as np
import scipy.fft
import scipy.ndimage
import scipy.sparse
from autograd.extend import defvjp, primitive

from .psf import psf_radius

__all__ = [
    "BOUNDARIES", "Blur", "blur", "blur_adjoint", "difference_power", "differences", "differences_adjoint",
    "fft_filter", "grid_laplacian", "periodic_psf", "periodic_transfer", "smoothness_power", "smoothness_rows",
    "unknown_shape",
]

#: The boundary models, see :class:`Blur`.
BOUNDARIES = ("zero", "free")


class Blur:
    """The blur ``A``, a convolution with a PSF, computed with real FFTs.

    Parameters
    ----------
    psf : (P, Q) ndarray
        A PSF as :func:`tiledeblur.check_psf` returns it.
    observed_shape : (M, N) tuple of int
        Shape of the observed (blurred) image, which ``A`` produces.
    boundary : {"zero", "free"}
        ``"zero"``: the unknown image has shape ``(M, N)`` and is zero outside;
        ``A`` is the "same" convolution. ``"free"``: the unknown image is larger
        by the PSF radius on every side, ``(M + P - 1, N + Q - 1)``, and ``A`` is
        the "valid" convolution, so nothing is assumed beyond the unknown.
    missing : (M, N) ndarray of bool, optional
        True at the observed pixels that hold no datum (NaN in the input, such
        as the blank beyond an astronomy mosaic's footprint, or bad pixels).
        ``A`` yields zero there, so the data term leaves them out, and the
        unknown keeps only the pixels within the PSF's reach of a datum:
        deep inside a hole nothing constrains the image, and the band of
        unknowns around it is the ``free`` model's band around the image.
    precision : {numpy.float64, numpy.float32}, optional
        The dtype of the FFTs and of the results. float32 transforms take a
        third of the time of float64 ones here and are accurate to about 1e-6,
        a thousand times below what an 8- or 16-bit output can show; the
        solver uses them, the tests of exactness use float64.

    Notes
    -----
    Both models are one crop of a full linear convolution: ``A x`` is
    ``(x * psf)[offset : offset + (M, N)]`` with ``offset`` the PSF radius
    (``zero``) or twice it (``free``). A circular convolution of length ``L``
    gives those samples exactly once ``L >= in + P - 1 - offset``, so the FFT
    length is the next fast length above that, never the full ``in + P - 1``.

    Examples
    --------
    >>> from tiledeblur import gaussian_psf
    >>> op = Blur(gaussian_psf(5, 1.0), (32, 40), boundary="free")
    >>> op.unknown_shape
    (36, 44)
    >>> op.matvec(np.ones(op.unknown_shape)).shape
    (32, 40)
    """

    def __init__(self, psf, observed_shape, *, boundary, missing=None, precision=np.float64):
        if boundary not in BOUNDARIES:
            raise ValueError(f"boundary: expected one of {BOUNDARIES}, got {boundary!r} instead.")
        radius = psf_radius(psf)
        self.psf = psf
        self.boundary = boundary
        self.precision = np.dtype(precision)
        self.observed_shape = tuple(observed_shape)
        # The "free" unknown gains a PSF radius on each side, and its observed
        # pixels start one radius further in.
        free = boundary == "free"
        self.unknown_shape = unknown_shape(self.observed_shape, psf, boundary=boundary)
        #: Where the observed pixels lie in the unknown image: the result to keep.
        self.observed_in_unknown = tuple(slice(r * free, r * free + m) for m, r in zip(self.observed_shape, radius))
        data = np.zeros(self.unknown_shape, dtype=bool)
        data[self.observed_in_unknown] = True if missing is None else ~missing
        #: 1 at the observed pixels that hold data and 0 at missing ones; None where none is missing.
        self.weights = None if missing is None or not missing.any() else (~missing).astype(self.precision)
        #: The unknowns: True within the PSF's reach of a datum; None where that is every pixel.
        #: The others are held at zero and take no part in the loss.
        self.support = None if self.weights is None else scipy.ndimage.maximum_filter(data, size=psf.shape,
                                                                                       mode="constant")
        #: The differences between two unknowns, as a mask of :func:`differences`' shape; None for all.
        self.edges = None if self.support is None else _edges_within(self.support)
        #: True on the band of unknown pixels that no datum is centred on (none for "zero" without missing pixels).
        self.unobserved = ~data if self.support is None else self.support & ~data
        #: True on the band that the "free" model adds around the observed pixels (none for "zero").
        self.outer_band = np.ones(self.unknown_shape, dtype=bool)
        self.outer_band[self.observed_in_unknown] = False
        offset = tuple(r * (1 + free) for r in radius)
        self._fft_shape = tuple(
            scipy.fft.next_fast_len(n + p - 1 - o, real=True)
            for n, p, o in zip(self.unknown_shape, psf.shape, offset)
        )
        self._spectrum = scipy.fft.rfftn(psf.astype(self.precision), s=self._fft_shape)
        self._observed = tuple(slice(o, o + m) for o, m in zip(offset, self.observed_shape))
        self._unknown = tuple(slice(0, n) for n in self.unknown_shape)

    def matvec(self, x):
        """``A x``: blur an array of ``unknown_shape`` to ``observed_shape``."""
        blurred = fft_filter(x.astype(self.precision, copy=False), self._spectrum, self._fft_shape)[self._observed]
        return blurred if self.weights is None else blurred * self.weights

    def rmatvec(self, y):
        """``Aᵀ y``: the exact adjoint, from ``observed_shape`` to ``unknown_shape``."""
        padded = np.zeros(self._fft_shape, dtype=self.precision)
        padded[self._observed] = y if self.weights is None else y * self.weights
        spectrum = scipy.fft.rfftn(padded) * self._spectrum.conj()
        return scipy.fft.irfftn(spectrum, s=self._fft_shape)[self._unknown]


def unknown_shape(observed_shape, psf, *, boundary):
    """The shape of the image that :class:`Blur` solves for: the observed one, grown by the PSF's radius on each
    side for the ``free`` boundary.

    Examples
    --------
    >>> unknown_shape((64, 48), np.ones((5, 3)) / 15, boundary="free"), unknown_shape((64, 48), np.ones((5, 3)),
    ...                                                                               boundary="zero")
    ((68, 50), (64, 48))
    """
    free = boundary == "free"
    return tuple(m + 2 * r * free for m, r in zip(observed_shape, psf_radius(psf)))


def fft_filter(image, symbol, fft_shape):
    """``irfftn(rfftn(image, fft_shape) * symbol)``: a circular filter, with its spectrum multiplied in place.

    At a tile of 1142² pixels a float64 spectrum is 11 MB, and the peak
    memory of a worker counts every one alive at once.

    Examples
    --------
    >>> fft_filter(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 0.0, 0.0]), (4,))
    array([2.5, 2.5, 2.5, 2.5])
    """
    spectrum = scipy.fft.rfftn(image, s=fft_shape)
    spectrum *= symbol
    return scipy.fft.irfftn(spectrum, s=fft_shape)


@primitive
def blur(x, operator):
    """``operator.matvec(x)``, differentiable by autograd through its adjoint."""
    return operator.matvec(x)


@primitive
def blur_adjoint(y, operator):
    """``operator.rmatvec(y)``, differentiable by autograd through ``blur``."""
    return operator.rmatvec(y)


defvjp(blur, lambda ans, x, operator: lambda g: blur_adjoint(g, operator))
defvjp(blur_adjoint, lambda ans, y, operator: lambda g: blur(g, operator))


def _edges_within(support):
    """The differences between two pixels of ``support``, True in an array of :func:`differences`' shape."""
    edges = np.zeros((2,) + support.shape, dtype=bool)
    edges[0, :-1] = support[:-1] & support[1:]
    edges[1, :, :-1] = support[:, :-1] & support[:, 1:]
    return edges


@primitive
def differences(x, edges=None):
    """Forward differences ``D x`` along both axes, stacked as ``(2, M, N)``.

    The last row of the axis-0 differences and the last column of the axis-1
    differences are zero (a Neumann boundary), so both components share the
    pixel grid and the isotropic gradient magnitude is defined everywhere.
    ``edges`` (a :attr:`Blur.edges`) keeps only the differences between two
    unknowns, and sets the others to zero: the edge of the unknowns is then
    free, as the border of the unknown image is.

    Examples
    --------
    >>> differences(np.array([[0.0, 1.0], [2.0, 4.0]]))[1]
    array([[1., 0.],
           [2., 0.]])
    """
    grad = np.zeros((2,) + x.shape, dtype=x.dtype)
    grad[0, :-1] = x[1:] - x[:-1]
    grad[1, :, :-1] = x[:, 1:] - x[:, :-1]
    if edges is not None:
        grad *= edges
    return grad


@primitive
def differences_adjoint(grad, edges=None):
    """``Dᵀ g``, the exact adjoint of :func:`differences` (a negative divergence)."""
    if edges is not None:
        grad = grad * edges
    out = np.zeros(grad.shape[1:], dtype=grad.dtype)
    out[:-1] -= grad[0, :-1]
    out[1:] += grad[0, :-1]
    out[:, :-1] -= grad[1, :, :-1]
    out[:, 1:] += grad[1, :, :-1]
    return out


defvjp(differences, lambda ans, x, edges=None: lambda g: differences_adjoint(g, edges))

# doctest skips what autograd's primitive wraps, as defined elsewhere: name its example.
__test__ = {"differences": differences.__doc__}


def grid_laplacian(x, edges=None):
    """``DᵀD x``, the (negative) Laplacian of the pixel grid that :func:`differences` defines.

    Its stencil is 4 at a pixel and -1 at each of its neighbours, less at the
    border and beside a missing difference (``edges``), where it is the
    Neumann Laplacian. Autograd differentiates it through :func:`differences`.

    Examples
    --------
    >>> grid_laplacian(np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]))
    array([[ 0., -1.,  0.],
           [-1.,  4., -1.],
           [ 0., -1.,  0.]])
    """
    return differences_adjoint(differences(x, edges), edges)


def smoothness_rows(shape, order, pixels, edges=None):
    """The rows of the smoothness operator of ``order`` that touch ``pixels``, on those pixels only, as a sparse matrix.

    ``order=1`` gives rows of the differences ``D`` (the axis-0 differences
    first, then the axis-1 ones, as :func:`differences` stacks them);
    ``order=2`` gives rows of the Laplacian ``DᵀD``; ``order=0`` those of the
    identity. ``pixels`` are sorted
    flat indices into the image of ``shape``, and ``edges`` drops differences
    as :func:`differences` does. Only the rows near ``pixels`` are built:
    the whole grid's matrix of a 1192² tile raised its peak memory by 310 MB
    and took 0.4 s, where the rows of its band, a ring of 28,000 pixels, take
    0.03 s (found by a probe of a worker's memory).

    Examples
    --------
    >>> x = np.arange(12.0).reshape(3, 4) ** 2
    >>> laplacian = smoothness_rows(x.shape, 2, np.arange(x.size))
    >>> bool(np.allclose(laplacian @ x.ravel(), grid_laplacian(x).ravel()))
    True
    >>> smoothness_rows(x.shape, 1, np.array([0])).toarray().ravel()  # the differences down and right of a corner
    array([-1., -1.])
    """
    if order == 0:
        return scipy.sparse.identity(pixels.size, format="csr")
    near = _within_one_step(shape, pixels) if order == 2 else pixels
    rows = _difference_rows(shape, near, edges)
    matrix = rows[:, pixels] if order == 1 else (rows[:, near].T @ rows[:, pixels]).tocsr()
    return matrix[np.flatnonzero(matrix.getnnz(axis=1))]


def _within_one_step(shape, pixels):
    """``pixels`` and their four neighbours in the image of ``shape``, as sorted flat indices."""
    mask = np.zeros(shape, dtype=bool)
    mask.ravel()[pixels] = True
    grown = mask.copy()
    grown[1:] |= mask[:-1]
    grown[:-1] |= mask[1:]
    grown[:, 1:] |= mask[:, :-1]
    grown[:, :-1] |= mask[:, 1:]
    return np.flatnonzero(grown)


def _difference_rows(shape, pixels, edges):
    """The rows of ``D`` (:func:`differences`) that touch ``pixels``, in ``D``'s order, on every pixel."""
    size = shape[0] * shape[1]
    row, column = np.divmod(pixels, shape[1])
    # The difference along an axis at q is x[q + step] - x[q]; it touches q and q + step, and none leaves the last
    # row or column.
    starts = [np.concatenate([pixels[row < shape[0] - 1], pixels[row > 0] - shape[1]]),
              np.concatenate([pixels[column < shape[1] - 1], pixels[column > 0] - 1])]
    starts = [np.unique(start) for start in starts]
    steps = np.concatenate([np.full(starts[0].size, shape[1]), np.ones(starts[1].size, dtype=int)])
    first = np.concatenate(starts)
    weights = np.ones(first.size) if edges is None else np.concatenate(
        [edges[axis].ravel()[start] for axis, start in enumerate(starts)]).astype(float)
    first, steps, weights = (part[weights != 0] for part in (first, steps, weights))  # no row for a dropped edge
    rows = np.arange(first.size)
    return scipy.sparse.csr_matrix((np.concatenate([-weights, weights]),
                                    (np.concatenate([rows, rows]), np.concatenate([first, first + steps]))),
                                   shape=(first.size, size))


def periodic_psf(psf, shape):
    """``psf`` folded onto a periodic grid of ``shape``: the kernel of the same circular blur there.

    ``rfft2(psf, s=shape)`` crops a PSF larger than the grid, and with it
    the blur's peak once its side is twice the grid's (found by a probe: a
    Gaussian of sigma 1 in a 513 px stamp got a GCV weight 36 times smaller
    on 256 px regions than in a 13 px one, and in a 1025 px stamp a noise
    level of NaN). Folded, its spectrum on the grid is the PSF's own, sampled
    at the grid's frequencies. A PSF within the grid is returned as it is.

    Examples
    --------
    >>> psf = np.zeros((5, 5))
    >>> psf[2, 2] = 1.0
    >>> periodic_psf(psf, (3, 3))
    array([[0., 0., 0.],
           [0., 0., 0.],
           [0., 0., 1.]])
    """
    if all(p <= n for p, n in zip(psf.shape, shape)):
        return psf
    padded = np.pad(psf, [(0, -p % n) for p, n in zip(psf.shape, shape)])
    (rows, columns), (m, n) = padded.shape, shape
    return padded.reshape(rows // m, m, columns // n, n).sum(axis=(0, 2))


def periodic_transfer(psf, shape):
    """The transfer function of ``psf`` on a periodic grid of ``shape``: the ``rfft2`` of :func:`periodic_psf`.

    Its phase holds the PSF's offset from the grid's origin, which its power, ``|K|²``, does not.

    Examples
    --------
    >>> power = np.abs(periodic_transfer(np.ones((3, 3)) / 9, (8, 8))) ** 2
    >>> power.shape, float(power[0, 0])
    ((8, 5), 1.0)
    """
    return scipy.fft.rfft2(periodic_psf(psf, shape), s=shape)


def smoothness_power(shape, order):
    """``|D|^(2 order)``: the spectrum of ``DᵀD`` (``order=1``), of ``(DᵀD)²`` (``order=2``) or of ``I`` (0), periodic.

    Examples
    --------
    >>> smoothness_power((4, 4), 2)[:, 0]
    array([ 0.,  4., 16.,  4.])
    """
    return difference_power(shape) ** order


def difference_power(shape):
    """``|D|²``, the spectrum of ``DᵀD`` for periodic differences, on the rfft grid of ``shape``.

    Examples
    --------
    >>> difference_power((4, 4))[:, 0]
    array([0., 2., 4., 2.])
    """
    rows = 2 - 2 * np.cos(2 * np.pi * scipy.fft.fftfreq(shape[0]))
    columns = 2 - 2 * np.cos(2 * np.pi * scipy.fft.rfftfreq(shape[1]))
    return rows[:, None] + columns[None, :]
defvjp(differences_adjoint, lambda ans, grad, edges=None: lambda g: differences(g, edges))
