"""tiledeblur: deconvolution of images larger than memory, tile by tile."""

from ._version import __version__
from .pipeline import DiskSpaceWarning, RunReport, TileError, run
from .planning import plan
from .psf import check_psf, gaussian_psf, load_psf
from .regularization import MuWarning
from .solver import ConvergenceWarning, SolveInfo, SolverSettings, deconvolve
from .tiling import HaloWarning, TileMemoryWarning

__all__ = [
    "ConvergenceWarning",
    "DiskSpaceWarning",
    "HaloWarning",
    "MuWarning",
    "RunReport",
    "SolveInfo",
    "SolverSettings",
    "TileError",
    "TileMemoryWarning",
    "__version__",
    "check_psf",
    "deconvolve",
    "gaussian_psf",
    "load_psf",
    "plan",
    "run",
]
