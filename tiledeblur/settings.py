"""The options of one solve, checked once (:class:`SolverSettings`), and what the solve did (:class:`SolveInfo`).

:func:`tiledeblur.deconvolve`, :func:`tiledeblur.plan` and
:func:`tiledeblur.run` build the settings at their boundary;
:func:`tiledeblur.solver.solve` takes them as checked.
"""

import copy
import dataclasses
import math
import numbers

import numpy as np

from .arguments import check_flag, check_int, check_positive, float_or_inf
from .denoising import DENOISED_LOSSES
from .objectives import CHOICES, DEFAULT_MU
from .operators import BOUNDARIES
from .regularization import is_auto
from .shotnoise import NoiseLine

__all__ = ["DEFAULT_EPS", "DEFAULT_MAXITER", "DEFAULT_TOL", "SolveInfo", "SolverSettings", "check_mu"]

#: Smoothing of total variation, on a [0, 1] intensity scale.
DEFAULT_EPS = 3e-2
#: The largest gradient entry, in the preconditioned variables, at which to
#: stop. Measured on 512² astronaut tiles with the article's PSF, it leaves
#: every pixel within 4e-5 (mu 1e-2) to 2.4e-4 (mu 1e-3) of a tightly converged
#: solve for Tikhonov, and 2e-4 to 9e-4 for total variation, below 1e-3: two
#: solves of overlapping tiles then agree where they overlap.
DEFAULT_TOL = 1e-4
#: The largest ``tol``: a tenth of the image's scale. From about 1 the start can meet it, and the solve stops there,
#: "converged" (found by a probe: ``tol=1e300`` returned the start, 13 times the default's mean error, unwarned).
MAX_TOL = 0.1
DEFAULT_MAXITER = 200

#: The largest ``mu``: far above any image's need (a weight of 1e6 already
#: flattens one to its mean), and below what the float32 Hessian products
#: hold with total variation's ``mu / eps`` (1e39 overflowed them and gave a
#: wrong image after 82,000 products, found by a probe). ``eps`` has the same bound: 1e30 overflowed them too.
MAX_MU = 1e20
#: The smallest ``eps``: at 1e-30 and 1e-40 the solve's float32 products overflowed, and from 1e-60 to 1e-100 its
#: gradient was not finite, each time returning its start (found by probes); 1e-20 solved.
MIN_EPS = 1e-20


