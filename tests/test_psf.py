import warnings

import numpy as np
import pytest
import scipy.ndimage as ndi
import tifffile
import zarr
from astropy.io import fits

import tiledeblur
from tiledeblur import check_psf, gaussian_psf, load_psf


def test_gaussian_psf_is_the_articles():
    impulse = np.zeros((13, 13))
    impulse[6, 6] = 1
    article = ndi.gaussian_filter(impulse, (1, 3))
    article /= article.sum()
    np.testing.assert_array_equal(gaussian_psf(13, (1, 3)), article)


def test_gaussian_psf_per_axis_size_and_symmetry():
    psf = gaussian_psf((7, 11), (1.5, 2.5))
    assert psf.shape == (7, 11)
    np.testing.assert_allclose(psf, psf[::-1, ::-1])
    assert psf.sum() == pytest.approx(1.0)
    assert np.unravel_index(psf.argmax(), psf.shape) == (3, 5)


@pytest.mark.parametrize(
    ("size", "sigma", "error", "match"),
    [
        (12, 1.0, ValueError, "size: expected odd"),
        (13.0, 1.0, TypeError, "size: expected an int"),
        (True, 1.0, TypeError, "size: expected an int or a pair of ints, got True"),  # numpy's words before
        (13, 0.0, ValueError, "sigma: expected positive"),
        (13, (1, 1e5), ValueError, r"sigma: expected at most 10000 px, got \(1, 100000.0\) instead"),
        # A typo's side ran out of memory, which no error of bad input names (found by a probe).
        ((13, 100001), 1.0, ValueError, r"size: expected odd positive side lengths of at most 8191 px, got \(13, 1000"),
        (13, (1, 2, 3), ValueError, "sigma: expected one value or two"),
        (13, "a", TypeError, "sigma: expected a number or a pair of numbers, got 'a'"),
        # A bool among numbers made a PSF of 5 x 1 px; an int too large for a float, NumPy's words (found by a probe).
        ((5, True), 1.0, TypeError, r"size: expected an int or a pair of ints, got \(5, True\)"),
        (5, 10**30, ValueError, "sigma: expected at most 10000 px, got 1000000000000000000000000000000 instead"),
        (5, float("inf"), ValueError, "sigma: expected positive finite values, got inf"),
    ],
)
def test_gaussian_psf_rejects(size, sigma, error, match):
    with pytest.raises(error, match=match):
        gaussian_psf(size, sigma)


@pytest.mark.parametrize(
    ("psf", "error", "match"),
    [
        (np.ones((3, 3, 3)), ValueError, (r"expected a 2-D array, got shape \(3, 3, 3\) instead; of a 3-D PSF \(a "
                                          r"z-stack\), pass its in-focus plane\.")),
        (np.ones(5), ValueError, r"expected a 2-D array, got shape \(5,\)"),
        (np.ones((4, 5)), ValueError, r"expected odd side lengths.*\(4, 5\) instead; crop or pad it to odd sides"),
        (np.ones((0, 0)), ValueError, r"psf: expected a non-empty array, got shape \(0, 0\) instead"),  # odd sides
        (np.full((3, 3), np.nan), ValueError, "expected finite values, got 9 NaN or inf instead; fill them first"),
        (np.full((3, 3), np.inf), ValueError, "expected finite values, got 9 NaN or inf"),
        (np.array([[0, 1, 0], [1, -1, 1], [0, 1, 0]]), ValueError, r"minimum -1, 100% of the peak, instead"),
        (np.array([[0, 1, 0], [1, 1e5, 1], [0, -0.2, 0]]), ValueError, r"minimum -0.2, 0.0002% of the peak"),
        (np.array([[0, 1, 0], [1, 200, 1], [0, -0.5, 0]]), ValueError, r"-0.5, 0.25% of .* np.clip\(psf, 0, None\)"),
        (np.zeros((3, 3)), ValueError, "expected a positive sum, got 0 instead"),  # not np.float64(0.0)
        ([[1, 2, 1], [1, 2]], ValueError, r"psf: expected a 2-D array, got list that NumPy cannot make one of"),
        (np.ma.masked_greater(gaussian_psf(3, 1.0), 0.15), ValueError, "psf: expected no masked values, got 1 instead"),
        (np.array([["a"]]), TypeError, "expected a real numeric array"),
        (np.ones((3, 3), dtype=complex), TypeError, "expected a real numeric array"),
        # A file's name, which run() reads and deconvolve() does not, and no value at all (found by a probe: both
        # were named as NumPy's dtypes <U7 and object).
        ("psf.npy", TypeError, r"psf: expected a real numeric array, got 'psf.npy' instead; read a file into an array"),
        (None, TypeError, "psf: expected a real numeric array, got None instead.$"),
    ],
)
def test_check_psf_rejects(psf, error, match):
    with pytest.raises(error, match=match):
        check_psf(psf)


