"""``deconvolve``: the public entry point for an image in memory, which validates its arguments.

It checks the image, its channels and every setting once, at this
boundary; chooses ``mu``, the loss, the noise level, the contrast and the
noise line on the image's sample regions as :func:`tiledeblur.run` chooses
them for a scan; and hands the checked channels to
:func:`tiledeblur.solver.solve_channels`, the validated core that tiles call
on the workers.
"""

import dataclasses
import warnings

import numpy as np

from .arguments import check_channel_count, check_flag, check_int
from .denoising import channels_together
from .image import check_image
from .jpeg import LAPLACIAN_SUSPECT_WEIGHT, LAPLACIAN_WEIGHTS_HINT, eight_bit_levels, find_blocks
from .psf import check_psfs
from .regularization import (
    NEAR_FLOOR,
    MuWarning,
    estimate_mus_and_noise,
    is_auto,
    sample_regions,
    sampled_contrasts,
    value_reach,
    warn_if_below_floor,
    warn_if_eps_too_small,
    warn_if_off_scale,
)
from .saturation import warn_if_saturated
from .selection import CANDIDATES, check_request, choose_loss, default_loss, nlmeans_noise_lines
from .settings import DEFAULT_EPS, DEFAULT_MAXITER, DEFAULT_TOL, SolverSettings, check_mu
from .solver import ConvergenceWarning, solve_channels

__all__ = ["deconvolve"]

# What one of each setting is called in a refusal of too many, as plan and run call a weight.
_NOUNS = {"mu": "weight", "noise": "noise level"}


