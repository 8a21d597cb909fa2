"""Newton-CG, one scipy iteration at a time, in units that set its forcing term; and when to stop.

:func:`newton_cg` minimizes a loss in the preconditioned variables ``z`` of
``x = P z`` (the objective of :mod:`tiledeblur.solver`).
scipy's Newton-CG takes no forcing term and no stopping rule in those
variables, so each of its iterations is one call, scaled by ``_Units``, and
the loop here decides when the answer is close enough.
"""

import collections
import math

import numpy as np
import scipy.optimize

from .objectives import QUADRATIC_LOSSES, regularizer_curvature

__all__ = ["COUNTS", "CURVATURE_HEADROOM", "FORCING", "QUADRATIC_FORCING", "STOP_CURVATURE", "newton_cg"]


#: The forcing term of a quadratic loss: the conjugate gradients of its one
#: Newton step reduce the residual to this fraction of the gradient. Measured
#: on a 512² tile, one step then meets the default ``tol`` for mu from 1e-3 to
#: 1e-2, with 17 to 29 Hessian products; at 1e-4 mu 3e-3 and 1e-3 needed a
#: second step (44 and 64 products), and at 1e-5 float32 products no longer
#: resolve the residual and CG stalls into a second step.
QUADRATIC_FORCING = 3e-5
#: The smallest forcing term of the other losses, whose Newton steps are only
#: as good as the Hessian's model of the loss. On 512² crops with ``tv`` (and
#: the plain Newton matrix) at the automatic mu, 0.1 took 230 to 300 Hessian
#: products where 3e-3 took 300 to 500, in as many Newton steps, and the
#: answer stayed within 1e-5 of a tight solve: the stopping rule, not the
#: forcing, sets the accuracy.
FORCING = 0.1
#: The regularizer curvature below which the stopping threshold tightens (see :func:`newton_cg`).
STOP_CURVATURE = 1e-2
#: How far the Hessian's scale lifts the curvature of CG steps above scipy's cut-off.
CURVATURE_HEADROOM = 2.0**40


class _Units:
    """Powers of two that scale the loss and ``z`` for one scipy Newton-CG iteration.

    scipy ends each inner CG solve when the L1 norm of its residual falls to
    ``min(0.5, sqrt(||g||_1))`` times that of the gradient ``g``, and ends it
    early where the curvature falls below ``3 eps``: absolute numbers. In the
    natural units ``||g||_1`` sums some 10⁵ pixels, so every inner solve would
    stop at half the gradient, and Newton-CG would restart CG ten times or
    more even for a linear problem. Here the loss is measured in units of
    ``s`` and ``x`` in units of ``c``: the gradient scales by ``s c`` and the
    Hessian by ``s c²``. They are chosen so that the gradient has
    ``||g||_1 = forcing²``, which makes scipy's forcing term ``forcing``, and
    that the Hessian is about ``CURVATURE_HEADROOM n`` times the identity for
    ``n`` unknowns: a CG step ``p`` then has a curvature of about
    ``CURVATURE_HEADROOM ||p||_1²``, far above ``3 eps`` until the residual is
    10⁹ times smaller than the gradient. Powers of two make the scaling exact:
    the scaled problem has the same solution to the last bit.
    """

    def __init__(self, gradient, forcing):
        gradient_scale = forcing**2 / max(float(np.abs(gradient).sum()), np.finfo(float).tiny)
        hessian_scale = gradient.size * CURVATURE_HEADROOM
        self.variable = 2.0 ** round(math.log2(hessian_scale / gradient_scale))
        self.loss = 2.0 ** round(math.log2(gradient_scale**2 / hessian_scale))

    def scale(self, objective):
        """``objective``'s loss, gradient and Hessian product in these units."""

        def value_and_grad(w):
            value, gradient = objective.value_and_grad(self.variable * w)
            return self.loss * value, (self.loss * self.variable) * gradient

        def hessp(w, vector):
            return (self.loss * self.variable**2) * objective.hessp(self.variable * w, vector)

        return value_and_grad, hessp


#: scipy's statuses: at its iteration limit, and when its line search can no
#: longer decrease the loss.
_MAXITER, _PRECISION_LOSS = 1, 2
#: The counts of :class:`SolveInfo`.
COUNTS = ("iterations", "function_evaluations", "gradient_evaluations", "hessian_products")


