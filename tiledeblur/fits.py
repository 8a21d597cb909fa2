"""Read a FITS image in bands of rows, for ``convert``: astronomy mosaics come as FITS.

Only what an image needs, from the FITS standard (version 4.0):

* the first header-and-data unit (HDU) whose data are an image: the primary
  one, or an ``IMAGE`` extension after an empty primary, as HST's and
  JWST's pipelines write;
* ``BITPIX`` (unsigned 8-bit, signed 16-, 32- and 64-bit integers, 32- and
  64-bit floats, all big-endian), ``NAXISn``, ``BZERO``, ``BSCALE`` and
  ``BLANK``.

The data are mapped, not read: ``image[rows]`` reads those rows only, so a
mosaic larger than memory converts in bands. NumPy's axes are FITS's
reversed (``NAXIS1`` varies fastest, so it is the last), and axes of length
one beyond the plane (a radio image's single frequency and Stokes planes)
are dropped. Values follow the file's meaning: ``BZERO`` of 32768 on 16-bit
integers is the standard's way to store uint16, and any other scaling, or a
``BLANK`` value, gives the physical values as floats, with NaN for blank
pixels, which ``run`` then treats as missing: float32 for 8- and 16-bit
integers where it holds each step of ``BSCALE`` up to the largest value,
float64 otherwise.
"""

import math
import os
import re
import warnings
from pathlib import Path

import numpy as np

__all__ = ["FITS_HEADER_ATTRIBUTE", "FITS_SUFFIXES", "FitsImage", "header_cards", "is_fits_name",
           "warn_if_several_images"]

#: FITS files' suffixes, fpack's ``.fz`` among them (refused, with what to do).
FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fz")
GZIP_MAGIC = b"\x1f\x8b"
CARD_BYTES = 80
BLOCK_BYTES = 2880
#: Cards of how an HDU is stored, not of what its image shows; ``NAXISn`` too.
STRUCTURAL_KEYWORDS = ("SIMPLE", "XTENSION", "BITPIX", "EXTEND", "PCOUNT", "GCOUNT", "BSCALE", "BZERO", "BLANK",
                       "CHECKSUM", "DATASUM", "GROUPS")
#: Cards of the mapping from pixels to world coordinates (Greisen and Calabretta, 2002; SIP distortions), primary or
#: alternate (a letter after): an extension with its own takes none of the primary HDU's, which would mix two
#: mappings. The frame (``RADESYS``, ``EQUINOX``) is no mapping, and is inherited unless the extension names one.
WCS_MAPPING_KEYWORD = re.compile(r"(WCSAXES|CTYPE|CUNIT|CRPIX|CRVAL|CDELT|CROTA|PC\d|CD\d|PV\d|PS\d|LONPOLE|LATPOLE"
                                 r"|(A|B|AP|BP)_(ORDER|DMAX|\d+_\d+))")
#: The cards whose presence says that an extension has a mapping of its own.
OWN_MAPPING_KEYWORD = re.compile(r"(CTYPE|CRPIX|CRVAL|CDELT|PC\d|CD\d)")
#: Cards that each HDU has of its own, which the inheritance convention does not pass on.
COMMENTARY_KEYWORDS = ("COMMENT", "HISTORY")
#: The Zarr attribute in which ``convert`` keeps a FITS image's header (:attr:`FitsImage.header`).
FITS_HEADER_ATTRIBUTE = "fits_header"
#: The stored dtype of each ``BITPIX``.
STORED = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


def is_fits_name(path):
    """Whether a file's name says FITS: one of ``FITS_SUFFIXES``, gzipped or not.

    Examples
    --------
    >>> is_fits_name("field.FITS"), is_fits_name("field.fits.gz"), is_fits_name("field.tif")
    (True, True, False)
    """
    return Path(path).name.lower().removesuffix(".gz").endswith(FITS_SUFFIXES)