def deconvolve(image, psf, *, channel_axis=None, loss=None, mu="auto", boundary=None, eps=DEFAULT_EPS,
               tol=DEFAULT_TOL, maxiter=DEFAULT_MAXITER, nonneg=False, denoise=True, noise=None, contrast=None,
               noise_line=None, mix=None, return_info=False):
    """Deblur a 2-D image, or each channel of one, by regularized least squares, solved with Newton-CG.

    Minimizes ``loss`` over the unknown sharp image; autograd gives the exact
    gradient, the Hessian-vector products are derived by hand (tested equal
    to autograd's; for ``tv``, Chan, Golub and Mulet's primal-dual matrix
    after the first step; autograd's for ``"article"``), and Newton-CG does
    the rest, starting from the regularized inverse filter.

    Parameters
    ----------
    image : (M, N) array_like, or an array of 3 axes with ``channel_axis``
        The blurred image: uint8, uint16, other ints, float32 or float64.
        Integers are scaled to [0, 1] by their dtype's range (see
        :mod:`tiledeblur.image`), so a list of ints, which has no dtype, is
        refused. NaN marks a missing pixel, which the result keeps (see
        :func:`~tiledeblur.solver.solve`).
    psf : (P, Q) array_like, str or os.PathLike
        The point spread function, odd-sized; normalized to sum 1 if it is
        not; or the path of a file that holds it (see
        :func:`tiledeblur.load_psf`). With ``channel_axis``, one for every
        channel, or a list or stack of one per channel, as
        :func:`tiledeblur.run` takes them.
    channel_axis : int, optional
        The channels' axis of a colour image (-1 for RGB as ``yxc``). Each
        channel is deblurred with its own weight, as
        :func:`tiledeblur.run` deblurs a scan's, and ``nlmeans``' rounds
        compare patches over all the channels
        (:func:`~tiledeblur.solver.solve_channels`), so that a region of a scan deblurred with
        its :func:`tiledeblur.plan`'s settings is what ``run`` writes
        there. Channels that show different scenes, such as a fluorescence
        image's stains, are denoised each alone, and ``loss="auto"`` chooses
        each its own loss (:func:`tiledeblur.denoising.channels_alike`).
        ``mu``, ``noise`` and ``contrast`` are then one value for all
        channels (or a list of one, as ``plan`` and ``run`` take it) or a
        list of one per channel, ``noise_line`` and ``mix`` a list of one per
        channel, as the plan gives them.
    loss : {"auto", "laplacian", "nlmeans", "tikhonov", "tv", "article"} or None, optional
        See :class:`~tiledeblur.settings.SolverSettings`; ``"auto"`` solves ``laplacian`` or
        ``nlmeans``, whichever an estimate of its error on the image's
        sample regions favours (:mod:`tiledeblur.selection`), or where
        neither alone is estimated best, ``nlmeans`` mixed with ``laplacian``,
        with ``mu="auto"``, and reports it in ``info.loss`` and ``info.mix``.
        None (the default) is ``"auto"``, or ``laplacian`` where a given
        ``mu`` or ``noise`` rules ``"auto"`` out
        (:func:`tiledeblur.selection.default_loss`).
    boundary, eps, tol, maxiter, nonneg, mix
        See :class:`~tiledeblur.settings.SolverSettings`. A region solved with a
        :func:`tiledeblur.plan`'s ``mu``, ``contrast``, ``noise_line`` and ``mix`` is what
        :func:`tiledeblur.run` writes there, away from its edges.
    mu : "auto", float or None, optional
        The regularization weight. ``"auto"`` (the default) chooses it by
        generalized cross-validation on the image's sample regions, as
        :func:`tiledeblur.run` does (:mod:`tiledeblur.regularization`; one
        region for an image of up to 256²), and reports it in ``info.mu``;
        for ``nlmeans`` it is the noise variance estimated on those regions
        times ``NOISE_WEIGHT`` (:mod:`tiledeblur.plugandplay`). An 8-bit
        image (``uint8``, or floats on the steps of 1/255) whose regions show
        JPEG's blocks is weighed by the error that JPEG left instead
        (:mod:`tiledeblur.jpeg`); one channel of a colour JPEG cannot be, and
        warns where its weight looks too small. ``None`` takes the loss's
        fixed default (``DEFAULT_MU``).
    denoise : bool, optional
        Follow a ``laplacian`` or ``tikhonov`` solve by one pass of a
        denoiser, the mean of non-local means and DCT shrinkage, at the level
        that it leaves of the image's noise, estimated as ``mu="auto"`` does
        (:mod:`tiledeblur.denoising`): on the 72 cases of
        ``benchmarks/bench_quality.py``, with non-local means alone, it won 67
        against the best-tuned peer where the solve alone won 38. The other
        losses ignore it.
    noise : float or None, optional
        The image's noise level (standard deviation, integers scaled as
        above) that the pass of ``denoise`` takes; None estimates it. A
        region solved with a :func:`tiledeblur.plan`'s ``mu`` and ``noise``
        is what :func:`tiledeblur.run` writes there, away from its edges:
        estimated on the region alone, the level differed by 2% from the
        scan's, and the result by up to 7e-3 (found by a probe).
    contrast : float or None, optional
        For ``nlmeans``: the image's contrast (integers scaled as above) that
        its rounds start from (see :class:`~tiledeblur.settings.SolverSettings`); None measures it
        on the image's sample regions. A region solved with a
        :func:`tiledeblur.plan`'s ``mu`` and ``contrast`` is what
        :func:`tiledeblur.run` writes there, away from its edges: measured on
        a region of tissue alone, beside glass that lowered the scan's
        contrast, the start moved the result by 2e-3 to 8.5e-3 on four regions
        (found by a probe; 1.5e-2 to 3.5e-2 before the DCT shrinkage joined
        non-local means).
    noise_line : NoiseLine, (float, float, float) or None, optional
        For ``nlmeans``: the line of the image's noise variance in its level
        (integers scaled as above) that its denoiser follows (see
        :class:`~tiledeblur.settings.SolverSettings`); None fits it on the image's sample regions,
        as :func:`tiledeblur.plan` does, which gives it as ``noise_line``.
    return_info : bool, optional
        Also return a :class:`~tiledeblur.settings.SolveInfo` with the iteration counts.

    Returns
    -------
    restored : ndarray
        Of the image's shape; float32 for a float32 image, float64 for
        every other dtype.
    info : SolveInfo, or a tuple of one per channel with ``channel_axis``
        Only with ``return_info=True``.

    Warns
    -----
    ConvergenceWarning
        When Newton-CG stops before meeting ``tol``, with scipy's reason.
    MuWarning, PsfWarning
        Where ``mu="auto"`` found the image's sample regions ill suited to
        it (a colour JPEG's channel among them), or the PSF likely wider than
        the image's blur (:mod:`tiledeblur.regularization`).
    SaturationWarning
        Where an integer image holds spots clipped at its dtype's largest
        value, around which the solve rings (:mod:`tiledeblur.saturation`).

    Examples
    --------
    >>> import numpy as np
    >>> from tiledeblur import deconvolve, gaussian_psf
    >>> image = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    >>> restored, info = deconvolve(image, gaussian_psf(5, 1.0), return_info=True)
    >>> restored.shape, restored.dtype, info.converged
    ((32, 32), dtype('float32'), True)
    """
    observed = _checked_channels(image, channel_axis)
    return_info, denoise = check_flag("return_info", return_info), check_flag("denoise", denoise)
    if loss is None:
        loss = default_loss(mu, noise)
    settings = _given_settings(len(observed), loss=loss, mu=mu, noise=noise, contrast=contrast, noise_line=noise_line,
                               mix=mix, denoise=denoise, boundary=boundary, eps=eps, tol=tol, maxiter=maxiter,
                               nonneg=nonneg)
    psfs = list(check_psfs(psf, len(observed), stacklevel=3))  # a path too, as run takes it (found by a probe)
    shape, largest = observed.shape[1:], np.max([checked.shape for checked in psfs], axis=0)
    if any(n < p for n, p in zip(shape, largest)):
        # Too few pixels to constrain the PSF's support: GCV and the solve return noise (measured: a 3 x 3
        # image with a 13 x 13 PSF came out between -748 and 804 under tv).
        raise ValueError(f"image: expected at least the PSF's {largest[0]} x {largest[1]} px, got shape {shape} "
                         "instead.")
    read_region, regions = lambda yx: observed[(slice(None), *yx)], sample_regions(shape)
    warn_if_saturated(read_region, regions, psfs, np.asarray(image).dtype, name="image", takes_missing_value=False,
                      stacklevel=2)
    automatic, choosing = is_auto(mu), is_auto(loss)
    # A JPEG's pixels, as run weighs them where its input shows JPEG's blocks (see tiledeblur.jpeg).
    levels = eight_bit_levels(image) if automatic or choosing else None
    jpeg_blocks = find_blocks(read_region, regions, levels=levels) if levels else None
    # As run decides it, on the same sample regions (see tiledeblur.denoising).
    together = channels_together(map(read_region, regions), channels=len(observed), loss=loss, denoise=denoise)
    if choosing:
        chosen = choose_loss(read_region, shape, psfs, settings[0], solve_channels, together=together,
                             denoise=denoise, jpeg_blocks=jpeg_blocks, stacklevel=2)
        settings = [dataclasses.replace(channel_settings, **dict(zip(
            ("loss", "mu", "noise", "contrast", "noise_line", "mix"), values)))
            for channel_settings, *values in zip(settings, *chosen)]
    else:
        settings = _measured_settings(settings, observed, psfs, automatic=automatic, denoise=denoise,
                                      jpeg_blocks=jpeg_blocks)
    if levels and len(settings) == 1 and settings[0].loss == "laplacian":
        _warn_if_a_colour_channel(settings[0].mu, jpeg_blocks, read_region, regions, levels=levels)
    return _restored(solve_channels(list(observed), psfs, settings, together=together), channel_axis,
                     return_info=return_info)