def test_a_psf_with_its_background_left_in_warns(tmp_path):
    """A bead's image saved as raw counts kept its camera offset, and deblurred far below its blurred input."""
    bead = np.round(gaussian_psf(21, 1.2) / gaussian_psf(21, 1.2).max() * 3000 + 100).astype(np.uint16)
    tifffile.imwrite(tmp_path / "bead.tif", bead)
    with pytest.warns(tiledeblur.PsfWarning, match=r"bead.tif': it stands on a flat floor at 3.\d% of its peak, 6\d% "
                                                   "of its sum: a measured PSF that keeps its background"):
        load_psf(tmp_path / "bead.tif")
    # Counted in photons, and in larger stamps, where a floor far below 1% of the peak holds much of the sum: they
    # passed a threshold of 1% of the peak, or passed where the noise took a border pixel below it (a probe).
    rng = np.random.default_rng(0)
    for side, floor, share in ((51, 0.005, 25), (51, 0.002, 12), (25, 0.012, 16)):
        counts = rng.poisson(gaussian_psf(side, 2.5) / gaussian_psf(side, 2.5).max() * 20000 + floor * 20000)
        with pytest.warns(tiledeblur.PsfWarning, match=rf"psf: it stands on a flat floor at {floor:.1%} of its peak, "
                                                       rf"{share}% of its sum"):
            check_psf(counts)
    # Cropped tight, the bead still falls towards the border, but the border is flat along itself (a probe).
    for side, sigma in ((15, 2.0), (11, 1.5)):
        tight = rng.poisson(gaussian_psf(side, sigma) / gaussian_psf(side, sigma).max() * 3000 + 100)
        with pytest.warns(tiledeblur.PsfWarning, match=r"psf: it stands on a flat floor at 3.\d% of its peak, 2\d% "):
            check_psf(tight)
    with warnings.catch_warnings():
        warnings.simplefilter("error", tiledeblur.PsfWarning)
        check_psf(np.clip(bead - np.median(bead[0]), 0, None))  # the advice of the warning
        # Cut at 2 sigma, and at 1.3 and 1.5 (their borders as flat as a floor: they warned, found by a probe); a box.
        # A blur along a diagonal, cut tight, has two corners as high as the sides' middles, and no floor (a review).
        rows, columns = np.indices((15, 15)) - 7
        diagonal = np.exp(-((rows + columns) / 5) ** 2 / 4 - ((rows - columns) / 2) ** 2 / 4)
        for psf in (gaussian_psf(13, (1, 3)), gaussian_psf(5, 1.0), gaussian_psf(5, 1.5), gaussian_psf(7, 2.0),
                    np.ones((3, 3)), diagonal, diagonal.T[::-1]):
            check_psf(psf)


def test_a_fits_psf_of_several_images_names_the_one_read(tmp_path):
    """WebbPSF writes the oversampled PSF first and the detector's after it; the first was read without a word."""
    oversampled, detector = gaussian_psf(41, 8.0), gaussian_psf(11, 2.0)
    fits.HDUList([fits.PrimaryHDU(oversampled), fits.ImageHDU(detector, name="DET_SAMP")]).writeto(tmp_path / "w.fits")
    with pytest.warns(tiledeblur.PsfWarning, match=r"path: '.*w.fits' holds images in HDU 0, HDU 1 \(DET_SAMP\), and "
                                                   "only the first is read") as told:
        np.testing.assert_allclose(load_psf(tmp_path / "w.fits"), oversampled)
    image = np.random.default_rng(0).random((64, 64))
    zarr.create_array(tmp_path / "scan.zarr", data=image)
    with pytest.warns(tiledeblur.PsfWarning, match="only the first is read") as planned:
        tiledeblur.plan(tmp_path / "scan.zarr", tmp_path / "w.fits", mu=0.01, memory_limit="1 GiB")
    with pytest.warns(tiledeblur.PsfWarning, match="only the first is read") as deconvolved:
        tiledeblur.deconvolve(np.stack([image, image]), [tmp_path / "w.fits"] * 2, mu=0.01, channel_axis=0,
                              maxiter=1)
    # The caller's line, as for the PSF's other warnings: load_psf's own was named (found in review).
    assert {warning.filename for warning in [*told, *planned, *deconvolved]
            if "only the first" in str(warning.message)} == {__file__}