class FitsImage:
    """The image of a FITS file as a read-only array of rows: ``shape``, ``dtype``, ``ndim`` and ``image[rows]``.

    Parameters
    ----------
    path : str or os.PathLike

    Attributes
    ----------
    header : dict
        The cards of the image's HDU, over those of the primary HDU where
        the image is an extension's, less those of its storage (``BITPIX``,
        ``NAXISn``, ``BSCALE``, ``BZERO``, ``BLANK``, ...), as FITS numbers
        its axes (axis 1 is x); ``COMMENT`` and ``HISTORY`` are lists of
        their lines (see :func:`_add_card`).
    image_hdus : list of str
        The HDUs of the file that hold an image, the one read first, such as
        ``["HDU 1 (SCI)", "HDU 2 (ERR)"]``.

    Raises
    ------
    ValueError
        If the file is not FITS, its header lacks a card an image needs, it
        holds no image (random groups, an interferometer's, are none), or the
        image is empty or tile-compressed.
    """

    def __init__(self, path):
        with open(path, "rb") as file:
            header, data_offset, self.image_hdus = _find_image(file)
            primary, _ = _read_header(file, 0)
        # The cards that describe the image, not how it is stored (which the reader undoes): WCS, BUNIT, OBJECT.
        # JSON, which Zarr's metadata is, holds no NaN or inf: those become text.
        cards = {**_inherited(primary, header), **header}
        self.header = {keyword: value if not isinstance(value, float) or math.isfinite(value) else str(value)
                       for keyword, value in cards.items()
                       if keyword and keyword not in STRUCTURAL_KEYWORDS and not keyword.startswith("NAXIS")}
        bitpix = _integer(header, "BITPIX")
        if bitpix not in STORED:
            raise ValueError(f"BITPIX {bitpix!r} is not one of the standard's {tuple(STORED)}")
        axes = _axes(header)[::-1]
        if 0 in axes:
            raise ValueError(f"its image is empty (shape {tuple(axes)})")
        while len(axes) > 2 and axes[0] == 1:
            axes.pop(0)
        self.shape = tuple(axes)
        self.ndim = len(self.shape)
        declared, held = _data_bytes(header), os.path.getsize(path) - data_offset
        if held < declared:  # numpy's "mmap length is greater than file size" named neither (found by a probe)
            raise ValueError(f"it is truncated: its header declares {declared} bytes of image data, and the file "
                             f"holds {max(held, 0)} after the header")
        self._stored = np.memmap(path, dtype=STORED[bitpix], mode="r", offset=data_offset, shape=self.shape)
        scale, zero = (_number(header, keyword, default) for keyword, default in (("BSCALE", 1.0), ("BZERO", 0.0)))
        blank = _integer(header, "BLANK") if bitpix > 0 and "BLANK" in header else None
        self.dtype, self._convert = _conversion(np.dtype(STORED[bitpix]), scale, zero, blank)

    def __getitem__(self, index):
        return self._convert(np.asarray(self._stored[index]))

    def close(self):
        """Unmap the file, once the bands read are gone (each is a copy)."""
        self._stored = None


def _inherited(primary, header):
    """The cards of the ``primary`` HDU's header that an extension's ``header`` takes on, by the FITS inheritance
    convention (Zarate and Greenfield, 2007), but for its commentary, and unless ``INHERIT = F``.

    HST and JWST write TELESCOP and OBJECT on the primary HDU alone (found
    by a probe). Where the extension maps its pixels to world coordinates
    itself, the primary's mapping is left out: a primary's ``PCi_j`` beside
    a chip's ``CDi_j`` took precedence in astropy, and turned the chip's
    coordinates 90° (found by a probe). An image of the primary HDU itself
    gets its own cards.

    Examples
    --------
    >>> primary = {"TELESCOP": "HST", "RADESYS": "FK5", "CTYPE1": "RA---TAN", "PC1_1": 1.0, "HISTORY": ["observed"]}
    >>> _inherited(primary, {"CD1_1": -1e-5})
    {'TELESCOP': 'HST', 'RADESYS': 'FK5'}
    >>> _inherited(primary, {"BUNIT": "Jy"})
    {'TELESCOP': 'HST', 'RADESYS': 'FK5', 'CTYPE1': 'RA---TAN', 'PC1_1': 1.0}
    >>> _inherited(primary, {"INHERIT": False})
    {}
    """
    if header.get("INHERIT") is False:
        return {}
    own_mapping = any(OWN_MAPPING_KEYWORD.match(keyword) for keyword in header)
    return {keyword: value for keyword, value in primary.items()
            if keyword not in COMMENTARY_KEYWORDS and not (own_mapping and WCS_MAPPING_KEYWORD.match(keyword))}


