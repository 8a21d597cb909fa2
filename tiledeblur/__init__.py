"""tiledeblur: deconvolution of images larger than memory, tile by tile."""

from .psf import check_psf, gaussian_psf, load_psf
from .solver import ConvergenceWarning, SolveInfo, SolverSettings, deconvolve

__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning",
    "SolveInfo",
    "SolverSettings",
    "__version__",
    "check_psf",
    "deconvolve",
    "gaussian_psf",
    "load_psf",
]
