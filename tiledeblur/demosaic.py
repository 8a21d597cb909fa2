"""The noise of a colour camera's demosaiced pixels, as ``mu="auto"`` weighs it.

Why cross-validation fails on demosaiced images
-----------------------------------------------
A single-sensor colour camera measures one colour at each pixel, through a
colour filter array (CFA; Bayer's is ``RGGB`` in 2 x 2 cells), and its
software interpolates the two colours that each pixel lacks. The red and
blue of each channel are measured at one pixel in four, the green at one in
two, on a checkerboard. Interpolation spreads each measured pixel's noise
over its neighbours: the noise is no longer white, and the finest
frequencies, where generalized cross-validation (GCV;
:mod:`tiledeblur.regularization`) reads the noise level, hold far less of
it than the others. GCV then finds the data nearly noise-free and chooses
its smallest weight. On a 256² crop of ``astronaut`` blurred by a Gaussian
of σ 2, noise 0.01, demosaiced bilinearly, the green came out at 17.3 dB
where the blurred image had 25.8 dB (found by a session's study).

The model
---------
Linear demosaicing keeps each measured pixel and fills the others, in each
of the 2 x 2 cell's four phases, with a fixed combination of the measured
pixels nearby: of the same colour (bilinear interpolation, the default of
OpenCV's Bayer conversion), or of all three (Malvar, He and Cutler's
gradient-corrected interpolation, MATLAB's ``demosaic``). The measured
pixels' noise is white, so each channel's noise is that white noise
filtered by one kernel per phase, and its power spectrum, averaged over the
cell, follows from the kernels and the measured pixels' variance
(:func:`_noise_power`). Each is read off the image:

* for red, green and blue (:func:`colour_noise_powers`), the Bayer mosaic,
  of the four arrangements of ``RGGB``, as the one from whose pixels a 5 x 5
  window predicts each channel's other pixels, by least squares, with a
  residual below ``MAX_RESIDUAL_RATIO`` times that of the next best;
* for a channel alone (:func:`noise_power`), bilinear interpolation only:
  the lattice of its measured pixels, among the six of a 2 x 2 cell (the
  checkerboard's two phases and the four of one pixel per cell), as the one
  whose pixels predict the others with a residual below
  ``MAX_RESIDUAL_RATIO`` times that of its shifts (:func:`_lattice`);
* the kernels, from those least-squares weights;
* each colour's variance, from the residual of its measured pixels'
  prediction by the measured pixels around them, over ``1 + Σ w²`` for its
  weights ``w``. The blurred scene adds to it: up to a quarter more in red
  and blue, whose measured pixels lie 2 px apart, under a Gaussian of σ 2.

The weight then follows from Mallows' unbiased estimate of the predicted
risk for that noise, as for a JPEG scan (:mod:`tiledeblur.jpeg`), but for
one check. Under a mild blur (a Gaussian of σ 0.8 to 1.2) the blurred
scene's own interpolation error, which the model leaves out, outweighs the
noise in red and blue, and Mallows' estimate, which then has a second
minimum at the grid's floor, fell there: 6 to 15 dB below the scan (found
by a probe). So a weight below ``CHECKED_BELOW`` gives way to the
discrepancy principle's (Morozov: the weight whose residual's mean square
is the noise's) where that is larger; the discrepancy principle alone
smooths too much where Mallows' estimate holds.

Measured in a scratch study (2026-12-04) with ``laplacian``'s Fourier
filter, on 256² crops of five ``skimage.data`` images (``astronaut``,
``camera``, ``coffee``, ``chelsea``, ``rocket``) blurred by Gaussians of σ
1, 2 and 3, noise 0.003, 0.01 and 0.03, demosaiced bilinearly (red and
green alone, 90 channels): against the best weight of each, chosen with the
ground truth, GCV lost a median of 2.9 dB (up to 21 dB; 22 of 90 within 1
dB); the channel's model lost a median of 0.25 dB (up to 2.6 dB; 87 of 90
within 1 dB). In colour (``astronaut`` and ``coffee``, σ 1 and 2, the same
noise, 8 bits; 36 channels each), the mosaic's model lost a median of 0.43
dB bilinearly (30 of 36 within 1 dB) and 0.52 dB gradient-corrected (34 of
36), where GCV lost 2.0 and 1.8 dB (up to 7.7 and 8.5). With the solver
(``deconvolve`` at the weights of the sample regions; 256² crops, σ 0.8,
1 and 2, noise 0.003 and 0.01, both demosaicings, 8 bits), the gain over
the scan of ``coffee`` and ``astronaut`` (72 channels) was a median of
+1.35 dB with Mallows' estimate alone, but down to -9.6 dB and 15
channels below the scan; with the discrepancy principle alone +0.78 dB
(down to -2.4, 11 below); with the check, +1.40 dB (down to -0.21, 1
below). On ``chelsea``, ``rocket`` and ``immunohistochemistry``, not used
to set ``CHECKED_BELOW`` (108 channels): +0.84 dB alone (down to -14.7, 20
below), +1.17 with the check (down to -3.0, 7 below), and +0.76 taking
the larger weight always (27 below). The solver restored the green of
``astronaut`` at noise 0.01 and σ 2 to 28.5 dB, where GCV had made 17.3 of
the blurred 25.8 (29.3 dB with white noise). The residual ratio was at most 0.24 on single channels
demosaiced bilinearly in 8 bits with noise 0.003 to 0.03, and at most 0.38
for the mosaic of five colour images, bilinear or gradient-corrected; it
was at least 0.95 on white noise or none, in floats or 8 bits: those images
(0.98 for their mosaics), and ``bench_quality``'s 72 cases and their
noise-free scenes (192 images), none of which is taken for demosaiced.

What it does not cover
----------------------
The blurs mildest of all: at σ 0.8 to 1, 8 of the 180 channels above came
out below the scan, by up to 3 dB; there is little blur there to undo.
One channel of a gradient-corrected image, given alone (to ``deconvolve``):
its filled pixels depend on the other colours, and its ratio was 0.14 to
0.95, so most are left to GCV, which fails there as it does on the others:
9.5 to 17.8 dB where the blurred channels had 24.1 to 26.6 (``astronaut``
and ``coffee``, σ 2, noise 0.01 and 0.03). Nor does it cover nonlinear
(edge-directed) demosaicing such as OpenCV's VNG, images resized after
demosaicing, or a JPEG of them decoded to other than 8 bits (a probe: 17 dB
where the scan had 24 to 25; in 8 bits :mod:`tiledeblur.jpeg` weighs it).
"""