def warn_if_several_images(image, path, *, name, category=UserWarning, stacklevel=2):
    """Warn, naming them, where the FITS file at ``path`` holds more images than the ``FitsImage`` ``image`` read;
    ``stacklevel`` is the warning's, counted from the caller.

    Found by a probe: WebbPSF writes an oversampled PSF first and the
    detector's after it, and the first, read without a word, chose the
    smallest weight and a 155 px halo; a file of several detector chips
    would convert only the first.
    """
    if len(image.image_hdus) > 1:
        warnings.warn(f"{name}: {str(path)!r} holds images in {', '.join(image.image_hdus)}, and only the first is "
                      "read; to read another, write it to a file of its own first (with astropy.io.fits).",
                      category, stacklevel=stacklevel + 1)


def _conversion(stored, scale, zero, blank):
    """The dtype of the values and the function from stored values to them (see the module notes)."""
    native = stored.newbyteorder("=")
    if stored.kind == "f":
        if (scale, zero) == (1.0, 0.0):
            return native, lambda band: band.astype(native)
        return native, lambda band: band.astype(native) * scale + zero
    if scale == 1.0 and blank is None:
        if zero == 0.0:
            return native, lambda band: band.astype(native)
        # BZERO = 2**(bits - 1) stores the other signedness: flip the sign bit and read it so.
        sign_bit = 2 ** (8 * stored.itemsize - 1)
        if zero == (-sign_bit if stored.kind == "u" else sign_bit):
            other = np.dtype(f"{'i' if stored.kind == 'u' else 'u'}{stored.itemsize}")
            flip = native.type(sign_bit if stored.kind == "u" else -sign_bit)
            return other, lambda band: (band.astype(native) ^ flip).view(other)
    # float32 where it holds every step of BSCALE at the largest value: int16 steps of 0.001 on a BZERO of 1e6
    # collapsed four to one (found by a probe).
    largest = abs(zero) + abs(scale) * 2 ** (8 * stored.itemsize)
    fine = stored.itemsize <= 2 and np.spacing(np.float32(largest)) <= abs(scale) / 2
    physical = np.dtype(np.float32 if fine else np.float64)

    def to_physical(band):
        values = band.astype(physical) * physical.type(scale) + physical.type(zero)
        if blank is not None:
            values[band == blank] = np.nan
        return values

    return physical, to_physical


def _find_image(file):
    """The header (a dict) of the first HDU that holds an image, where its data start, and the names of every HDU
    that holds one (``"HDU 1 (SCI)"``), that one first."""
    offset, index, found, names = 0, 0, None, []
    while True:
        try:
            header, data_offset = _read_header(file, offset)
        except ValueError:
            if found is None:
                raise
            break  # a damaged HDU after the image read is only not counted
        if header is None:
            break
        if found is None and "ZIMAGE" in header:
            raise ValueError("its image is tile-compressed; decompress it first (funpack)")
        image = _integer(header, "NAXIS") >= 2 and (offset == 0 or header.get("XTENSION") == "IMAGE")
        if image and header.get("GROUPS") is not True:
            found = found or (header, data_offset)
            names.append(f"HDU {index}" + (f" ({header['EXTNAME']})" if "EXTNAME" in header else ""))
        offset = data_offset + _padded(_data_bytes(header))
        index += 1
    if found is None:
        raise ValueError("it holds no image (an HDU with NAXIS of 2 or more)")
    return (*found, names)


def _read_header(file, offset):
    """The cards of the header at ``offset`` as a dict, and the offset of its data; ``(None, None)`` at the end.

    The end is the end of the file, or anything after the first HDU that is
    not an extension's header (the standard allows special records there).
    """
    file.seek(offset)
    header, keyword = {}, None
    while True:
        block = file.read(BLOCK_BYTES)
        if not block or (offset > 0 and not header and not block.startswith(b"XTENSION=")):
            return None, None
        if offset == 0 and block.startswith(GZIP_MAGIC):
            raise ValueError("it is gzip-compressed, and FITS is read in place; gunzip it first")
        if offset == 0 and not header and not block.startswith(b"SIMPLE  ="):
            raise ValueError("it does not start with FITS's SIMPLE card")
        if len(block) < BLOCK_BYTES:
            raise ValueError("it ends inside a header")
        for start in range(0, BLOCK_BYTES, CARD_BYTES):
            card = block[start:start + CARD_BYTES].decode("ascii", errors="replace")
            if card[:8].strip() == "END":
                return header, file.tell()
            keyword = _add_card(header, card, keyword)


