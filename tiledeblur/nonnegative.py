"""``nonneg=True``: the minimum over images ``x >= 0``, by a projected Newton method.

Newton-CG has no bounds, and the change of variables ``x = P z`` that makes it
fast would turn ``x >= 0`` into a general linear constraint. So the bounded
problem is solved in ``x`` itself, from the unconstrained minimum clipped at
zero, by Bertsekas' projected Newton method ("Projected Newton methods for
optimization problems with simple constraints", 1982). Each iteration:

* takes the pixels at zero, or within a small margin of it, whose gradient
  pushes them below zero as *bound*, and sends them to zero;
* gives the other, *free* pixels a Newton step of their own: conjugate
  gradients on the Hessian restricted to them, preconditioned by ``P Pᵀ``
  restricted to them;
* projects the step back onto ``x >= 0`` and halves it until the loss falls
  enough (Armijo's rule along the projection arc).

It stops when no entry of the projected gradient ``x - max(x - g, 0)``, which
vanishes exactly at the bounded minimum, exceeds the threshold it is given,
and, for a loss whose curvature varies (total variation's is far lower across
edges than the threshold assumes), when its last step moved no pixel by more
than ``step_tol``.

Measured on 384² crops (the article's PSF, noise 0.01; ``astronaut``,
``hubble_deep_field``, ``cell`` and a star field; ``tikhonov`` and ``tv`` at
the automatic mu and at 1e-3), against scipy's L-BFGS-B, which this replaces:

* the whole bounded solve, unconstrained stage included, took 0.09–0.42 s
  for ``tikhonov`` at the automatic mu (L-BFGS-B: 0.58–1.97 s), 0.9–1.5 s at
  mu 1e-3 (1.9–3.2 s) and 0.36–1.8 s for ``tv`` (0.83–2.6 s); on the 512²
  tile of ``benchmarks/bench_core.py``, 13% of whose pixels end at zero,
  2.9 s against 5.9 s for ``tikhonov`` and 4.6 s against 7.2 s for ``tv``;
* it ended within 4e-5 of a tight solve (``tol=1e-6``), where L-BFGS-B
  stopped up to 2.2e-2 from it: more than tiles that must join within 1e-3
  can allow.
"""

import collections
import math

import numpy as np
import scipy.sparse.linalg

__all__ = ["minimize_nonnegative", "projected_gradient"]

#: The widest margin above zero within which a pixel whose gradient is
#: positive counts as bound; it shrinks with the projected gradient, so that
#: near the minimum only pixels at zero are bound (Bertsekas' epsilon-active set).
BOUND_MARGIN = 1e-3
#: The forcing term of the conjugate gradients, relative to the free pixels'
#: gradient, falls from ``FORCING`` as the square root of the projected
#: gradient's decrease, so that the last steps are nearly exact Newton steps,
#: but not below ``MIN_FORCING``: restricted to the free pixels, ``P Pᵀ``
#: preconditions less well, and CG needed 100–180 steps to 1e-3 or 3e-4 on a
#: 512² tile with 13% of its pixels at zero. A floor of 0.01 took 16–22% fewer
#: Hessian products there (0.003: 8%; 0.03: 10–23%), in as many iterations.
FORCING = 0.1
MIN_FORCING = 0.01
#: The most conjugate-gradient steps of one Newton step.
CG_MAXITER = 500
#: The fraction of the first-order decrease that a step must achieve (Armijo).
ARMIJO = 1e-4
#: The shortest fraction of a step tried before the line search gives up.
MIN_STEP_LENGTH = 2.0**-30


def projected_gradient(x, gradient, lower=0.0):
    """``x - max(x - gradient, lower)``: zero exactly where ``x >= lower`` is the bounded minimum's first-order point.

    Examples
    --------
    A pixel at the bound pushed below it is optimal; one above it is not while its gradient is non-zero:

    >>> projected_gradient(np.array([0.0, 0.5, 0.5]), np.array([2.0, 0.25, 1.0])).tolist()
    [0.0, 0.25, 0.5]
    """
    return x - np.maximum(x - gradient, lower)


def _free_newton_step(product, precondition, gradient, free, forcing):
    """The Newton step of the free pixels, zero elsewhere; and the Hessian products it took."""
    shape, size = gradient.shape, gradient.size
    mask = free.astype(np.float32)
    products = collections.Counter()

    def restricted(vector):
        products["hessian_products"] += 1
        return (mask * product(mask * vector.reshape(shape))).ravel()

    def preconditioned(residual):
        return (mask * precondition(mask * residual.reshape(shape))).ravel()

    step, _ = scipy.sparse.linalg.cg(
        scipy.sparse.linalg.LinearOperator((size, size), matvec=restricted, dtype=np.float32),
        (-mask * gradient).astype(np.float32).ravel(), rtol=forcing, maxiter=CG_MAXITER,
        M=scipy.sparse.linalg.LinearOperator((size, size), matvec=preconditioned, dtype=np.float32),
    )
    return step.reshape(shape).astype(np.float64), products