import itertools

import numpy as np
import scipy.fft
import scipy.ndimage

__all__ = ["BAYER_PATTERNS", "LATTICES", "MAX_RESIDUAL_RATIO", "camera_image", "colour_noise_powers", "noise_power"]

#: The measured pixels of each 2 x 2 colour filter's cell, for each lattice that a channel's may lie on: the
#: checkerboard's two phases (green) and the four single pixels of a cell (red, blue).
LATTICES = (
    ((True, False), (False, True)),
    ((False, True), (True, False)),
    ((True, False), (False, False)),
    ((False, True), (False, False)),
    ((False, False), (True, False)),
    ((False, False), (False, True)),
)
#: The colour (0 red, 1 green, 2 blue) that each pixel of a Bayer filter's 2 x 2 cell measures: RGGB, BGGR, GRBG
#: and GBRG.
BAYER_PATTERNS = (((0, 1), (1, 2)), ((2, 1), (1, 0)), ((1, 0), (2, 1)), ((1, 2), (0, 1)))
#: Bilinear interpolation of green on its checkerboard, and of red or blue on one pixel in four.
GREEN_KERNEL = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]]) / 4
RED_BLUE_KERNEL = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 4
#: Malvar, He and Cutler's gradient-corrected interpolation (ICASSP 2004), in eighths: green at a red or blue
#: pixel; red or blue at a green pixel in a row of its colour (transposed for a column); red at blue, blue at red.
GREEN_AT_RED = np.array([[0, 0, -1, 0, 0], [0, 0, 2, 0, 0], [-1, 2, 4, 2, -1], [0, 0, 2, 0, 0], [0, 0, -1, 0, 0]]) / 8
ACROSS_ROW = np.array([[0, 0, 0.5, 0, 0], [0, -1, 0, -1, 0], [-1, 4, 5, 4, -1], [0, -1, 0, -1, 0],
                       [0, 0, 0.5, 0, 0]]) / 8
