"""``denoise=True``: the noise that a quadratic solve leaves, removed by one pass of non-local means.

A quadratic loss (``laplacian``, ``tikhonov``) restores the image by a linear
filter, which must amplify the noise in order to restore detail: its weight
``mu`` balances the two, and at the best weight the result still holds
noise, coloured by the filter. A non-local means pass (Buades, Coll and
Morel, 2005) at that noise's level then removes much of it and keeps the
detail that like patches share. Deconvolution followed by denoising of the
coloured noise left is the scheme of Neelamani, Choi and Baraniuk's ForWaRD
(2004), with wavelet shrinkage, and of Dabov et al.'s BM3D deblurring (2008).

The level is the data's noise ``sigma`` times the filter's noise gain,
``sqrt(mean(|B|² / (|B|² + mu |D|^(2 order))²))`` over the frequencies of a
periodic grid of ``GAIN_GRID`` (:func:`residual_noise`): it depends on the
PSF, ``mu`` and ``sigma`` alone, so every tile of an image gets the same.
``sigma`` is estimated once per image (:mod:`tiledeblur.regularization`).
The rounds of ``loss="nlmeans"`` (:mod:`tiledeblur.plugandplay`) use the
same non-local means.

Measured on ``benchmarks/bench_quality.py``'s 72 cases (a scratch study,
2026-12-03, with the noise that GCV estimates, 0.99 to 1.09 times the true
one): ``laplacian`` at its automatic weight won the interior against the
best-tuned peer in 37 cases by a median +0.00 dB; with the pass, 67 by +0.23
dB (the worst -0.43 dB, on the nearly flat ``cell``, against -0.53 without;
the benchmark itself, 67 by +0.22 dB). Of strengths from 0.4 to 1.0 times
the level, 0.4 to 0.7 won 66 or 67 cases; ``STRENGTH`` is scikit-image's
suggestion among them. Halving ``mu`` for a sharper solve before the pass
raised the median (+0.39 dB at 0.6, +0.47 at 1.0) but won fewer (57 to 60)
and lost up to 1.2 dB on ``cell``; so the pass keeps the solve's weight, and
``mu="auto"``'s halo.

Three more scratch studies on the same cases (2026-12-03) left the pass as
it is. Its own settings barely matter: against 67 won by +0.23 dB, patches
of 7 px won 66 or 67 by +0.24 to +0.27 dB (search distances of 6 and 11 px),
a distance of 4 px 67 by +0.20 dB in half the time (0.11 s against 0.22 s
per 256² case), strength 0.8 62 or 63, and 3 px patches 53. Rounds of
:mod:`tiledeblur.plugandplay` after the pass, started from its result at 1,
at 1.5 then 1, or at 4, 2 then 1 times the noise, raised the median to at
most +0.57 dB (the three rounds) but won 49 to 60 cases, losing ``cell`` by
up to 6 dB: what ``loss="nlmeans"`` gains on photographs needs its whole
schedule from 20 times the noise (on ``camera``, a median +1.75 dB, against
+0.86 dB after the three rounds from 4). A second stage, the empirical
Wiener filter of Dabov et al.'s second step in sliding 8 px DCT windows
without their grouping, with the pass for its oracle and the coloured
noise's variance per coefficient from the filter, moved three trial cases by
-0.09 to +0.02 dB.

With the grouping too, the collaborative filter of Dabov et al. gains little
for its cost (a scratch study, 2026-12-04, on the same 72 cases): their two
steps (8 px patches every 3 px, the 16 most alike within 9 px, a 3-D DCT,
hard thresholds at 2.7 times the noise, then Wiener shrinkage, each against
the coloured noise's variance per coefficient that the filter gives), after
a solve at ``mu`` times 1, 0.5 or 0.3, won 67, 68 or 61 cases by +0.22,
+0.34 or +0.40 dB, against the pass's 67 by +0.22 dB, in about 45 times the
pass's time in numpy (2.4 s against 0.055 s on a 256² case). Against the
pass, the smaller weights gained up to 1.3 dB on repeated texture
(``brick``) and lost up to 1.2 dB on ``cell``; on ``grass`` and ``gravel``
under Gaussian blur no restoration here or among the peers moves far from
another.

Its reach is ``REACH`` px (the search distance and half a patch), which a
tile's halo covers on top of the solve's.
"""

