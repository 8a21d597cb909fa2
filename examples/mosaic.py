"""Deblur an astronomy mosaic whose footprint leaves blank (NaN) pixels, and look at the result.

The sky is the Hubble deep field of ``skimage.data`` (gray, on a [0, 1]
scale), blurred by a Gaussian PSF with nothing assumed beyond its edges, and
given noise (sigma 0.01). A tilted footprint cuts it, as a mosaic of rotated
exposures is cut: the pixels beyond it, and 0.5% of bad pixels, are NaN. It is
stored as float32 Zarr in 256 px chunks. ``--size`` takes a central square of
the sky, footprint and all, for a quicker look. ``tiledeblur.run`` deconvolves
it on a local cluster with total variation and ``nonneg=True``, the README's
option for sparse scenes; the missing pixels are left out, and stay NaN.

The script writes ``mosaic.png`` (blurred and deblurred, on a square-root
stretch, missing pixels black) and prints the PSNR of the pixels present,
before and after. The Zarr stores live in a temporary folder.

Run it with ``python examples/mosaic.py [--size 640] [--out DIR]``.
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
import zarr
from skimage import color, data
from skimage.metrics import peak_signal_noise_ratio

import tiledeblur
from tiledeblur.arguments import check_int
from tiledeblur.cli import in_option_terms
from tiledeblur.demo import save_panels
from tiledeblur.operators import Blur

#: Beside this script, wherever it is run from (found by a probe: ./examples/output was made elsewhere).
OUTPUT = Path(__file__).resolve().parent / "output"

PSF = tiledeblur.gaussian_psf(9, 1.5)
NOISE = 0.01
BAD_PIXELS = 0.005
#: The footprint: a rectangle of these shares of the observed half sides (rows, columns), turned by this angle,
#: about the centre.
FOOTPRINT_SHARES = (0.76, 0.85)
FOOTPRINT_DEGREES = 12
#: The smallest ``size``: at 512 px, each of the regions that ``mu="auto"`` samples missed more than a quarter of
#: its pixels, and it fell back to the default weight.
MIN_SIZE = 640


def largest_size():
    """The largest ``size``: the sky's shorter side less the PSF's reach on both sides."""
    return min(data.hubble_deep_field().shape[:2]) - 2 * (PSF.shape[0] // 2)


def sky_and_mosaic(size=None):
    """The sharp sky (its central ``size`` square, or all) and the mosaic observed of it, NaN where it was not
    observed."""
    sky = color.rgb2gray(data.hubble_deep_field())
    radius = PSF.shape[0] // 2
    largest = largest_size()
    if size is not None and not MIN_SIZE <= check_int("size", size) <= largest:
        raise ValueError(f"size: expected {MIN_SIZE} to {largest} px (or no size, for the whole sky), "
                         f"got {size} instead.")
    if size is not None:
        start = [(n - size - 2 * radius) // 2 for n in sky.shape]
        sky = sky[tuple(slice(s, s + size + 2 * radius) for s in start)]
    observed_shape = tuple(n - 2 * radius for n in sky.shape)
    rng = np.random.default_rng(0)
    observed = Blur(PSF, observed_shape, boundary="free").matvec(sky) + rng.normal(0, NOISE, observed_shape)
    rows, columns = np.indices(observed_shape) - np.array(observed_shape)[:, None, None] / 2
    turn = np.deg2rad(FOOTPRINT_DEGREES)
    along, across = rows * np.cos(turn) + columns * np.sin(turn), columns * np.cos(turn) - rows * np.sin(turn)
    half_sides = [share * n / 2 for share, n in zip(FOOTPRINT_SHARES, observed_shape)]
    inside = (np.abs(along) < half_sides[0]) & (np.abs(across) < half_sides[1])
    missing = ~inside | (rng.random(observed_shape) < BAD_PIXELS)
    return sky[radius:-radius, radius:-radius], np.where(missing, np.nan, observed).astype(np.float32)


def psnr_present(truth, image):
    present = ~np.isnan(image)
    return float(peak_signal_noise_ratio(truth[present], image[present], data_range=1.0))


def main(out_dir=OUTPUT, n_workers=None, size=None):
    """Make, deblur and picture the mosaic; return PSNR blurred and deblurred (dB) and the picture's path.

    ``size`` (px) takes the central square of the sky; None takes it all.
    """
    sky, mosaic = sky_and_mosaic(size)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        zarr.create_array(Path(folder) / "mosaic.zarr", data=mosaic, chunks=(256, 256))
        report = tiledeblur.run(Path(folder) / "mosaic.zarr", PSF, loss="tv", nonneg=True, n_workers=n_workers)
        deblurred = zarr.open_array(report.output, mode="r")[...]
    picture = out_dir / "mosaic.png"
    save_panels(picture, [[(title, np.sqrt(np.clip(np.nan_to_num(image), 0, 1)))
                           for title, image in (("blurred mosaic", mosaic), ("deblurred", deblurred))]])
    return psnr_present(sky, mosaic), psnr_present(sky, deblurred), picture


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=None, help=f"side of a central square of the sky in px, "
                        f"{MIN_SIZE} to {largest_size()} (default: the whole sky)")
    parser.add_argument("--out", default=OUTPUT, help="folder for the picture (default: output beside this script)")
    parser.add_argument("--workers", type=int, default=None, help="local workers (default: one per core)")
    arguments = parser.parse_args()
    try:
        blurred_db, deblurred_db, path = main(arguments.out, arguments.workers, arguments.size)
    except (TypeError, ValueError) as error:  # refused before any work: one line, as from the CLI
        parser.error(in_option_terms(str(error)))
    print(f"PSNR of the pixels present: blurred {blurred_db:.2f} dB, deblurred {deblurred_db:.2f} dB; "
          f"picture: {path}")
