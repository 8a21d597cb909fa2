"""The tile plan: core tiles aligned to output chunks, each read with a halo.

The image is cut into core tiles of ``tile × tile`` pixels, a whole number of
output chunks each, so that every tile writes whole chunks and no two tiles
write one chunk. Each tile is solved on its core plus a halo of ``halo``
pixels on every side (clipped at the image's edge), and only the core is kept.

The halo rule
-------------
Tiled and whole-image solves differ by how much the data beyond the halo
would have changed the core. For the quadratic loss that influence is the
impulse response of the regularized inverse ``(AᵀA + mu DᵀD)⁻¹ Aᵀ``, whose
Fourier transform is ``conj(K) / (|K|² + mu |D|²)``; it sums to 1 and decays
exponentially. ``halo="auto"`` is the smallest halo beyond which no sample of
that response exceeds ``HALO_RESPONSE_LIMIT`` (``SECOND_ORDER_RESPONSE_LIMIT``
for ``laplacian``). Measured on crops of ``camera``
with 13×13 and 25×25 Gaussian PSFs and mu from 0.003 to 0.03, the largest
tile-to-whole difference was 0.2–2.5 times that bound; a noise-free,
high-contrast RGB crop of the astronaut reached 1.1e-3 at a bound of 3e-4.
1e-4 keeps both within the 1e-3 goal on a [0, 1] scale. ``laplacian``'s
response has ``mu |D|⁴`` for ``mu |D|²``: on a 400² ``camera`` crop with
noise 0.01, a 64 px core with its halo by this rule stayed within 7.4e-5 of
the whole-image solve for 13×13, 25×25 and 5×5 Gaussian PSFs and 13 and
21 px motion lines at mu 1e-3, 1e-2 and 1e-1 (found by a probe; 2.6e-4
with ``HALO_RESPONSE_LIMIT``, see ``SECOND_ORDER_RESPONSE_LIMIT``).

Smoothed total variation weighs differences from ``mu`` (across a unit
gradient) to ``mu / eps`` (on flat ground), and the response is longest at
either end: at a small weight for the PSF's inverse, at a large one for the
smoothing itself, whose reach grows as the square root of the weight. So
``tv``'s halo is the longer of the rule at ``mu`` and ``TV_FLAT_FACTOR``
times the rule at ``mu / eps``: total variation flattens whole plateaus,
and carries the data's influence across them further than the quadratic
model says. With narrow PSFs (radius 1 to 3 px) and mu from 0.025 to 0.1,
the rule at ``mu`` alone gave halos of 3 to 7 px and tiles 1.5e-3 to
1.3e-2 from the whole-image solve (found by a probe); at twice the rule at
``mu / eps`` nine such cases stayed within 6e-4. With wide PSFs the rule at
``mu`` is the longer, and nothing changes. Beyond its halo a tile uses
the ``free`` boundary model, which makes about half the halo enough compared
with assuming zeros there.
"""

import dataclasses
import math

import numpy as np
import scipy.fft

from .operators import smoothness_power
from .psf import psf_radius

__all__ = ["HALO_RESPONSE_LIMIT", "MAX_HALO", "SECOND_ORDER_RESPONSE_LIMIT", "TV_FLAT_FACTOR",
           "HaloWarning", "Tile", "TileMemoryWarning", "TilePlan", "auto_halo", "estimate_tile_bytes"]

#: φ: a run's order of tiles steps by about their number over it (see :meth:`TilePlan.tiles`).
GOLDEN_RATIO = (1 + math.sqrt(5)) / 2
#: Largest response sample allowed beyond the halo, see the module notes.
HALO_RESPONSE_LIMIT = 1e-4
#: The limit for a smoothness term of order 2 (``laplacian``), whose response keeps more of its mass beyond the
#: point where its largest sample falls below ``HALO_RESPONSE_LIMIT``: there the sum of its samples beyond the halo
#: was 1.2 to 1.8 times ``tikhonov``'s at its own halo (13×13 and 25×25 Gaussian PSFs, mu 1e-3 to 0.1), and a
#: 64 px tall strip of faint content came out 1.2e-3 from the whole-image solve. At this limit its halo holds no
#: more of that sum than ``tikhonov``'s in those eight cases (1 to 8 px longer than it needs for that).
SECOND_ORDER_RESPONSE_LIMIT = 3e-5
#: How many times the rule at total variation's flat-ground weight its halo takes, see the module notes.
TV_FLAT_FACTOR = 2
#: The longest halo that ``auto_halo`` gives. Motion blur at a small weight
#: needs long ones: a 21 px line at mu 1e-3 needs 1,561 px by the rule, and
#: with the 256 px limit used before, tiles differed from the whole-image
#: solve by up to 1.3e-2 (found by a probe); :func:`tiledeblur.plan` warns
#: where the rule reaches this limit.
MAX_HALO = 1024


