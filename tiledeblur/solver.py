"""Deconvolution of one 2-D image: autograd derivatives into scipy's Newton-CG.

:func:`solve` is the validated core that tiles call on the workers, and
:func:`tiledeblur.deconvolution.deconvolve`, the public entry point for an
image in memory, calls after it has checked its arguments.

Fixes of the seed article's defects
-----------------------------------
* The article passes ``jac=objective_with_grad``, a function it never defines.
  Here the loss and its gradient come together from
  :func:`autograd.value_and_grad` (``jac=True``), and ``hessp`` is an exact
  Hessian-vector product (hand-derived for ``laplacian``, ``tikhonov`` and ``tv`` and tested
  equal to autograd's, autograd's for the article's loss), not scipy's
  finite-difference default. For ``tv`` it becomes Chan, Golub and Mulet's
  primal-dual Newton matrix after the first step (see
  :func:`tiledeblur.objectives.tv_dual`).
* The article's ``learning_rate`` argument is never used; Newton-CG takes its
  step lengths from a line search, so there is no such option here.
* The article starts from random noise, so two runs differ. Here the start is
  the regularized inverse filter of the observed image, and every run gives
  the same bytes.

Speed comes from solving in preconditioned variables ``x = P z``
(:mod:`tiledeblur.preconditioning`), float32 Hessian products, and one scipy
Newton-CG iteration at a time in units that set its forcing term (see
:func:`tiledeblur.newton.newton_cg`).
"""

import collections
import dataclasses
import functools
import math

import numpy as np
from autograd import value_and_grad
from autograd.differential_operators import make_hvp

from .blas import one_blas_thread
from .denoising import Denoising, residual_noise, run_together
from .newton import COUNTS, newton_cg
from .nonnegative import minimize_nonnegative
from .objectives import (
    ADDITIVE_LOSSES,
    DUAL_UPDATES,
    HESSIANS,
    LOSSES,
    QUADRATIC_LOSSES,
    SMOOTHNESS_ORDER,
    regularizer_curvature,
)
from .operators import Blur, unknown_shape
from .plugandplay import STEPS, plug_and_play
from .preconditioning import Preconditioner, chebyshev, precondition, spectrum_bounds
from .settings import SolveInfo, SolverSettings
from .shotnoise import noise_deviations
from .tiling import auto_halo

__all__ = ["ConvergenceWarning", "solve", "solve_channels"]

#: The share of an image's pixels, its brightest, that its scale leaves out (see :func:`_scale`): more than a
#: star's footprint in a small tile, where 1e-3 left the star in (measured on 256², with the article's PSF).
SCALE_OUTLIERS = 0.1
#: The smallest scale, as a share of the image's largest magnitude: it bounds how much tighter a solve can get.
SCALE_FLOOR = 1e-3
#: The side of the image on which :func:`_ridge_bounds` estimates the steps' bounds, at least three PSF sides.
BOUNDS_SIDE = 64


#: The most pixels of a problem whose operators are kept for the next solve of its shape (four at most): every
#: tile that ``tile="auto"`` reads with a halo up to 512 px. Each keeps 33 to 67 bytes a pixel (measured on 2048²
#: and 1024²), so a long-lived process that deconvolves four 8192² images would keep some 9 GB after them (found
#: by a probe).
CACHED_PIXELS = 2**22


class ConvergenceWarning(RuntimeWarning):
    """Newton-CG stopped before it met its tolerance."""


