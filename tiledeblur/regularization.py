"""``mu="auto"``: one regularization weight for a whole image, from its noise.

The rule
--------
The noise level ``sigma`` of the observed image is estimated with
:func:`skimage.restoration.estimate_sigma` (a wavelet median absolute
deviation, robust to the image's own edges), and

    mu = DEFAULT_MU[loss] * (sigma / REFERENCE_SIGMA) ** 2,

clipped to ``[DEFAULT_MU / MU_RANGE, DEFAULT_MU * MU_RANGE]``. For white
noise and natural images, whose spectra fall as ``1 / f²``, the Wiener-optimal
weight of a quadratic prior grows with the noise variance; the design notes
measured the best mu growing roughly so. The rule is anchored at the defaults,
which are the best of a sweep at ``sigma = 0.01``; the clip keeps nearly
noise-free images from an ill-posed, slow solve and very noisy ones from
washing out.

For a tiled run the noise is estimated on a fixed, evenly spread sample of
regions, and the median is used for every tile: one mu for the whole image,
so that all tiles solve one problem.
"""

import math

import numpy as np
from skimage.restoration import estimate_sigma

from .objectives import DEFAULT_MU

__all__ = ["MU_RANGE", "REFERENCE_SIGMA", "auto_mu", "estimate_image_noise", "estimate_noise", "is_auto",
           "sample_regions"]

REFERENCE_SIGMA = 0.01
MU_RANGE = 30.0
SAMPLE_SIDE = 256
MAX_SAMPLES = 16


def is_auto(mu):
    """Whether ``mu`` asks for the automatic rule (the string ``"auto"``)."""
    return isinstance(mu, str) and mu == "auto"


def estimate_noise(image):
    """Standard deviation of the noise of a 2-D float image.

    Examples
    --------
    >>> noisy = 0.5 + np.random.default_rng(0).normal(0, 0.02, (128, 128))
    >>> round(estimate_noise(noisy), 3)
    0.02
    """
    return float(estimate_sigma(np.asarray(image, dtype=np.float64)))


def auto_mu(sigma, loss):
    """The weight for noise level ``sigma`` (on a [0, 1] scale), by the module's rule.

    Examples
    --------
    >>> auto_mu(0.01, "tikhonov") == DEFAULT_MU["tikhonov"]
    True
    """
    default = DEFAULT_MU[loss]
    mu = default * (sigma / REFERENCE_SIGMA) ** 2
    return float(np.clip(mu, default / MU_RANGE, default * MU_RANGE))


def sample_regions(shape):
    """Up to ``MAX_SAMPLES`` square regions spread evenly over an image of ``shape``.

    Examples
    --------
    >>> len(sample_regions((4096, 4096))), sample_regions((100, 60))
    (16, [(slice(0, 100, None), slice(0, 60, None))])
    """
    side = [min(SAMPLE_SIDE, n) for n in shape]
    per_axis = int(math.sqrt(MAX_SAMPLES))
    starts = [np.unique(np.linspace(0, n - s, min(per_axis, n // s)).astype(int)).tolist() for n, s in zip(shape, side)]
    return [
        (slice(y, y + side[0]), slice(x, x + side[1])) for y in starts[0] for x in starts[1]
    ]


def estimate_image_noise(read_region, shape):
    """The median noise over the sample regions; ``read_region(yx)`` returns float channels.

    ``read_region`` returns a ``(C, y, x)`` array of one region, so that any
    store and channel layout can be sampled.
    """
    estimates = [estimate_noise(channel) for yx in sample_regions(shape) for channel in read_region(yx)]
    return float(np.median(estimates))