def test_an_even_psf_padded_and_shifted_as_advised_is_centred():
    """The advice once said to pad alone, which moved the image half a pixel (found by a probe)."""
    even = gaussian_psf(25, 2.0)[:-1, :-1] + gaussian_psf(25, 2.0)[1:, 1:]  # centred between pixels 11 and 12
    with pytest.raises(ValueError, match=r"move the image by half a pixel once padded .* shift it too, as with "
                                         r"scipy.ndimage.shift\(np.pad\(psf, \(\(0, 1\), \(0, 1\)\)\), \(0.5, 0.5\), "
                                         r"order=1\)"):
        check_psf(even)
    psf = check_psf(ndi.shift(np.pad(even, ((0, 1), (0, 1))), (0.5, 0.5), order=1))
    centroid = [float((psf.sum(axis=1 - axis) * np.arange(25)).sum()) for axis in (0, 1)]
    np.testing.assert_allclose(centroid, [12, 12], atol=1e-9)


def test_a_psf_warning_names_the_callers_line(tmp_path):
    """A warning at a line of tiledeblur's own shows once for all calls, as Python's filters show it by default:
    a second plan of another scan with the same PSF said nothing (found by a probe)."""
    off = np.roll(gaussian_psf(13, 2.0), -3, axis=1)
    image = np.random.default_rng(0).random((32, 32))
    zarr.create_array(tmp_path / "scan.zarr", data=image)
    np.save(tmp_path / "off.npy", off)
    # load_psf's own line was named (found in review).
    calls = [lambda: check_psf(off), lambda: load_psf(tmp_path / "off.npy"),
             lambda: tiledeblur.deconvolve(image, off, mu=0.01),
             lambda: tiledeblur.deconvolve(np.stack([image, image]), off, mu=0.01, channel_axis=0),
             lambda: tiledeblur.plan(tmp_path / "scan.zarr", off, mu=0.01, memory_limit="1 GiB")]
    for call in calls:
        with pytest.warns(tiledeblur.PsfWarning, match="lie off its centre pixel") as told:
            call()
        assert {warning.filename for warning in told if warning.category is tiledeblur.PsfWarning} == {__file__}
    # gaussian_psf's own line was named, for a Gaussian too wide for its stamp (found in review).
    with pytest.warns(tiledeblur.PsfWarning, match="stands on a flat floor") as told:
        gaussian_psf(201, 40.0)
    assert {warning.filename for warning in told} == {__file__}