class _Objective:
    """The loss of one problem in the variables ``z`` of ``x = P z``, with its gradient and Hessian products.

    The loss and gradient use float64 FFTs, since the line search compares
    losses that differ in their eighth digit near the minimum (float32 ones
    at the start, far from it; see :meth:`value_and_grad`). The Hessian
    products, most of the work, use float32 ones: an error of 1e-6 in a
    product only perturbs a conjugate-gradient step, which the next Newton
    iteration corrects.

    ``laplacian``, ``tikhonov`` and ``tv`` have hand-derived Hessians (``HESSIANS``),
    wrapped as ``Pᵀ H P``; the article's loss uses autograd's ``make_hvp``.
    scipy calls ``hessp`` many times at the same point inside one CG solve,
    so either is linearized once per point (once for good for a quadratic
    loss) and then costs one product per call. For ``tv`` the linearization
    uses a dual variable that :meth:`advance` carries from one Newton step
    to the next (``DUAL_UPDATES``).

    Attributes
    ----------
    operator : tiledeblur.operators.Blur
        The float64 blur.
    preconditioner : tiledeblur.preconditioning.Preconditioner
        Its float64 version.
    fast : tuple
        The float32 blur and ``P``, for Hessian products.
    dual : ndarray or None
        The dual variable of the last Newton step, for losses that have one.
    """

    def __init__(self, observed, psf, settings, missing=None):
        self.operator, self.preconditioner, *self.fast = _operators(
            np.asarray(psf, dtype=np.float64), observed.shape, settings.boundary, regularizer_curvature(settings),
            SMOOTHNESS_ORDER[settings.loss], missing,
        )
        self._value_and_grad = value_and_grad(_loss_of_z(observed, self.operator, self.preconditioner, settings))
        coarse_loss = _loss_of_z(observed, *self.fast, settings)
        self._coarse_value_and_grad = value_and_grad(coarse_loss)
        self._make_hvp = make_hvp(coarse_loss)
        self._hessian = HESSIANS.get(settings.loss)
        self._dual_update = DUAL_UPDATES.get(settings.loss)
        self.dual = None
        self._quadratic = settings.loss in QUADRATIC_LOSSES
        self._settings = settings
        self._point = None
        self._hvp = None
        self._last = None

    def value_and_grad(self, z, *, coarse=False, precise=False):
        """The loss and its gradient at ``z``, remembered for the next call at the same point.

        ``coarse=True`` evaluates with float32 FFTs, for a point far from the
        minimum; a remembered result is returned whatever its precision,
        unless ``precise=True`` asks for float64.
        ``z`` is remembered itself, not a copy (a tile's ``z`` is 11 MB): its
        callers never modify it, and scipy's own iterate, which it updates in
        place, only arrives here scaled into a new array (see :mod:`tiledeblur.newton`).
        """
        if precise or self._last is None or not np.array_equal(z, self._last[0]):
            evaluate = self._coarse_value_and_grad if coarse else self._value_and_grad
            self._last = (z, *evaluate(z))
        return self._last[1:]

    def hessp(self, z, vector):
        """The Hessian of the loss at ``z`` times ``vector``."""
        if self._hvp is None or not (self._quadratic or np.array_equal(z, self._point)):
            self._point = z
            self._hvp = self._linearize(z)
        return self._hvp(vector)

    def _linearize(self, z):
        """The product ``v -> H v`` at ``z``."""
        if self._hessian is None:
            return self._make_hvp(z)[0]
        operator, preconditioner = self.fast
        product = self._hessian(preconditioner.apply(z), operator, self._settings, self.dual)
        return lambda vector: preconditioner.adjoint(product(preconditioner.apply(vector)))

    def advance(self, x, change):
        """Carry the dual variable, if the loss has one, across the Newton step ``change`` from the image ``x``."""
        if self._dual_update is not None:
            self.dual = self._dual_update(x, change, self.dual, self.fast[0], self._settings)


def _operators(psf, shape, boundary, weight, order, missing):
    """The blur and the change of variables of one problem, float64 then float32.

    Built once per tile shape and kept, unless pixels are ``missing`` or the
    shape holds more than ``CACHED_PIXELS``: the tiles of a run share a few
    shapes, and building ``P`` (its band's sparse factors) costs about a
    tenth of a 512² solve.
    """
    if _is_shared(shape, missing):
        return _shared_operators(psf.tobytes(), psf.shape, shape, boundary, weight, order)
    return _build_operators(psf, shape, boundary, weight, order, missing)