def newton_cg(objective, z, settings):
    """Minimize ``objective`` from ``z``, one scipy Newton-CG iteration at a time.

    Each iteration is a call of :func:`scipy.optimize.minimize` with
    ``method="Newton-CG"`` and ``maxiter=1``, in the units of its own
    gradient (``_Units``), which sets its forcing term: ``QUADRATIC_FORCING``
    for a quadratic loss's first step, whose Newton step is exact, and for a
    later one just enough to bring the gradient below the stopping threshold
    (at mu 1e-3 to 1e-4 a second step had polished the answer to 1e-8 of a
    tight solve, for 50 to 80 Hessian products more); otherwise scipy's
    own rule ``sqrt(||g||_1)`` relative to the first gradient, between
    ``FORCING`` and 0.5, so that CG does not polish steps far from the
    minimum. The loop stops when every entry of the gradient in ``z`` is at
    most ``settings.tol``: ``P`` makes the Hessian in ``z`` close to the
    identity, so an entry is about the distance of its coordinate from the
    minimum. Below a regularizer curvature of ``STOP_CURVATURE`` the
    threshold shrinks in proportion, since the smallest eigenvalue of that
    Hessian does: the unobserved band is held by the regularizer alone.
    Where the loss is not quadratic, ``P`` models its Hessian less well (total
    variation curves far less across edges than on flat ground), so the
    distance that the Newton steps have still to go must also be at most
    ``tol`` in every pixel (see :func:`_remaining`).

    Returns
    -------
    z : ndarray
    counts : collections.Counter
        The iterations, evaluations and Hessian products of :class:`SolveInfo`.
    converged : bool
    message : str
    """
    counts, first = collections.Counter(dict.fromkeys(COUNTS, 0)), None
    quadratic = settings.loss in QUADRATIC_LOSSES
    threshold = settings.tol * min(1.0, regularizer_curvature(settings) / STOP_CURVATURE)
    step = remaining = math.inf
    x = None  # P z, kept up to date by the steps' changes where a dual needs it
    for iteration in range(settings.maxiter + 1):  # the last pass only checks the last step's result
        # The start is far from the minimum: the first line search compares
        # losses that differ in their leading digits, and the float32
        # gradient's error (about 1e-6 at 512²) is 1e-5 of the gradient there.
        coarse = not counts["iterations"]
        gradient = objective.value_and_grad(z, coarse=coarse)[1]
        largest = float(np.abs(gradient).max())
        if not math.isfinite(largest):
            # The article's loss has no gradient where its residual or its differences vanish.
            return z, counts, False, "the loss's gradient is not finite here"
        if largest == 0:
            # A blank image or tile: every loss is convex, so a stationary point is the minimum.
            return z, counts, True, "the gradient is zero"
        if largest <= threshold and (quadratic or remaining <= settings.tol):
            checked = "the gradient" if quadratic else "the gradient and the estimated distance to the minimum"
            return z, counts, True, f"{checked} fell below tol"
        if iteration == settings.maxiter:
            break
        size = float(np.abs(gradient).sum())
        first = first or size
        if not quadratic:
            forcing = min(0.5, max(FORCING, math.sqrt(size / first)))
        elif not counts["iterations"]:
            forcing = QUADRATIC_FORCING
        else:
            # A quadratic's later step only has to bring the gradient below the threshold.
            forcing = max(QUADRATIC_FORCING, min(0.5, 0.5 * threshold / largest))
        moved, result = _newton_iteration(objective, z, gradient, forcing, counts)
        if result.status == _PRECISION_LOSS and coarse:
            # float32 did not resolve the first line search after all (a dark image with one bright pixel, found
            # by a probe, whose tv solve then ended "not converged" at its start): again in float64.
            gradient = objective.value_and_grad(z, precise=True)[1]
            largest = float(np.abs(gradient).max())
            moved, result = _newton_iteration(objective, z, gradient, forcing, counts)
        if result.status not in (0, _MAXITER):
            # At the minimum the loss changes by less than float64 resolves and
            # the line search gives up; with the gradient already below the
            # threshold that is convergence, not failure.
            converged = bool(result.status == _PRECISION_LOSS) and largest <= threshold
            return z, counts, converged, str(result.message)
        if not quadratic:
            change = objective.preconditioner.apply(moved - z)
            step, previous = float(np.abs(change).max()), step
            remaining = _remaining(step, previous)
            x = objective.preconditioner.apply(z) if x is None else x
            objective.advance(x, change)
            x = x + change
        z = moved
    return z, counts, False, f"no convergence in maxiter={settings.maxiter} iterations"


def _remaining(step, previous):
    """How far the Newton iterates have still to go, estimated from their last two steps (largest pixel moves).

    Newton steps with a forcing term ``eta`` converge about linearly at the
    rate ``eta``, and a sequence that contracts by ``rate`` per step is
    within ``step * rate / (1 - rate)`` of its limit after a step of
    ``step``. The rate is that of the last two steps; where they did not
    contract (or after the first) the estimate is the last step itself.
    Measured on central crops of eight ``skimage.data`` images (384², 303²
    for ``coins``) with ``tv`` at the automatic mu, stopping on this
    estimate instead of on the last step saved one Newton step in seven of
    eight (11% of the Hessian products, 10% of the time), and left every
    pixel within 6e-5 of a tight solve, against 8e-6.

    Examples
    --------
    >>> round(_remaining(1e-3, 1e-2), 7), _remaining(1e-3, math.inf), _remaining(1e-2, 1e-3)
    (0.0001111, 0.001, 0.01)
    """
    rate = step / previous
    return step * rate / (1 - rate) if 0 < rate < 1 else step


def _newton_iteration(objective, z, gradient, forcing, counts):
    """One scipy Newton-CG iteration from ``z``, whose gradient is ``gradient``; the new ``z`` and scipy's result.

    Its iterations, evaluations and Hessian products are added to ``counts``.
    """
    units = _Units(gradient, forcing)
    value_and_grad, hessp = units.scale(objective)
    result = scipy.optimize.minimize(value_and_grad, z / units.variable, jac=True, hessp=hessp,
                                     method="Newton-CG", options={"maxiter": 1, "xtol": 0.0})
    counts.update(iterations=result.nit, function_evaluations=result.nfev, gradient_evaluations=result.njev,
                  hessian_products=result.nhev)
    return units.variable * result.x, result
