"""Make, load, check and normalize point spread functions (PSFs).

Every PSF that enters tiledeblur goes through :func:`check_psf` once, at the
public boundary: it must be a finite, non-negative 2-D array of odd size with a
positive sum, and it is returned normalized to sum 1.
"""

import math
import os
import warnings

import numpy as np
import scipy.ndimage as ndi

from .arguments import as_array, check_channel_count, check_numeric
from .fits import FitsImage, is_fits_name, warn_if_several_images
from .io import local_path

__all__ = ["PsfWarning", "check_psf", "check_psfs", "gaussian_psf", "load_psf", "psf_radius", "read_psf_file"]

#: A PSF stands on a floor that warns (see :func:`check_psf`) where its border's median, over all its pixels, holds
#: more than ``FLOOR_MASS`` of its sum, and the ring inside the border is on average at most ``1 + FLOOR_RISE``
#: times as high as the border, or the border's corners at least ``FLOOR_CORNERS`` times as high as the middles of
#: its sides: the PSF has stopped falling. On a 384² crop of the astronaut blurred by a Gaussian
#: of sigma 2.5 (noise 0.01, 8 bits), that Gaussian on a floor of 2%, 5%, 10% and 20% of its sum (Poisson noise
#: at a peak of 20000 counts) deblurred 0.04 to 0.06, 0.14 to 0.23, 0.57 to 0.90 and 2.2 to 3.3 dB below it alone
#: (25² and 51² stamps; 28.42 dB, 24.44 blurred).
FLOOR_MASS = 0.05
FLOOR_RISE = 0.1
#: A round Gaussian cut where it is below half its peak has corners at most half as high as its sides' middles (they
#: lie √2 times as far out); on a floor, they are as high. Each pair of opposite corners counts on its own: a blur
#: along a diagonal (a trail, a shake) has one pair high.
FLOOR_CORNERS = 0.75
#: Negative values down to this share of the peak are a computed PSF's rounding (an FFT's, or float32's), and
#: are set to zero; below it they are a measured PSF's noise, refused (see :func:`check_psf`).
ROUNDING_SHARE = 1e-6
#: Pixels by which a PSF's centroid may lie from its centre pixel without a warning.
MAX_CENTROID_OFFSET = 1.0


class PsfWarning(UserWarning):
    """A PSF that is likely not what was meant, such as one that keeps its background."""


def _parse_pair(value, name, kind):
    """Return ``value`` as a tuple of two numbers, broadcasting a scalar."""
    try:
        pair = tuple(np.broadcast_to(np.asarray(value), (2,)).tolist())
    except ValueError:
        raise ValueError(f"{name}: expected one value or two, got {value!r} instead.") from None
    # A bool among numbers is one of them to NumPy: (5, True) made a PSF of 5 x 1 px (found by a probe).
    if isinstance(value, (list, tuple)) and any(isinstance(v, (bool, np.bool_)) for v in value):
        pair = value
    if kind is int and not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
        raise TypeError(f"{name}: expected an int or a pair of ints, got {value!r} instead.")
    if kind is float and not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair):
        raise TypeError(f"{name}: expected a number or a pair of numbers, got {value!r} instead.")
    return pair


#: The widest Gaussian of :func:`gaussian_psf`: 8 sigma wide, no tile holds a wider one. scipy's kernel reaches 4
#: sigma, and took 13 s and 2 GB for a sigma of 1e7 (found by a probe).
MAX_SIGMA = 1e4
#: The longest side of :func:`gaussian_psf`: 0.5 GB of float64, within a tile of at least 16383 px a side with its
#: halo. A typo's side of 999999 ran out of memory (found by a probe).
MAX_SIZE = 8191