RED_AT_BLUE = np.array([[0, 0, -1.5, 0, 0], [0, 2, 0, 2, 0], [-1.5, 0, 6, 0, -1.5], [0, 2, 0, 2, 0],
                        [0, 0, -1.5, 0, 0]]) / 8
#: The four pixels of a 2 x 2 cell, as (row, column) parities.
PHASES = ((0, 0), (0, 1), (1, 0), (1, 1))
#: The interpolated pixels' residual over the measured pixels' below which a channel is demosaiced (see the notes).
MAX_RESIDUAL_RATIO = 0.5
#: Mallows' weights below this are checked by the discrepancy principle, whose weight is taken where larger (see
#: the notes): Mallows' estimate has a second minimum at the grid's floor under a mild blur.
CHECKED_BELOW = 1e-3
#: The half-width of the window whose measured pixels predict a pixel.
REACH = 2
#: The least side of a region read for a lattice: smaller ones hold too few pixels of each phase to fit.
MIN_SIDE = 32
#: A pixel whose squared residual exceeds this many times the median of those above zero is left out of the fit,
#: once: a Gaussian noise's exceed it once in a million pixels.
OUTLIER_SQUARES = 1000.0


def camera_image(rgb, *, method="bilinear"):
    """What a single-sensor camera with an ``RGGB`` Bayer filter makes of ``rgb`` (``(y, x, 3)``, channels last):
    each pixel keeps its own colour's value, and the other two are filled in by ``method``.

    ``"bilinear"`` fills each colour from its own measured pixels around;
    ``"gradient-corrected"`` (Malvar, He and Cutler) from the mosaic of all
    three. For studies and tests of the model: add the sensor's noise to
    ``rgb`` first.

    Examples
    --------
    At a red pixel, red is kept and green is the mean of the four greens
    beside it; at the green beside it, red is the mean of the reds on
    either side:

    >>> rgb = np.random.default_rng(0).random((8, 8, 3))
    >>> image = camera_image(rgb)
    >>> greens = rgb[[1, 2, 2, 3], [2, 1, 3, 2], 1]
    >>> bool(image[2, 2, 0] == rgb[2, 2, 0]), bool(np.isclose(image[2, 2, 1], greens.mean()))
    (True, True)
    >>> bool(np.isclose(image[2, 3, 0], rgb[[2, 2], [2, 4], 0].mean()))
    True
    """
    rows, columns = np.indices(rgb.shape[:2]) % 2
    red, blue = (rows == 0) & (columns == 0), (rows == 1) & (columns == 1)
    mosaic = np.choose(np.where(red, 0, np.where(blue, 2, 1)), np.moveaxis(rgb, -1, 0))
    if method == "bilinear":
        return np.stack([scipy.ndimage.convolve(mosaic * measured, kernel, mode="mirror") for measured, kernel in
                         ((red, RED_BLUE_KERNEL), (rows != columns, GREEN_KERNEL), (blue, RED_BLUE_KERNEL))], axis=-1)
    green_at, row, column, opposite = (scipy.ndimage.convolve(mosaic, kernel, mode="mirror")
                                       for kernel in (GREEN_AT_RED, ACROSS_ROW, ACROSS_ROW.T, RED_AT_BLUE))
    red_row, blue_row = (rows == 0) & (columns == 1), (rows == 1) & (columns == 0)  # green pixels' rows
    return np.stack([np.select([red, red_row, blue_row], [mosaic, row, column], opposite),
                     np.where(red | blue, green_at, mosaic),
                     np.select([blue, blue_row, red_row], [mosaic, row, column], opposite)], axis=-1)


