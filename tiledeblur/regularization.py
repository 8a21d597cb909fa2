"""``mu="auto"``: one regularization weight per channel for a whole image, by generalized cross-validation.

The rule
--------
Generalized cross-validation (:mod:`tiledeblur.gcv`) chooses the weight
``mu_GCV`` of a Tikhonov filter on each sample region, and each loss's
weight follows from it:

* ``tikhonov`` uses ``mu_GCV`` itself.
* ``laplacian`` uses the ``mu_GCV`` of its own filter, with ``mu |D|⁴`` for
  ``mu |D|²`` (the order of its regularizer, ``SMOOTHNESS_ORDER``).
* ``tv`` (smoothed total variation, ``eps = 0.03``) uses
  ``0.0363 mu_GCV ** 0.772``, a power law fitted to the best weight of each of
  72 cases.
* ``article`` has no rule and keeps its default.

Measured on 72 cases (8 ``skimage.data`` images, 3 PSFs, 3 noise levels; 256²
crops of the larger scenes): against the best weight of each case, chosen
with the ground truth, the rule lost a median of 0.04 dB of interior PSNR for
Tikhonov (max 1.2 dB) and 0.04 dB for TV (max 0.7 dB); ``laplacian``'s weight
was the best of 0.5, 1 and 2 times itself in 45 of the cases and lost at most
0.56 dB to the better of them. The noise-based rule it
replaces, ``mu ∝ sigma²``, lost up to 18 dB; the discrepancy principle up to
5 dB. GCV with its trace weighed by 1.2 (smoothing splines' "modified GCV",
against GCV's occasional undersmoothing) chose larger weights and lost:
``laplacian`` with its pass won 48 of the 72 cases against the best-tuned
peer, by a median +0.06 dB, against 67 by +0.23 dB (by 1.4: 23 won; a
scratch study, 2026-12-05). GCV's weight is too small on a smooth image
under a wide PSF (``cell`` under a Gaussian of σ 4 px at noise 0.003: 0.028,
where 0.25 restored 3.4 dB better), and so was that of Stein's estimate of
the error weighed nearer the sharp image's; Lukas's robust GCV (2006), which
smooths more, gained 2.0 dB there and lost up to 0.53 dB on others (a
scratch study, 2026-12-07; see the README's Limits).
``benchmarks/bench_quality.py`` measures the rule against Richardson–Lucy
and Wiener.

For a tiled run the weight is estimated on a fixed, evenly spread sample of
regions (``MAX_SAMPLES``), and each channel's median on a log scale, each
region counted by its content (the signal-to-noise ratio that GCV sees there;
see :func:`_combined`), is used for every tile: one mu per channel for the
whole image, so that all tiles solve one problem. A channel has its own weight
because channels differ in noise and content: one weight pooled over a dim
fluorescence channel and bright ones (12-bit counts; its own weight 100 times
the pooled one) gave that channel 34.7 dB, against 35.7 dB blurred and 48.2 dB
at its own weight (found by a probe). A channel without a region to
cross-validate takes the median of the others'. Constant regions (a slide's
glass written as the fill value) are left out, as are regions that miss (NaN)
more than ``MAX_MISSING_SHARE`` of their pixels (see :func:`~tiledeblur.gcv.gcv_mu`), and
regions whose GCV minimum lies at the grid's smallest weight, or at
``NOISE_ALONE`` or above, when others remain: a flat region always chooses
the smallest weight, and one of noise alone (glass or sky) a large one;
neither says anything about the sample. Before this rule, a slide whose
tissue covers a quarter of the image got a weight of 1e-5 or 10 from its
glass where the tissue's own was 0.008, and a restored PSNR of 9.4 or 20.7
dB where the tissue's weight gave 29.2 dB (26.5 dB blurred). Where every
region chose ``NOISE_ALONE`` or more, the median of their weights is used, as
noise throughout, or a smooth scene under heavy noise, asks for it; where
the regions also leave gaps (sides above 2048 px), with a
:class:`MuWarning`: the content may lie between the regions (found by a probe:
a biopsy between the regions of an 8192² slide got noise alone's weight, 10
then, and 27.2 dB where the blurred scan had 31.6; falling back to a
default weight instead took a noisy image's own weight away, found by another).

A few bright, compact sources (stars on a galaxy field) make GCV choose the
smallest weights: fitting them well predicts the data best, and amplifies
the noise everywhere else. So a weight below ``NEAR_FLOOR``, a decade above
the grid's smallest, is checked: the regions are cross-validated again
without their brightest ``BRIGHT_PERCENT`` of pixels, grown by the PSF (they
are missing pixels to :func:`~tiledeblur.gcv.gcv_mu`), and where that chooses ``NEAR_FLOOR``
or more, its weight is used, with a :class:`MuWarning`. On a 512² field of
the Hubble deep field (fluxes to 2000, noise 5) with 5 to 80 stars of 1e5,
GCV chose 1e-5 to 5e-5, and the pixels away from the stars came out at 22.2
to 27.9 dB (28.7 to 28.8 dB blurred); without the stars' pixels it chose
0.4 times the weight of the field without stars, and 30.9 to 31.6 dB (the
field's own weight gave 31.6 to 32.1 dB; found by a probe). Nearly
noise-free images choose the smallest weights too, but without their
brightest pixels they chose at most 4.5e-5 (``camera``, ``astronaut``,
``moon``, noise 0 and 1e-4): so they keep theirs.

A PSF wider or longer than the image's blur
-------------------------------------------
The data then hold detail that the PSF would have blurred away, and GCV
fits it by amplifying it. On the 512² ``camera`` blurred by a Gaussian of
σ 1 with noise 0.003, a Gaussian PSF of σ 1.5 made GCV choose 1e-5 where σ 1
chose 6.3e-4, and the result ran from -1.1 to 2.4 on [0, 1]; on 384² crops
of ``camera`` and ``astronaut`` blurred by σ 1 or 2 (noise 0 to 0.01, 8
bits), a PSF 1.5 times as wide gave 11.6 to 23.0 dB where the blurred
image had 25.4 to 30.9 (found by a probe). So each region is deblurred by GCV's
filter at its own weight, and where the median over the regions (those
below ``NOISE_ALONE``, as noise alone is narrowed) of the spread of its
values over the data's (each the range from the 1st to the 99th
percentile) exceeds ``MAX_WIDENING``, a :class:`~tiledeblur.PsfWarning` says
so. Measured with ``laplacian``'s filter (a scratch study, not in
``benchmarks/``) on 11 ``skimage.data`` images (``bench_quality``'s 8,
``hubble_deep_field``, ``immunohistochemistry`` and ``retina``; 448²
crops, 256² of ``cell`` and ``coins``) under ``bench_quality``'s three
PSFs, with noise 0 (8-bit rounding), 0.005, 0.01 and 0.03: with the PSF
that blurred them the median widening was at most 2.2, and none of the 132
cases warned; Gaussians 1.25, 1.5 and 2 times too wide warned in 7, 42 and
73 of 88, and the 13 px motion line taken for 17 or 21 px in 19 and 29 of
44. The cases missed are mostly the smooth images (``cell``, ``retina``,
``moon``) and noise 0.03, where GCV's weight fell less: to a median 0.17
of the right PSF's, against 0.045 where it warned. Edges added after the
blur warn too, rightly, unless they bound a constant fill (below). Bright
sources that set the weight (above) widen the values rightly, and are not
checked; nor is ``nlmeans``, whose weight is the noise's.

JPEG scans
----------
JPEG erases the noise of the fine frequencies, and GCV, which reads the
noise there, chose its floor for nearly every JPEG crop measured. Where the
caller declares the scan JPEG (``jpeg_blocks`` of
:func:`estimate_image_mu`), as it does for 8-bit data whose sample regions
show JPEG's blocks (:func:`tiledeblur.jpeg.find_blocks`), a region whose
blocks show instead takes the weight that minimizes Mallows' unbiased
estimate of the predicted risk for the error that JPEG left, whose spectrum
:mod:`tiledeblur.jpeg` reads off the region (see there for the model and
its measurements).

Interpolated pixels
-------------------
Interpolation spreads each pixel's noise over its neighbours and leaves the
finest frequencies, where GCV reads the noise, with little of it: GCV then
chose its floor too. A region whose pixels a colour camera's demosaicing
(:mod:`tiledeblur.demosaic`) or a resampling (a mosaic's reprojection, a
registration, an enlargement; :mod:`tiledeblur.resampling`) interpolated
takes Mallows' weight for the noise spectrum that the module reads off it;
a resampled region's weight is at least GCV's.
"""

