"""tiledeblur: deconvolution of images larger than memory, tile by tile.

The public names are imported from their modules on first use, as
scikit-image's are: dask, scipy and autograd take a second or more to
import, and the command line answers ``--help``, a bad option and Ctrl-C
before it needs them.
"""

import importlib

from ._version import __version__

#: Each public name's module, under this package.
PUBLIC_MODULES = {
    "ConvergenceWarning": "solver",
    "DiskSpaceWarning": "planning",
    "HaloWarning": "tiling",
    "MuWarning": "regularization",
    "PsfWarning": "psf",
    "RunReport": "pipeline",
    "SaturationWarning": "saturation",
    "SolveInfo": "settings",
    "SolverSettings": "settings",
    "TileError": "pipeline",
    "TileMemoryWarning": "tiling",
    "check_psf": "psf",
    "deconvolve": "deconvolution",
    "gaussian_psf": "psf",
    "load_psf": "psf",
    "plan": "planning",
    "run": "pipeline",
}

__all__ = ["__version__"] + list(PUBLIC_MODULES)


def __getattr__(name):
    """Import a public name's module on first use (PEP 562)."""
    if name not in PUBLIC_MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{PUBLIC_MODULES[name]}", __name__), name)
    globals()[name] = value  # the next use does not come here
    return value


def __dir__():
    return sorted({*globals(), *__all__})