def _measured_offsets(phase, lattice):
    """The offsets from a pixel of ``phase`` of the measured pixels of ``lattice`` within ``REACH``."""
    window = range(-REACH, REACH + 1)
    return [(dy, dx) for dy in window for dx in window
            if lattice[(phase[0] + dy) % 2][(phase[1] + dx) % 2] and (dy, dx) != (0, 0)]


def _fit(values, phase, offsets, source=None):
    """Least-squares weights of the pixels of ``source`` (``values`` itself by default) at ``offsets`` (within
    ``REACH``) that predict the pixels of ``values`` of ``phase``.

    Returns the weights and the mean square of the prediction's residual.
    """
    source = values if source is None else source
    height, width = values.shape
    start = [REACH + (p - REACH) % 2 for p in phase]  # the first pixel of the phase at least REACH inside
    rows, columns = slice(start[0], height - REACH, 2), slice(start[1], width - REACH, 2)
    predicted = values[rows, columns].ravel()
    predictors = np.stack([
        source[rows.start + dy: height - REACH + dy: 2, columns.start + dx: width - REACH + dx: 2].ravel()
        for dy, dx in offsets
    ], axis=1)
    weights, squares = _least_squares(predictors, predicted)
    # A hot pixel or a cosmic ray would set the fit of every pixel that it predicts or is predicted from. The median
    # of the squares above zero: a plateau (a dark floor of zero counts) predicts itself exactly, and with more than
    # half of the pixels there, a median of zero left out every other pixel, whose fit then passed for a lattice's
    # (found by a benchmark: binary blobs counted in photons under a motion blur, 18 dB below the tuned peer).
    scale = np.median(squares[squares > 0]) if np.any(squares > 0) else 0.0
    kept = squares <= OUTLIER_SQUARES * scale
    if not kept.all():
        weights, squares = _least_squares(predictors[kept], predicted[kept])
    return weights, float(np.mean(squares))


def _least_squares(predictors, predicted):
    """The least-squares weights of ``predictors``' columns for ``predicted``, and each row's squared residual."""
    # The normal equations, 25 x 25 at most, solve 20 times faster than the 16000 rows of a 256² region;
    # lstsq solves them where the predictors are alike (a flat region).
    weights = np.linalg.lstsq(predictors.T @ predictors, predictors.T @ predicted, rcond=None)[0]
    return weights, (predicted - predictors @ weights) ** 2


def _lattice(values):
    """The lattice of :data:`LATTICES` whose pixels are measured, and the fits (:func:`_fit`) of its other phases by
    them; None and None where ``values`` show none.

    The pixels between a lattice's are predicted from its pixels nearby,
    and so are those between each of its shifts (the other lattices of as
    many pixels): the scene and white noise leave each shift's residual
    alike, where interpolation leaves next to none between the measured
    pixels. The red of a Bayer filter passes the checkerboard's test too
    (the pixels beside a red one are filled from the reds in their row or
    column), so the sparsest lattice that passes is the one.
    """
    fits = {lattice: {phase: _fit(values, phase, _measured_offsets(phase, lattice))
                      for phase in PHASES if not lattice[phase[0]][phase[1]]} for lattice in LATTICES}
    filled = {lattice: np.mean([residual for _, residual in phases.values()]) for lattice, phases in fits.items()}

    def ratio(lattice):
        shifted = min(filled[other] for other in LATTICES if other != lattice and _share(other) == _share(lattice))
        return filled[lattice] / shifted if shifted > 0 else np.inf  # a flat region tells no lattice

    lattice = min((lattice for lattice in LATTICES if ratio(lattice) < MAX_RESIDUAL_RATIO), key=_share, default=None)
    return lattice, fits.get(lattice)