@functools.lru_cache(maxsize=4)
def _shared_operators(psf_bytes, psf_shape, shape, boundary, weight, order):
    return _build_operators(np.frombuffer(psf_bytes).reshape(psf_shape), shape, boundary, weight, order, None)


def _build_operators(psf, shape, boundary, weight, order, missing):
    exact, fast = _blurs(psf, shape, boundary, missing)
    preconditioner = Preconditioner(exact, weight, order)
    return exact, preconditioner, fast, preconditioner.astype(np.float32)


def _blurs(psf, shape, boundary, missing):
    """The blur of one problem, float64 then float32, kept as :func:`_operators` keeps its operators.

    Kept, the channels of a tile and the rounds of ``nlmeans`` share one:
    each is 17 MB at 1188² (the spectrum of the PSF), and a colour tile's
    three held while the third channel's first round was solved.
    """
    psf = np.asarray(psf, dtype=np.float64)
    if _is_shared(shape, missing):
        return _shared_blurs(psf.tobytes(), psf.shape, shape, boundary)
    return _build_blurs(psf, shape, boundary, missing)


@functools.lru_cache(maxsize=4)
def _shared_blurs(psf_bytes, psf_shape, shape, boundary):
    return _build_blurs(np.frombuffer(psf_bytes).reshape(psf_shape), shape, boundary, None)


def _build_blurs(psf, shape, boundary, missing):
    return tuple(Blur(psf, shape, boundary=boundary, missing=missing, precision=precision)
                 for precision in (np.float64, np.float32))


def _is_shared(shape, missing):
    """Whether the operators of a problem of ``shape`` are kept for the next of its shape and PSF."""
    return missing is None and math.prod(shape) <= CACHED_PIXELS


def _loss_of_z(observed, operator, preconditioner, settings):
    loss = LOSSES[settings.loss]

    def loss_of_z(z):
        return loss(precondition(z, preconditioner), observed, operator, settings)

    return loss_of_z


def _nonnegative(objective, unconstrained, observed, settings, lower):
    """The minimum over ``x >= lower``, from the unconstrained one, by :func:`~tiledeblur.nonnegative.minimize_nonnegative`.

    The loss and gradient are float64, the Hessian products and ``P Pᵀ``
    float32, as in the unconstrained solve. It stops when no projected
    gradient entry exceeds ``tol`` times the regularizer's curvature, the
    scale of the gradient in ``x``, and, unless the loss is quadratic, when
    the last step moved no pixel by more than ``tol``.
    """
    loss, hessian, dual_update = LOSSES[settings.loss], HESSIANS.get(settings.loss), DUAL_UPDATES.get(settings.loss)
    operator, preconditioner = objective.fast
    linearized = {"x": unconstrained, "dual": objective.dual}

    def hessian_at(x):
        image = x.astype(operator.precision)
        if hessian is None:
            return make_hvp(lambda y: loss(y, observed, operator, settings))(image)[0]
        if dual_update is not None:
            # Carried across the steps as in the unconstrained solve: with the plain Hessian, total
            # variation's steps overshot to 1.4 and a 512² bounded solve took 852 Hessian products.
            linearized["dual"] = dual_update(linearized["x"], x - linearized["x"], linearized["dual"], operator,
                                             settings)
            linearized["x"] = x
        return hessian(image, operator, settings, linearized["dual"])

    return minimize_nonnegative(
        unconstrained, value_and_grad(lambda x: loss(x, observed, objective.operator, settings)), hessian_at,
        preconditioner.inverse,
        threshold=settings.tol * regularizer_curvature(settings),
        step_tol=math.inf if settings.loss in QUADRATIC_LOSSES else settings.tol, maxiter=settings.maxiter,
        lower=lower,
    )