@dataclasses.dataclass(frozen=True, kw_only=True)
class SolverSettings:
    """Validated options of one solve; ``None`` picks the loss's default.

    Parameters
    ----------
    loss : {"laplacian", "nlmeans", "tikhonov", "tv", "article"}
        The loss to minimize, see :mod:`tiledeblur.objectives`; ``nlmeans``
        alternates solves of the data with a denoiser (non-local means and DCT
        shrinkage), see :mod:`tiledeblur.plugandplay`.
    mu : float, optional
        Regularization weight, positive. Default: ``DEFAULT_MU[loss]``.
    boundary : {"free", "zero"}, optional
        The boundary model, see :class:`tiledeblur.operators.Blur`. Default:
        ``"zero"`` for ``article`` (as the article does) and ``"free"`` for the
        others, which does not ring along the image's border.
    eps : float
        Smoothing of total variation, used by ``tv`` only.
    tol : float
        Newton-CG stops when every entry of the gradient in the preconditioned
        variables ``z`` is at most ``tol``; there the Hessian is close to the
        identity, so an entry is about the distance of a coordinate from the
        minimum, relative to the image's scale (see :func:`tiledeblur.solver.solve`). At most
        ``MAX_TOL``.
    maxiter : int
        Most Newton iterations.
    nonneg : bool
        Constrain the restored image to be non-negative, as intensities are
        (see :func:`_nonnegative`); ``nlmeans`` holds each round's denoised
        image at zero (see :mod:`tiledeblur.plugandplay`).
    noise : float, optional
        The noise level (standard deviation) of the image's data, positive.
        Given, a ``laplacian`` or ``tikhonov`` solve is followed by one pass
        of the denoiser at the level that it leaves of that noise (see
        :mod:`tiledeblur.denoising`); None leaves the solve as it is.
    contrast : float, optional
        The standard deviation of the whole image's values, positive, from
        which ``nlmeans``' rounds after the first start where that is below
        their usual start (:func:`tiledeblur.plugandplay.ratios`); None
        starts them there. Only for ``nlmeans``.
    noise_line : NoiseLine or (float, float, float), optional
        ``(gain, floor, least)``: the noise variance of the image's pixels as
        a line in their level, relative to its mean over the image, which
        ``nlmeans``' denoiser follows where the noise grows with the signal,
        as a photon count's does (:func:`tiledeblur.shotnoise.sampled_noise_lines`;
        see :mod:`tiledeblur.plugandplay`); None denoises alike at every
        level. Only for ``nlmeans``.
    mix : (float, float), optional
        ``(share, mu)``: the result is ``1 - share`` of this solve's and
        ``share`` of a ``laplacian`` solve's at weight ``mu``, without a
        pass, as ``loss="auto"`` mixes them where neither alone is estimated
        best (:func:`tiledeblur.selection.best_share`); ``share`` lies
        between 0 and 1. Only for ``nlmeans``.

    Examples
    --------
    >>> SolverSettings(loss="article").boundary
    'zero'
    """

    loss: str = "laplacian"
    mu: float | None = None
    boundary: str | None = None
    eps: float = DEFAULT_EPS
    tol: float = DEFAULT_TOL
    maxiter: int = DEFAULT_MAXITER
    nonneg: bool = False
    noise: float | None = None
    contrast: float | None = None
    noise_line: NoiseLine | None = None
    mix: tuple | None = None

    def __post_init__(self):
        if not isinstance(self.loss, str):
            raise TypeError(f"loss: expected a str, one of {CHOICES}, got {self.loss!r} instead.")
        if self.loss not in CHOICES:
            raise ValueError(f"loss: expected one of {CHOICES} (or 'auto', for deconvolve and run to choose), "
                             f"got {self.loss!r} instead.")
        if self.mu is None:
            object.__setattr__(self, "mu", DEFAULT_MU[self.loss])
        if self.boundary is None:
            object.__setattr__(self, "boundary", "zero" if self.loss == "article" else "free")
        if not isinstance(self.boundary, str):
            raise TypeError(f"boundary: expected None or a str, one of {BOUNDARIES}, got {self.boundary!r} instead.")
        if self.boundary not in BOUNDARIES:
            raise ValueError(f"boundary: expected one of {BOUNDARIES}, got {self.boundary!r} instead.")
        for name in ("mu", "eps", "tol"):
            # NumPy scalars become Python floats, which a run records as JSON.
            object.__setattr__(self, name, check_positive(name, getattr(self, name),
                                                          largest=MAX_TOL if name == "tol" else MAX_MU))
        if self.eps < MIN_EPS:  # 5e-324 passed, and the solve's factorization failed on its square, 0 (a probe)
            raise ValueError(f"eps: expected at least {MIN_EPS:g}, below which the solve overflows, got {self.eps!r} "
                             "instead.")
        object.__setattr__(self, "maxiter", check_int("maxiter", self.maxiter, expected="a positive int"))
        if self.maxiter < 1:
            raise ValueError(f"maxiter: expected a positive int, got {self.maxiter!r} instead.")
        object.__setattr__(self, "nonneg", check_flag("nonneg", self.nonneg))
        if self.noise is not None:
            if self.loss not in DENOISED_LOSSES:
                raise ValueError(f"noise: expected None with loss {self.loss!r}, which has no pass of non-local "
                                 f"means (those of {DENOISED_LOSSES} do), got {self.noise!r} instead.")
            object.__setattr__(self, "noise", check_positive("noise", self.noise, largest=MAX_MU))
        if self.contrast is not None:
            if self.loss != "nlmeans":
                raise ValueError(f"contrast: expected None with loss {self.loss!r}, whose solve has no rounds to start "
                                 f"by it (only 'nlmeans' does), got {self.contrast!r} instead.")
            object.__setattr__(self, "contrast", check_positive("contrast", self.contrast))
        if self.noise_line is not None:
            object.__setattr__(self, "noise_line", self._checked_noise_line())
        if self.mix is not None:
            object.__setattr__(self, "mix", self._checked_mix())
        if self.eps != DEFAULT_EPS and self.loss != "tv":
            # Else it changes nothing, yet it kept a run with another eps from resuming (found by a probe).
            raise ValueError(f"eps: expected the default, {DEFAULT_EPS:g}, with loss {self.loss!r}, which smooths no "
                             f"edges by it (only 'tv' does), got {self.eps!r} instead.")

    def _checked_mix(self):
        """``mix`` as a pair of Python floats, refused unless a share between 0 and 1 and a weight, with ``nlmeans``."""
        if self.loss != "nlmeans":
            raise ValueError(f"mix: expected None with loss {self.loss!r}, got {self.mix!r} instead; only 'nlmeans' "
                             "is mixed with 'laplacian'.")
        if not isinstance(self.mix, (tuple, list)) or len(self.mix) != 2:
            raise TypeError(f"mix: expected None or a pair (share, mu), got {self.mix!r} instead.")
        share = check_positive("mix's share", self.mix[0], largest=1.0)
        return share, check_positive("mix's mu", self.mix[1], largest=MAX_MU)

    def _checked_noise_line(self):
        """``noise_line`` as a :class:`NoiseLine` of Python floats, refused unless a gain of at least zero, a floor and
        a least variance above zero, with ``nlmeans``."""
        if self.loss != "nlmeans":
            raise ValueError(f"noise_line: expected None with loss {self.loss!r}, whose solve has no denoiser to "
                             f"follow it (only 'nlmeans' has), got {self.noise_line!r} instead.")
        if not isinstance(self.noise_line, (tuple, list)) or len(self.noise_line) != 3:
            raise TypeError(f"noise_line: expected None or a triple (gain, floor, least), got {self.noise_line!r} "
                            "instead.")
        if not all(isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
                   for value in self.noise_line):
            raise TypeError(f"noise_line: expected three numbers (gain, floor, least), got {self.noise_line!r} "
                            "instead.")
        gain, floor, least = (float_or_inf(value) for value in self.noise_line)
        if not (all(map(math.isfinite, (gain, floor, least))) and gain >= 0 and least > 0):
            raise ValueError(f"noise_line: expected a finite gain of at least zero, a finite floor and a finite least "
                             f"variance above zero, got {self.noise_line!r} instead.")
        return NoiseLine(gain, floor, least)

    def in_units_of(self, scale, offset=0.0):
        """These settings for the image less ``offset``, divided by ``scale``.

        The losses are homogeneous in (x, b) but for ``tv``'s weight and
        smoothing, which scale with them, and ``nlmeans``' weight, the square
        of a noise level, and its contrast. The copy is not checked again: settings within
        ``MAX_MU`` may exceed it in these units (found by a probe: ``tv`` on
        fluxes of 1e-22 failed every tile, as "mu: ... got 1e+21").

        Examples
        --------
        >>> relative = SolverSettings(loss="tv", mu=1e-3, eps=1e-2).in_units_of(1e-22)
        >>> float(relative.mu), float(relative.eps)
        (1e+19, 1e+20)
        """
        relative = copy.copy(self)
        if self.loss == "tv":
            object.__setattr__(relative, "mu", self.mu / scale)
            object.__setattr__(relative, "eps", self.eps / scale)
        elif self.loss == "nlmeans":
            object.__setattr__(relative, "mu", self.mu / scale**2)
            if self.contrast is not None:
                object.__setattr__(relative, "contrast", self.contrast / scale)
            if self.noise_line is not None:
                # The line is of variances relative to their mean, which no scale changes: only its levels move.
                gain, floor, least = self.noise_line
                object.__setattr__(relative, "noise_line", NoiseLine(gain * scale, floor + gain * offset, least))
        return relative

    def ridge_step(self, weight):
        """These settings for one of ``nlmeans``' solves: the ``ridge`` loss at ``weight``.

        ``ridge`` is no loss to choose (``deconvolve(loss="ridge")`` was
        accepted, found by a probe), so this copy skips the check of ``loss``.

        Examples
        --------
        >>> step = SolverSettings(loss="nlmeans", mu=1e-6).ridge_step(0.3)
        >>> step.loss, step.mu, step.boundary
        ('ridge', 0.3, 'free')
        """
        step = copy.copy(self)
        object.__setattr__(step, "loss", "ridge")
        object.__setattr__(step, "mu", float(weight))
        object.__setattr__(step, "nonneg", False)  # the rounds bound their z, not the change that each solves for
        return step


