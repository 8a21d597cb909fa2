"""The error that JPEG compression left in a scan, as the noise that ``mu="auto"`` weighs.

Why cross-validation fails on JPEG
----------------------------------
JPEG cuts an 8-bit image into 8 x 8 blocks, takes each block's discrete
cosine transform (DCT), and rounds each coefficient to a multiple of its
frequency's step in the file's quantization table. Where a coefficient is
smaller than half its step it becomes zero: the fine frequencies of a blurred
scan hold little but the sensor's noise, and JPEG erases it there. GCV
(:mod:`tiledeblur.regularization`) reads the noise from those frequencies,
finds next to none, and chooses a weight 100 to 1000 times too small; the
deblurred scan then amplifies the rounding of the coarser frequencies, which
JPEG kept. On the 64 crops measured below, it left 60 below the blurred
scan, by a median 10.7 dB.

The model
---------
The data's error is then no white noise, but one of a known make. Within
each frequency ``(u, v)`` of the blocks, the coefficient that JPEG rounded is
``t = s + n``, the blurred scene's ``s`` and the sensor's noise ``n``, and the
scan holds ``k q``, ``k = round(t / q)``, for the step ``q``. Its error
against the blurred scene is

    E[(k q - s)²] = E[(k q - t)²] + 2 (σ² / v) E[(k q - t) t] + σ²

for a Gaussian ``t`` of variance ``v`` and noise of variance ``σ²`` (the
noise's expected part of ``t`` is ``σ² t / v``). It is
``σ² + q² / 12`` where the step is fine against ``t``'s spread, and ``E[(k
q)²]`` (the coefficients themselves) where ``t`` is noise alone. Each of
these is read off the scan:

* the step ``q``, as the largest whose multiples the coefficients lie on
  (:func:`quantization_steps`), as JPEG forensics does (Fan and de Queiroz,
  2003); the file's tables are not needed, and the scan may come from any
  converter;
* ``v``, from the share of zeros ``p``: ``p = erf(q / (2 sqrt(2 v)))`` for a
  Gaussian ``t``. Where every coefficient is zero the likeliest ``v`` is 0,
  and so is the error: JPEG kept nothing there to amplify;
* ``σ²``, as the least ``v`` of the frequencies whose zeros and non-zeros
  both make at least ``MIN_SHARE`` of the blocks. It is the noise where a
  frequency holds noise alone, which the blur makes of the finest ones, and
  a bound above it where the steps hide the noise (a quality of 70 or less
  at the noise of the measurements below).

The errors of the blocks' frequencies are independent, so the error's power
spectrum over the image is their sum, each weighed by its basis function's
spectrum (:func:`error_power`), and the weight follows from Mallows' unbiased
estimate of the predicted risk for that noise
(:func:`tiledeblur.gcv.gcv_mu` with ``noise_power``).

Colour
------
A colour JPEG codes brightness, ``Y``, and colour, ``Cb`` and ``Cr`` (JFIF's
transform, ``TO_YCBCR``), each in blocks of its own, the colour often at
half the resolution across (4:2:2) or both ways (4:2:0). ``Y`` is recovered
from the decoded red, green and blue to within their rounding; each colour
plane by the mean of its pixels over a coded sample, with the decoder's
triangle filter undone (:func:`_coded_chroma`), at the first sampling whose
blocks show. Each plane's error is found as above, the colour's spread over
the image as the decoder's filter passes it, and red, green and blue hold
the sum of the three weighed by the squares of the inverse transform
(``ERROR_MIX``): red holds ``Cr``'s error twice over (1.402²), blue ``Cb``'s
three times (1.772²). The brightness's error alone was too little where the
colour kept its noise: at quality 95 and 4:2:0 the weights came out 1.8 to
5 dB below the best (a scratch study).

Measured
--------
``python benchmarks/bench_jpeg.py`` (``benchmarks/RESULTS.md``, 2026-12-02):
256² crops of four images in grey (``astronaut``, ``camera``, ``brick``,
``cell``; qualities 95, 85, 70 and 50) and four in colour (``astronaut``,
``coffee``, ``chelsea``, ``immunohistochemistry``; 95 at 4:2:0 and 4:4:4, 85
at 4:2:2, 70 at 4:2:0), blurred by ``gaussian_psf(13, (1, 3))``, noise 0.005
and 0.01, through ``convert`` and ``plan``: 64 cases, each against the best
single weight of nine from 1e-4 to 1 (interior PSNR). The plan's weights
came a median 0.04 dB below that best, 0.73 dB at worst (``brick`` at
quality 70, where ``σ`` is a bound above the true noise), and at least 1.3
dB above the blurred scan; cross-validation's left 60 of the 64 below the
blurred scan, by a median 10.7 dB.

Scratch studies, 2026-12-02: on 384² grey crops, the risk estimate with the
error's true spectrum came within 0.1 dB of the best in all 32 cases, and
the error taken as white noise of its true variance lost up to 28 dB: the
error's spectrum, not its size, sets the weight. On images and a PSF that
set nothing here, ``moon`` under the same PSF and ``grass``, ``retina`` and
``hubble_deep_field`` under ``gaussian_psf(13, 2.0)`` at qualities 95 and
70, 18 cases: a median 0.0 dB below the best, 0.41 dB at worst.
"""