class HaloWarning(UserWarning):
    """The automatic halo reached ``MAX_HALO`` short of what its rule asks for: tiles may show seams."""


class TileMemoryWarning(UserWarning):
    """A tile's estimated peak memory exceeds the workers' limit: dask may pause or restart them."""


#: A worker's resident memory before its first tile: Python, numpy, scipy,
#: autograd, zarr and dask, measured at 119 MB.
WORKER_BASELINE_BYTES = 128 * 2**20
#: Float64 arrays of the padded tile's size that a worker's peak resident
#: memory holds beyond that baseline. One solve traces 39 (``tikhonov``) to
#: 47 (``tv``) at 1136²; the rest is glibc's heap, freed but fragmented, which
#: the local cluster keeps for speed (``tiledeblur.cluster.WORKER_MALLOC``).
#: Over a gigapixel run of 1,024 tiles of 1024² a worker peaked at 1,360 MB,
#: 118 arrays of 10.5 MB above the baseline.
ARRAYS_PER_TILE = 128


def auto_halo(psf, mu, *, eps=None, order=1):
    """The halo, in pixels, after which the regularized inverse has decayed.

    Parameters
    ----------
    psf : (P, Q) ndarray
        A normalized PSF.
    mu : float
        The regularization weight.
    eps : float, optional
        ``tv``'s smoothing; None for the quadratic losses (see the module notes).
    order : {0, 1, 2}, optional
        The order of the loss's smoothness term (``SMOOTHNESS_ORDER``): 2 for
        ``laplacian``, whose inverse has ``mu |D|⁴`` for ``mu |D|²``, and 0
        for the solves of ``nlmeans``, ``mu`` alone.

    Returns
    -------
    halo : int
        At least the PSF radius, at most ``MAX_HALO``.

    Examples
    --------
    >>> from tiledeblur import gaussian_psf
    >>> auto_halo(gaussian_psf(13, (1, 3)), 0.01), auto_halo(gaussian_psf(13, (1, 3)), 0.01, eps=0.03)
    (53, 53)
    >>> auto_halo(gaussian_psf(5, 0.7), 0.05), auto_halo(gaussian_psf(5, 0.7), 0.05, eps=0.03)
    (6, 14)
    >>> auto_halo(gaussian_psf(13, (1, 3)), 0.01, order=2)
    68
    """
    halo = _quadratic_halo(psf, mu, order)
    if eps is not None:
        halo = max(halo, min(MAX_HALO, TV_FLAT_FACTOR * _quadratic_halo(psf, mu / eps, order)))
    return halo


