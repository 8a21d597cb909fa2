"""Denoising by firm thresholds in sliding windows of the discrete cosine transform.

Each ``WINDOW`` × ``WINDOW`` window of the image, at every offset, is taken
to its 2-D DCT (orthonormal, so white noise of level ``sigma`` stays white at
``sigma`` in every coefficient). Coefficients below ``THRESHOLDS[0]`` times
the noise are set to zero, those above ``THRESHOLDS[1]`` times it kept, and
those between put on the line that joins the two (firm shrinkage: Gao and
Bruce, 1997); the mean (DC) coefficient is kept, and each window is taken
back. Every pixel then lies in ``WINDOW²`` windows, and its value is their
weighted mean, each window weighed by one over the number of coefficients
it kept, one between the thresholds counted by its place on the line: a
window that kept few is smooth there and holds little noise. This is Yu and
Sapiro's "DCT image denoising" (IPOL, 2011) with the aggregation weights of
Dabov et al.'s BM3D (2007), around the hard threshold of BM3D's first step
(2.7).

The thresholds are firm, not hard, so that the result moves little where
the image moves little: a hard threshold drops a whole coefficient where a
small change takes it below, and a tile's solve differs from the whole
image's by up to about 1e-4. With hard thresholds at 2.7 times the noise,
3 × 3 tiles of ``nlmeans`` on a 288² crop of the astronaut came out 1.3e-3
from the whole image's solve, beyond the 1e-3 that tiles must keep (1.4e-4
with the firm ones, 1.7e-4 with non-local means alone; a scratch study,
2026-12-07). Denoising 256² crops of five ``skimage.data`` images under
white noise of 0.01, 0.03 and 0.1, the firm thresholds scored from -0.38 dB
(``brick`` at 0.1) to +0.10 dB against the hard ones, higher in 12 of the
15; the non-negative garrote, also continuous, lost up to 3.9 dB to them at
thresholds of 1.6 to 3.6 times the noise.

Where non-local means (:mod:`tiledeblur.denoising`) averages patches that
look alike, these windows keep what a few cosines describe: edges, and
periodic texture such as a brick wall's, which gained the most. Their
errors differ: in the rounds of a deblurring, the mean of the two did
better than either alone, and it is what :mod:`tiledeblur.denoising` uses
(see the notes there).

Each channel is denoised on its own, also where :mod:`tiledeblur.denoising`
denoises a scene's channels together: Yu and Sapiro first turn red, green
and blue into their sum and two differences, and threshold those, but a
threshold's error in a turned channel then spreads to every channel, and a
channel that is flat, such as red clipped over a slide's glass, took up to
1.3e-2 of its neighbours' noise where a tile that holds only the flat part
keeps it flat (``test_a_channel_flat_over_whole_tiles_still_counts_among_the_channels``
in ``tests/test_pipeline.py``).

The work is done in ``float32``, in strips of whole rows of windows, about
``STRIP_WINDOWS`` windows a strip, so that a tile's 64 coefficients a pixel
never exist at once and a strip's few arrays of them (1 MB each) stay near
the core: the thresholds are a dozen passes over each, which took more time
than the transforms, and on a 1200² image strips of 32 rows (60 MB) took
0.89 s against 0.59 s for these (with the passes cut from twelve to nine;
one core, 2026-12-07).
"""

import functools

import numpy as np
import scipy.fft

__all__ = ["REACH", "THRESHOLDS", "WINDOW", "dct_shrinkage"]

#: The windows' side, as Yu and Sapiro's and BM3D's 8 px patches.
WINDOW = 8
#: The firm threshold's ends, in units of the noise level: around BM3D's hard threshold, 2.7 (see the notes).
THRESHOLDS = (2.2, 3.2)
#: How far a pixel's result reaches: the windows that hold it span this many pixels on each side.
REACH = WINDOW - 1
#: About how many windows are transformed at a time: the fastest of 1024 to 16384 on 512², 1200² and 2100² images.
STRIP_WINDOWS = 4096


