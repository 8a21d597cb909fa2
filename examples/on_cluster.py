"""Deblur a Zarr scan on a dask cluster that is already running.

Every worker needs tiledeblur installed and must reach the input and output
paths itself (a shared file system or an object store such as ``s3://``):
pixels travel between workers and storage, never through this script.

Run it with ``python examples/on_cluster.py tcp://SCHEDULER:8786 scan.zarr``.
"""

import argparse

import tiledeblur


def main(address, scan, *, output=None, psf=None, tile="auto"):
    """Deblur ``scan`` on the scheduler at ``address``; return the :class:`tiledeblur.RunReport`."""
    psf = tiledeblur.gaussian_psf(13, (1, 3)) if psf is None else psf
    return tiledeblur.run(scan, psf, output=output, address=address, tile=tile)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address", help="the scheduler, such as tcp://10.0.0.5:8786")
    parser.add_argument("scan", help="the Zarr input, a path every worker can read")
    parser.add_argument("--out", help="the output path (default: beside the input)")
    arguments = parser.parse_args()
    report = main(arguments.address, arguments.scan, output=arguments.out)
    print(f"wrote {report.output}: {report.plan.describe()}")