def minimize_nonnegative(start, value_and_grad, hessian_at, precondition, *, threshold, step_tol=math.inf,
                         maxiter, lower=0.0):
    """Minimize a convex loss over ``x >= lower`` from ``start``, by projected Newton; see the module notes.

    Parameters
    ----------
    start : ndarray
        The start, clipped at ``lower`` first: the unconstrained minimum.
    value_and_grad : callable
        ``x -> (loss, gradient)``, in float64.
    hessian_at : callable
        ``x -> product``, where ``product(v)`` is the Hessian at ``x`` times ``v``.
    precondition : callable
        ``r -> M r`` with ``M`` symmetric, positive definite and close to the Hessian's inverse.
    threshold : float
        Stop when no entry of the projected gradient exceeds it, and
    step_tol : float, optional
        the last step (or, before the first, the clipping of ``start``) moved
        no pixel by more than this.
    maxiter : int
        Most Newton iterations.
    lower : float, optional
        The bound: zero, or where :func:`tiledeblur.solver.solve` solves for
        an image less its smallest value, that value's negative.

    Returns
    -------
    x : ndarray
        At least ``lower``, of ``start``'s shape.
    counts : collections.Counter
        Iterations, function and gradient evaluations and Hessian products.
    converged : bool
    message : str

    Examples
    --------
    The nearest non-negative point to ``(1, -2)``, one Newton step away:

    >>> target = np.array([1.0, -2.0])
    >>> x, counts, converged, message = minimize_nonnegative(
    ...     np.zeros(2), lambda x: (0.5 * np.sum((x - target) ** 2), x - target),
    ...     lambda x: lambda v: v, lambda r: r, threshold=1e-9, maxiter=1)
    >>> x.tolist(), converged, counts["iterations"]
    ([1.0, 0.0], True, 1)
    """
    x = np.maximum(start, lower)
    moved = float(np.abs(x - start).max())
    value, gradient = value_and_grad(x)
    counts = collections.Counter(iterations=0, function_evaluations=1, gradient_evaluations=1, hessian_products=0)
    first = None
    for iteration in range(maxiter + 1):  # the last pass only checks the last step's result
        projected = projected_gradient(x, gradient, lower)
        largest = float(np.abs(projected).max())
        if not math.isfinite(largest):
            return x, counts, False, "projected Newton (x >= 0): the loss's gradient is not finite here"
        if largest <= threshold and moved <= step_tol:
            return x, counts, True, "projected Newton (x >= 0): the projected gradient fell below tol"
        if largest == 0:
            # The bounded minimum itself, however far the clipping moved: a convex loss has no other
            # stationary point (found by a probe: an all-negative tile of sky then divided by zero below).
            return x, counts, True, "projected Newton (x >= 0): the projected gradient is zero"
        if iteration == maxiter:
            break
        size = float(np.linalg.norm(projected))
        first = first or size
        bound = (x <= lower + min(BOUND_MARGIN, size / math.sqrt(x.size))) & (gradient > 0)
        forcing = min(FORCING, max(MIN_FORCING, math.sqrt(size / first)))
        step, products = _free_newton_step(hessian_at(x), precondition, gradient, ~bound, forcing)
        counts.update(products)
        step[bound] = lower - x[bound]
        length = 1.0
        while True:
            trial = np.maximum(x + length * step, lower)
            trial_value, trial_gradient = value_and_grad(trial)
            counts.update(function_evaluations=1, gradient_evaluations=1)
            # Strictly lower, so that a step that changes nothing cannot pass for progress.
            if trial_value < value + ARMIJO * float(np.vdot(gradient, trial - x)):
                break
            length /= 2
            if length < MIN_STEP_LENGTH:
                # Within a small step of the minimum the loss changes by less than float64 resolves
                # (or than the float32 Hessian steers): with the gradient already small, that is convergence.
                message = "projected Newton (x >= 0): the line search cannot decrease the loss"
                return x, counts, largest <= threshold, message
        moved = float(np.abs(trial - x).max())
        x, value, gradient = trial, trial_value, trial_gradient
        counts["iterations"] += 1
    return x, counts, False, f"projected Newton (x >= 0): no convergence in maxiter={maxiter} iterations"