def _given_settings(channels, *, loss, mu, noise, contrast, noise_line, mix, denoise, **options):
    """Each of ``channels``' :class:`~tiledeblur.settings.SolverSettings`, of ``options`` and what the caller gave
    for it (its weight, noise, contrast, noise line and mix; None where ``mu`` is ``"auto"`` or not given)."""
    automatic, choosing = is_auto(mu), is_auto(loss)
    if not automatic:
        check_mu(mu)  # for the channel of a bad weight in a list; SolverSettings checks each channel's again
    if choosing:
        check_request(mu, None if options["eps"] == DEFAULT_EPS else options["eps"])
    if noise is not None and (choosing or not denoise):
        raise ValueError(f"noise: expected None with {'loss auto' if choosing else 'denoise=False'}, which takes no "
                         f"noise level, got {noise!r} instead.")
    for name, value in (("contrast", contrast), ("noise_line", noise_line), ("mix", mix)):
        if value is not None and choosing:
            raise ValueError(f"{name}: expected None with loss 'auto', which measures it where it chooses 'nlmeans', "
                             f"got {value!r} instead.")
    given = {name: _for_each_channel(name, value, channels, each=name in ("noise_line", "mix"))
             for name, value in (("mu", None if automatic else mu), ("noise", noise), ("contrast", contrast),
                                 ("noise_line", noise_line), ("mix", mix))}
    return [SolverSettings(loss=CANDIDATES[0] if choosing else loss, **options,
                           **{name: values[channel] for name, values in given.items()})
            for channel in range(channels)]