def _quadratic_halo(psf, mu, order):
    """:func:`auto_halo` for the quadratic loss of weight ``mu`` and smoothness ``order``."""
    radius = max(psf_radius(psf))
    if radius >= MAX_HALO:
        return radius  # never shorter than the PSF's radius, and no longer halo is measured
    # A grid four times the longest halo it can measure, so that the response's
    # periodic copies stay below the limit; most PSFs need only the first. It
    # must also hold the PSF, or the FFT would crop it.
    for longest in (MAX_HALO // 4, MAX_HALO):
        if 4 * longest < max(np.shape(psf)):
            continue
        halo = _response_extent(psf, mu, order, 4 * longest)
        if halo < longest:
            break
    return int(np.clip(halo, radius, MAX_HALO))


def _response_extent(psf, mu, order, size):
    """The last distance (the larger of the row and column offsets) at which the inverse's response exceeds the limit.

    It is the regularized inverse ``conj(K) / (|K|² + mu |D|^(2 order))`` on a periodic
    ``size``² grid, shifted so that the PSF's centre is at the origin.
    """
    spectrum = scipy.fft.rfft2(psf, s=(size, size))
    inverse = spectrum.conj() / (np.abs(spectrum) ** 2 + mu * smoothness_power((size, size), order))
    response = np.abs(np.roll(scipy.fft.irfft2(inverse, s=(size, size)), psf_radius(psf), (0, 1)))
    offsets = np.abs(np.fft.fftfreq(size, 1 / size)).astype(int)
    # The largest sample at each row offset and at each column offset; a sample
    # lies at or beyond distance d when either of its offsets does.
    by_distance = np.zeros(size // 2 + 1)
    np.maximum.at(by_distance, offsets, response.max(axis=1))
    np.maximum.at(by_distance, offsets, response.max(axis=0))
    beyond = np.maximum.accumulate(by_distance[::-1])[::-1]
    limit = HALO_RESPONSE_LIMIT if order == 1 else SECOND_ORDER_RESPONSE_LIMIT
    return int(np.argmax(np.append(beyond, 0) < limit)) - 1


def estimate_tile_bytes(read_shape, radius):
    """Peak resident bytes of a worker whose largest tile reads ``read_shape`` pixels (core and halo), estimated.

    ``radius`` is the PSF's: the free boundary model extends the unknown by it.

    Examples
    --------
    A 1024 px tile with a 56 px halo:

    >>> round(estimate_tile_bytes((1136, 1136), 6) / 1e6)
    1484
    """
    solved = math.prod(n + 2 * radius for n in read_shape)
    return WORKER_BASELINE_BYTES + ARRAYS_PER_TILE * 8 * solved


@dataclasses.dataclass(frozen=True)
class Tile:
    """One tile: where its core lies in the image and what it reads.

    ``read`` is the core grown by the halo and clipped to the image; ``trim``
    picks the core out of the solved ``read`` region.
    """

    index: tuple
    core: tuple
    read: tuple
    trim: tuple

    @property
    def name(self):
        """A short label, ``"tile (row, col) at y0:y1, x0:x1"``."""
        (y, x) = self.core
        return f"tile {self.index} at y {y.start}:{y.stop}, x {x.start}:{x.stop}"


def in_binary_units(size):
    """``size`` bytes for people, in B, KiB, MiB or GiB.

    Examples
    --------
    >>> in_binary_units(3 * 2**30), in_binary_units(1.5 * 2**20), in_binary_units(3000), in_binary_units(1)
    ('3.0 GiB', '1.5 MiB', '2.9 KiB', '1 B')
    """
    for unit, power in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 2**power:
            return f"{size / 2**power:.1f} {unit}"
    return f"{size:.0f} B"


def weights_text(mu):
    """``mu``, a weight or a tuple of one per channel, for people: once where every channel has the same.

    Examples
    --------
    >>> weights_text(0.0053125), weights_text((0.0053125, 0.3)), weights_text((0.01, 0.01))
    ('0.00531', '0.00531, 0.3', '0.01')
    """
    weights = mu if isinstance(mu, tuple) else (mu,)
    return ", ".join(f"{weight:.3g}" for weight in (weights[:1] if len(set(weights)) == 1 else weights))


def _golden_stride(count):
    """The first stride from ``count / φ`` (rounded) on that is coprime with ``count``: stepping by it modulo
    ``count`` visits each of ``count`` places once, spread evenly at every step.

    Examples
    --------
    >>> _golden_stride(9), _golden_stride(10), _golden_stride(1)
    (7, 7, 1)
    """
    stride = max(1, round(count / GOLDEN_RATIO))
    while math.gcd(stride, count) != 1:
        stride += 1
    return stride


@dataclasses.dataclass(frozen=True)
class TilePlan:
    """The tile grid of one image; nothing is computed to make it.

    Its fields, each described where it is declared, are what :func:`tiledeblur.plan` and a run's report give:
    ``plan(...).mu``, ``.noise``, ``.contrast``, ``.noise_line``, ``.mix`` and ``.halo`` are the weight, the noise
    level, ``nlmeans``' contrast, line of its noise and mix with ``laplacian``, and the halo that the run takes.

    Examples
    --------
    >>> plan = TilePlan(shape=(1000, 700), tile=512, chunk=256, halo=40)
    >>> plan.grid, len(plan)
    ((2, 2), 4)
    >>> plan.tile_at((1, 1)).read
    (slice(472, 1000, None), slice(472, 700, None))
    >>> TilePlan(shape=(1000, 700), tile=512, chunk=256, halo=40, channels=3, mu=(2e-3, 1e-2, 2e-3)).describe()[:57]
    'image 1000 x 700 px, 3 channels; mu 0.002, 0.01, 0.002; 4'
    """

    #: The image's rows and columns.
    shape: tuple
    #: A tile's side in px, the core that it writes, before its halo.
    tile: int
    #: The output's chunks' side in px: a tile writes whole chunks, so that no two tiles write one.
    chunk: int
    #: The px read around each tile's core, and solved with it, so that the cores join without seams.
    halo: int
    #: The PSF's radius in px, which the halo is at least.
    psf_radius: int = 0
    #: Planes solved one after another per tile: a tile's work, not its memory, grows with them.
    channels: int = 1
    #: The solves' regularization weight, or a tuple of each channel's, which the automatic halo follows; for
    #: :meth:`describe`.
    mu: float | tuple | None = None
    #: The loss solved, as ``loss="auto"`` may choose it, or a tuple of each channel's where the channels, denoised
    #: alone, differ; for :meth:`describe`.
    loss: str | tuple | None = None
    #: Whether the channels are denoised together, as one scene's, or each alone
    #: (:func:`tiledeblur.denoising.channels_alike`).
    together: bool = True
    #: The noise level that the pass of non-local means takes, as ``mu`` is given; None where there is no pass. With
    #: ``mu``, ``contrast``, ``noise_line`` and ``mix``, :func:`tiledeblur.deconvolve` solves a region as the tiles
    #: are solved.
    noise: float | tuple | None = None
    #: The contrast that ``nlmeans``' rounds start from, as ``mu`` is given; None for other losses.
    contrast: float | tuple | None = None
    #: The line of the noise that ``nlmeans``' denoiser follows (:class:`~tiledeblur.shotnoise.NoiseLine`), as ``mu``
    #: is given; None for other losses, or where the noise is alike at every level.
    noise_line: tuple | None = None
    #: ``laplacian``'s share and weight where ``loss="auto"`` mixes ``nlmeans`` with it, as ``mu`` is given; None
    #: where there is no mix.
    mix: tuple | None = None
    #: The value that marks missing pixels beside NaN, None for none; for :meth:`describe`.
    missing_value: int | float | None = None
    #: Whether ``missing_value`` is the input's own, by its CF attributes, not one given.
    missing_value_declared: bool = False
    #: The name of the dtype that the output is written in (without its byte order), None where unknown; for
    #: :meth:`describe`.
    output_dtype: str | None = None
    #: The output's bytes uncompressed, every channel and pyramid level; for :meth:`describe`.
    output_bytes: int | None = None
    #: The levels of the output's OME-Zarr pyramid above level 0; for :meth:`describe`.
    pyramid_levels: int = 0
    #: The factor from the input's values to the output's: one over an integer dtype's largest value where the output
    #: is float, else 1.
    value_scale: float = 1.0
    #: Which array of the input's group is read, "" for an input that is an array; for :meth:`describe`.
    source: str = ""
    #: Tiles that an earlier run wrote, which a run resumes; for :meth:`describe`.
    finished: int = 0

    @property
    def grid(self):
        """Tiles along each axis."""
        return tuple(math.ceil(n / self.tile) for n in self.shape)

    def __len__(self):
        return math.prod(self.grid)

    def _span(self, i, n):
        """Core and read bounds, ``(start, stop, low, high)``, of the ``i``-th tile along an axis of ``n`` px."""
        start, stop = i * self.tile, min((i + 1) * self.tile, n)
        return start, stop, max(start - self.halo, 0), min(stop + self.halo, n)

    def tile_at(self, index):
        """The :class:`Tile` at grid position ``index``."""
        core, read, trim = [], [], []
        for i, n in zip(index, self.shape):
            start, stop, low, high = self._span(i, n)
            core.append(slice(start, stop))
            read.append(slice(low, high))
            trim.append(slice(start - low, stop - low))
        return Tile(tuple(index), tuple(core), tuple(read), tuple(trim))

    def work_per_pixel(self):
        """Pixels solved per image pixel: every tile's read region, grown by the PSF radius, over the image.

        The halo is clipped at the image's edge, so a small image costs less
        than ``((tile + 2 halo) / tile)²``.

        Examples
        --------
        >>> TilePlan(shape=(512, 512), tile=512, chunk=256, halo=256).work_per_pixel()
        1.0
        >>> round(TilePlan(shape=(4096, 4096), tile=1024, chunk=512, halo=56, psf_radius=6).work_per_pixel(), 3)
        1.196
        """
        solved = 1
        for grid, n in zip(self.grid, self.shape):
            spans = (self._span(i, n) for i in range(grid))
            solved *= sum(high - low + 2 * self.psf_radius for _, _, low, high in spans) / n
        return solved

    def largest_read(self):
        """The largest extent that a tile reads along each axis, core and halo, clipped to the image.

        Examples
        --------
        >>> TilePlan(shape=(300, 5000), tile=1024, chunk=512, halo=56).largest_read()
        (300, 1136)
        """
        return tuple(max(high - low for *_, low, high in (self._span(i, n) for i in range(grid)))
                     for grid, n in zip(self.grid, self.shape))

    def tile_bytes(self):
        """A worker thread's estimated peak memory for the largest tile (see :func:`estimate_tile_bytes`).

        Examples
        --------
        >>> TilePlan(shape=(300, 5000), tile=1024, chunk=512, halo=56, psf_radius=6).tile_bytes() == (
        ...     estimate_tile_bytes((300, 1136), 6))
        True
        """
        return estimate_tile_bytes(self.largest_read(), self.psf_radius)

    def every_tile_reads_all(self):
        """Whether every tile's read region is the whole image, so that each solves the whole-image problem.

        Examples
        --------
        >>> TilePlan(shape=(300, 2304), tile=256, chunk=256, halo=1024).every_tile_reads_all()
        False
        >>> TilePlan(shape=(300, 2304), tile=256, chunk=256, halo=2048).every_tile_reads_all()
        True
        """
        return all((low, high) == (0, n) for grid, n in zip(self.grid, self.shape)
                   for *_, low, high in (self._span(i, n) for i in range(grid)))

    def tiles(self, *, spread=False):
        """Every tile, made lazily: row by row, or in an order spread over the image.

        A run solves them spread, so that the tiles done are a fair sample of
        those left, and its ETA holds where work is uneven over the image: on
        a sparse slide a blank tile took 0.2 s and one of tissue 50 s, and row
        by row the ETA was 15 min where an hour remained (found by a probe).
        The order steps through the tiles, counted row by row, by a stride
        coprime with their number and near its share by the golden ratio, so
        the tiles done at any moment lie spread evenly over the rows; it
        needs no memory, and no random generator whose stream could change.

        Examples
        --------
        >>> plan = TilePlan(shape=(30, 30), tile=10, chunk=10, halo=0)
        >>> [tile.index for tile in plan.tiles()][:4]
        [(0, 0), (0, 1), (0, 2), (1, 0)]
        >>> [tile.index for tile in plan.tiles(spread=True)][:4]
        [(0, 0), (2, 1), (1, 2), (1, 0)]
        >>> sorted(tile.index for tile in plan.tiles(spread=True)) == [tile.index for tile in plan.tiles()]
        True
        """
        count = len(self)
        stride = _golden_stride(count) if spread else 1
        for step in range(count):
            yield self.tile_at(divmod(step * stride % count, self.grid[1]))

    def describe(self):
        """A few lines that say what the plan is, for people.

        A tile larger than the image is described as the image's size, which
        is what it solves.

        Examples
        --------
        >>> TilePlan(shape=(300, 400), tile=4096, chunk=512, halo=53).describe().split(";")[1]
        ' 1 tile (1 x 1) of 300 x 400 px, written as output chunks of 512 px'
        >>> TilePlan(shape=(300, 400), tile=256, chunk=256, halo=10**9).describe().split(";")[2]
        ' halo 1000000000 px (clipped to the image'
        >>> TilePlan(shape=(300, 400), tile=256, chunk=256, halo=5, missing_value=0, missing_value_declared=True
        ...          ).describe().split(";")[:2]
        ['image 300 x 400 px', ' missing value 0 (declared by the input)']
        >>> TilePlan(shape=(300, 400), tile=256, chunk=256, halo=5, source="array '0/0' of the input's group"
        ...          ).describe().split(";")[0]
        "image 300 x 400 px, array '0/0' of the input's group"
        >>> TilePlan(shape=(10**5, 10**5), tile=1024, chunk=512, halo=56, channels=3, output_dtype="float32",
        ...          output_bytes=12 * 10**10).describe().split("; ")[-1]
        'output 111.8 GiB uncompressed as float32'
        >>> TilePlan(shape=(64, 64), tile=64, chunk=64, halo=5, output_dtype="float32", output_bytes=4 * 64**2,
        ...          value_scale=1 / (2**31 - 1)).describe().split("; ")[-1]
        "output 16.0 KiB uncompressed as float32, the input's values over 2147483647"
        >>> TilePlan(shape=(300, 400), tile=256, chunk=256, halo=5, finished=3).describe().split("; ")[-1]
        '3 of 4 tiles written by an earlier run'
        """
        source = f", {self.source}" if self.source else ""
        channels = f", {self.channels} channels{'' if self.together else ' denoised each alone'}" if (
            self.channels > 1) else ""
        # Where it is the input's own, no option that the user passed shows it.
        declared = " (declared by the input)" if self.missing_value_declared else ""
        missing = f"; missing value {self.missing_value!r}{declared}" if self.missing_value is not None else ""
        mu = f"mu {weights_text(self.mu)}; " if self.mu is not None else ""
        losses = self.loss if isinstance(self.loss, tuple) else (self.loss,)
        loss = f"loss {', '.join(losses)}{self._mix_text()}; " if self.loss is not None else ""
        # A halo as long as the image is how a caller asks for the whole-image solve in every tile (found by a
        # probe: 1e9 px was printed as if it were read).
        clipped = "clipped to the image; " if self.halo >= max(self.shape) else ""
        return (
            f"image {self.shape[0]} x {self.shape[1]} px{source}{channels}{missing}; {loss}{mu}"
            f"{len(self)} tile{'s' * (len(self) != 1)} ({self.grid[0]} x {self.grid[1]}) of {self.tile_text()}, "
            f"written as output chunks of {self.chunk} px; halo {self.halo} px "
            f"({clipped}work per pixel x{self.work_per_pixel():.2f}); about "
            f"{self.tile_bytes() / 2**20:.0f} MiB per worker thread"
            f"{self._output_text()}"
            f"{f'; {self.finished} of {len(self)} tiles written by an earlier run' if self.finished else ''}"
        )

    def _mix_text(self):
        """`` mixed with ...`` where ``nlmeans`` is mixed with ``laplacian``, else empty, for :meth:`describe`.

        Examples
        --------
        >>> TilePlan(shape=(64, 64), tile=64, chunk=64, halo=5, loss="nlmeans", mix=(0.64, 0.01))._mix_text()
        ' mixed with 64% laplacian at mu 0.01'
        """
        # One channel's pair of floats, or a tuple of each channel's (a pair or None).
        per_channel = (self.mix,) if self.mix is None or isinstance(self.mix[0], float) else self.mix
        mixes = [mix for mix in per_channel if mix is not None]
        if not mixes:
            return ""
        shares = list(dict.fromkeys(f"{share:.0%}" for share, _ in mixes))
        return f" mixed with {', '.join(shares)} laplacian at mu {weights_text(tuple(mu for _, mu in mixes))}"

    def tile_text(self):
        """The tiles' side within the image, which one tile covering it matches: ``"1024 px"``, ``"300 x 1024 px"``.

        Examples
        --------
        >>> TilePlan(shape=(300, 5000), tile=1024, chunk=512, halo=56).tile_text()
        '300 x 1024 px'
        """
        rows, cols = (min(self.tile, n) for n in self.shape)
        return f"{rows} px" if rows == cols else f"{rows} x {cols} px"

    def _output_text(self):
        """The output's size, where known: deblurred floats compress little, and a 100k² RGB scan makes 112 GiB."""
        if self.output_bytes is None:
            return ""
        levels = self.pyramid_levels
        pyramid = f" with its pyramid of {levels} level{'s' * (levels != 1)}" if levels else ""
        # Said of integers wider than 16 bits alone: 8 and 16 bits in [0, 1] are scikit-image's convention, while
        # int32 counts come out near 1e-7 (found by a probe).
        scaled = f", the input's values over {1 / self.value_scale:.0f}" if self.value_scale < 1 / 65535 else ""
        return f"; output {in_binary_units(self.output_bytes)} uncompressed as {self.output_dtype}{pyramid}{scaled}"