def gaussian_psf(size, sigma):
    """A normalized Gaussian PSF, built as the article builds it.

    Parameters
    ----------
    size : int or (int, int)
        Odd side length of the PSF, for both axes or per axis.
    sigma : float or (float, float)
        Standard deviation in pixels along axis 0 (rows) and axis 1 (columns).

    Returns
    -------
    psf : (size0, size1) ndarray of float64
        Sums to 1.

    Notes
    -----
    A unit impulse at the centre is filtered by
    :func:`scipy.ndimage.gaussian_filter` (with its default ``reflect``
    boundary), exactly as the seed article does, so ``gaussian_psf(13, (1, 3))``
    is the article's PSF to the last bit. Because of the reflection, the part of
    the Gaussian beyond the support folds back inside instead of being cut off.

    Examples
    --------
    >>> psf = gaussian_psf(13, (1, 3))
    >>> psf.shape, round(float(psf.sum()), 12)
    ((13, 13), 1.0)
    """
    shape = _parse_pair(size, "size", int)
    sigmas = _parse_pair(sigma, "sigma", float)
    if any(s < 1 or s % 2 == 0 or s > MAX_SIZE for s in shape):
        raise ValueError(f"size: expected odd positive side lengths of at most {MAX_SIZE} px, got {size!r} instead.")
    if not all(0 < s < math.inf for s in sigmas):  # not np.isfinite, which takes no int of 10**30 (a probe)
        raise ValueError(f"sigma: expected positive finite values, got {sigma!r} instead.")
    if max(sigmas) > MAX_SIGMA:
        raise ValueError(f"sigma: expected at most {MAX_SIGMA:g} px, got {sigma!r} instead.")
    impulse = np.zeros(shape)
    impulse[shape[0] // 2, shape[1] // 2] = 1.0
    return check_psf(ndi.gaussian_filter(impulse, sigmas), stacklevel=3)


def check_psf(psf, *, name="psf", stacklevel=2):
    """Validate a PSF and return it as float64, normalized to sum 1.

    Parameters
    ----------
    psf : (P, Q) array_like
        Non-negative, finite, with odd ``P`` and ``Q`` and a positive sum.
        Values below zero by at most ``ROUNDING_SHARE`` of the peak are
        taken for rounding, and set to zero.
    name : str, optional
        The argument's name, used in error messages.
    stacklevel : int, optional
        That of a warning, as :func:`warnings.warn` takes it: 2 names the
        line that called this function.

    Returns
    -------
    psf : (P, Q) ndarray of float64
        A new array; the input is never modified. A PSF whose sum is not 1 is
        divided by its sum, so that deconvolution preserves total intensity.

    Raises
    ------
    TypeError
        If ``psf`` is not a real numeric array.
    ValueError
        If it is not 2-D, has an even side, holds NaN, inf or negative values,
        or sums to zero.

    Warns
    -----
    PsfWarning
        If it stands on a flat floor that holds over ``FLOOR_MASS`` of its
        sum: a measured PSF with its background left in; or if its peak and centroid
        lie more than ``MAX_CENTROID_OFFSET`` px from its centre pixel: a
        measured PSF cropped off centre, which moves every deblurred source.

    Examples
    --------
    >>> check_psf([[0, 1, 0], [1, 2, 1], [0, 1, 0]]).sum()
    np.float64(1.0)
    """
    array = as_array(name, psf)
    if np.ma.is_masked(psf):  # NumPy would drop the mask, and the PSF would hold the values under it
        raise ValueError(f"{name}: expected no masked values, got {np.ma.count_masked(psf)} instead; fill them "
                         "first.")
    check_numeric(name, psf, array, "uif")
    if array.ndim != 2:
        # Found by a probe: a microscope's 3-D PSF was refused without a word of what to pass.
        plane = "; of a 3-D PSF (a z-stack), pass its in-focus plane" if array.ndim == 3 else ""
        raise ValueError(f"{name}: expected a 2-D array, got shape {array.shape} instead{plane}.")
    if not array.size:  # told of even sides before (found by a probe)
        raise ValueError(f"{name}: expected a non-empty array, got shape {array.shape} instead.")
    if any(s % 2 == 0 for s in array.shape):
        raise ValueError(
            f"{name}: expected odd side lengths so that the PSF has a centre pixel, "
            f"got shape {array.shape} instead; crop or pad it to odd sides around its peak. One centred between "
            "pixels, as a model of even side is, would move the image by half a pixel once padded (found by a "
            "probe): shift it too, as with scipy.ndimage.shift(np.pad(psf, ((0, 1), (0, 1))), (0.5, 0.5), order=1)."
        )
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: expected finite values, got {np.count_nonzero(~np.isfinite(array))} NaN or inf "
                         "instead; fill them first.")
    minimum, peak = array.min(), array.max()
    if minimum < 0 and -minimum <= ROUNDING_SHARE * peak:
        array = np.maximum(array, 0)  # found by a probe: -1e-9 from rounding was refused
    elif minimum < 0:
        # A PSF measured from beads or stars, its background subtracted, keeps that background's noise.
        share = f", {100 * -minimum / peak:.3g}% of the peak," if peak > 0 else ""
        raise ValueError(f"{name}: expected non-negative values, got minimum {minimum:g}{share} instead; "
                         "if a measured PSF's background noise made them, clip it to zero first, as with "
                         "np.clip(psf, 0, None).")
    with np.errstate(over="ignore"):
        total = array.sum()
    if not np.isfinite(total):  # finite values whose sum overflows: normalized, it was all zeros (found by a probe)
        array = array / array.max()
        total = array.sum()
    if total <= 0:
        raise ValueError(f"{name}: expected a positive sum, got {total:g} instead.")
    _warn_if_on_a_floor(array, name, stacklevel=stacklevel + 1)
    _warn_if_off_centre(array / total, name, stacklevel=stacklevel + 1)
    return array / total