import numpy as np
import scipy.fft
import scipy.ndimage
from skimage.restoration import denoise_nl_means

from .operators import periodic_transfer, smoothness_power

__all__ = ["DENOISED_LOSSES", "GAIN_GRID", "PATCH_DISTANCE", "PATCH_SIZE", "REACH", "STRENGTH", "non_local_means",
           "residual_noise"]

#: The losses whose solve ``denoise=True`` follows with a pass: the quadratic ones, whose noise is a filter's.
DENOISED_LOSSES = ("laplacian", "tikhonov")
#: Non-local means' patch side and search distance, and its filter's strength per unit of noise: scikit-image's
#: suggestion for its fast mode with the noise given.
PATCH_SIZE, PATCH_DISTANCE, STRENGTH = 5, 6, 0.6
#: How far a pixel's result reaches: its search distance and half a patch.
REACH = PATCH_DISTANCE + PATCH_SIZE // 2
#: The periodic grid on which :func:`residual_noise` averages the filter's gain: a mean over frequencies, which
#: a finer grid barely changes.
GAIN_GRID = (256, 256)


def residual_noise(psf, mu, order, sigma):
    """The standard deviation of white noise ``sigma`` after the quadratic filter of ``mu`` and ``order``.

    Parameters
    ----------
    psf : (P, Q) ndarray
        Normalized.
    mu : float
        The filter's weight.
    order : int
        That of its smoothness term, ``|D|^(2 order)``
        (:data:`tiledeblur.objectives.SMOOTHNESS_ORDER`).
    sigma : float
        The data's noise.

    Examples
    --------
    With no blur and no weight the noise stays; a larger weight smooths more of it:

    >>> identity = np.ones((1, 1))
    >>> round(residual_noise(identity, 1e-12, 2, 0.01), 6)
    0.01
    >>> bool(residual_noise(identity, 1.0, 2, 0.01) < residual_noise(identity, 0.1, 2, 0.01) < 0.01)
    True
    """
    blur_power = np.abs(periodic_transfer(psf, GAIN_GRID)) ** 2
    gain = blur_power / (blur_power + mu * smoothness_power(GAIN_GRID, order)) ** 2
    # The rfft holds each column but the first and the last (Nyquist's, on an even grid) for two.
    counts = np.full(gain.shape[1], 2.0)
    counts[[0, -1]] = 1.0
    return float(sigma * np.sqrt(np.sum(counts * gain) / np.prod(GAIN_GRID)))


def non_local_means(image, sigma, unobserved=None):
    """``image`` after non-local means at the noise level ``sigma`` (fast mode, this module's patches).

    Pixels ``unobserved`` (without a datum) are seen as the nearest observed
    pixel's value, and keep their own: the data hardly hold their values,
    which follow a solve's path (see :mod:`tiledeblur.plugandplay`).

    Examples
    --------
    >>> noisy = np.random.default_rng(0).normal(0.5, 0.05, (32, 32))
    >>> bool(np.std(non_local_means(noisy, 0.05)) < np.std(noisy))
    True
    """
    seen = image
    if unobserved is not None and unobserved.any():
        nearest = scipy.ndimage.distance_transform_edt(unobserved, return_distances=False, return_indices=True)
        seen = image[tuple(nearest)]
    # scikit-image squeezes an image of one row or column to 1-D (found by a probe).
    denoised = denoise_nl_means(seen, patch_size=PATCH_SIZE, patch_distance=PATCH_DISTANCE, h=STRENGTH * sigma,
                                sigma=sigma, fast_mode=True).reshape(image.shape)
    if unobserved is not None:
        denoised[unobserved] = image[unobserved]
    return denoised