import itertools
import typing

import numpy as np
import scipy.fft
import scipy.ndimage
import scipy.special

__all__ = [
    "JPEG_CODECS",
    "LAPLACIAN_WEIGHTS_HINT",
    "JpegBlocks",
    "block_coefficients",
    "eight_bit_levels",
    "error_power",
    "error_variances",
    "find_blocks",
    "noise_power",
    "noise_powers",
    "quantization_steps",
]

#: The compressions, as :func:`tiledeblur.convert.convert` records them (tifffile's codec names; "JPEG" for a
#: .jpg file), that are JPEG's 8 x 8 blocks; JPEG 2000, XR and XL are other codecs.
JPEG_CODECS = ("JPEG", "OJPEG")
#: What the warnings of JPEG scans that ``mu="auto"`` cannot weigh tell a user of ``laplacian`` to try: the
#: weights that did best on such scans (the README's Limits); the other losses weigh ``mu`` on scales of their own.
LAPLACIAN_WEIGHTS_HINT = (": on photographs saved as JPEG at qualities 50 to 95, laplacian's best weights lay "
                          "between 1e-3 and 1e-2")
#: Below it, ``laplacian``'s automatic weight for an image of JPEG's pixels is suspect: a channel of a colour JPEG
#: given alone (see :func:`tiledeblur.deconvolve`).
LAPLACIAN_SUSPECT_WEIGHT = 3e-4
#: The levels of JPEG's 8-bit samples in one unit of values read as fractions of their range.
EIGHT_BIT = 255
#: JPEG's block side.
BLOCK = 8
#: The fewest frequencies on a lattice for a grid to show JPEG's blocks, and the most regions whose grids are
#: searched (see :func:`find_blocks`).
MIN_LATTICES = 3
MAX_SEARCHED = 16
#: How many of the searched regions, showing no frequency on a lattice on any of their grids, end the search for
#: a lossless scan's (see :func:`find_blocks`).
LATTICE_FREE = 2
#: How many times the lattices of every other grid a grid's must be to be JPEG's where others lie off its cross (see
#: :func:`_grid_origin`).
DOMINANCE = 2
#: The fewest non-zero coefficients of a frequency on which its step is found: with fewer, a lossless scan's
#: coefficients, at random on any step, could pass for a lattice. Where a region holds fewer than twice as many
#: blocks (its colour at 4:2:0 under 180² px), half its blocks: with none found, the colour of a 128² region
#: passed for error, and its weights came out 16 to 1000 times the best (``bench_jpeg``'s smoke run).
MIN_SUPPORT = 64
#: The least mean of ``cos(2 pi c / q)`` over a frequency's non-zero coefficients ``c`` for them to lie on the
#: step ``q``: the rounding of the decoded pixels to integers leaves 0.66 on a step of 2, more on larger ones.
MIN_COHERENCE = 0.5
#: The least share of blocks, zero and not, at a frequency whose spread measures the noise (see the notes).
MIN_SHARE = 0.01
#: The least magnitude of a coefficient that JPEG did not round to zero: the rounding of the decoded pixels moves
#: a zero by 0.29 (its standard deviation), and a step's first multiple lies at 2 or more.
NONZERO = 1.5
#: JPEG's level shift: it codes ``levels - 128``, so the DC coefficients lie on their step after it alone.
LEVEL_SHIFT = 128
#: JFIF's colour transform (ITU-R BT.601, full range): the rows make Y, Cb and Cr (less 128) of R, G and B.
TO_YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
#: How much of the errors of Y, Cb and Cr (columns) each of R, G and B (rows) holds: the inverse's squares.
ERROR_MIX = np.linalg.inv(TO_YCBCR) ** 2
#: The chroma's samplings, rows and columns per sample: 4:4:4, 4:2:2 and 4:2:0, JPEG's usual ones.
CHROMA_SAMPLINGS = ((1, 1), (1, 2), (2, 2))
#: The samples around a missing one that undoing the decoder's filter spreads it to, beyond 1e-3 of its size: the
#: inverse of ``(x[i-1] + 6 x[i] + x[i+1]) / 8`` decays 5.8-fold per sample.
FILTER_REACH = 4