def solve(observed, psf, settings):
    """Deconvolve a validated float image, whose NaN pixels are missing; the core that tiles run on.

    A missing pixel holds no datum (see the ``missing`` of
    :class:`~tiledeblur.operators.Blur`): the image is solved from the others,
    and the result is NaN there too, so that a mosaic keeps its footprint.

    Parameters
    ----------
    observed : (M, N) ndarray of float32 or float64
    psf : (P, Q) ndarray of float64, normalized
    settings : SolverSettings

    Returns
    -------
    restored : (M, N) ndarray, of ``observed.dtype``
    info : SolveInfo
    """
    return solve_channels([observed], [psf], [settings])[0]


def solve_channels(observed, psfs, settings, *, together=True):
    """:func:`solve` for each channel of one image, its own PSF and settings, the channels denoised together.

    ``nlmeans``' rounds of the channels run together, and each round's images
    are denoised together, as are the passes of ``denoise``, a colour's
    patches compared over all its channels
    (:func:`tiledeblur.denoising.denoised_together`; its notes measure
    what that gains).

    Parameters
    ----------
    observed : sequence of (M, N) ndarray of float32 or float64
    psfs : sequence of (P, Q) ndarray of float64, normalized
    settings : sequence of SolverSettings
    together : bool
        False for channels that show different scenes, such as a fluorescence
        image's stains, which are denoised each alone
        (:func:`tiledeblur.denoising.channels_alike` tells which).

    Returns
    -------
    list of (restored, info)
    """
    solving = [_solving(image, psf, channel_settings) for image, psf, channel_settings in zip(observed, psfs, settings)]
    return run_together(solving) if together else [run_together([channel])[0] for channel in solving]


def _solving(observed, psf, settings):
    """:func:`solve` as a generator of ``nlmeans``' denoising (see :func:`~tiledeblur.plugandplay.plug_and_play`)."""
    if settings.mix is not None:
        return (yield from _mixed(observed, psf, settings))
    missing = np.isnan(observed)
    if not missing.any():
        return (yield from _solve(observed, psf, settings, None))
    if missing.all():
        return observed.copy(), SolveInfo(converged=True, message="every pixel is missing (NaN)", mu=settings.mu,
                                          loss=settings.loss, **dict.fromkeys(COUNTS, 0))
    restored, info = yield from _solve(np.where(missing, 0, observed), psf, settings, missing)
    restored[missing] = np.nan
    return restored, info


def _mixed(observed, psf, settings):
    """:func:`_solving` with ``settings.mix``: the mix of the two solves, with the info of the first, their counts,
    and the message of one that did not converge."""
    share, mu = settings.mix
    detailed, info = yield from _solving(observed, psf, dataclasses.replace(settings, mix=None))
    smooth, smooth_info = yield from _solving(observed, psf, SolverSettings(
        loss="laplacian", mu=mu, boundary=settings.boundary, tol=settings.tol, maxiter=settings.maxiter,
        nonneg=settings.nonneg))
    counts = {name: getattr(info, name) + getattr(smooth_info, name) for name in COUNTS}
    return (1 - share) * detailed + share * smooth, dataclasses.replace(
        info, **counts, converged=info.converged and smooth_info.converged, mix=settings.mix,
        message=smooth_info.message if info.converged and not smooth_info.converged else info.message)