def test_a_psf_off_centre_warns():
    """A star field's PSF cropped 3 px off centre moved every star 3 px, without a word (found by a probe)."""
    psf = gaussian_psf(25, 2.0)
    with pytest.warns(tiledeblur.PsfWarning, match=r"psf: its peak and its centroid lie off its centre pixel, the "
                                                   r"centroid by \+0.0, -3.0 px \(y, x\), and the deblurred image "
                                                   r"moves by as much; .*shift\(psf, shift, order=1\)"):
        shifted = check_psf(np.roll(psf, -3, axis=1))
    # Between pixels: 1.5 px ties two pixels, and the one 1 px off counted; 1.3 px puts the peak on it (a probe).
    for offset in (1.3, 1.5):
        with pytest.warns(tiledeblur.PsfWarning, match=rf"the centroid by \+{offset}, \+0.0 px"):
            check_psf(ndi.shift(psf, (offset, 0), order=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error", tiledeblur.PsfWarning)
        check_psf(np.roll(psf, 1, axis=0))  # a measured PSF centred on its brightest pixel, within a pixel
        check_psf(gaussian_psf(13, (1, 3)))
        check_psf(psf + 0.8 * np.roll(gaussian_psf(25, 4.0), 4, axis=1))  # a coma: its peak centred, its mass not
        check_psf(ndi.shift(shifted, (0, 3), order=1))  # the advice followed: non-negative, centred
        # A uniform trail from the centre pixel, which way it points (found by a probe: left and up warned).
        trail = np.zeros((17, 17))
        trail[8, 8:16] = 1
        for turns in range(4):
            check_psf(np.rot90(trail, turns))


def test_check_psf_normalizes_without_touching_the_input():
    raw = np.array([[0, 2, 0], [2, 4, 2], [0, 2, 0]], dtype=np.uint8)
    psf = check_psf(raw)
    assert psf.dtype == np.float64
    assert psf.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(psf * 12, raw)
    assert raw[1, 1] == 4
    # Values whose sum overflows: all zeros before (found by a probe).
    np.testing.assert_allclose(check_psf(raw * 2.5e307), raw / 12)
    # A computed PSF's rounding below zero is zero; it was refused (found by a probe).
    rounded = raw - np.array([[1e-9, 0, 0], [0, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(check_psf(rounded), check_psf(raw))
    assert rounded[0, 0] < 0


@pytest.mark.parametrize("suffix", [".npy", ".tif", ".tiff", ".zarr", ".fits"])
def test_load_psf_formats(tmp_path, suffix):
    psf = gaussian_psf(9, (2, 1))
    path = tmp_path / f"psf{suffix}"
    if suffix == ".npy":
        np.save(path, psf * 7)
    elif suffix == ".fits":
        fits.PrimaryHDU(psf * 7).writeto(path)  # as PSF modelling tools write them, in float64
    elif suffix == ".zarr":
        zarr.create_array(path, shape=psf.shape, dtype=psf.dtype)[...] = psf * 7
    else:
        tifffile.imwrite(path, (psf * 7).astype(np.float32))
    np.testing.assert_allclose(load_psf(path), psf, rtol=1e-6)


@pytest.mark.parametrize("suffix", [".npy", ".tif", ".fits"])
@pytest.mark.parametrize("axis", [0, -1])
def test_load_psf_reads_a_stack_of_one_as_run_does(tmp_path, suffix, axis):
    """Found by a probe: a (1, P, Q) TIFF or .npy was refused, where run took it and FITS dropped the axis."""
    psf = gaussian_psf(9, (2, 1))
    path = tmp_path / f"psf{suffix}"
    if suffix == ".npy":
        np.save(path, np.expand_dims(psf, axis))
    elif suffix == ".fits":
        fits.PrimaryHDU(np.expand_dims(psf, axis)).writeto(path)
    else:
        tifffile.imwrite(path, np.expand_dims(psf, axis).astype(np.float32))
    np.testing.assert_allclose(load_psf(path), psf, rtol=1e-6)


def test_load_psf_refuses_pickles(tmp_path):
    path = tmp_path / "evil.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="holds Python objects"):
        load_psf(path)


def test_load_psf_errors_name_the_path(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_psf(tmp_path / "missing.npy")
    # The system's OSError, exit status 1 on the command line (found by a probe).
    with pytest.raises(ValueError, match=r"path: expected a PSF file's path, got '.*a\.npy', which the disk cannot "
                                         r"hold \(File name too long\)"):
        load_psf(tmp_path / ("a" * 300 + ".npy"))
    (tmp_path / "psf.txt").write_text("1")
    with pytest.raises(ValueError, match=r"expected a \.npy, \.tif"):
        load_psf(tmp_path / "psf.txt")
    (tmp_path / "text.npy").write_text("1 2 3")
    with pytest.raises(ValueError, match="expected a .npy file, got .*text.npy', which does not start like one"):
        load_psf(tmp_path / "text.npy")
    np.save(tmp_path / "whole.npy", np.ones((5, 5)))
    written = (tmp_path / "whole.npy").read_bytes()
    for cut in (100, len(written) - 8):  # within the header, and one value short: not blamed on objects
        (tmp_path / "cut.npy").write_bytes(written[:cut])
        with pytest.raises(ValueError, match=r"expected a \.npy file of numbers, got .*cut.npy', which is damaged or "
                                             r"cut short \("):
            load_psf(tmp_path / "cut.npy")
    np.save(tmp_path / "even.npy", np.ones((4, 4)))
    with pytest.raises(ValueError, match="even.npy.*odd side lengths"):
        load_psf(tmp_path / "even.npy")
    with pytest.raises(TypeError, match="path: expected a str"):
        load_psf(3)
    (tmp_path / "psf.tif").write_bytes(b"nota tiff")
    with pytest.raises(ValueError, match=r"path: expected a readable TIFF or FITS file or Zarr array, got .*psf.tif' "
                                         r"\(Tiff"):
        load_psf(tmp_path / "psf.tif")
    (tmp_path / "psf.fits").write_bytes(b"not FITS")
    with pytest.raises(ValueError, match=r"path: expected a readable TIFF or FITS file or Zarr array, got .*psf.fits' "
                                         r"\(ValueError: it does not start with FITS's SIMPLE card"):
        load_psf(tmp_path / "psf.fits")
    zarr.open_group(tmp_path / "group.zarr", mode="w")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder.npy").mkdir()  # IsADirectoryError's traceback before (found by a probe)
    for folder in ("group.zarr", "folder", "folder.npy"):
        with pytest.raises(ValueError, match=f"path: expected a readable TIFF or FITS file or Zarr array, got .*{folder}'"):
            load_psf(tmp_path / folder)
    np.save(tmp_path / "psf.npy", np.ones((3, 3)))
    assert load_psf(f"file://{tmp_path / 'psf.npy'}").shape == (3, 3)
    # As zarr_path takes them (found by a probe: the escapes were kept, and localhost taken for a folder).
    np.save(tmp_path / "psf 1#2.npy", np.ones((3, 3)))  # "#" cut the name short in a URL parser (found by review)
    assert load_psf(f"file://localhost{tmp_path}/psf%201#2.npy").shape == (3, 3)
    with pytest.raises(ValueError, match="path: expected a local path or a file:// URL, got 's3://bucket/psf.npy'"):
        load_psf("s3://bucket/psf.npy")
