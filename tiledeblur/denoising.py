"""``denoise=True``: the noise that a quadratic solve leaves, removed by one pass of a denoiser.

A quadratic loss (``laplacian``, ``tikhonov``) restores the image by a linear
filter, which must amplify the noise in order to restore detail: its weight
``mu`` balances the two, and at the best weight the result still holds
noise, coloured by the filter. A pass of a denoiser at that noise's level
then removes much of it and keeps the detail: the mean of non-local means
(Buades, Coll and Morel, 2005), which keeps what like patches share, and of
the shrinkage of sliding DCT windows (:mod:`tiledeblur.shrinkage`), which
keeps what a few cosines describe (see *Two denoisers* below; the studies
before it were of non-local means alone). Deconvolution followed by denoising of the
coloured noise left is the scheme of Neelamani, Choi and Baraniuk's ForWaRD
(2004), with wavelet shrinkage, and of Dabov et al.'s BM3D deblurring (2008).

The level is the data's noise ``sigma`` times the filter's noise gain,
``sqrt(mean(|B|² / (|B|² + mu |D|^(2 order))²))`` over the frequencies of a
periodic grid of ``GAIN_GRID`` (:func:`residual_noise`): it depends on the
PSF, ``mu`` and ``sigma`` alone, so every tile of an image gets the same.
``sigma`` is estimated once per image (:mod:`tiledeblur.regularization`).
The rounds of ``loss="nlmeans"`` (:mod:`tiledeblur.plugandplay`) use the
same denoiser (:func:`denoised`).

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

Nor does a strength chosen for each image: on the near-ties with the tuned
Wiener filter (``retina``, ``immunohistochemistry``, ``chelsea`` and
``cell``, gray, under the three PSFs at the three noise levels; a scratch
study, 2026-12-06), the best of 0.3 to 1.3 times the level for each case,
chosen with the truth, gained a median 0.008 dB over ``STRENGTH`` (at most
0.05), and beat ``loss="auto"`` in 10 of the 36 cases, by at most 0.03 dB.

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

Its reach is ``REACH`` px (non-local means' search distance and half a
patch, beyond the 7 px of the DCT windows), which a tile's halo covers on
top of the solve's.

Two denoisers
-------------
Non-local means sets each pixel to a mean over the patches near it that
look like its own, so it keeps what like patches share; the shrinkage of
sliding 8 px DCT windows (:mod:`tiledeblur.shrinkage`) keeps what a few
cosines of a window describe, an edge or a texture's period. :func:`denoised`
takes the mean of the two, whose errors differ. Denoising 256² crops of
``camera``, ``coins``, ``astronaut``, ``brick`` and ``gravel`` under white
noise of 0.01, 0.03, 0.1 and 0.3 (a scratch study, 2026-12-07, with hard
thresholds at 2.7 times the noise), the mean scored 0.33 to 1.58 dB above
non-local means alone in all 20, and from -1.21 dB (``brick`` at 0.3) to
+0.43 dB against the shrinkage alone. In deblurring, the shrinkage alone
did not serve: in place of non-local means in the rounds and the pass, on
``benchmarks/bench_quality.py``'s 72 cases, hard thresholds of 3, 2.5 and 2
times the noise won 68, 68 and 67 cases by a median +0.84, +0.95 and +1.01
dB (non-local means: 68, +1.01 dB), gaining up to 2.75 dB on ``brick`` and
losing up to 0.88 dB on ``camera``, ``astronaut`` and ``coins``. The mean,
with the firm thresholds of :mod:`tiledeblur.shrinkage`, won 68 by +1.12
dB, and moved the cases by a mean +0.26 dB (-0.16 to +1.77: ``brick`` +0.8
to +1.8, ``camera`` and ``astronaut`` under the motion line +0.3 to +0.8,
``cell``, through the pass, +0.07 to +0.12); the 54 cases of other images
and PSFs that the README cites by a mean +0.11 dB (-0.14 to +0.81; 52 won
by +0.65 dB, against 51 by +0.49 dB). With hard thresholds at 2.7 times
the noise, the same within 0.05 dB a case, but tiles drifted from the whole
image's solve (see :mod:`tiledeblur.shrinkage`). With windows every 2 px
in place of every pixel, a quarter of the shrinkage's work, the median was
+1.04 dB and the mean gain +0.17 dB (hard thresholds). The shrinkage costs
less than non-local means (0.72 s against 0.88 s on a 1200² image, one
core), but an ``nlmeans`` tile of ``benchmarks/bench_core.py`` took 42%
and 28% more time than with non-local means alone, at 512² and 1024²; the
shrinkage in strips that stay near the core (0.59 s on 1200²) won back 6%
and 13% of it (2026-12-07). Non-local means' search distance of 4 px in
place of 6 would win 18% more, and the shrinkage now keeps much of the
repeated texture that the farther patches found (``brick`` lost at most
0.19 dB, where non-local means alone had lost 0.29): the benchmark's sets
moved by a mean -0.014 to +0.008 dB a case (the 72: 68 won by +1.10 dB;
the 54: 52 by +0.66 dB; a scratch study, 2026-12-07). It was not taken:
on the 192² ``retina`` of ``tests/test_selection.py``, the mix that
``loss="auto"`` chose then fell 0.018 dB below ``laplacian`` alone (at 5
px, 0.004 dB), where at 6 px it beats both. In the first ``EARLY_ROUNDS``
rounds alone, whose images the later rounds remake, 4 px is the default
(``EARLY_DISTANCE``): the benchmark's sets moved by a mean -0.006 to
+0.006 dB a case (the 72: 68 won by +1.10 dB, ``brick`` -0.14 dB at
worst; the 54: 52 by +0.66 dB; photons: 68 by +0.49 dB; the fields: 26 by
+0.17 dB; colour: 27 by +1.32 dB), the retina's mix kept its lead, and an
``nlmeans`` tile of ``benchmarks/bench_core.py`` took 11% and 8% less
time, at 512² and 1024². Where
channels are denoised together, non-local means compares their patches
together and the shrinkage takes each channel on its own (see
:mod:`tiledeblur.shrinkage`).

A third stage did not pay in the rounds (a scratch study, 2026-12-07): the
empirical Wiener filter of BM3D's second step in the same sliding windows,
each coefficient kept by ``P² / (P² + s²)``, where ``P`` is the mean's, and
each window weighed by one over its gains' squares. Denoising 256² crops
of ten ``skimage.data`` images under white noise of 0.005 to 0.3, it
scored -0.10 to +1.27 dB against the mean (``retina`` +0.55 to +1.04).
Through the rounds and the pass, the 72 cases were won in 67 by +1.05 dB
(against 68 by +1.12 dB): ``brick`` gained a mean 0.45 dB a case, and the
photographs under the motion line lost up to 0.57 dB (``astronaut`` at
noise 0.005); the 54 others in 52 by +0.76 dB (against +0.65), ``coffee``
losing a mean 0.20 dB a case and ``retina`` moving by +0.006 dB. The
near-ties with the tuned Wiener filter are not the denoiser's to win.

Channels together
-----------------
The channels of a colour image show one scene, so their patches are alike
where the scene's are: the pass and ``nlmeans``' rounds denoise a tile's
channels together (:func:`denoised_together`), each divided by its own noise
level, with patch distances averaged over the channels, as colour
non-local means does (Buades, Coll and Morel, 2005). Averaged over ``C``
channels, the noise's part of a distance spreads ``sqrt(C)`` times less,
and the strength, whose square sets the distance that counts, is taken
``C^(1/4)`` times smaller: 0.46 for three channels. In a scratch study
(2026-12-06, 256² RGB crops of ``astronaut``, ``chelsea``, ``coffee`` and
``immunohistochemistry`` under the article's PSF and the 13 px motion line,
noise 0.01 and 0.03, ``nlmeans`` at ``mu="auto"``), the rounds' images
denoised together gained a mean 0.16, 0.17, 0.17 and -0.03 dB over each
channel alone at strengths 0.3, 0.38, 0.45 and 0.8, and 0.12 dB on one
case at 0.6. With the rule, the defaults gained a mean 0.13 dB (-0.06 to
+0.32 dB, 15 of the 16 cases; the pass alone together: 0.00 to 0.20 dB).
``loss="auto"`` compares the losses with the channels restored together,
as they are run; comparing each channel restored alone, it gained 0.03 to
0.32 dB in all 16 (a mean 0.12 dB), but chose by the error of a
restoration that it did not run. Non-local
means of three 540² channels together took 0.44 s against 1.08 s one by
one, and a 1196² RGB tile's ``nlmeans`` solve 46 s against 67 s (a peak
of 813 MB against 673 MB, the channels' rounds held together).

Channels of different scenes
----------------------------
A fluorescence image's stains show different structures, and there the
channels' patches mislead each other: on 16 stacks of unrelated 256² crops
(``camera``, ``coins`` and ``moon``; ``cell`` and ``hubble_deep_field``;
``brick``, ``grass`` and ``gravel``; ``astronaut`` and ``cell``, under the
article's PSF and the 13 px motion line at noise 0.01 and 0.03; a scratch
study, 2026-12-06) the channels restored together lost a median 0.69 dB
against each alone, and up to 9.6 dB, where ``loss="auto"``'s one choice
for all gave ``nlmeans`` to a ``cell``. :func:`channels_alike` tells them
apart by the correlation of the channels' detail less their noise: 0.51 to
0.86 for the red, green and blue of six colour images of ``skimage.data``
under the article's PSF at noise 0.01 and 0.03 (0.49 for ``rocket`` at
0.1), at most 0.05 for the unrelated stacks, and 0.08 to 0.14 for the
hematoxylin, eosin and DAB that ``skimage.color.rgb2hed`` separates from
``immunohistochemistry``, stains of one tissue, which together would have
lost up to 0.47 dB (and gained at most 0.11) against each alone. Channels
of different scenes are denoised each alone
(:func:`tiledeblur.solver.solve_channels`), each with the loss that
``loss="auto"`` chooses for it, and came out within 0.04 dB of each
deblurred alone. Where the noise buries a channel's detail (``retina``'s
nearly empty blue at noise 0.03, up to 0.09 dB less than together), the
correlation cannot be told, and the channels are taken to be of different
scenes: denoised alone, they lose a little; together, if they were, much.
"""