def _solve(observed, psf, settings, missing):
    """:func:`_solving` for an image without NaN, whose ``missing`` pixels (if not None) hold zeros.

    Newton-CG solves for ``z`` in ``x = P z`` (see
    :mod:`tiledeblur.preconditioning`), starting from ``z = Pᵀ Aᵀ b``, which
    makes the first ``x`` the regularized inverse filter ``P Pᵀ Aᵀ b``: close
    to the answer away from the border, deterministic, and one FFT away.

    The tolerance is relative to the scale of ``observed`` (:func:`_scale`,
    its range but for its brightest pixels): the problem is solved for
    ``(observed - offset) / scale``, with ``offset`` its smallest value
    (with ``tv``'s ``mu`` and ``eps`` divided by the scale too, which leaves
    the problem the same), and the answer mapped back. With an absolute tolerance, 12-bit data in uint32 (about 1e-6 on
    the [0, 1] scale) started below it, and came back unchanged and
    "converged", off by nearly the whole range (found by a probe); relative
    to the largest magnitude, an image 1 deep on a pedestal or sky of 100
    came back up to 4e-2 from a tight solve at its border (found by a
    probe). Each tile takes its own scale, so no sample can miss the content
    that sets it.

    Only the ``free`` boundary's additive losses are the same problem for an
    image and that image less a constant (the PSF sums to 1, and no zeros lie
    beyond the unknowns), where ``nonneg`` bounds the shifted image by
    ``-offset`` (found by a probe: with its tolerance relative to the largest
    magnitude, a tiled and a whole solve on a pedestal of 100 ended 1.4e-3
    apart); the others keep ``offset`` at zero, and take the scale of the
    magnitudes.
    """
    present = observed if missing is None else observed[~missing]
    offset = float(present.min()) if _shifts(settings) else 0.0
    data = observed - offset
    if missing is not None:
        data[missing] = 0
    if not data.any():
        # A flat tile (a slide's glass that the scanner left as the fill value, a dark field) is its own
        # answer, or zero below zero with nonneg: every additive loss is smallest there, and the article's,
        # whose offset stays 0, is zero (it had no gradient there, and warned). Building its operators alone
        # took 0.5 s for 1130² RGB.
        message = "the image is zero" if offset == 0 else "the image is flat"
        level = max(offset, 0.0) if settings.nonneg else offset
        yield from _flat_stand_ins(observed.shape, psf, settings)
        return np.full_like(observed, level), SolveInfo(converged=True, message=message, mu=settings.mu,
                                                        loss=settings.loss,
                                                        **dict.fromkeys(COUNTS, 0))
    scale = _scale(data if missing is None else data[~missing])
    data = data.astype(np.float64) / scale
    relative, lower = settings.in_units_of(scale, offset), -offset / scale
    with one_blas_thread():
        if settings.loss == "nlmeans":
            restored, counts, converged, message = yield from _plug_and_play(data, psf, relative, missing,
                                                                             lower=lower)
        else:
            restored, counts, converged, message = _newton(data, psf, relative, missing, lower=lower)
    if settings.noise is not None:
        left = residual_noise(psf, settings.mu, SMOOTHNESS_ORDER[settings.loss], settings.noise / scale)
        # After every round of nlmeans, so that a channel mixed with it and one solved alone pass together.
        restored = yield Denoising(restored, left, None, missing, STEPS)
    restored = restored * scale + offset
    if settings.nonneg:
        # The bound -offset / scale, mapped back, rounds to about -1e-17 for some offsets (found by a probe:
        # a sqrt display stretch of a sky-subtracted field made them NaN).
        np.maximum(restored, 0.0, out=restored)
    info = SolveInfo(converged=converged, message=message, mu=settings.mu, loss=settings.loss, scale=scale,
                     noise=settings.noise, **counts)
    return restored.astype(observed.dtype), info


def _flat_stand_ins(shape, psf, settings):
    """Yield, for a flat image of ``shape``, the :class:`~tiledeblur.denoising.Denoising` requests that its solve
    would have made, each of a constant: other channels' patches differ by as much with it as without it, but it
    counts among the channels, as in the whole image, where the channel is not flat (found by a probe: beside a
    red channel clipped flat over the glass, green and blue tiles came out 4e-2 from the whole image's solve)."""
    if settings.loss == "nlmeans":
        for stage in range(1, STEPS):
            yield Denoising(np.zeros(unknown_shape(shape, psf, boundary=settings.boundary)), 1.0, None, None, stage)
    if settings.noise is not None:
        yield Denoising(np.zeros(shape), 1.0, None, None, STEPS)


