"""Reproduce the seed article: deblur the astronaut with its loss and Newton-CG.

The article's set-up: the astronaut from ``skimage.data`` in gray, rescaled by
1/3; a 13×13 Gaussian PSF with sigma (1, 3); blur with the zero boundary; then
minimize the article's loss with mu = 0.2 by Newton-CG. It writes the article's
three-panel figure and prints PSNR against the original.

Run it with ``python examples/article.py [--out DIR]``.
"""

import argparse
from pathlib import Path

from skimage import color, data
from skimage.metrics import peak_signal_noise_ratio
from skimage.transform import rescale

from tiledeblur import deconvolve, gaussian_psf
from tiledeblur.demo import save_panels
from tiledeblur.operators import Blur

#: Beside this script, wherever it is run from (found by a probe: ./examples/output was made elsewhere).
OUTPUT = Path(__file__).resolve().parent / "output"


def main(out_dir=OUTPUT):
    """Run the reproduction; return ``(psnr_blurred, psnr_deconvolved, png_path)``."""
    original = rescale(color.rgb2gray(data.astronaut()), 1.0 / 3.0, mode="constant")
    psf = gaussian_psf(13, (1, 3))
    blurred = Blur(psf, original.shape, boundary="zero").matvec(original)
    restored = deconvolve(blurred, psf, loss="article", mu=0.2)

    scores = [peak_signal_noise_ratio(original, image, data_range=1.0) for image in (blurred, restored)]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    png_path = out_dir / "article.png"
    save_panels(png_path, [[("Original data", original), (f"Blurred data, {scores[0]:.1f} dB", blurred),
                            (f"Deconvolved data, {scores[1]:.1f} dB", restored)]])
    return scores[0], scores[1], png_path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=OUTPUT, help="folder for article.png (default: output beside this script)")
    blurred_db, restored_db, png = main(parser.parse_args().out)
    print(f"PSNR blurred: {blurred_db:.2f} dB, deconvolved: {restored_db:.2f} dB; figure: {png}")
