"""Deblur a scan-like Zarr image on a local dask cluster and look at the result.

A scan is made from the astronaut of ``skimage.data``, mirrored outward so
that the scene runs on without seams, blurred with the article's PSF, given
noise (sigma 0.01) and stored as uint8 Zarr in 512 px chunks, as a scanner
would. ``tiledeblur.run`` then deconvolves it tile by tile on a local cluster
and the script writes a picture: ground truth, blurred and deblurred, for a
zoomed region and for the whole scan, and prints PSNR before and after.

Run it with ``python examples/gigapixel.py [--size 2048] [--out DIR]``.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import zarr  # noqa: E402
from skimage import color, data  # noqa: E402
from skimage.metrics import peak_signal_noise_ratio  # noqa: E402

import tiledeblur  # noqa: E402
from tiledeblur.operators import Blur  # noqa: E402

PSF = tiledeblur.gaussian_psf(13, (1, 3))


def make_scan(path, size):
    """Write a ``size``² uint8 scan to ``path``; return ``(truth, scan)`` as floats in [0, 1]."""
    tile = color.rgb2gray(data.astronaut())
    reps = -(-size // tile.shape[0])
    scene = np.pad(tile, [(0, reps * tile.shape[0] - tile.shape[0])] * 2, mode="symmetric")[:size, :size]
    blurred = Blur(PSF, scene.shape, boundary="zero").matvec(scene)
    noisy = blurred + np.random.default_rng(0).normal(0.0, 0.01, scene.shape)
    scan = np.round(np.clip(noisy, 0, 1) * 255).astype(np.uint8)
    zarr.create_array(path, data=scan, chunks=(512, 512), overwrite=True)
    return scene, scan / 255.0


def save_picture(path, truth, scan, restored):
    """Ground truth, blurred and deblurred: a zoomed region above, the whole scan below."""
    zoom = (slice(60, 220), slice(150, 310))  # the astronaut's face
    figure, axes = plt.subplots(2, 3, figsize=(12, 8.5))
    for column, (title, image) in enumerate([("Ground truth", truth), ("Blurred", scan), ("Deblurred", restored)]):
        score = "" if image is truth else f", {peak_signal_noise_ratio(truth, image, data_range=1.0):.1f} dB"
        axes[0, column].imshow(image[zoom], cmap="gray", vmin=0, vmax=1)
        axes[0, column].set_title(f"{title}{score} (zoom)")
        step = max(1, image.shape[0] // 1024)
        axes[1, column].imshow(image[::step, ::step], cmap="gray", vmin=0, vmax=1)
        axes[1, column].set_title(f"{title}, whole scan")
    for axis in axes.ravel():
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def main(size=2048, out_dir="examples/output", n_workers=None):
    """Make, deblur and picture a scan; return ``(psnr_blurred, psnr_deblurred, png_path)``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    truth, scan = make_scan(out_dir / "scan.zarr", size)
    report = tiledeblur.run(out_dir / "scan.zarr", PSF, output=out_dir / "scan.deblurred.zarr",
                            n_workers=n_workers, overwrite=True)
    restored = zarr.open_array(report.output, mode="r")[...]
    png_path = out_dir / "gigapixel.png"
    save_picture(png_path, truth, scan, restored)
    scores = [peak_signal_noise_ratio(truth, image, data_range=1.0) for image in (scan, restored)]
    return scores[0], scores[1], png_path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048, help="side of the scan in pixels (default: %(default)s)")
    parser.add_argument("--out", default="examples/output", help="folder for scan and picture (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=None, help="local workers (default: one per core)")
    arguments = parser.parse_args()
    blurred_db, restored_db, png = main(arguments.size, arguments.out, arguments.workers)
    print(f"PSNR blurred: {blurred_db:.2f} dB, deblurred: {restored_db:.2f} dB; picture: {png}")