import dataclasses
import functools

import numpy as np
import scipy.fft
import scipy.ndimage
import scipy.stats
from skimage.restoration import denoise_nl_means

from . import shrinkage
from .operators import periodic_transfer, smoothness_power

__all__ = ["ALIKE", "DENOISED_LOSSES", "EARLY_DISTANCE", "EARLY_ROUNDS", "GAIN_GRID", "MIN_DETAIL", "PATCH_DISTANCE",
           "PATCH_SIZE", "REACH", "STRENGTH", "Denoising", "channels_alike", "channels_together", "denoised",
           "denoised_together", "residual_noise", "run_together"]

#: The losses whose solve ``denoise=True`` follows with a pass: the quadratic ones, whose noise is a filter's.
DENOISED_LOSSES = ("laplacian", "tikhonov")
#: Non-local means' patch side and search distance, and its filter's strength per unit of noise: scikit-image's
#: suggestion for its fast mode with the noise given.
PATCH_SIZE, PATCH_DISTANCE, STRENGTH = 5, 6, 0.6
#: Non-local means' search distance in the first ``EARLY_ROUNDS`` rounds of ``nlmeans``, whose images the later
#: rounds remake: 45% less of its work there (see *Two denoisers*).
EARLY_DISTANCE, EARLY_ROUNDS = 4, 4
#: How far a pixel's result reaches: non-local means' search distance and half a patch, or the DCT windows' reach.
REACH = max(PATCH_DISTANCE + PATCH_SIZE // 2, shrinkage.REACH)
#: The periodic grid on which :func:`residual_noise` averages the filter's gain: a mean over frequencies, which
#: a finer grid barely changes.
GAIN_GRID = (256, 256)
#: The least correlation of two channels' detail, less their noise, at which they count as one scene's
#: (:func:`channels_alike`): at least 0.49 between the red, green and blue of six colour photographs and scans,
#: at most 0.14 between unrelated images and between stains (see the notes).
ALIKE = 0.35
#: The least variance of a channel's detail, less its noise's part, per unit of that part, at which
#: :func:`channels_alike` can tell its correlation: 0.05 to 0.08 for a rocket under noise 0.1, whose correlations
#: then came out 0.43 to 1.07, against 0.77 to 0.86 for a retina under 0.01.
MIN_DETAIL = 0.25
#: The Gaussians whose difference keeps the detail that :func:`channels_alike` compares: finer than the blur
#: leaves, coarser than a pixel's noise alone.
DETAIL_SIGMAS = (1.0, 3.0)


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


def denoised(image, sigma, unobserved=None, *, distance=PATCH_DISTANCE):
    """``image`` denoised at the noise level ``sigma``: the mean of its non-local means (fast mode, this module's
    patches, searched within ``distance``) and its DCT shrinkage (:func:`tiledeblur.shrinkage.dct_shrinkage`; see
    the notes).

    Pixels ``unobserved`` (without a datum) are seen as the nearest observed
    pixel's value, and keep their own: the data hardly hold their values,
    which follow a solve's path (see :mod:`tiledeblur.plugandplay`).

    Examples
    --------
    >>> noisy = np.random.default_rng(0).normal(0.5, 0.05, (32, 32))
    >>> bool(np.std(denoised(noisy, 0.05)) < np.std(noisy))
    True
    """
    seen = _seen(image, unobserved)
    # scikit-image squeezes an image of one row or column to 1-D (found by a probe).
    means = denoise_nl_means(seen, patch_size=PATCH_SIZE, patch_distance=distance, h=STRENGTH * sigma,
                             sigma=sigma, fast_mode=True).reshape(image.shape)
    return _kept_unobserved((means + shrinkage.dct_shrinkage(seen, sigma)) / 2, image, unobserved)


def _seen(image, unobserved):
    """``image`` with each ``unobserved`` pixel seen as the nearest observed one's value."""
    if unobserved is None or not unobserved.any():
        return image
    seen = image.copy()
    seen[unobserved] = image.ravel()[_nearest_observed(unobserved.tobytes(), unobserved.shape)]
    return seen


@functools.lru_cache(maxsize=4)
def _nearest_observed(unobserved_bytes, shape):
    """The flat index of the observed pixel nearest each unobserved one, in their order in the image, kept: each
    round of a tile's ``nlmeans`` and each of its channels ask for the same pixels' (34 ms a time on a 1188² tile)."""
    unobserved = np.frombuffer(unobserved_bytes, dtype=bool).reshape(shape)
    nearest = scipy.ndimage.distance_transform_edt(unobserved, return_distances=False, return_indices=True)
    return np.ravel_multi_index(tuple(axis[unobserved] for axis in nearest), shape)


def _kept_unobserved(result, image, unobserved):
    """``result`` with ``image``'s own values where ``unobserved``."""
    if unobserved is not None:
        result[unobserved] = image[unobserved]
    return result


@dataclasses.dataclass(frozen=True)
class Denoising:
    """What a solve asks to have denoised, a round's image of ``nlmeans`` or the pass of ``denoise`` (see
    :func:`run_together`).

    Attributes
    ----------
    image : ndarray
    sigma : float
        Its noise level.
    deviations : ndarray or None
        The noise's standard deviation at each pixel relative to ``sigma``,
        where it grows with the signal (:mod:`tiledeblur.shotnoise`).
    unobserved : ndarray of bool or None
        The pixels without a datum, which keep their values.
    stage : int
        Where in a solve it comes: a round's number, or after them all for
        the pass of ``denoise``; other channels' requests are denoised with
        it only at the same stage.
    """

    image: np.ndarray
    sigma: float
    deviations: np.ndarray | None
    unobserved: np.ndarray | None
    stage: int

    def levels(self):
        """The noise's standard deviation at each pixel, or the one for all."""
        return self.sigma if self.deviations is None else self.sigma * self.deviations

    def distance(self):
        """Non-local means' search distance: ``EARLY_DISTANCE`` in the first ``EARLY_ROUNDS`` rounds."""
        return EARLY_DISTANCE if self.stage <= EARLY_ROUNDS else PATCH_DISTANCE

    def alone(self):
        """The image denoised on its own: divided by ``deviations``, denoised at ``sigma``, and multiplied back."""
        if self.deviations is None:
            return denoised(self.image, self.sigma, self.unobserved, distance=self.distance())
        return self.deviations * denoised(self.image / self.deviations, self.sigma, self.unobserved,
                                          distance=self.distance())


def denoised_together(requests):
    """Each of ``requests`` (:class:`Denoising`) denoised, those of one shape together as the channels of one scene.

    Non-local means then compares patches over every channel, each in units
    of its own noise at each pixel, so that a channel's weights are those of
    the colour's patches; its strength falls as the fourth root of the
    channels' number, as the spread of the noise's part of a patch distance,
    averaged over them, falls as its square root (see the notes).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> scene = np.repeat(np.linspace(0, 1, 32)[None], 32, axis=0)
    >>> unobserved = np.zeros(scene.shape, dtype=bool)
    >>> requests = [Denoising(scene + rng.normal(0, 0.05, scene.shape), 0.05, None, unobserved, 1) for _ in range(3)]
    >>> [bool(np.std(d - scene) < 0.5 * np.std(r.image - scene)) for d, r in zip(denoised_together(requests),
    ...                                                                         requests)]
    [True, True, True]
    """
    results = [None] * len(requests)
    shapes = {}
    for index, request in enumerate(requests):
        shapes.setdefault(request.image.shape, []).append(index)
    for indices in shapes.values():
        if all(np.ptp(requests[index].image) == 0 for index in indices):
            # Both denoisers leave a constant as it is: a blank tile's stand-ins (see tiledeblur.solver) cost nothing.
            for index in indices:
                results[index] = requests[index].image
            continue
        if len(indices) == 1:
            results[indices[0]] = requests[indices[0]].alone()
            continue
        levels = [requests[index].levels() for index in indices]
        stack = np.stack([_seen(requests[index].image / level, requests[index].unobserved)
                          for index, level in zip(indices, levels)], axis=-1)
        # One stage's requests (run_together), so one distance.
        means = denoise_nl_means(stack, patch_size=PATCH_SIZE, patch_distance=requests[indices[0]].distance(),
                                 h=STRENGTH / len(indices) ** 0.25, sigma=1.0, fast_mode=True,
                                 channel_axis=-1).reshape(stack.shape)
        shrunk = np.stack([shrinkage.dct_shrinkage(stack[..., channel], 1.0) for channel in range(len(indices))], -1)
        together = (means + shrunk) / 2
        for channel, (index, level) in enumerate(zip(indices, levels)):
            request = requests[index]
            results[index] = _kept_unobserved(together[..., channel] * level, request.image, request.unobserved)
    return results


def channels_together(regions, *, channels, loss, denoise):
    """Whether an image's ``channels`` are denoised together, as one scene's: one channel, solves that run no
    non-local means (neither ``nlmeans``' rounds nor ``denoise``'s pass after a quadratic loss, for ``loss`` or
    either loss that ``"auto"`` chooses between), or the sample ``regions`` :func:`channels_alike`, which are read
    only then.

    Examples
    --------
    >>> unrelated = [np.random.default_rng(0).random((2, 64, 64))]
    >>> [channels_together(unrelated, channels=2, loss=loss, denoise=True) for loss in ("auto", "tv")]
    [False, True]
    """
    shared = loss in ("auto", "nlmeans") or (denoise and loss in DENOISED_LOSSES)
    return channels == 1 or not shared or channels_alike(regions)


def channels_alike(regions):
    """Whether the channels of ``regions`` show one scene, and are denoised together (see the notes).

    Each channel's detail, a difference of Gaussians of ``DETAIL_SIGMAS``, is
    correlated with each other's over the regions, after its noise's part of
    its variance is taken away: the noise of each channel, independent of the
    others', adds to the variances alone. Its level comes from the median of
    the finest diagonal differences (Donoho and Johnstone, 1994), which a
    texture under a diagonal line blur raises (3.5 times the noise on
    ``grass``; see ``tests/test_plugandplay.py``): too much taken away, the
    detail left falls below ``MIN_DETAIL``, on the safe side. Where a
    channel's detail is below ``MIN_DETAIL`` times its noise's part, no
    correlation can be told, and the channels count as unlike; constant
    channels show nothing, and do not count.

    Parameters
    ----------
    regions : iterable of (C, y, x) ndarray
        Missing pixels are NaN; those within the detail's reach of one are left out.

    Returns
    -------
    bool
        Whether every two channels that are not constant correlate by ``ALIKE`` or more, either way.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> scene, other = scipy.ndimage.gaussian_filter(rng.random((2, 96, 96)), (0, 2, 2))
    >>> noisy = lambda *channels: np.stack(channels) + rng.normal(0, 0.002, (len(channels), 96, 96))
    >>> channels_alike([noisy(scene, 2 * scene, 1 - scene)]), channels_alike([noisy(scene, other)])
    (True, False)
    """
    products = noise_parts = 0.0
    gain = _detail_gain()
    for region in regions:
        # Within the reach of the wider Gaussian (truncated at 4 sigma, a square) of a missing pixel.
        missing = scipy.ndimage.binary_dilation(np.isnan(region).any(axis=0), structure=np.ones((3, 3)),
                                                iterations=int(4 * DETAIL_SIGMAS[1]))
        if missing.all():
            continue
        detail = np.stack([_detail(np.nan_to_num(channel))[~missing] for channel in region])
        detail -= detail.mean(axis=1, keepdims=True)
        noises = np.array([_diagonal_noise(channel) for channel in region])
        noise_parts = noise_parts + noises**2 * gain * detail.shape[1]
        products = products + detail @ detail.T
    varying = np.flatnonzero(np.diag(products) > 0) if np.ndim(products) else []
    if len(varying) < 2:
        return True
    products, noise_parts = products[np.ix_(varying, varying)], noise_parts[varying]
    variances = np.diag(products) - noise_parts
    if np.any(variances < MIN_DETAIL * noise_parts):
        return False
    scale = np.sqrt(variances)
    return bool(np.all(np.abs(products - np.diag(noise_parts)) >= ALIKE * np.outer(scale, scale)))


def _detail(image):
    """The difference of Gaussians of ``DETAIL_SIGMAS`` of ``image``."""
    return scipy.ndimage.gaussian_filter(image, DETAIL_SIGMAS[0]) - scipy.ndimage.gaussian_filter(image,
                                                                                                 DETAIL_SIGMAS[1])


def _detail_gain():
    """The variance of :func:`_detail` of white noise of variance 1."""
    impulse = np.zeros((8 * int(DETAIL_SIGMAS[1]) + 1,) * 2)
    impulse[impulse.shape[0] // 2, impulse.shape[1] // 2] = 1.0
    return float(np.sum(_detail(impulse) ** 2))


def _diagonal_noise(image):
    """The standard deviation of white noise in ``image``, from the median of its finest diagonal differences,
    which few images' detail reaches; NaN where they meet a missing pixel are left out.

    Examples
    --------
    >>> noise = np.random.default_rng(0).normal(0, 0.1, (256, 256))
    >>> round(_diagonal_noise(noise + np.linspace(0, 1, 256)), 2)
    0.1
    """
    diagonal = (image[:-1:2, :-1:2] - image[1::2, :-1:2] - image[:-1:2, 1::2] + image[1::2, 1::2]) / 2
    return float(np.nanmedian(np.abs(diagonal)) / scipy.stats.norm.ppf(0.75))


def run_together(rounds):
    """The value that each of ``rounds`` returns: generators that yield :class:`Denoising` requests and are sent
    each one's result, the requests of the earliest stage pending denoised together (:func:`denoised_together`)
    while the others wait.

    Examples
    --------
    >>> def flat(value, stages):
    ...     for stage in stages:
    ...         denoised = yield Denoising(np.full((8, 8), value), 0.1, None, None, stage)
    ...     return float(denoised.mean())
    >>> run_together([flat(0.5, [1, 2, 8]), flat(0.25, [8])])
    [0.5, 0.25]
    """
    returned, pending = [None] * len(rounds), {}

    def advance(index, value):
        try:
            pending[index] = rounds[index].send(value)
        except StopIteration as stop:
            returned[index] = stop.value
            pending.pop(index, None)

    for index in range(len(rounds)):
        advance(index, None)
    while pending:
        stage = min(request.stage for request in pending.values())
        indices = [index for index, request in pending.items() if request.stage == stage]
        for index, denoised in zip(indices, denoised_together([pending[index] for index in indices])):
            advance(index, denoised)
    return returned