def _newton(data, psf, settings, missing, *, lower, unknowns=False):
    """The minimum of ``settings``' loss by Newton-CG, with :func:`newton_cg`'s outcome.

    It is given on the observed pixels, or on all the unknowns with ``unknowns=True``.
    """
    objective = _Objective(data, psf, settings, missing)
    solution, counts, converged, message = newton_cg(
        objective, objective.preconditioner.adjoint(objective.operator.rmatvec(data)), settings
    )
    restored = objective.preconditioner.apply(solution)
    if settings.nonneg:
        restored, bounded_counts, bounded, bounded_message = _nonnegative(objective, restored, data, settings,
                                                                          lower=lower)
        counts.update(bounded_counts)
        message = bounded_message if converged else message
        converged = converged and bounded
    return (restored if unknowns else restored[objective.operator.observed_in_unknown]), counts, converged, message


def _plug_and_play(data, psf, settings, missing, *, lower):
    """``nlmeans``' result by :func:`~tiledeblur.plugandplay.plug_and_play`, as :func:`_newton` gives it, a
    generator of its denoising; with ``settings.nonneg``, each round's denoised image is held at or above ``lower``.

    Each round's solve is the ``ridge`` loss of the change from ``z``, whose
    observed image is ``b - Az``; the counts and the convergence are those of
    the first round, the one solved by Newton-CG.
    """
    blur, fast_blur = _blurs(psf, data.shape, settings.boundary, missing)
    counts, outcomes = collections.Counter(dict.fromkeys(COUNTS, 0)), []

    def fit(z, weight, steps):
        residual = data - blur.matvec(z)
        if steps is not None:
            return z + _ridge_steps(residual, fast_blur, settings.ridge_step(weight), steps)
        step, step_counts, converged, message = _newton(
            residual, psf, settings.ridge_step(weight), missing, lower=None,
            unknowns=True)
        counts.update(step_counts)
        outcomes.append((converged, message))
        return z + step

    start = _local_mean(blur, data)
    # The unknowns beyond the PSF's reach of a datum are held at zero, a value that depends on the tile's offset:
    # seen by the denoiser, they left tiles 2e-2 from the whole image's solve beside a missing block (found by a
    # test).
    without_data = blur.unobserved if blur.support is None else blur.unobserved | ~blur.support
    deviations = None if settings.noise_line is None else noise_deviations(start, settings.noise_line, psf,
                                                                             known=~without_data)
    rounds = plug_and_play(start, fit, settings.mu, without_data, settings.contrast, deviations=deviations,
                           lower=lower if settings.nonneg else None)
    del start  # held here, a tile's image would stay through the rounds, and the other channels' rounds
    restored = (yield from rounds)[blur.observed_in_unknown]
    unconverged = [message for converged, message in outcomes if not converged]
    return restored, counts, not unconverged, unconverged[0] if unconverged else outcomes[-1][1]


def _local_mean(blur, data):
    """``Aᵀb / Aᵀ1``, a local mean of the data, zero beyond their reach.

    It starts the same for an image and that image less a constant, as
    tiles with their own offsets need; ``Aᵀb`` alone fades across the
    unobserved band by ``Aᵀ1``.
    """
    reach = blur.rmatvec(np.ones(blur.observed_shape))
    return np.divide(blur.rmatvec(data), reach, out=np.zeros(blur.unknown_shape), where=reach > 0)


def _ridge_steps(residual, operator, settings, steps):
    """The ``ridge`` loss's minimum on all the unknowns, approximated by ``steps`` steps of :func:`chebyshev`.

    ``P``'s FFTs are padded by the reach of the loss's inverse, so that they
    do not join opposite sides of the image: a pixel by a corner tile's side
    saw the far side of the tile's halo, where the whole image's pixel saw the
    image's far side (found by a test: 2e-2 between the two).
    """
    psf = np.asarray(operator.psf, dtype=np.float64)
    key = (psf.tobytes(), psf.shape, settings.mu)
    preconditioner = Preconditioner(operator, settings.mu, SMOOTHNESS_ORDER["ridge"], padding=_ridge_reach(*key))
    product = HESSIANS["ridge"](None, operator, settings)
    return chebyshev(product, operator.rmatvec(residual.astype(operator.precision)), preconditioner, steps,
                     _ridge_bounds(*key, operator.boundary))


