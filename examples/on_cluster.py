"""Deblur a Zarr scan on a dask cluster that is already running.

Every worker needs tiledeblur installed and must reach the input and output
paths itself (a shared file system or an object store such as ``s3://``):
pixels travel between workers and storage, never through this script.

It writes a before/after picture of the scan's centre. Run it with
``python examples/on_cluster.py tcp://SCHEDULER:8786 scan.zarr``.
"""

import argparse

import tiledeblur
from tiledeblur.cli import in_option_terms
from tiledeblur.demo import check_preview, save_preview
from tiledeblur.io import open_input


def main(address, scan, *, output=None, psf=None, tile="auto", preview="on_cluster.png"):
    """Deblur ``scan`` on the scheduler at ``address`` and write a before/after PNG of its centre.

    Returns the :class:`tiledeblur.RunReport`.
    """
    # Before the run, not hours later after it: a new picture file, outside the Zarr stores.
    preview = check_preview(preview, output)
    psf = tiledeblur.gaussian_psf(13, (1, 3)) if psf is None else psf
    report = tiledeblur.run(scan, psf, output=output, address=address, tile=tile)
    # open_input reads a plain array or an OME-Zarr group's level 0 alike.
    save_preview(preview, open_input(scan)[0], open_input(report.output)[0], report.channel_axis)
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address", help="the scheduler, such as tcp://10.0.0.5:8786")
    parser.add_argument("scan", help="the Zarr input, a path every worker can read")
    parser.add_argument("--out", help="the output path (default: beside the input)")
    parser.add_argument("--preview", default="on_cluster.png", help="before/after PNG (default: %(default)s)")
    arguments = parser.parse_args()
    try:
        report = main(arguments.address, arguments.scan, output=arguments.out, preview=arguments.preview)
    except (TypeError, ValueError) as error:  # refused before any work: one line, as from the CLI
        # The address is this script's first argument, not an option (found by a probe: "--address: expected ...").
        parser.error(in_option_terms(str(error)).replace("--address:", "ADDRESS:", 1))
    except tiledeblur.TileError as error:  # tiles failed, or the scheduler was lost: one line too, the rest kept
        parser.exit(1, f"{parser.prog}: {in_option_terms(str(error))}\n")
    print(f"wrote {report.output} and {arguments.preview}: {report.plan.describe()}")
