"""Deblur a scan-like Zarr image on a local dask cluster and look at the result.

The scan is made from the astronaut of ``skimage.data``, mirrored outward so
that the scene runs on without seams, blurred with the article's PSF, given
noise (sigma 0.01) and stored as uint8 Zarr in 512 px chunks, as a scanner
would. ``tiledeblur.run`` deconvolves it tile by tile on a local cluster, and
the script writes ``demo.png``: ground truth, blurred and deblurred, zoomed and
whole, and prints PSNR before and after. ``--size 32768`` makes a 1-gigapixel
scan. It is what ``tiledeblur demo`` runs.

Run it with ``python examples/gigapixel.py [--size 2048] [--out DIR]``.
"""

import argparse
from pathlib import Path

from tiledeblur.cli import in_option_terms
from tiledeblur.demo import MIN_SIZE, run_demo

#: Beside this script, wherever it is run from (found by a probe: ./examples/output was made elsewhere).
OUTPUT = Path(__file__).resolve().parent / "output"


def main(size=2048, out_dir=OUTPUT, n_workers=None):
    """Make, deblur and picture a scan; return the :class:`tiledeblur.demo.DemoResult`."""
    return run_demo(size=size, out_dir=out_dir, n_workers=n_workers)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048,
                        help=f"side of the scan in px, at least {MIN_SIZE} (default: %(default)s)")
    parser.add_argument("--out", default=OUTPUT, help="folder for the files (default: output beside this script)")
    parser.add_argument("--workers", type=int, default=None, help="local workers (default: one per core)")
    arguments = parser.parse_args()
    try:
        result = main(arguments.size, arguments.out, arguments.workers)
    except (TypeError, ValueError) as error:  # refused before any work: one line, as from the CLI
        parser.error(in_option_terms(str(error)))
    print(f"PSNR blurred: {result.psnr_blurred:.2f} dB, deblurred: {result.psnr_deblurred:.2f} dB "
          f"(16 sampled regions); picture: {result.picture}")