@functools.lru_cache(maxsize=64)
def _ridge_reach(psf_bytes, psf_shape, weight):
    """:func:`auto_halo` of the ``ridge`` loss, kept: each tile's rounds after the first take the same seven weights,
    for each PSF.

    The six weakest took 2 s for a 13 px motion line (0.1 s for the article's
    PSF); with room for fewer than three PSFs' rounds, an RGB scan's would
    evict each other's (found by a benchmark: 1.7 s more for the first
    motion-blurred case of each image).
    """
    return auto_halo(np.frombuffer(psf_bytes).reshape(psf_shape), weight, order=SMOOTHNESS_ORDER["ridge"])


@functools.lru_cache(maxsize=64)
def _ridge_bounds(psf_bytes, psf_shape, weight, boundary):
    """The bounds of :func:`chebyshev` for the ``ridge`` loss at ``weight``: :func:`spectrum_bounds` on a small
    image of the PSF's with ``boundary``, the same for every tile, so that the steps' coefficients are.

    In the bulk of an image ``P Pᵀ`` is ``H``'s inverse, so the eigenvalues
    that bound the steps' progress lie along its sides (where the band of the
    ``free`` model meets the observed pixels), which an image of a few PSF
    widths holds as a tile does: for the article's PSF at the first round's
    weight, the least came out 0.031 on 40², 64² and 128² images, and
    missing pixels lowered it little (0.031 beside a missing block, 0.018 on
    every 9th row missing). The least's estimate, from above, is taken 10%
    lower, and the greatest's, from below, 2% higher and at least 2: ``P Pᵀ``
    sums two parts, each near the inverse of its own part of ``H``, and the
    error at an eigenvalue above the bounds would grow with the steps.
    """
    psf = np.frombuffer(psf_bytes).reshape(psf_shape)
    model = Blur(psf, (max(BOUNDS_SIDE, 3 * max(psf_shape)),) * 2, boundary=boundary)
    preconditioner = Preconditioner(model, weight, SMOOTHNESS_ORDER["ridge"],
                                    padding=_ridge_reach(psf_bytes, psf_shape, weight))
    low, high = spectrum_bounds(lambda vector: model.rmatvec(model.matvec(vector)) + weight * vector, preconditioner)
    return 0.9 * low, max(2.0, 1.02 * high)


def _scale(data):
    """The magnitude of ``data`` that the tolerance is relative to: that of all but its brightest pixels.

    Not the largest: a star of 8e4 on a sky with noise 1 made the tolerance 8,
    and a solve that took no step was "converged", 7 off in the band along
    the border and beside missing pixels, where the first guess is poor,
    which made seams between tiles (found by a probe). The brightest
    :data:`SCALE_OUTLIERS` of the pixels are left out, down to a floor of
    :data:`SCALE_FLOOR` of the largest magnitude, which bounds the work
    that an image of a few bright pixels on black asks for: the Hessian
    products are float32, and a tolerance of 1e-7 of the largest value is
    as tight as they converge to (at 1e-8 they lost precision).

    Examples
    --------
    >>> field = np.ones((100, 100))
    >>> field[50, 50] = 8e4
    >>> _scale(field), _scale(np.zeros(4))
    (80.0, 1.0)
    """
    magnitudes = np.abs(data).ravel()
    largest = float(magnitudes.max()) if magnitudes.size else 0.0
    if not largest:  # the article's loss reaches here with a blank image
        return 1.0
    typical = float(np.quantile(magnitudes, 1 - SCALE_OUTLIERS, method="lower"))
    return max(typical, SCALE_FLOOR * largest)


def _shifts(settings):
    """Whether the problem of ``settings`` is the same for an image and that image less a constant."""
    return settings.loss in ADDITIVE_LOSSES and settings.boundary == "free"