@functools.cache
def _window_transforms():
    """The 2-D orthonormal DCT of a flattened window and its inverse, as ``WINDOW² × WINDOW²`` matrices, made once."""
    cosines = scipy.fft.dct(np.eye(WINDOW), norm="ortho", axis=0)
    transform = np.kron(cosines, cosines).astype(np.float32)
    return transform, np.ascontiguousarray(transform.T)


def _shrunk(windows, sigma):
    """The ``windows`` (one a column) after firm thresholds in their DCT, each times its weight, and the weights:
    one over the coefficients that each kept, a coefficient between the thresholds counted by its place between
    them, the mean's always among them."""
    transform, inverse = _window_transforms()
    coefficients = transform @ windows
    varying = coefficients[1:]  # the mean (DC) is kept as it is
    low, high = np.float32(THRESHOLDS[0] * sigma), np.float32(THRESHOLDS[1] * sigma)
    # Firm shrinkage of a magnitude m: the line (m - low) high / (high - low) from 0 at low to m at high, taken
    # between 0 and m; its part of high is the coefficient's part in the count. In place where it can be: the
    # passes over the coefficients, not the transforms, take most of the time.
    magnitudes = np.abs(varying)
    shrunk = magnitudes - low
    shrunk *= high / (high - low)
    np.maximum(shrunk, 0, out=shrunk)
    weight = 1 / (1 + np.minimum(shrunk, high).sum(axis=0) * (1 / high))
    np.minimum(shrunk, magnitudes, out=shrunk)
    np.copysign(shrunk, varying, out=varying)
    coefficients *= weight
    return inverse @ coefficients, weight


def dct_shrinkage(image, sigma):
    """``image`` denoised by firm thresholds at ``THRESHOLDS`` times ``sigma`` in its sliding DCT windows (see the
    notes).

    Parameters
    ----------
    image : (M, N) ndarray
    sigma : float
        The noise level, the standard deviation of white noise; positive.

    Returns
    -------
    (M, N) ndarray
        Of ``image``'s dtype, computed in ``float32``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> edge = np.where(np.arange(64) < 32, 0.2, 0.8) * np.ones((64, 1))
    >>> noisy = edge + rng.normal(0, 0.05, edge.shape)
    >>> bool(np.std(dct_shrinkage(noisy, 0.05) - edge) < 0.4 * np.std(noisy - edge))
    True

    A constant stays as it is:

    >>> float(np.ptp(dct_shrinkage(np.full((16, 16), 0.5), 0.1)))
    0.0
    """
    # Reflected, so that every pixel lies in as many windows as an inner one.
    padded = np.pad(np.asarray(image, dtype=np.float32), REACH, mode="reflect")
    rows, columns = padded.shape[0] - REACH, padded.shape[1] - REACH  # the windows' corners
    total = np.zeros(padded.shape, np.float32)
    weights = np.zeros((rows, columns), np.float32)
    offsets = [(dy, dx) for dy in range(WINDOW) for dx in range(WINDOW)]
    strip = max(1, STRIP_WINDOWS // columns)
    for top in range(0, rows, strip):
        height = min(strip, rows - top)
        # Row i of the windows holds the pixel at offset i of each window of the strip, flattened.
        windows = np.empty((WINDOW**2, height * columns), np.float32)
        for index, (dy, dx) in enumerate(offsets):
            windows[index] = padded[top + dy:top + dy + height, dx:dx + columns].ravel()
        restored, weight = _shrunk(windows, sigma)
        for index, (dy, dx) in enumerate(offsets):
            total[top + dy:top + dy + height, dx:dx + columns] += restored[index].reshape(height, columns)
        weights[top:top + height] = weight.reshape(height, columns)
    # Each pixel's weight is the sum of the weights of the windows that hold it: a box sum over the corners.
    summed = np.zeros(padded.shape, np.float32)
    for dy, dx in offsets:
        summed[dy:dy + rows, dx:dx + columns] += weights
    return (total / summed)[REACH:-REACH, REACH:-REACH].astype(np.result_type(image, np.float32), copy=False)