def _border(array):
    """The pixels of ``array``'s outermost rows and columns, each once."""
    return np.concatenate([array[0], array[-1], array[1:-1, 0], array[1:-1, -1]])


def _warn_if_on_a_floor(psf, name, *, stacklevel):
    """Warn where ``psf`` stands on a flat floor that holds over ``FLOOR_MASS`` of its sum (see :func:`check_psf`).

    Found by a probe: a bead's image saved as raw counts, a camera offset of
    3% of its peak under it, put most of its sum in the floor, and deblurred
    to 16.8 dB, against 35.3 dB blurred. A floor's share of the sum grows
    with the stamp: 0.5% of the peak under a Gaussian of sigma 2.5 is 25% of
    a 51² stamp's sum, and that floor, which an earlier threshold of 1% of the
    peak let pass, deblurred below the blurred image (a probe). The ring
    inside the border tells a floor from a Gaussian cut near its peak
    (``gaussian_psf(5, 1.5)``, at 1.3 sigma), whose border is as high but
    which still falls towards it; means, not medians, since a floor of a few
    counts takes few values. A bead cropped tight, 15² at sigma 2 on an
    offset that held 23% of its sum, still fell towards its border, but its
    border was flat along itself, its corners as high as its sides' middles
    (found by a probe: it passed without a word). A box PSF has no peak.
    """
    border, peak = _border(psf), float(psf.max())
    floor = float(np.median(border))
    inside = float(np.mean(_border(psf[1:-1, 1:-1]))) if min(psf.shape) > 2 else peak
    (rows, cols), (middle_row, middle_col) = psf.shape, (n // 2 for n in psf.shape)
    corners = min(psf[[0, rows - 1], [0, cols - 1]].mean(), psf[[0, rows - 1], [cols - 1, 0]].mean())
    middles = psf[[0, rows - 1, middle_row, middle_row], [middle_col, middle_col, 0, cols - 1]].mean()
    flat = inside <= (1 + FLOOR_RISE) * border.mean() or corners >= FLOOR_CORNERS * middles
    if floor * psf.size > FLOOR_MASS * psf.sum() and floor < peak / 2 and flat:
        warnings.warn(
            f"{name}: it stands on a flat floor at {floor / peak:.1%} of its peak, {floor * psf.size / psf.sum():.0%} "
            "of its sum: a measured PSF that keeps its background or camera offset, which deblurs badly. Subtract "
            "it, as np.clip(psf - np.median(psf[0]), 0, None).",
            PsfWarning, stacklevel=stacklevel,
        )


def _warn_if_off_centre(psf, name, *, stacklevel):
    """Warn where the peak and centroid of the normalized ``psf`` lie more than ``MAX_CENTROID_OFFSET`` px from its centre.

    Found by a probe: a star field deblurred with its PSF cropped 3 px off
    centre put every star 3 px off, without a word. An asymmetric blur (a
    shake, a comet's trail) has its centroid off centre by nature; the
    warning tells where the offset is part of the blur.
    """
    centre = [n // 2 for n in psf.shape]
    centroid = [float((psf.sum(axis=1 - axis) * np.arange(n)).sum()) for axis, n in enumerate(psf.shape)]
    offset = [c - middle for c, middle in zip(centroid, centre)]
    # The peak nearest the centre where several pixels tie: a uniform trail's first pixel, whichever way it points
    # (found by a probe: argmax's top-left one warned of trails to the left and up only).
    at = min(np.argwhere(psf >= psf.max() * (1 - 1e-6)), key=lambda pixel: math.dist(pixel, centre))
    # Between pixels: a Gaussian 1.45 px off centre has its peak pixel 1 px off, and did not warn (a probe).
    peak = [a + _peak_shift(psf, at, axis) for axis, a in enumerate(at)]
    # Both: a coma's or a trail's peak on the centre pixel, its mass to one side, is a blur and no crop (a probe).
    if math.hypot(*offset) > MAX_CENTROID_OFFSET and math.dist(peak, centre) > MAX_CENTROID_OFFSET:
        warnings.warn(
            f"{name}: its peak and its centroid lie off its centre pixel, the centroid by {offset[0]:+.1f}, "
            f"{offset[1]:+.1f} px (y, x), and the deblurred image moves by as much; centre a measured PSF on its "
            "centroid first, as with scipy.ndimage.shift(psf, shift, order=1), which keeps it non-negative, unless "
            "the offset is part of the blur.",
            PsfWarning, stacklevel=stacklevel,
        )


def _peak_shift(psf, at, axis):
    """Where the peak of ``psf`` lies from its pixel ``at`` along ``axis``: the vertex of the parabola through the three.

    Examples
    --------
    >>> _peak_shift(np.array([[1.0, 3.0, 3.0, 1.0]]), (0, 1), 1)  # two pixels tie: halfway
    0.5
    """
    if not 0 < at[axis] < psf.shape[axis] - 1:
        return 0.0
    step = np.eye(psf.ndim, dtype=int)[axis]
    before, here, after = (float(psf[tuple(at + side * step)]) for side in (-1, 0, 1))
    curvature = before - 2 * here + after
    return 0.0 if curvature >= 0 else float(np.clip((before - after) / (2 * curvature), -0.5, 0.5))


def psf_radius(psf):
    """Half the side lengths of an odd-sized PSF, per axis.

    Examples
    --------
    >>> psf_radius(gaussian_psf((13, 25), 2))
    (6, 12)
    """
    return tuple(s // 2 for s in np.shape(psf))


#: The first bytes of every .npy file.
NPY_MAGIC = b"\x93NUMPY"


def read_psf_file(path, *, name="path", stacklevel=1):
    """The raw array in a ``.npy``, ``.tif``/``.tiff``, FITS or Zarr PSF file, unchecked.

    ``.npy`` files are read with ``allow_pickle=False``, so a file cannot run
    code. A Zarr store is opened read-only. :func:`load_psf` checks the result;
    ``run`` also accepts a ``(C, P, Q)`` stack of one PSF per channel this way.
    ``name`` is the argument's, for error messages; ``stacklevel`` is a
    warning's, counted from the caller.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name}: expected a str or os.PathLike, got {path!r} instead.")
    if not str(path).strip():  # Path("") is the working directory
        raise ValueError(f"{name}: expected a PSF file's path, got {str(path)!r} instead.")
    # The command line's Gaussian given in Python, or misspelled, "gauss:13,2" (found by probes: told of a missing
    # file alone).
    gaussian = ("; a Gaussian is gaussian_psf(SIZE, SIGMA) in Python, gaussian:SIZE,SIGMA on the command line"
                if os.path.basename(path).lower().startswith("gauss") else "")
    path = local_path(path, name=name)
    try:
        exists = path.exists()
    except OSError as error:  # a name longer than the disk holds: an OSError, exit status 1 (found by a probe)
        raise ValueError(f"{name}: expected a PSF file's path, got {str(path)!r}, which the disk cannot hold "
                         f"({error.strerror}).") from None
    if not exists:
        raise ValueError(f"{name}: expected an existing PSF file, got {str(path)!r}, which does not exist{gaussian}.")
    suffix = path.suffix.lower()
    if suffix == ".npy" and not path.is_dir():  # a folder is read as a Zarr array, whatever its name
        with path.open("rb") as file:
            if file.read(len(NPY_MAGIC)) != NPY_MAGIC:
                raise ValueError(f"{name}: expected a .npy file, got {str(path)!r}, which does not start like one.")
        try:
            return np.load(path, allow_pickle=False)
        except ValueError as error:
            # NumPy names allow_pickle where the array holds objects; other errors are a damaged or cut-short file,
            # which this message blamed on objects too (found by a probe).
            fault = ("holds Python objects; they are not unpickled for safety" if "allow_pickle" in str(error)
                     else "is damaged or cut short")
            raise ValueError(f"{name}: expected a .npy file of numbers, got {str(path)!r}, which {fault} "
                             f"({error}).") from None
    if suffix not in (".tif", ".tiff") and not is_fits_name(path) and not path.is_dir():
        raise ValueError(f"{name}: expected a .npy, .tif, .tiff, .fits, .fit or .fts file or a Zarr array, got "
                         f"{str(path)!r} instead.")
    try:
        if path.is_dir():
            import zarr

            return zarr.open_array(path, mode="r")[...]
        if is_fits_name(path):
            image = FitsImage(path)
            warn_if_several_images(image, path, name=name, category=PsfWarning, stacklevel=stacklevel + 1)
            try:
                return image[...]
            finally:
                image.close()
        import tifffile

        return tifffile.imread(path)
    except (OSError, ValueError) as error:  # tifffile's, zarr's and the FITS reader's errors derive from these
        raise ValueError(
            f"{name}: expected a readable TIFF or FITS file or Zarr array, got {str(path)!r} "
            f"({type(error).__name__}: {error})."
        ) from None


def load_psf(path):
    """Load a PSF from ``.npy``, ``.tif``/``.tiff``, FITS (``.fits``, ``.fit``, ``.fts``) or a Zarr array, and check it.

    ``.npy`` files are read with ``allow_pickle=False``, so a file cannot run
    code. A Zarr store is opened read-only. A stack of one PSF, ``(1, P, Q)``
    or ``(P, Q, 1)``, is read as that PSF, as :func:`tiledeblur.run` reads it.

    Parameters
    ----------
    path : str or os.PathLike
        The file or Zarr store.

    Returns
    -------
    psf : (P, Q) ndarray of float64
        As :func:`check_psf` returns it.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from tiledeblur import gaussian_psf, load_psf
    >>> path = os.path.join(tempfile.mkdtemp(), "psf.npy")
    >>> np.save(path, gaussian_psf(5, 1.0))
    >>> load_psf(path).shape
    (5, 5)
    """
    psf = read_psf_file(path, stacklevel=2)
    if psf.ndim == 3 and 1 in (psf.shape[0], psf.shape[-1]):
        # A stack of one PSF, as run reads it, and as a FITS file's axis of length one is dropped (found by a probe:
        # the same PSF in a TIFF was refused).
        psf = psf[0] if psf.shape[0] == 1 else psf[..., 0]
    return check_psf(psf, name=f"PSF in {str(path)!r}", stacklevel=3)


def check_psfs(psf, channels, *, stacklevel=4):
    """One checked PSF per channel, from one PSF, a list or stack of them, or a path (in the list too).

    ``stacklevel`` is that of a warning, as :func:`warnings.warn` takes it.

    Examples
    --------
    >>> [p.shape for p in check_psfs([gaussian_psf(5, 1.0), gaussian_psf(3, 0.5)], 2)]
    [(5, 5), (3, 3)]
    >>> len(check_psfs(gaussian_psf(5, 1.0), 3))
    3
    """
    if isinstance(psf, (str, os.PathLike)):
        psf = read_psf_file(psf, name="psf", stacklevel=stacklevel)
    # PSFs of any sizes or paths, one per channel; a nested list of numbers is one PSF. Found by a probe: a list
    # with one 3-D entry ended in NumPy's words, and a list of paths was no list.
    listed = isinstance(psf, (list, tuple)) and any(isinstance(p, (str, os.PathLike)) or np.ndim(p) >= 2 for p in psf)
    if listed:
        # A loop, not a comprehension, whose frame of its own before Python 3.12 would shift the warnings' lines.
        stack = []
        for index, each in enumerate(psf):
            if isinstance(each, (str, os.PathLike)):
                each = read_psf_file(each, name=f"psf[{index}]", stacklevel=stacklevel)
            stack.append(each)
    else:
        given, psf = psf, as_array("psf", psf)
        if psf.ndim == 3 and psf.shape[0] != channels and psf.shape[-1] == channels:
            # A stack made beside a yxc scan (tifffile writes RGB that way) has its channels last.
            psf = np.moveaxis(psf, -1, 0)
        elif psf.ndim == 3 and psf.shape[0] == psf.shape[-1] == channels > 1:
            # Either axis could hold the channels: 3 PSFs of 3 x 3 px saved as (P, Q, C) were read as rows of all
            # three, without a word (found by a probe).
            warnings.warn(f"psf: a stack of shape {psf.shape} is read as (C, P, Q), one PSF per index of its first "
                          "axis; pass a list of PSFs if its last axis holds them.", PsfWarning, stacklevel=stacklevel)
        # A value that is no PSF is named as given, not as NumPy's array of it (found by a probe).
        stack = list(psf) if psf.ndim == 3 else [given]
    check_channel_count(len(stack), channels, name="psf", noun="PSF",
                        shape="" if listed or psf.ndim != 3 else f" (a stack of shape {psf.shape}, read as (C, P, Q); "
                                                                 f"its last axis holds {psf.shape[-1]} if it is (P, Q, C); "
                                                                 "of a z-stack, pass its in-focus plane)")
    names = ["psf"] if len(stack) == 1 else [f"psf[{i}]" for i in range(len(stack))]
    checked = []
    for p, name in zip(stack, names):  # a loop, not a generator, whose frame would count in the stack level
        # The caller's line: at check_psf's own, Python's once per line showed a second run's warning of the same
        # PSF not at all (found by a probe).
        checked.append(check_psf(p, name=name, stacklevel=stacklevel + 1))
    checked = tuple(checked)
    return checked * channels if len(checked) == 1 else checked