def _share(lattice):
    """The share of a lattice's pixels that are measured."""
    return sum(map(sum, lattice)) / 4


def noise_power(values):
    """The power spectrum of the noise of a demosaiced channel, or None where ``values`` are not (see the notes).

    ``values`` is one channel of a region, 2-D, without NaN; the spectrum is
    the expected ``|rfft2|²`` of its noise, as
    :func:`tiledeblur.gcv.gcv_mu` takes it.

    Examples
    --------
    Green measured on a checkerboard and interpolated bilinearly; the same
    image with white noise is left to cross-validation:

    >>> from scipy.ndimage import convolve, gaussian_filter
    >>> rng = np.random.default_rng(0)
    >>> noisy = gaussian_filter(rng.random((128, 128)), 2) + rng.normal(0, 0.01, (128, 128))
    >>> measured = (np.indices(noisy.shape).sum(axis=0) % 2) == 0
    >>> bilinear = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]]) / 4
    >>> green = convolve(noisy * measured, bilinear, mode="mirror")
    >>> power = noise_power(green)
    >>> round(float(np.sqrt(power.mean() / green.size)), 3)  # the noise's level, about 0.01 / sqrt(2) and more
    0.008
    >>> noise_power(noisy) is None
    True
    """
    if min(values.shape) < MIN_SIDE:
        return None
    values = np.asarray(values, dtype=np.float64)  # float32's sums of 16000 products blur the exact fit's residual
    lattice, filled = _lattice(values)
    if lattice is None:
        return None
    kernels = {phase: _kernel(_measured_offsets(phase, lattice), weights) for phase, (weights, _) in filled.items()}
    variances = np.zeros((2, 2))
    for phase in (phase for phase in PHASES if phase not in filled):
        # A measured pixel, predicted from the measured pixels around it, keeps its noise and adds theirs.
        weights, residual = _fit(values, phase, _measured_offsets(phase, lattice))
        variances[phase] = residual / (1 + np.sum(weights**2))
    variances[variances > 0] = variances[variances > 0].mean()  # one noise for the channel's measured pixels
    return _noise_power(kernels, variances, values.shape)


def colour_noise_powers(region):
    """:func:`noise_power` of each channel of a ``(3, y, x)`` red, green and blue region, read off the mosaic that
    a Bayer filter measured; None where no Bayer mosaic predicts the channels.

    Demosaicing that mixes the colours, such as Malvar, He and Cutler's
    gradient-corrected interpolation (MATLAB's ``demosaic``), fills each
    missing colour from the measured pixels of all three; where it is
    linear, each channel's pixel of each phase is a fixed combination of
    the mosaic's pixels within ``REACH``, found by least squares, and each
    colour's measured pixels keep their noise (see :func:`_bayer_mosaic`).
    A 256² region takes about 60 ms on an idle core, against about 80 ms
    for its three channels' cross-validation: a plan of a 2048² RGB scan
    took 4 s more (10 to 14 s, a probe's, on a busy machine).

    Examples
    --------
    >>> from scipy.ndimage import gaussian_filter
    >>> rng = np.random.default_rng(0)
    >>> scene = gaussian_filter(rng.random((3, 96, 96)), (0, 2, 2)) + rng.normal(0, 0.01, (3, 96, 96))
    >>> colour_noise_powers(scene) is None  # white noise: no mosaic
    True
    """
    if region.shape[0] != 3 or min(region.shape[1:]) < MIN_SIDE:
        return None
    region = np.asarray(region, dtype=np.float64)
    mosaics = {pattern: _bayer_mosaic(region, pattern) for pattern in BAYER_PATTERNS}
    window = range(-REACH, REACH + 1)
    every = [(dy, dx) for dy in window for dx in window]
    fits = {pattern: {(colour, phase): _fit(region[colour], phase, every, mosaic)
                      for colour in range(3) for phase in PHASES if pattern[phase[0]][phase[1]] != colour}
            for pattern, mosaic in mosaics.items()}
    filled = {pattern: np.mean([residual for _, residual in each.values()]) for pattern, each in fits.items()}
    pattern = min(filled, key=filled.get)
    others = min(residual for other, residual in filled.items() if other != pattern)
    if not (others > 0 and filled[pattern] / others < MAX_RESIDUAL_RATIO):
        return None
    mosaic, around = mosaics[pattern], [offset for offset in every if offset != (0, 0)]
    by_colour = {}
    for phase in PHASES:  # each colour's measured pixels, predicted from the mosaic around them
        weights, residual = _fit(mosaic, phase, around)
        by_colour.setdefault(pattern[phase[0]][phase[1]], []).append(residual / (1 + np.sum(weights**2)))
    variances = np.array([[np.mean(by_colour[colour]) for colour in row] for row in pattern])
    kernels = [{} for _ in range(3)]
    for (colour, phase), (weights, _) in fits[pattern].items():
        kernels[colour][phase] = _kernel(every, weights)
    return [_noise_power(own, variances, mosaic.shape) for own in kernels]