def _measured_settings(settings, observed, psfs, *, automatic, denoise, jpeg_blocks):
    """The channels' ``settings`` with what the image's sample regions give where the caller gave nothing: the
    weights where ``automatic``, the noise where ``denoise``, and ``nlmeans``' contrast and noise lines; as
    ``run()`` measures them on the same regions, the whole image then solves the tiles' problem (found by a probe:
    on a 512² crop the whole image's GCV chose 0.0063, the regions' 0.0050)."""
    loss, eps, shape = settings[0].loss, settings[0].eps, observed.shape[1:]
    read_region = lambda yx: observed[(slice(None), *yx)]
    given_mus = None if automatic else tuple(channel_settings.mu for channel_settings in settings)
    mus, noises = estimate_mus_and_noise(read_region, shape, psfs, loss, given_mus,
                                         denoise=denoise and any(each.noise is None for each in settings),
                                         jpeg_blocks=jpeg_blocks, stacklevel=3)
    measured = {"mu": mus, "noise": [each.noise if each.noise is not None else noise
                                     for each, noise in zip(settings, noises)]}
    if loss == "nlmeans" and settings[0].contrast is None:
        measured["contrast"] = sampled_contrasts(read_region, shape, len(settings))
    if loss == "nlmeans" and settings[0].noise_line is None:
        measured["noise_line"] = nlmeans_noise_lines(read_region, shape, psfs, jpeg_blocks=jpeg_blocks)
    if not automatic:
        warn_if_below_floor(mus, loss, stacklevel=3)
    if loss == "tv" and eps == DEFAULT_EPS and not automatic:
        warn_if_off_scale(value_reach(observed), loss, eps=eps, stacklevel=3)
    elif loss == "tv" and eps != DEFAULT_EPS:
        warn_if_eps_too_small(value_reach(observed), eps, default=DEFAULT_EPS, stacklevel=3)
    return [dataclasses.replace(channel_settings, **{name: values[channel] for name, values in measured.items()})
            for channel, channel_settings in enumerate(settings)]


def _restored(solved, channel_axis, *, return_info):
    """The image restored from ``solved``, each channel's ``(restored, info)``, with its channels on
    ``channel_axis``, and their :class:`~tiledeblur.settings.SolveInfo` where ``return_info``; a channel that did
    not converge warns."""
    for channel, (_, info) in enumerate(solved):
        if not info.converged:
            where = "" if channel_axis is None else f"channel {channel}: "
            warnings.warn(f"{where}Newton-CG did not converge: {info.message}", ConvergenceWarning, stacklevel=3)
    if channel_axis is None:
        (restored, info), = solved
    else:
        restored, info = np.moveaxis(np.stack([each for each, _ in solved]), 0, channel_axis), tuple(
            info for _, info in solved)
    return (restored, info) if return_info else restored


def _checked_channels(image, channel_axis):
    """``image`` checked as :func:`~tiledeblur.image.check_image` checks one, with its channels first: one for a 2-D
    image, where ``channel_axis`` is None.

    Examples
    --------
    >>> _checked_channels(np.zeros((4, 4, 3), dtype=np.uint8), -1).shape
    (3, 4, 4)
    >>> _checked_channels(np.zeros((4, 4)), 0)
    Traceback (most recent call last):
    ...
    ValueError: channel_axis: expected None for a 2-D image, or an axis of a 3-D one, got 0 for shape (4, 4) instead.
    >>> _checked_channels(np.zeros((0, 4, 4)), 0)
    Traceback (most recent call last):
    ...
    ValueError: image: expected at least one channel on axis 0, got shape (0, 4, 4) instead.
    """
    if channel_axis is None:
        if getattr(image, "ndim", None) == 3:  # told only "expected a 2-D array", where plan names the axis (a probe)
            shape = image.shape
            shortest = int(np.argmin(shape))
            raise ValueError(f"image: expected a 2-D array, or channel_axis for one of 3 axes, got shape {shape} "
                             f"instead; pass channel_axis={-1 if shortest == 2 else shortest} if its channels lie "
                             "on that axis.")
        return check_image(image, stacklevel=3)[None]  # the caller of deconvolve
    channel_axis = check_int("channel_axis", channel_axis, expected="None or an int")
    if not hasattr(image, "dtype"):
        # Integers scale by their dtype's range (see check_image), which a list has none of.
        raise TypeError(f"image: expected an array with channel_axis, got a {type(image).__name__} instead; pass "
                        "np.asarray(image, dtype=...) with the dtype that the values were recorded in.")
    if np.ndim(image) != 3 or not -3 <= channel_axis < 3:
        raise ValueError(f"channel_axis: expected None for a 2-D image, or an axis of a 3-D one, got {channel_axis} "
                         f"for shape {np.shape(image)} instead.")
    if not np.shape(image)[channel_axis]:  # np.stack's own error named nothing (found by a probe)
        raise ValueError(f"image: expected at least one channel on axis {channel_axis}, got shape {np.shape(image)} "
                         "instead.")
    # A loop, not a comprehension, whose frame of its own before Python 3.12 would shift the warnings' lines.
    channels = []
    for channel in np.moveaxis(image, channel_axis, 0):
        channels.append(check_image(channel, stacklevel=3))
    return np.stack(channels)


