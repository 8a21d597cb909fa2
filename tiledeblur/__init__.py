"""tiledeblur: deconvolution of images larger than memory, tile by tile."""

__version__ = "0.1.0"

from .pipeline import RunReport, TileError, run  # noqa: E402
from .planning import plan  # noqa: E402
from .psf import check_psf, gaussian_psf, load_psf  # noqa: E402
from .solver import ConvergenceWarning, SolveInfo, SolverSettings, deconvolve  # noqa: E402

__all__ = [
    "ConvergenceWarning",
    "RunReport",
    "SolveInfo",
    "SolverSettings",
    "TileError",
    "__version__",
    "check_psf",
    "deconvolve",
    "gaussian_psf",
    "load_psf",
    "plan",
    "run",
]