@dataclasses.dataclass(frozen=True)
class SolveInfo:
    """What Newton-CG did: counts and convergence, from scipy's result.

    Attributes
    ----------
    iterations : int
        Newton steps.
    function_evaluations, gradient_evaluations, hessian_products : int
        Evaluations of the loss and of its gradient, and Hessian-vector
        products, the solve's main cost.
    converged : bool
        Whether it met ``tol`` within ``maxiter`` steps.
    message : str
        scipy's word on how it ended.
    mu : float
        The weight solved with: the one given, or the one that ``mu="auto"`` chose.
    loss : str
        The loss solved: the one given, or the one that ``loss="auto"`` chose.
    scale : float
        The scale of the image solved, which ``tol`` is relative to: its
        range but for its brightest pixels (see :func:`tiledeblur.solver.solve`).
    noise : float or None
        The image's noise level that the pass of non-local means took (see
        :class:`SolverSettings`), None where there was none.
    mix : (float, float) or None
        ``laplacian``'s share and weight in the result, where it was mixed
        with ``nlmeans`` (see :class:`SolverSettings`), else None.
    """

    iterations: int
    function_evaluations: int
    gradient_evaluations: int
    hessian_products: int
    converged: bool
    message: str
    mu: float
    loss: str
    scale: float = 1.0
    noise: float | None = None
    mix: tuple | None = None


def check_mu(mu):
    """``mu`` as far as it can be checked before the channels are counted: a weight, None, or a tuple of weights.

    Examples
    --------
    >>> check_mu([0.01, np.float32(0.5)])
    (0.01, 0.5)
    >>> check_mu([0.01, -1])
    Traceback (most recent call last):
    ...
    ValueError: mu[1]: expected a positive finite number, got -1 instead.
    >>> check_mu("Auto")
    Traceback (most recent call last):
    ...
    TypeError: mu: expected 'auto', a number, or a list of numbers, one per channel, got 'Auto' instead.
    """
    expected = "'auto', a number, or a list of numbers, one per channel"
    if isinstance(mu, str):
        raise TypeError(f"mu: expected {expected}, got {mu!r} instead.")
    if not isinstance(mu, (list, tuple)) and not (isinstance(mu, np.ndarray) and mu.ndim):
        return mu  # SolverSettings checks it
    if np.ndim(mu) != 1 or not len(mu) or any(is_auto(channel_mu) for channel_mu in mu):
        raise ValueError(f"mu: expected {expected}, got {mu!r} instead.")
    return tuple(check_positive(f"mu[{index}]", channel_mu, largest=MAX_MU) for index, channel_mu in enumerate(mu))