def _for_each_channel(name, value, channels, *, each):
    """``value`` for each of ``channels``: one for all, or a list or tuple of one per channel, as
    :func:`tiledeblur.plan` gives them; a list of one is one for all, as ``plan`` and ``run`` take it. Where
    ``each``, a value is a tuple itself (a line, a mix), so the image's channels need a list of one per channel.

    Examples
    --------
    >>> _for_each_channel("mu", 0.01, 3, each=False), _for_each_channel("mu", [0.01, 0.02], 2, each=False)
    ((0.01, 0.01, 0.01), (0.01, 0.02))
    >>> _for_each_channel("mu", [0.01], 1, each=False), _for_each_channel("mix", (0.5, 0.01), 1, each=True)
    ((0.01,), ((0.5, 0.01),))
    >>> _for_each_channel("contrast", [0.5, 0.6], 1, each=False)
    Traceback (most recent call last):
    ...
    ValueError: contrast: expected 1 value for an image without channels, got 2 instead.
    """
    if value is None:
        return (None,) * channels
    listed = isinstance(value, (list, tuple)) or np.ndim(value) == 1
    if each:
        if channels == 1:
            return (value,)
        if not listed or len(value) != channels:
            raise ValueError(f"{name}: expected a list of {channels}, one per channel, got {value!r} instead.")
        return tuple(value)
    if not listed:
        return (value,) * channels
    check_channel_count(len(value), channels, name=name, noun=_NOUNS.get(name, "value"))
    return tuple(value) if len(value) == channels else tuple(value) * channels


def _warn_if_a_colour_channel(mu, jpeg_blocks, read_region, regions, *, levels):
    """Warn (:class:`~tiledeblur.regularization.MuWarning`) where ``laplacian``'s automatic ``mu`` for an 8-bit
    image, of ``levels`` in one unit and with ``jpeg_blocks`` (or None) found on ``regions``, is likely that of a
    colour JPEG's channel given alone.

    A colour JPEG codes brightness and colour, and each of its red, green and
    blue holds a mix of their errors, which :mod:`tiledeblur.jpeg` finds from
    the three together, as ``run`` reads them. Found by a probe: a channel
    given alone got a weight far too small. Those whose blocks show at
    fewer than ``MIN_LATTICES`` frequencies (red or blue at 4:2:0) are not
    weighed as JPEG, and got cross-validation's floor, 1e-5: such a hint
    with a weight below ``NEAR_FLOOR`` counts as well as a JPEG's weight
    below ``LAPLACIAN_SUSPECT_WEIGHT``. Measured (a scratch study,
    2026-12-04, 256² crops of four colour JPEGs at qualities 80 to 95, 4:2:0
    and 4:4:4, and of eight grey ones at 50 to 98): 47 of the 72 colour
    channels warned, and 42 of those came out below the blurred channel, by
    up to 13 dB (the others up to 2.2 dB above it); 8 came out below it
    without a warning, 6 of them at the floor and showing no blocks at all.
    One grey JPEG of 64 warned (2.2e-4, 2.6 dB above the blurred).
    """
    suspect = (mu < LAPLACIAN_SUSPECT_WEIGHT if jpeg_blocks is not None else
               mu < NEAR_FLOOR and find_blocks(read_region, regions, levels=levels, least=1) is not None)
    if suspect:
        warnings.warn(
            f"mu: 'auto' chose {mu:.3g} for an image that shows JPEG's 8 x 8 blocks, below the weights that did best "
            f"on JPEG scans{LAPLACIAN_WEIGHTS_HINT}. A channel of a colour JPEG cannot be weighed alone: its error "
            "mixes those of the colour's brightness and hue. Deblur the colour image with channel_axis, or pass mu "
            "(the plan's for the colour image); for a grey JPEG, check the result, or pass mu tried on a region.",
            MuWarning, stacklevel=3,
        )