def _add_card(header, card, last):
    """Add ``card`` to ``header`` where it holds a value, and return its keyword (``last``, the previous card's,
    where it continues that card's string).

    Beyond the standard's ``KEYWORD = value``: ESO's ``HIERARCH`` keywords
    (``HIERARCH ESO DET DIT = 1.0`` gives ``ESO DET DIT``), strings that
    ``CONTINUE`` cards carry on past a closing ``&``, and ``COMMENT`` and
    ``HISTORY`` text, kept as lists of their lines.

    Examples
    --------
    >>> header, last = {}, None
    >>> for card in ("HIERARCH ESO DET DIT = 1.5 / exposure", "FILENAME= 'mosaic_&'", "CONTINUE  'v2.fits'",
    ...              "HISTORY drizzled", "HISTORY flat-fielded"):
    ...     last = _add_card(header, card.ljust(80), last)
    >>> header
    {'ESO DET DIT': 1.5, 'FILENAME': 'mosaic_v2.fits', 'HISTORY': ['drizzled', 'flat-fielded']}
    """
    keyword = card[:8].strip()
    if keyword == "HIERARCH" and "=" in card:
        keyword, value = card[8:].split("=", 1)
        header[keyword.strip()] = _value(value)
        return keyword.strip()
    if keyword == "CONTINUE" and isinstance(header.get(last), str) and header[last].endswith("&"):
        header[last] = header[last][:-1] + str(_value(card[10:]))
        return last
    if keyword in ("COMMENT", "HISTORY"):
        header.setdefault(keyword, []).append(card[8:].strip())
    elif card[8:10] == "= ":
        header[keyword] = _value(card[10:])
    return keyword


def header_cards(fits_header):
    """The cards of a ``fits_header`` attribute as ``(keyword, value)`` pairs, one per line of its commentary.

    ``COMMENT`` and ``HISTORY`` are kept as lists of their lines, which no
    FITS header takes as a value (found by a probe: astropy refused the
    attribute of any file with history, and its WCS with it). astropy's
    ``fits.Header(header_cards(attrs["fits_header"]))`` builds the header,
    and ``astropy.wcs.WCS`` of it the output's coordinates.

    Examples
    --------
    >>> header_cards({"BUNIT": "ADU", "HISTORY": ["flat-fielded", "drizzled"]})
    [('BUNIT', 'ADU'), ('HISTORY', 'flat-fielded'), ('HISTORY', 'drizzled')]
    """
    return [(keyword, line) for keyword, value in fits_header.items()
            for line in (value if isinstance(value, list) else [value])]


def _value(text):
    """A card's value: a quoted string, T or F, an int or a float (``D`` exponents too); its comment dropped.

    Examples
    --------
    >>> _value(" 'IMAGE   '  / extension"), _value("  T"), _value("  -32 / bits"), _value(" 3.2768D4")
    ('IMAGE', True, -32, 32768.0)
    """
    text = text.strip()
    if text.startswith("'"):
        end = 1
        while True:
            end = text.find("'", end)
            if end < 0:  # an unclosed string: no card this reader needs is a string
                return text[1:]
            if text[end + 1:end + 2] != "'":
                return text[1:end].replace("''", "'").rstrip()
            end += 2
    text = text.split("/", 1)[0].strip()
    if text in ("T", "F"):
        return text == "T"
    for parse in (int, lambda number: float(number.replace("D", "E"))):
        try:
            return parse(text)
        except ValueError:
            pass
    return text  # a complex number or an undefined value: no card this reader needs


# A card of the wrong type is a defect in the file, which the caller passed by its path: a ValueError, as a garbled
# file gives.
def _integer(header, keyword):
    value = header.get(keyword)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"its header has no integer {keyword} card (got {value!r})")  # noqa: TRY004
    return value


def _number(header, keyword, default):
    value = header.get(keyword, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"its header's {keyword} card is not a number (got {value!r})")  # noqa: TRY004
    return float(value)


def _axes(header):
    """``NAXIS1`` to ``NAXISn``, FITS's order."""
    return [_integer(header, f"NAXIS{n}") for n in range(1, _integer(header, "NAXIS") + 1)]


def _data_bytes(header):
    axes = _axes(header)
    # Random groups (GROUPS = T) write NAXIS1 = 0, and their data are the other axes' product per group.
    count = math.prod(axes[1:] if header.get("GROUPS") is True else axes) if axes else 0
    groups, parameters = (_integer(header, key) if key in header else default
                          for key, default in (("GCOUNT", 1), ("PCOUNT", 0)))
    return abs(_integer(header, "BITPIX")) // 8 * groups * (parameters + count)


def _padded(size):
    return -(-size // BLOCK_BYTES) * BLOCK_BYTES