import math
import warnings

import numpy as np

from . import demosaic, jpeg, resampling, saturation
from .blas import one_blas_thread
from .denoising import DENOISED_LOSSES
from .gcv import GCV_WEIGHTS, NOISE_ALONE, fit_region, gcv_mu, image_sides, periodic_spectrum
from .objectives import DEFAULT_MU, QUADRATIC_LOSSES, SMOOTHNESS_ORDER
from .plugandplay import NOISE_WEIGHT
from .psf import PsfWarning
from .scoredpixels import grown, near_plateaus

__all__ = ["MuWarning", "auto_mu", "estimate_image_mu", "estimate_image_mus", "estimate_mus_and_noise", "is_auto",
           "is_informative", "sample_regions", "sampled_contrasts", "sampled_reach", "value_reach",
           "warn_if_below_floor", "warn_if_eps_too_small", "warn_if_off_scale"]

#: ``tv``'s weight from GCV's: ``scale * mu_GCV ** power``, for ``eps = 0.03``.
TV_FROM_GCV = (0.0363, 0.772)
SAMPLE_SIDE = 256
#: The largest share of missing pixels in a region that ``mu="auto"`` cross-validates (see
#: :func:`~tiledeblur.gcv.gcv_mu`).
MAX_MISSING_SHARE = 0.25
#: The percentile of :func:`value_reach`, and the scale outside which ``tv``'s automatic weight warns.
REACH_PERCENTILE = 99.9
TV_SCALE_RANGE = (0.25, 4.0)
#: ``tv``'s ``eps`` over the values' rise below which a chosen ``eps`` warns (see :func:`warn_if_eps_too_small`).
EPS_FLOOR = 1e-3
#: The share of each region's pixels, in percent, left out where bright sources set GCV's weight (see the notes).
BRIGHT_PERCENT = 0.5
#: GCV's weights below this are checked for bright sources, which set them if the rest chooses more (see the notes).
NEAR_FLOOR = 10 * GCV_WEIGHTS[0]
#: Regions sampled for ``mu="auto"``, on an 8 × 8 grid: 16 on a 4 × 4 grid all
#: missed a slide's tissue when it covered a centred tenth of a 100k² scan
#: (found by a probe), and chose the glass's 1e-5 (6.7 dB where the tissue's
#: weight gave 34.6 dB). 64 regions of 256² of an RGB scan take about 5 s on one core.
MAX_SAMPLES = 64
#: The median widening of the sample regions' values by deblurring (see :func:`~tiledeblur.gcv.fit_region`) above
#: which the PSF is likely wider than the image's blur: at most 2.2 with the PSF that blurred the image (see the
#: notes).
MAX_WIDENING = 3.0


class MuWarning(UserWarning):
    """``mu="auto"`` found no sample region to cross-validate, or ``tv``'s settings do not suit the values' scale."""