def block_coefficients(levels, origin=(0, 0)):
    """The DCT coefficients of the whole blocks of ``levels`` on JPEG's grid, as an ``(8, 8, blocks)`` array.

    ``levels`` is a region of an 8-bit scan in its levels (0 to 255), whose
    first pixel is ``origin`` of the scan, where the grid starts. Blocks with
    a missing pixel (NaN) are left out.

    Examples
    --------
    >>> flat = np.full((17, 16), 130.0)
    >>> coefficients = block_coefficients(flat, origin=(7, 0))
    >>> coefficients.shape, round(float(coefficients[0, 0, 0]), 6)  # 2 x 2 blocks from row 1; DC 8 x (130 - 128)
    ((8, 8, 4), 16.0)
    """
    top, left = (-start % BLOCK for start in origin)
    rows, columns = (max(0, size - skip) // BLOCK for size, skip in zip(levels.shape, (top, left)))  # none in 6 px
    blocks = (levels[top:top + rows * BLOCK, left:left + columns * BLOCK] - LEVEL_SHIFT).reshape(
        rows, BLOCK, columns, BLOCK).transpose(1, 3, 0, 2).reshape(BLOCK, BLOCK, -1)
    blocks = blocks[..., ~np.isnan(blocks).any(axis=(0, 1))]
    return scipy.fft.dctn(blocks, axes=(0, 1), norm="ortho")


def quantization_steps(coefficients):
    """Each frequency's step: 1 where its coefficients lie on none; NaN where too few are non-zero to tell, and for
    the mean (``(0, 0)``; see :func:`error_variances` for both).

    The candidates are the commonest non-zero magnitude, rounded, and its
    divisors: JPEG's coefficients peak at zero, so the step is the commonest
    of the others; the largest candidate on whose multiples at least
    ``MIN_SUPPORT`` coefficients (half the blocks, where fewer) lie
    (``MIN_COHERENCE``) is the step.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> coefficients = np.empty((8, 8, 1000))
    >>> coefficients[...] = rng.laplace(0, 3, coefficients.shape)  # no lattice: a step of 1
    >>> coefficients[0, 1] = 6 * np.round(rng.laplace(0, 8, 1000) / 6)  # on multiples of 6
    >>> coefficients[0, 2] = 0.0  # all zero: unknown
    >>> steps = quantization_steps(coefficients)
    >>> float(steps[1, 1]), float(steps[0, 1]), float(steps[0, 2])
    (1.0, 6.0, nan)
    """
    steps = np.full(coefficients.shape[:2], np.nan)
    support = min(MIN_SUPPORT, coefficients.shape[2] // 2)
    for frequency in list(np.ndindex(steps.shape))[1:]:  # not the mean, whose values are the scene's levels
        values = coefficients[frequency]
        magnitudes = np.abs(values)
        nonzero = np.rint(magnitudes[magnitudes >= NONZERO]).astype(int)
        if nonzero.size < max(support, 1):
            continue
        commonest = int(np.bincount(nonzero).argmax())
        steps[frequency] = next((step for step in range(commonest, 1, -1)
                                 if commonest % step == 0 and _on_lattice(values, magnitudes, step, support)), 1)
    return steps


def _on_lattice(values, magnitudes, step, support):
    """Whether at least ``support`` of ``values`` are non-zero on ``step`` and lie near its multiples."""
    on = magnitudes >= step / 2
    return on.sum() >= support and np.mean(np.cos(2 * np.pi * values[on] / step)) >= MIN_COHERENCE


def error_variances(coefficients, steps):
    """The variance of each frequency's error against the blurred scene, in levels², by the module's model.

    Where the step is unknown (too few non-zero coefficients: the blur and
    JPEG left next to nothing there), the coefficients count as noise alone,
    and the error is their mean square. Taking their least magnitude for the
    step instead and the model's error for it, the colour of 256² crops at
    quality 95 and 4:2:0 came out a median 0.26 dB lower (0.60 at worst;
    ``bench_jpeg``). The mean's coefficients are the blocks' levels, spread by the scene, whose
    step cannot be read off them: the mean takes the mean error of its two
    neighbours, ``(0, 1)`` and ``(1, 0)``, whose steps JPEG's tables keep
    near its own; at the lowest frequencies the blur keeps nearly all of the
    scene, and the weight hardly depends on it.

    Examples
    --------
    Noise of variance 4, rounded to multiples of 1 at one frequency and of
    20 at the others (which erases nearly all of it), by a blur that leaves
    none of the scene:

    >>> rng = np.random.default_rng(0)
    >>> noise = rng.normal(0, 2, (8, 8, 4000))
    >>> steps = np.full((8, 8), 20.0)
    >>> steps[0, 1] = 1.0
    >>> rounded = steps[..., None] * np.round(noise / steps[..., None])
    >>> variances = error_variances(rounded, steps)
    >>> round(float(variances[0, 1])), float(variances[0, 2])  # 4 + 1/12 but for the sample; none where all are zero
    (4, 0.0)
    """
    known = ~np.isnan(steps)
    blocks = coefficients.shape[2]
    zeros = np.mean(np.abs(coefficients) < np.where(known, steps, 1.0)[..., None] / 2, axis=2)
    # The likeliest variance where all are zero is none; elsewhere a share of at least half a block avoids infinity.
    spreads = np.where(zeros < 1, (np.where(known, steps, 1.0) / (2 * np.sqrt(2) * scipy.special.erfinv(
        np.clip(zeros, 0.5 / blocks, 1 - 0.5 / blocks)))) ** 2, 0.0)
    measuring = known & (zeros >= MIN_SHARE) & (zeros <= 1 - MIN_SHARE)
    noise = float(spreads[measuring].min()) if measuring.any() else 0.0
    variances = np.mean(coefficients**2, axis=2)
    for frequency in zip(*np.nonzero(known)):
        variances[frequency] = _rounding_error(steps[frequency], spreads[frequency], min(noise, spreads[frequency]))
    variances[0, 0] = (variances[0, 1] + variances[1, 0]) / 2
    return variances


def _rounding_error(step, spread, noise):
    """``E[(k q - s)²]`` for ``t = s + n`` of variance ``spread`` rounded to the step ``q``, ``n`` of ``noise``.

    Examples
    --------
    >>> round(_rounding_error(1.0, 1e6, 4.0), 4), round(_rounding_error(20.0, 4.0, 4.0), 3)  # fine; noise erased
    (4.0833, 0.0)
    """
    if spread == 0:
        return 0.0
    deviation = np.sqrt(spread)
    if deviation > 4 * step:  # fine rounding, independent of t to within 1e-12
        return noise + step**2 / 12
    values = np.linspace(-8 * deviation - step, 8 * deviation + step, 4001)
    weights = np.exp(-0.5 * (values / deviation) ** 2)
    weights /= weights.sum()
    rounding = step * np.round(values / step) - values
    return float(np.sum(weights * rounding**2) + 2 * noise / spread * np.sum(weights * rounding * values) + noise)


def error_power(variances, shape):
    """The error's power spectrum over an image of ``shape`` (as ``scipy.fft.rfft2``'s squared magnitudes).

    Each frequency's error, independent from block to block and from the
    others, spreads over the image's frequencies as its basis function's
    spectrum does.

    Examples
    --------
    White error of variance 2 at every frequency of the blocks is white over
    the image: each frequency's expected power is the pixels' count times 2.

    >>> power = error_power(np.full((8, 8), 2.0), (16, 16))
    >>> bool(np.allclose(power, 16 * 16 * 2.0))
    True
    """
    basis = scipy.fft.idct(np.eye(BLOCK), norm="ortho", axis=1)  # row u: the basis function of frequency u
    rows = np.abs(scipy.fft.fft(basis, n=shape[0], axis=1)) ** 2
    columns = np.abs(scipy.fft.rfft(basis, n=shape[1], axis=1)) ** 2
    return shape[0] * shape[1] / BLOCK**2 * rows.T @ variances @ columns


def noise_power(values, *, levels, origin):
    """The power spectrum of the JPEG error in ``values``, or None where they hold no JPEG blocks on the scan's grid.

    ``values`` is a region of the scan whose first pixel is ``origin``, with
    ``levels`` of the JPEG's 8-bit levels to one unit (255 for a ``uint8``
    scan read as fractions of its range). A region without a frequency on a
    step of 2 or more holds none: a lossless scan, or the red, green or blue
    of a colour JPEG, which codes brightness and colour instead.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> scan = np.clip(np.round(128 + rng.normal(0, 20, (256, 256))), 0, 255) / 255
    >>> noise_power(scan, levels=255, origin=(0, 0)) is None  # lossless noise: no lattice
    True
    """
    power, blocks = _measured(values, levels=levels, origin=origin)
    return power if blocks else None


class JpegBlocks(typing.NamedTuple):
    """A scan that holds a JPEG's pixels: ``levels`` of its 8 bits in one unit of the scan's values, and the grid of
    its 8 x 8 blocks, which starts at the scan's pixel ``origin`` (modulo 8 on each axis)."""

    levels: int
    origin: tuple = (0, 0)


def find_blocks(read_region, regions, *, levels, least=MIN_LATTICES):
    """The :class:`JpegBlocks` that a channel of one of ``regions`` (``read_region`` as
    :func:`tiledeblur.regularization.estimate_image_mus` reads them) shows, at ``levels`` of 8 bits in one unit of
    its values; None where none does.

    Found by a probe: a JPEG's pixels given without the record that
    ``convert`` keeps (to :func:`tiledeblur.deconvolve`, or written to Zarr by
    another tool) got cross-validation's smallest weight, and came out 6 to
    14 dB below the blurred scan, without a word. The blocks' lattice tells
    JPEG from a lossless scan: a region shows them on the grid where at least
    ``least`` frequencies lie on steps of 2 or more
    (:func:`quantization_steps`), and on that grid alone (:func:`_grid_origin`).
    Fewer than ``MIN_LATTICES`` are a hint, not proof: the red or blue of a
    colour JPEG at 4:2:0, given alone, shows one or two.
    Of three colour channels, brightness (Y) is the one coded in JPEG's blocks
    (see :func:`noise_powers`). A region's 64 grids take about 0.2 s, so of
    many regions only the ``MAX_SEARCHED`` of most detail are searched: JPEG
    left most of its coefficients that are not zero there. A lossless 2048²
    RGB scan's plan took 4.7 s with one grid a region, 18 s with 64 grids in
    each of its 64 regions, and 7.9 s with 64 grids in 16. The search ends
    after ``LATTICE_FREE`` regions that show no frequency on a lattice on any
    grid: a JPEG's regions of most detail show many, and 8-bit crops of 17
    ``skimage.data`` images of up to 256², blurred (σ 1 without noise, σ 2
    with noise of 0.002 and 0.01 of the range), showed none on any of their
    64 grids (a scratch study, 2026-12-05), where the 16 regions took 3.3 s
    of a 4096² scan's plan.

    Measured in a scratch study (2026-12-04) on 384² crops blurred by
    ``gaussian_psf(13, (1, 3))``, ``2.0`` or ``1.0`` at noise 0, 0.002 and
    0.01, in full or a fifth of the range, 8-bit:

    * lossless: 4 of 612 crops of sines, stripes and checkerboards with
      periods of 8 to 64 px, each on JPEG's grid and 3 px off it, and none
      of 96 of 16 ``skimage.data`` images, showed blocks. Those of the
      periodic patterns show on many grids (to all 64), and a grid at a
      time, 520 of the 612 passed for JPEG (found by a probe: a grating's ±A
      in every block passes for a step of A); at any of the 64 grids, one
      frequency of 3 of the 96 images lay on a lattice by chance, JPEG's 6
      to 41.
    * JPEG, cropped at a random offset: the grid was found in 119 of 120 grey
      crops (eight images at qualities 50 to 98) and 59 of 60 colour ones.
      Checked on its own grid alone, a crop 3 px off was missed in all 120.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> scan = np.clip(np.round(128 + rng.normal(0, 20, (1, 256, 256))), 0, 255) / 255
    >>> find_blocks(lambda yx: scan[(slice(None), *yx)], [(slice(0, 256), slice(0, 256))], levels=255) is None
    True
    """
    read = [(yx, read_region(yx)) for yx in regions]
    lattice_free = 0
    for yx, values in sorted(read, key=lambda pair: -_detail(pair[1]))[:MAX_SEARCHED]:
        region = values * levels
        planes = [np.tensordot(TO_YCBCR[0], region, axes=1)] if len(region) == len(TO_YCBCR) else region
        shown = False
        for plane in planes:
            lattices = _grid_lattices(plane, [part.start for part in yx])
            origin = _grid_origin(lattices, least)
            if origin is not None:
                return JpegBlocks(levels, origin)
            shown = shown or bool(lattices)
        lattice_free += not shown
        if lattice_free == LATTICE_FREE:
            return None
    return None


def _detail(region):
    """The standard deviation of ``region``'s values that are not missing; 0 where all are.

    Examples
    --------
    >>> _detail(np.array([[0.0, 2.0, np.nan]])), _detail(np.full((2, 2), np.nan))
    (1.0, 0.0)
    """
    present = region[~np.isnan(region)]
    return float(present.std()) if present.size else 0.0


def _grid_lattices(levels, start):
    """How many frequencies lie on a lattice (steps of 2 or more), by the origin of each of the 64 grids on which
    some do, in ``levels``, a region of 8-bit levels whose first pixel is the scan's ``start``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> blocks = 6 * np.round(rng.laplace(0, 4, (8, 8, 32, 32)))  # every frequency on a step of 6
    >>> scan = scipy.fft.idctn(blocks, axes=(0, 1), norm="ortho").transpose(2, 0, 3, 1).reshape(256, 256) + 128
    >>> _grid_lattices(scan[3:, 5:], (3, 5))[0, 0]
    63
    >>> _grid_lattices(np.clip(np.round(scan + rng.normal(0, 2, scan.shape)), 0, 255), (0, 0))  # noise after
    {}
    """
    lattices = {}
    for origin in itertools.product(range(BLOCK), repeat=2):
        steps = quantization_steps(block_coefficients(levels, [at - grid for at, grid in zip(start, origin)]))
        if np.any(steps >= 2):
            lattices[origin] = int(np.sum(steps >= 2))
    return lattices


def _grid_origin(lattices, least):
    """The origin of the one grid whose ``lattices`` (:func:`_grid_lattices`) show JPEG's blocks at ``least``
    frequencies; None where none does, or grids of no single origin's do.

    A JPEG's lattices show on its own grid, and partly on grids that share
    its rows or its columns: a block's frequencies across one axis stay on
    their steps where the grid moves along the other (measured: up to the
    15 grids of that cross). A pattern that repeats in step with the blocks
    shows them on grids across it too (its blocks repeat wherever the grid
    lies), and is no JPEG. A JPEG cropped and saved again shows its first
    grid's lattices as well, off the cross of its last (found by a probe: 9
    and 22 of them, where the 22 were missed), and chance lays a lattice or
    two on others: a grid is also JPEG's where its lattices number
    ``DOMINANCE`` times those of any other. Of the 612 periodic crops of
    :func:`find_blocks`, four of 32 px checkerboards at noise 0.01 then
    passed (10 lattices against 4 and 5).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> blocks = 6 * np.round(rng.laplace(0, 4, (8, 8, 32, 32)))  # every frequency on a step of 6
    >>> scan = scipy.fft.idctn(blocks, axes=(0, 1), norm="ortho").transpose(2, 0, 3, 1).reshape(256, 256) + 128
    >>> _grid_origin(_grid_lattices(scan[3:, 5:], (3, 5)), MIN_LATTICES)
    (0, 0)
    >>> grating = 128 + 40 * np.sin(np.pi * np.arange(256) / 8)  # 16 px a period, in step with the blocks
    >>> _grid_origin(_grid_lattices(np.tile(grating, (256, 1)), (0, 0)), MIN_LATTICES) is None
    True
    """
    def is_jpeg_grid(origin):
        others = [count for other, count in lattices.items() if other != origin]
        crossed = all(other[0] == origin[0] or other[1] == origin[1] for other in lattices)
        return lattices[origin] >= least and (crossed or lattices[origin] >= DOMINANCE * max(others, default=0))

    return max(filter(is_jpeg_grid, lattices), key=lattices.get, default=None)


def eight_bit_levels(image):
    """255 where ``image`` holds 8-bit levels, as a JPEG's pixels are: ``uint8``, or floats on the steps of 1/255
    that :func:`tiledeblur.image.to_float` makes of them; else None.

    Examples
    --------
    >>> levels = np.arange(256, dtype=np.uint8)
    >>> eight_bit_levels(levels), eight_bit_levels(levels / 255), eight_bit_levels(levels / 256)
    (255, 255, None)
    """
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return EIGHT_BIT
    if image.dtype.kind != "f":
        return None
    present = image[np.isfinite(image)] * EIGHT_BIT
    on_steps = present.size and present.min() >= 0 and present.max() <= EIGHT_BIT
    return EIGHT_BIT if on_steps and np.allclose(present, np.rint(present), rtol=0, atol=1e-3) else None


def _measured(values, *, levels, origin):
    """(The power spectrum of the error in ``values`` by the module's model, whether they hold JPEG's blocks.)

    Values without a whole block free of missing pixels hold none (found by
    review: a region outside a mosaic's footprint, or narrower than a block,
    divided by its count of blocks).

    Examples
    --------
    >>> _measured(np.full((6, 300), np.nan), levels=255, origin=(0, 0))[1]
    False
    """
    coefficients = block_coefficients(values * levels, origin)
    if not coefficients.shape[2]:
        return np.zeros((values.shape[0], values.shape[1] // 2 + 1)), False
    steps = quantization_steps(coefficients)
    return error_power(error_variances(coefficients, steps), values.shape) / levels**2, bool(np.any(steps >= 2))


def noise_powers(region, *, levels, origin):
    """:func:`noise_power` of each channel of a ``(C, y, x)`` region, None for those without blocks.

    Three channels are those of a colour JPEG, which codes brightness (Y)
    and colour (Cb, Cr), not red, green and blue, whose errors mix theirs
    (:func:`_colour_noise_powers`). Where its brightness holds no blocks,
    none does: JPEG's blocks show in red, green and blue too wherever the
    colour was erased, and a colour JPEG read as three of its own got a
    weight of 1e-5 (a test). Scans saved without the colour transform (some
    Aperio slides) are then not modelled, and warned of.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> lossless = np.clip(np.round(128 + rng.normal(0, 20, (3, 256, 256))), 0, 255) / 255
    >>> noise_powers(lossless, levels=255, origin=(0, 0))
    [None, None, None]
    """
    if len(region) == len(TO_YCBCR):
        return _colour_noise_powers(region, levels=levels, origin=origin) or [None] * len(region)
    return [noise_power(channel, levels=levels, origin=origin) for channel in region]


def _colour_noise_powers(region, *, levels, origin):
    """The error powers of R, G and B of a colour JPEG, from those of its Y, Cb and Cr; None without Y's blocks.

    Each chroma plane is taken at each of ``CHROMA_SAMPLINGS`` until its
    blocks are found (:func:`_coded_chroma`). Where none shows them, its
    steps are too fine to find (at qualities above 90 or so): it is taken
    at 4:2:0, the last and JPEG's usual sampling, and its error is then its
    noise. Counted as none instead, the red of a 4:2:0 scan saved by
    tifffile got a weight of 6.4e-4, 2 dB below its best, 0.01 (a test).
    """
    luma, *chroma = np.tensordot(TO_YCBCR, region, axes=1)
    luma_power = noise_power(luma, levels=levels, origin=origin)
    if luma_power is None:
        return None
    powers = [luma_power]
    for plane in chroma:
        for sampling in CHROMA_SAMPLINGS:
            power, blocks = _chroma_power(plane + LEVEL_SHIFT / levels, sampling, levels=levels, origin=origin)
            if blocks:
                break
        powers.append(power)
    return list(np.tensordot(ERROR_MIX, powers, axes=1))


def _chroma_power(plane, sampling, *, levels, origin):
    """(The error power over ``plane``'s pixels of a chroma plane coded at ``sampling``, whether its blocks show.)

    The coded plane is recovered from the decoded one (:func:`_coded_chroma`);
    its error spreads over the image's frequencies as the decoder's
    upsampling filter passes it.
    """
    skips = [start % step for start, step in zip(origin, sampling)]  # to start on a whole sample
    coded = _coded_chroma(plane[skips[0]:, skips[1]:], sampling)
    power, blocks = _measured(coded, levels=levels,
                              origin=[-(-start // step) for start, step in zip(origin, sampling)])
    rows, columns = (np.arange(size) % coded_size for size, coded_size in
                     zip((plane.shape[0], plane.shape[1] // 2 + 1), coded.shape))
    gain = np.outer(*(_upsampling_gain(size, step, onesided)
                      for size, step, onesided in zip(plane.shape, sampling, (False, True))))
    return gain * _two_sided(power, coded.shape[1])[np.ix_(rows, columns)], blocks


def _coded_chroma(plane, sampling):
    """The chroma plane that JPEG coded at ``sampling``, from its decoded, upsampled ``plane``.

    libjpeg's decoder (Pillow's, and imagecodecs' for TIFF) upsamples by
    "fancy" triangle filtering: each decoded pixel is 3/4 of its sample and
    1/4 of the next one out, so the mean of a sample's pixels is
    ``(x[i-1] + 6 x[i] + x[i+1]) / 8``, which a division of its spectrum by
    ``(6 + 2 cos w) / 8`` (from 1/2 to 1: no noise is amplified more than
    twice) undoes. A sample with a missing pixel (NaN), and those within
    ``FILTER_REACH`` samples of it, where the undoing spreads it, are
    missing: a spectrum would spread it over the whole plane (found by
    review: one missing pixel left a colour region no block).

    Examples
    --------
    Samples upsampled as libjpeg does across the rows (its edges wrapped
    around here), and given back:

    >>> coded = np.random.default_rng(0).random((8, 8))
    >>> decoded = np.empty((8, 16))
    >>> decoded[:, 0::2] = (3 * coded + np.roll(coded, 1, axis=1)) / 4
    >>> decoded[:, 1::2] = (3 * coded + np.roll(coded, -1, axis=1)) / 4
    >>> bool(np.allclose(_coded_chroma(decoded, (1, 2)), coded))
    True
    """
    size = [length // step for length, step in zip(plane.shape, sampling)]
    means = plane[:size[0] * sampling[0], :size[1] * sampling[1]].reshape(
        size[0], sampling[0], size[1], sampling[1]).mean(axis=(1, 3))
    if sampling == (1, 1):
        return means
    missing = np.isnan(means)
    spectrum = scipy.fft.rfft2(np.where(missing, np.nanmean(means) if not missing.all() else 0.0, means))
    for axis, (length, step) in enumerate(zip(size, sampling)):
        if step == 2:
            frequencies = (scipy.fft.fftfreq, scipy.fft.rfftfreq)[axis](length)
            spectrum /= np.expand_dims((6 + 2 * np.cos(2 * np.pi * frequencies)) / 8, 1 - axis)
    coded = scipy.fft.irfft2(spectrum, s=means.shape)
    reach = np.ones([2 * FILTER_REACH * (step - 1) + 1 for step in sampling], dtype=bool)
    return np.where(scipy.ndimage.binary_dilation(missing, structure=reach), np.nan, coded)


def _upsampling_gain(size, step, onesided):
    """The squared gain of the decoder's triangle filter ``[1, 3, 3, 1] / 4`` along an axis of ``size`` upsampled
    ``step``-fold: ``4 cos⁶(w / 2)``; ones where the axis is not subsampled.

    Examples
    --------
    >>> _upsampling_gain(4, 2, False).round(6).tolist(), _upsampling_gain(4, 1, True).tolist()
    ([4.0, 0.5, 0.0, 0.5], [1.0, 1.0, 1.0])
    """
    frequencies = (scipy.fft.rfftfreq if onesided else scipy.fft.fftfreq)(size)
    return 4 * np.cos(np.pi * frequencies) ** 6 if step == 2 else np.ones_like(frequencies)


def _two_sided(power, width):
    """``power``, a spectrum of ``scipy.fft.rfft2``'s layout, over all the columns of an image ``width`` wide.

    Examples
    --------
    >>> power = np.abs(scipy.fft.rfft2(np.arange(12.0).reshape(3, 4))) ** 2
    >>> bool(np.allclose(_two_sided(power, 4), np.abs(scipy.fft.fft2(np.arange(12.0).reshape(3, 4))) ** 2))
    True
    """
    mirrored = np.roll(power[::-1], 1, axis=0)[:, 1:width - power.shape[1] + 1][:, ::-1]
    return np.concatenate([power, mirrored], axis=1)