def _bayer_mosaic(region, pattern):
    """The pixels of ``region`` that a Bayer filter of ``pattern`` measured: each pixel's own colour."""
    mosaic = np.empty(region.shape[1:])
    for y, x in PHASES:
        mosaic[y::2, x::2] = region[pattern[y][x], y::2, x::2]
    return mosaic


def _kernel(offsets, weights):
    """The weights of the pixels at ``offsets`` as a window of ``REACH``, centred; the identity for none."""
    kernel = np.zeros((2 * REACH + 1,) * 2)
    if not offsets:
        kernel[REACH, REACH] = 1.0
    for (dy, dx), weight in zip(offsets, weights):
        kernel[REACH + dy, REACH + dx] = weight
    return kernel


def _noise_power(kernels, variances, shape):
    """The expected ``|rfft2|²`` over ``shape`` of the noise that ``kernels`` make of white noise.

    A pixel of phase ``(y, x)`` is the sum of the noise of the source pixels
    around it, each weighted by ``kernels[(y, x)]`` (a measured pixel's own
    phase is missing from ``kernels``: it is its source pixel), whose
    variance is ``variances[phase]`` of the source pixel's phase. The noise
    is then periodic in its statistics over the 2 x 2 cell; its power
    spectrum here is that of its autocovariance averaged over the cell,
    which is what Mallows' estimate needs: the trace of a filter by the
    noise's covariance.
    """
    kernels = {phase: kernels.get(phase, _kernel([], [])) for phase in PHASES}
    side, span = 2 * REACH + 1, 2 * REACH
    offsets = range(-REACH, REACH + 1)
    covariance = np.zeros((2 * span + 1,) * 2)
    for (y, x), kernel in kernels.items():
        weighted = kernel * np.array([[variances[(y + dy) % 2, (x + dx) % 2] for dx in offsets] for dy in offsets])
        for ty, tx in itertools.product(range(-span, span + 1), repeat=2):
            other = kernels[(y + ty) % 2, (x + tx) % 2]
            # Σ_r weighted(r) other(r - t): the overlap of the two windows, t apart.
            rows = slice(max(0, ty), side + min(0, ty)), slice(max(0, -ty), side + min(0, -ty))
            columns = slice(max(0, tx), side + min(0, tx)), slice(max(0, -tx), side + min(0, -tx))
            covariance[span + ty, span + tx] += np.sum(weighted[rows[0], columns[0]] * other[rows[1], columns[1]]) / 4
    periodic = np.zeros(shape)
    for ty, tx in itertools.product(range(-span, span + 1), repeat=2):
        periodic[ty % shape[0], tx % shape[1]] += covariance[span + ty, span + tx]
    return np.abs(scipy.fft.rfft2(periodic)) * periodic.size  # real and non-negative: a power spectrum