def is_auto(mu):
    """Whether ``mu`` asks for the automatic rule (the string ``"auto"``)."""
    return isinstance(mu, str) and mu == "auto"


def auto_mu(mu_gcv, loss):
    """The weight of ``loss`` for the GCV weight ``mu_gcv``, by the module's rule.

    Examples
    --------
    >>> auto_mu(0.01, "laplacian"), round(auto_mu(0.01, "tv"), 5), auto_mu(0.01, "article")
    (0.01, 0.00104, 0.2)
    """
    if loss in QUADRATIC_LOSSES:
        return float(mu_gcv)
    if loss == "tv":
        scale, power = TV_FROM_GCV
        return float(scale * mu_gcv**power)
    return DEFAULT_MU[loss]


def sample_regions(shape, count=MAX_SAMPLES):
    """Up to ``count`` square regions spread evenly over an image of ``shape``, on a square grid.

    Examples
    --------
    >>> len(sample_regions((4096, 4096))), len(sample_regions((4096, 4096), 16)), len(sample_regions((448, 448)))
    (64, 16, 4)
    >>> sample_regions((100, 60))
    [(slice(0, 100, None), slice(0, 60, None))]
    """
    side = [min(SAMPLE_SIDE, n) for n in shape]
    per_axis = math.isqrt(count)
    # Enough regions to cover a small image whole, so that a 448² image is not judged by one corner.
    starts = [np.unique(np.linspace(0, n - s, min(per_axis, -(-n // s))).astype(int)).tolist()
              for n, s in zip(shape, side)]
    return [
        (slice(y, y + side[0]), slice(x, x + side[1])) for y in starts[0] for x in starts[1]
    ]


def is_informative(region):
    """Whether a region has something to cross-validate: at most ``MAX_MISSING_SHARE`` missing, and not flat."""
    present = region[~np.isnan(region)]
    return present.size >= (1 - MAX_MISSING_SHARE) * region.size and np.ptp(present) > 0


def estimate_image_mu(read_region, shape, psfs, loss, *, jpeg_blocks=None, stacklevel=1):
    """``loss``'s weight for each channel of a whole image, from GCV on its sample regions.

    For ``nlmeans`` it is ``NOISE_WEIGHT`` times the square of the median of
    the regions' noise, as GCV of ``laplacian``'s filter estimates it
    (:func:`~tiledeblur.gcv.fit_region`; :mod:`tiledeblur.plugandplay`).

    ``read_region(yx)`` returns a ``(C, y, x)`` float array of one region, so
    that any store and channel layout can be sampled; channel ``c`` is blurred
    by ``psfs[c]``. Constant regions (a fill value, blank glass) are left out:
    they hold nothing to cross-validate; so are regions that miss more than
    ``MAX_MISSING_SHARE`` of their pixels (NaN, such as those on the edge of a
    mosaic's footprint; see :func:`~tiledeblur.gcv.gcv_mu`). Each channel's GCV weights are
    combined by their median on a log scale, since they spread over decades,
    each counted by its region's content (:func:`_combined`), leaving out those
    at the smallest of ``GCV_WEIGHTS``, or at ``NOISE_ALONE`` or above, if any
    others remain; a weight near the smallest is checked for bright sources
    that set it (see the module notes for both). A channel without a region of its own takes the median of every
    channel's weights; where no region is left at all, every channel takes the
    loss's default weight, with a :class:`MuWarning`. ``stacklevel`` is that of
    its warnings, counted from its caller (see :func:`warn_if_off_scale` for
    the other).

    ``jpeg_blocks``, for a scan of a JPEG's pixels, is their
    :class:`tiledeblur.jpeg.JpegBlocks`. A region whose channel holds JPEG's
    blocks on their grid then sets its weight by the error that JPEG left
    (:mod:`tiledeblur.jpeg`), which cross-validation cannot see; a channel
    none of whose regions does warns (:class:`MuWarning`). A region whose
    channel a colour camera's demosaicing or a resampling interpolated sets
    its weight by the noise that interpolation spread
    (:mod:`tiledeblur.demosaic`, :mod:`tiledeblur.resampling`).

    Returns
    -------
    mus : tuple of float
        One weight per channel, in the order of ``psfs``.

    Examples
    --------
    A slide of flat glass with a blurred, noisy sample in its middle quarter
    gets the sample's weight:

    >>> from scipy.ndimage import gaussian_filter
    >>> from tiledeblur import gaussian_psf
    >>> rng = np.random.default_rng(0)
    >>> sample = gaussian_filter(rng.random((512, 512)), 2) + rng.normal(0, 0.01, (512, 512))
    >>> slide = np.full((1024, 1024), 0.9)
    >>> slide[256:768, 256:768] = sample
    >>> psfs = [gaussian_psf(7, 1.0)]
    >>> whole = estimate_image_mu(lambda yx: slide[yx][None], slide.shape, psfs, "tikhonov")
    >>> whole == estimate_image_mu(lambda yx: sample[yx][None], sample.shape, psfs, "tikhonov")
    True
    """
    return estimate_image_mus(read_region, shape, psfs, (loss,), jpeg_blocks=jpeg_blocks,
                              stacklevel=stacklevel + 1)[loss]


def estimate_image_mus(read_region, shape, psfs, losses, *, jpeg_blocks=None, stacklevel=1):
    """:func:`estimate_image_mu` for each of ``losses``, reading each region once and cross-validating it once per
    order of filter that they need.

    ``laplacian`` and ``nlmeans`` share one: ``loss="auto"`` needs both.
    ``losses`` may also hold ``"noise"``, for each channel's noise level, the
    median of its regions' as GCV of ``laplacian``'s filter estimates it
    (:func:`~tiledeblur.gcv.fit_region`), which ``denoise=True`` takes (:mod:`tiledeblur.denoising`);
    None where no region was left, or the noise is nil. And ``"content"``,
    for the sample regions that hold more than noise, where GCV of that
    filter chose a weight below ``NOISE_ALONE`` in some channel, in the order
    of :func:`sample_regions`, which ``loss="auto"`` compares its losses on
    (:mod:`tiledeblur.selection`).

    Returns
    -------
    mus : dict
        One weight per channel, a tuple in the order of ``psfs``, for each loss
        (and each channel's noise level for ``"noise"``, and a tuple of regions for ``"content"``).

    Examples
    --------
    >>> from tiledeblur import gaussian_psf
    >>> rng = np.random.default_rng(0)
    >>> image = rng.random((64, 64)) + rng.normal(0, 0.01, (64, 64))
    >>> def read_region(yx):
    ...     return image[yx][None]
    >>> mus = estimate_image_mus(read_region, image.shape, [gaussian_psf(7, 1.0)], ("laplacian", "nlmeans"))
    >>> mus["laplacian"] == estimate_image_mu(read_region, image.shape, [gaussian_psf(7, 1.0)], "laplacian")
    True
    """
    # nlmeans and the noise level take the noise that GCV of laplacian's filter estimates.
    orders = {loss: SMOOTHNESS_ORDER["laplacian" if loss in ("nlmeans", "noise", "content") else loss]
              for loss in losses}
    regions, reaches, content = sample_regions(shape), [], []
    by_order = {order: [[] for _ in psfs] for order in set(orders.values())}
    found_blocks = {}  # for each channel with a region to weigh: whether any of them held JPEG's blocks
    for yx in regions:
        region = read_region(yx)
        informative = [is_informative(channel) for channel in region]
        noise_powers = [None] * len(psfs) if jpeg_blocks is None or not any(informative) else jpeg.noise_powers(
            region, levels=jpeg_blocks.levels, origin=[part.start - grid for part, grid in zip(yx, jpeg_blocks.origin)])
        blocks = [power is not None for power in noise_powers]
        resampled = with_scene = [False] * len(psfs)
        if not any(blocks):
            with one_blas_thread():
                noise_powers = _demosaiced_noise_powers(region, informative)
                found = _resampled_noise_powers(region, informative, psfs, noise_powers)
            resampled = [fit is not None for fit in found]
            with_scene = [fit is not None and fit.with_scene for fit in found]
            noise_powers = [own if fit is None else fit.power for own, fit in zip(noise_powers, found)]
        sides, holds_content = image_sides(yx, shape), False
        for index, (channel, psf, noise_power) in enumerate(zip(region, psfs, noise_powers)):
            reaches.append(value_reach(channel))
            if informative[index]:
                found_blocks[index] = found_blocks.get(index, False) or blocks[index]
                for order, by_channel in by_order.items():
                    by_channel[index].append(fit_region(channel, psf, order, noise_power, sides=sides,
                                                  checked_below=0.0 if any(blocks) else demosaic.CHECKED_BELOW,
                                                  at_least_gcv=resampled[index], widening_at_gcv=with_scene[index]))
                holds_content |= "content" in orders and by_order[orders["content"]][index][-1].weight < NOISE_ALONE
        if holds_content:
            content.append(yx)
    if jpeg_blocks is not None and not all(found_blocks.values()):
        _warn_of_missing_blocks(found_blocks, len(psfs), losses, stacklevel=stacklevel + 1)
    if not any(own for by_channel in by_order.values() for own in by_channel):
        return _default_weights(losses, _widest(reaches), len(regions), len(psfs), stacklevel=stacklevel + 1)
    mus = {}
    for loss in losses:  # not a comprehension, whose own frame Python 3.11 counts in the warnings' stacklevel
        if loss == "noise":
            mus[loss] = tuple(level or None for level in _noise_levels(by_order[orders[loss]]))
            continue
        if loss == "content":
            mus[loss] = tuple(content)
            continue
        mus[loss] = _weights(loss, by_order[orders[loss]], _widest(reaches), read_region, regions, psfs,
                             covered=_covers(shape), stacklevel=stacklevel + 1)
    return mus


def _demosaiced_noise_powers(region, informative):
    """Each channel's noise spectrum where a colour camera's demosaicing spread it (:mod:`tiledeblur.demosaic`):
    from the Bayer mosaic of red, green and blue, or from each channel alone of other images; None for the others."""
    if np.isnan(region).any():
        return [None] * len(region)
    if len(region) == 3 and all(informative):  # bilinear colour shows its mosaic too, which needs no second look
        return demosaic.colour_noise_powers(region) or [None] * 3
    return [demosaic.noise_power(channel) if own else None for channel, own in zip(region, informative)]


def _resampled_noise_powers(region, informative, psfs, demosaiced):
    """Each channel's :class:`tiledeblur.resampling.ResampledNoise` where resampling coloured its noise; None for the
    others, for those whose noise the demosaicing's model holds (``demosaiced``), and for those with clipped or filled
    plateaus, whose sharp edges, which no PSF blurred, passed for coloured noise (found by a test: clipped at 160 of
    255, the astronaut's red under a Gaussian of σ 2 got 4.2 times its own weight; left out, 1.7 times)."""
    if np.isnan(region).any():
        return [None] * len(region)
    fits = [resampling.noise_power(channel, periodic_spectrum(channel), psf) if own and power is None else None
            for channel, psf, power, own in zip(region, psfs, demosaiced, informative)]
    # Plateaus only where a model holds: looking for them takes longer than reading a dead band (9 ms, against 2).
    return [None if fit is None or near_plateaus(channel, psf).any() or _holds_clipped_spot(channel, psf) else fit
            for channel, psf, fit in zip(region, psfs, fits)]


def _holds_clipped_spot(channel, psf):
    """Whether ``channel`` holds a star or a bead clipped at its largest value, in darker surroundings
    (:func:`tiledeblur.saturation.saturated_spots`): too small a plateau for
    :func:`~tiledeblur.scoredpixels.near_plateaus`.

    Its sharp rim passed for resampled noise: a star field under a Gaussian of σ 2, three stars clipped at
    65535 in a region, was fitted with the scene, at 2.5 times the weight that its bright sources gave, with a
    :class:`~tiledeblur.PsfWarning` (found by a test). Noise clipped at the top of a bright area, as an 8-bit
    scan's, makes no such spot, and keeps the model.

    Examples
    --------
    >>> sky = np.full((64, 64), 0.1)
    >>> sky[30:33, 30:32] = 0.9  # a star, clipped at the region's largest value
    >>> _holds_clipped_spot(sky, np.ones((9, 9))), _holds_clipped_spot(np.minimum(sky, 0.1), np.ones((9, 9)))
    (True, False)
    """
    return saturation.saturated_spots(channel, psf, ground=np.median(channel), top=channel.max()) > 0


def _default_weights(losses, reach, samples, channels, *, stacklevel):
    """Each of ``losses``' default weight for ``channels`` channels, where none of the ``samples`` regions was left
    to cross-validate, told in one warning (``loss="auto"`` had one for each of its losses, found by a probe)."""
    mus, used = {}, []
    for loss in losses:
        if loss == "noise":
            mus[loss] = (None,) * channels
            continue
        if loss == "content":
            mus[loss] = ()
            continue
        warn_if_off_scale(reach, loss, stacklevel=stacklevel + 1)  # the default weight assumes [0, 1] too
        default, scaled = DEFAULT_MU[loss], ""
        if loss == "nlmeans" and _off_scale(reach) and reach[1] > 0:
            # Its weight is a noise variance, in the values' units squared: fluxes to 1000 were left nearly
            # unregularized by the weight for [0, 1] (found by a probe).
            default *= reach[1] ** 2
            scaled = f" for [0, 1] times the square of the values' rise, {reach[1]:.3g}"
        mus[loss] = (default,) * channels
        used.append(f"{loss}'s default{scaled}, {default:g}")
    if not used:  # the noise level alone, which a given mu's pass of non-local means then goes without
        return mus
    warnings.warn(
        f"mu: 'auto' found no region to cross-validate among its {samples} samples (each was constant or missed "
        f"more than {MAX_MISSING_SHARE:.0%} of its pixels); it used {' and '.join(used)}. Pass mu for the image's "
        "content.",
        MuWarning, stacklevel=stacklevel + 1,
    )
    return mus


def estimate_mus_and_noise(read_region, shape, psfs, loss, mus=None, *, denoise, jpeg_blocks=None, stacklevel=1):
    """``loss``'s weights, estimated where ``mus`` is None, and each channel's noise level for ``denoise``.

    Both come from one reading of the sample regions
    (:func:`estimate_image_mus`), and nothing is read where neither is
    wanted. The noise level is None for every channel without ``denoise``,
    or where ``loss`` has no pass of non-local means
    (:data:`tiledeblur.denoising.DENOISED_LOSSES`).

    Returns
    -------
    mus, noises : tuple
        One per channel, in the order of ``psfs``.

    Examples
    --------
    Given weights and no pass read no region:

    >>> estimate_mus_and_noise(None, (64, 64), [np.ones((3, 3)) / 9], "tv", (0.01,), denoise=True)
    ((0.01,), (None,))
    """
    wanted = (loss,) * (mus is None) + ("noise",) * (denoise and loss in DENOISED_LOSSES)
    found = estimate_image_mus(read_region, shape, psfs, wanted, jpeg_blocks=jpeg_blocks,
                               stacklevel=stacklevel + 1) if wanted else {}
    return found.get(loss, mus), found.get("noise", (None,) * len(psfs))


def _warn_of_missing_blocks(found_blocks, channel_count, losses, *, stacklevel):
    """Warn (:class:`MuWarning`) of the channels of a JPEG scan whose regions held no JPEG blocks on its grid;
    ``found_blocks`` tells, for each channel that had regions to weigh, whether any held them.

    Their weights come from cross-validation, which JPEG misleads: a 2048²
    RGB scan saved as JPEG (quality 95) got mu 3.5e-5 and came out at 13.4
    dB, where the same scan saved losslessly got 4.5e-3 and 27.5 dB (25.1 dB
    blurred; found by a probe). The message names the weights that did best
    for ``laplacian`` on such scans (see the README's Limits), which a user
    can try; the other losses weigh ``mu`` on scales of their own.
    """
    channels = [str(index) for index, found in sorted(found_blocks.items()) if not found]
    where = "the image" if channel_count == 1 else f"channel{'s' * (len(channels) > 1)} {', '.join(channels)}"
    best = jpeg.LAPLACIAN_WEIGHTS_HINT if "laplacian" in losses else ""
    warnings.warn(
        f"mu: 'auto' found no JPEG blocks on the 8 x 8 grid of {where} of a JPEG scan, so cross-validation, which "
        f"JPEG misleads (see tiledeblur.jpeg), set the weight{'s' * (len(channels) > 1)}: likely far too small, and "
        f"the result may be noisier than the scan. Pass mu, tried on a region first{best}.",
        MuWarning, stacklevel=stacklevel + 1,
    )


def _weights(loss, by_channel, reach, read_region, regions, psfs, *, covered, stacklevel):
    """``loss``'s weight for each channel from ``by_channel``, each channel's list of its regions'
    :func:`~tiledeblur.gcv.fit_region`."""
    warn_if_off_scale(reach, loss, stacklevel=stacklevel + 1)
    pooled = [choice for own in by_channel for choice in own]
    if loss == "nlmeans":
        return tuple(NOISE_WEIGHT * level**2 for level in _noise_levels(by_channel))
    if not covered and min(fit.weight for fit in pooled) >= NOISE_ALONE:
        # Noise throughout asks for a large weight, but so do regions that all miss the content between them.
        warnings.warn(
            f"mu: 'auto' found only noise in its {len(regions)} samples (each chose a weight of {NOISE_ALONE:g} or "
            "more, as noise alone does); where the image's content lies between them, as a small sample on a "
            "slide's glass may, pass mu for the content.",
            MuWarning, stacklevel=stacklevel + 1,
        )
    mus = []
    for channel, own in enumerate(by_channel):
        fits = own or pooled
        found = _combined([(fit.weight, fit.content) for fit in fits]) or _geometric_median([fit.weight for fit in fits])
        chosen = found if found >= NEAR_FLOOR else _unless_bright_sources_set(
            found, read_region, regions, psfs, channel, order=SMOOTHNESS_ORDER[loss], stacklevel=stacklevel + 1)
        if chosen == found:  # bright sources, which widen the values rightly, have a warning of their own
            _warn_if_widened(fits, channel if len(psfs) > 1 else None, stacklevel=stacklevel + 1)
        mus.append(auto_mu(chosen, loss))
    return tuple(mus)


def _noise_levels(by_channel):
    """Each channel's noise level from ``by_channel``, as :func:`_weights` takes it; 0 where no region was left.

    Noise is the sensor's, the same in every region of a channel, so a plain median suffices. A channel without
    a region of its own takes every channel's regions.
    """
    pooled = [fit.noise for own in by_channel for fit in own]
    return tuple(float(np.median([fit.noise for fit in own] or pooled or [0.0])) for own in by_channel)


def _warn_if_widened(fits, channel, *, stacklevel):
    """Warn where deblurring widens the values of the regions of ``fits`` more than ``MAX_WIDENING`` (the median).

    Regions of noise alone, which choose ``NOISE_ALONE`` or more, are left
    out: that weight narrows their values.
    """
    widenings = [fit.widening for fit in fits if fit.weight < NOISE_ALONE]
    widening = float(np.median(widenings)) if widenings else 1.0
    if widening <= MAX_WIDENING:
        return
    where = "" if channel is None else f" of channel {channel}"
    warnings.warn(
        f"psf: deblurred each at its own weight, the values of the {len(widenings)} sample "
        f"regions{where} spread a median {widening:.1f} times as wide as the data's (at most {MAX_WIDENING:g} "
        "expected): the image holds detail that this PSF would have blurred away, so the result will ring. The "
        "PSF may be wider or longer than the image's blur (check its size), or edges were added after the blur (a "
        "label or an inset pasted in, or a sensor's saturated spots); pass a larger mu to ring less.",
        PsfWarning, stacklevel=stacklevel + 1,
    )


def _covers(shape):
    """Whether :func:`sample_regions` covers an image of ``shape`` whole: sides up to 8 regions' (2048 px).

    Examples
    --------
    >>> _covers((2048, 1000)), _covers((2049, 1000))
    (True, False)
    """
    return all(-(-n // min(SAMPLE_SIDE, n)) <= math.isqrt(MAX_SAMPLES) for n in shape)


def _combined(choices):
    """The median on a log scale of the GCV weights of ``choices``, ``(weight, content)`` pairs of
    :func:`~tiledeblur.gcv.fit_region`, each counted by its content, of those above the grid's smallest and below
    ``NOISE_ALONE``; None where none is.

    Counted alike, the regions on a slide's edge of tissue, mostly glass, outvoted the tissue's own: tissue on a
    sixth of a 4096² slide of noisy glass got 0.028 where its own weight was 0.0071, and 0.067 where the scanner
    had filled a margin with white (0.31 and 0.69 dB less), against 0.016 (0.12 dB less) so counted. Counted by
    the ratio of variances instead, 0.011, but the demo's scan lost 0.08 dB; counted so, it keeps its 26.87 dB.

    Each weight stands at the middle of its share of the total content, and the median is read between the two
    that straddle half of it, so that equal contents give the plain median. Taking the weight whose share holds
    the half instead jumped with few regions: ``bench_core``'s 512² tile, four regions, got 0.00079 where the
    plain median was 0.0011, 23.7 dB where the blurred tile had 23.9.

    Examples
    --------
    >>> choices = [(1e-3, 1.0), (1e-2, 5.0), (1e-1, 1.0)], [(1e-3, 1.0), (1e-2, 1.0), (1e-1, 5.0)]
    >>> [round(_combined(pairs), 4) for pairs in choices]  # the second's half falls two thirds of the way to 0.1
    [0.01, 0.0464]
    >>> round(_combined([(1e-3, 1.0), (1e-1, 1.0), (50.0, 9.0)]), 12)  # noise alone, 50, left out: between two
    0.01
    """
    inside = [(weight, content) for weight, content in choices if GCV_WEIGHTS[0] < weight < NOISE_ALONE]
    if not inside:
        return None
    weights, contents = np.array(sorted(inside)).T
    noise_free = np.isinf(contents)
    if noise_free.any():  # they alone count
        weights, contents = weights[noise_free], np.ones(noise_free.sum())
    middles = (np.cumsum(contents) - contents / 2) / contents.sum()
    return float(np.exp(np.interp(0.5, middles, np.log(weights))))


def _geometric_median(weights):
    """The median of ``weights`` on a log scale, since they spread over decades."""
    return math.exp(float(np.median(np.log(weights))))


def _unless_bright_sources_set(weight, read_region, regions, psfs, channel, *, order, stacklevel):
    """GCV's ``weight`` for ``channel``, or its regions' without their brightest pixels where that is ``NEAR_FLOOR`` or more.

    See the module notes. The pixels above the ``100 - BRIGHT_PERCENT``-th
    percentile of a region, grown by the PSF's footprint, become missing
    pixels; a region that then misses too many (see :func:`is_informative`) is
    left out. The regions are read again: rarely, where keeping them all
    from the first pass would hold up to 96 MB of an RGB scan's regions for
    every image.
    """
    choices, psf = [], psfs[channel]
    for yx in regions:
        region = read_region(yx)[channel]
        if not is_informative(region):
            continue
        # Strictly above: a white page or saturated plateau at the largest value is no compact source (found
        # by a test: a sharp picture with white margins chose 0.141 without them, where its own was 1e-5).
        bright = region > np.nanpercentile(region, 100 - BRIGHT_PERCENT)
        without = np.where(grown(bright, psf.shape), np.nan, region)
        if is_informative(without):
            # Counted alike: the stars' holes leave less of their regions to measure (counted by their content,
            # 20 stars on a galaxy field gave 0.32 times the field's own weight, against 0.4).
            choices.append((gcv_mu(without, psf, order=order), 1.0))
    without = _combined(choices)
    if without is None or without < NEAR_FLOOR:
        return weight  # nearly noise-free: the small weight is right
    where = f" for channel {channel}" if len(psfs) > 1 else ""
    warnings.warn(
        # A sharp photograph given a PSF set it off too, and was told of stars (found by a probe).
        f"mu: 'auto' found a weight of {weight:.3g}{where} by GCV, as a few bright, compact sources (stars), or a PSF "
        f"wider than the image's blur, make it choose; without the brightest {BRIGHT_PERCENT:g}% of each region's "
        f"pixels it chose {without:.3g}, which is used. Pass mu to choose otherwise.",
        MuWarning, stacklevel=stacklevel + 1,
    )
    return without


def value_reach(image):
    """How far an image's present pixels reach: their largest magnitude, and the ``REACH_PERCENTILE``-th percentile of their rise above the smallest.

    The largest magnitude tells a dim image (12-bit counts in uint16) from
    one that fills [0, 1], however sparse (a star field's percentile is far
    below its maximum). The percentile tells fluxes in the thousands from a
    few hot pixels, and is taken above the smallest value since total
    variation follows the contrast, not the level: a pedestal or a sky of 100
    under values 1 deep is the same problem (see
    :func:`tiledeblur.solver.solve`). Zeros where no pixel is present.

    Examples
    --------
    >>> value_reach(np.append(np.full(10_000, 100.5), [np.nan, 100.0]))  # a sky level: it rises little
    (100.5, 0.5)
    >>> value_reach(np.append(np.full(10_000, 0.5), [np.nan, 80.0]))  # one hot pixel: the percentile ignores it
    (80.0, 0.0)
    """
    present = image[~np.isnan(image)]
    if not present.size:
        return 0.0, 0.0
    return float(np.abs(present).max()), float(np.percentile(present - present.min(), REACH_PERCENTILE))


def _off_scale(reach):
    """Whether values of the :func:`value_reach` ``reach`` lie far from [0, 1]; not where none is present (a blank
    image has no scale)."""
    largest, typical = reach
    low, high = TV_SCALE_RANGE
    return largest != 0 and (largest < low or typical > high)


def warn_if_below_floor(mus, loss, *, stacklevel):
    """Warn (:class:`MuWarning`) where a ``mu`` given for a quadratic loss lies below ``GCV_WEIGHTS[0]``.

    No image's cross-validation chose less, and each decade below amplifies
    the noise and lengthens the solve: on a 128² crop of ``camera`` under
    the article's PSF, ``laplacian`` took under 1 s at 4e-3, 20 s at 1e-6, and
    did not end in two minutes at 1e-7; at 1e-300 it gave values from -5.7
    to 9 (found by a probe). Those weights are the image's own scale's for
    these losses (``tv``'s and ``nlmeans``' follow the values, and are not
    checked). ``stacklevel`` is the warning's, counted from the caller.

    Examples
    --------
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_if_below_floor((1e-3, 1e-7), "laplacian", stacklevel=1)
    ...     warn_if_below_floor((1e-7,), "tv", stacklevel=1)
    >>> [str(warning.message)[:66] for warning in caught]
    ['mu: 1e-07 is below 1e-05, the smallest weight that mu="auto" choos']
    """
    least = min(mus)
    # Within rounding of the floor: the floor that mu="auto" reported, passed back, warned "1e-05 is below 1e-05"
    # (found by a probe; the median on a log scale rounds).
    if loss in QUADRATIC_LOSSES and least < GCV_WEIGHTS[0] * (1 - 1e-9):
        warnings.warn(
            f'mu: {float(least)!r} is below {GCV_WEIGHTS[0]:g}, the smallest weight that mu="auto" chooses for any '
            "image: each decade below amplifies the noise further, and the solve may take minutes or fail to converge "
            "(a 128² crop took 20 s at 1e-6, and did not end in two minutes at 1e-7).",
            MuWarning, stacklevel=stacklevel + 1,
        )


def warn_if_off_scale(reach, loss, *, stacklevel, eps=None):
    """Warn (:class:`MuWarning`) where ``tv``'s settings meet values far from the [0, 1] they assume.

    ``reach`` is a :func:`value_reach`; it is off the scale where the largest
    magnitude lies below ``TV_SCALE_RANGE`` or the percentile above it.
    ``eps`` is None for ``mu="auto"``, whose rule assumes the scale; for a
    given ``mu`` it is the default ``eps``, which does too (an ``eps`` that the
    caller chose is for the image's own scale, and warns of nothing).
    ``stacklevel`` is the warning's, counted from the caller of this function.

    Total variation is homogeneous of degree one in the image, its data term
    of degree two: for values ``s`` times larger the same problem has ``mu``
    and ``eps`` ``s`` times larger. The rule maps GCV's weight for [0, 1]
    images, and the default ``eps`` is for them too; 12-bit counts in uint16
    reach 0.0625 of that scale, and a mosaic's fluxes thousands. Where
    ``eps`` is far too small for the values, the loss is nearly not smooth
    and Newton-CG crawls: a 512² image at 255 times the scale took 110 times
    the Hessian products (found by a probe).
    """
    if loss != "tv" or not _off_scale(reach):
        return
    largest, typical = reach
    sampled = (f"the magnitudes sampled reach {largest:.3g} (the {REACH_PERCENTILE}th percentile of their rise "
               f"above the smallest, {typical:.3g})")
    # The rise is the values' scale: the same problem has mu and eps that many times those for [0, 1] (a probe
    # found tv on fluxes to 4000 unfinished after 10 min, and done in 13 s so scaled).
    if eps is None:
        message = (f"mu: 'auto' for tv assumes values on the [0, 1] scale, as the default eps does, and {sampled}; "
                   "there eps rounds edges away (dim values) or slows the solve many times (large ones). Scale the "
                   f"image to [0, 1], or pass mu and eps for its scale: by the sample's rise, about {typical:.3g} "
                   "times those for [0, 1].")
    else:
        message = (f"eps: tv's default, {eps:g}, is for values on the [0, 1] scale, and {sampled}; there it rounds "
                   "edges away (dim values) or slows the solve many times (large ones). Scale the image to "
                   f"[0, 1], or pass eps for its scale: by the sample's rise, about {eps * typical:.3g}, with mu "
                   f"{typical:.3g} times the one for [0, 1].")
    warnings.warn(message, MuWarning, stacklevel=stacklevel + 1)


def warn_if_eps_too_small(reach, eps, *, default, stacklevel):
    """Warn (:class:`MuWarning`) where an ``eps`` chosen for ``tv`` is below ``EPS_FLOOR`` times the values' rise.

    ``reach`` is a :func:`value_reach`, whose rise is the values' scale;
    ``default`` is ``tv``'s ``eps`` for [0, 1], which the warning suggests
    in proportion. Smaller, the loss is nearly not smooth: it gains nothing,
    and Newton-CG crawls or fails. On a 256² crop of ``camera`` (noise 0.01,
    on [0, 1]) a solve took 1.2 s at the default 0.03 (22.9 dB), 7.0 s at
    1e-3 (22.9 dB), 28 s at 1e-4 (22.6 dB) and 921 s at 1e-5 (21.7 dB); on
    a 64² crop, 1e-10 ended 3 times as far from the truth as the blurred
    image, and 1e-20 flat, both "converged" without a word (found by a
    probe).

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_if_eps_too_small((1.0, 0.9), 1e-6, default=0.03, stacklevel=1)
    ...     warn_if_eps_too_small((1e-4, 1e-4), 1e-6, default=0.03, stacklevel=1)  # values that rise 1e-4: in scale
    >>> len(caught), str(caught[0].message)[:34]
    (1, 'eps: expected at least 1e-03 times')
    """
    rise = reach[1]
    if eps < EPS_FLOOR * rise:
        warnings.warn(
            f"eps: expected at least {EPS_FLOOR:.0e} times the values' rise for tv (the {REACH_PERCENTILE}th "
            f"percentile above the smallest, {rise:.3g}), got {eps:g}: so small, tv gains nothing and its solve "
            f"slows many times or fails (a flat result). Pass about {default * rise:.3g}: the default, {default:g}, "
            "times that rise.",
            MuWarning, stacklevel=stacklevel + 1,
        )


def sampled_reach(read_region, shape):
    """The :func:`value_reach` of an image's sample regions (see :func:`sample_regions`), every channel together."""
    return _widest([value_reach(channel) for yx in sample_regions(shape) for channel in read_region(yx)])


def sampled_contrasts(read_region, shape, channels):
    """Each channel's standard deviation over the pixels present in an image's sample regions (see
    :func:`sample_regions`), which ``nlmeans`` starts from (:func:`tiledeblur.plugandplay.ratios`): None where
    those pixels are all alike, or missing.

    Examples
    --------
    >>> image = np.stack([np.tile([0.0, 1.0], (64, 32)), np.full((64, 64), 0.5)])
    >>> sampled_contrasts(lambda yx: image[(slice(None), *yx)], (64, 64), 2)
    (0.5, None)
    """
    parts = [[] for _ in range(channels)]  # each region's count, mean and sum of squared deviations
    for yx in sample_regions(shape):
        for own, values in zip(parts, read_region(yx)):
            present = values[~np.isnan(values)].astype(np.float64)
            if present.size:
                own.append((present.size, present.mean(), np.sum((present - present.mean()) ** 2)))
    return tuple(_pooled_deviation(own) if own else None for own in parts)


def _pooled_deviation(parts):
    """The standard deviation of the pixels of regions given as (count, mean, sum of squared deviations), pooled
    about the mean of them all without holding their pixels together; None where it is nil."""
    counts, means, squares = np.array(parts).T
    mean = np.sum(counts * means) / np.sum(counts)
    variance = np.sum(squares + counts * (means - mean) ** 2) / np.sum(counts)
    return float(np.sqrt(variance)) if variance > 0 else None


def _widest(reaches):
    """The :func:`value_reach` of pixels whose parts' reaches are ``reaches``: each figure's largest."""
    return tuple(float(largest) for largest in np.max(reaches, axis=0))
