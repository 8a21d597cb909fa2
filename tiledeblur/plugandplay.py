"""``loss="nlmeans"``: solves of the data alternated with non-local means and DCT shrinkage.

Half-quadratic splitting with a denoiser in the place of a prior's proximal
step, "plug-and-play" (Venkatakrishnan, Bouman and Wohlberg, 2013; Zhang,
Zuo, Gu and Zhang, 2017). With the noise level ``s`` falling geometrically
over ``STEPS`` rounds from ``START_RATIO`` times the image's noise ``sigma``
(those after the first from the image's contrast, where lower: see below)
to ``sigma`` itself, each round makes

    x = argmin ||Ax - b||² / 2 + (mu / 2 s²) ||x - z||²    (approximated: see below)
    z = x denoised at noise s (tiledeblur.denoising.denoised)

from the ``z`` before (at first the local mean ``Aᵀb / Aᵀ1``), and the
result is the last round's ``x``, which is not denoised. It stands for the minimum of
``||Ax - b||² / 2 + mu Φ(x)``, where ``Φ`` is the prior that the denoiser
stands for: a patch of the image looks like patches near it (non-local
means; Buades, Coll and Morel, 2005), and a few cosines describe it (DCT
shrinkage, :mod:`tiledeblur.shrinkage`). ``mu = NOISE_WEIGHT sigma²`` ties the
weight to the noise, so ``mu`` sets both; ``mu="auto"`` takes the noise that
generalized cross-validation estimates on the sample regions
(:func:`tiledeblur.regularization.estimate_image_mu`). The channels of an
image go through their rounds together, and each round's images are
denoised together (:mod:`tiledeblur.denoising`).

Each round's solve weighs the data against ``z`` by ``NOISE_WEIGHT / ratio²``
whatever ``mu``, so a tile's halo is that of the first, weakest, solve:
:func:`tiledeblur.tiling.auto_halo` of ``FIRST_WEIGHT`` with the identity for
a regularizer (82 px for the article's PSF). Measured on the 512² astronaut
with noise 0.01, a central 128² tile with that halo stayed within 3.5e-6 of
the whole image's solve (5.1e-4 with 32 px, 5.6e-6 with 64); for a 13 px
motion line at 30° the rule gives 510 px, and 160 px already stayed within
9.6e-4 (with every round solved to the tolerance: 6.4e-7, 3.2e-4, 5.3e-6
and 6.0e-4). A rule at a later round's weight does not hold: on a 1148² mosaic
of the astronaut (mirrored, so that its high contrast fills the halo), the
rule at four times ``FIRST_WEIGHT`` gave the 13 px line 265 px, 7.1e-4 from
the whole image's solve (382 px: 1.7e-4), and a 21 px line at 324 px, three
quarters of that rule's, 2.6e-3; at sixteen times, 1.4e-3 and 1.3e-2.

The studies in these notes were made with non-local means alone for the
denoiser; the DCT shrinkage averaged with it since 2026-12-07 is measured
in :mod:`tiledeblur.denoising` (*Two denoisers*).

Measured on ``benchmarks/bench_quality.py``'s 72 cases at ``mu="auto"``: it
wins the interior in 50 against the best-tuned peer, by a median of +0.82 dB
(``laplacian``: 38, +0.00 dB), and most under motion blur (+2.12 dB) and on
photographs (+1.2 to +1.8 dB on ``camera``, ``astronaut`` and ``coins``); it
loses on nearly flat images (``cell``, −1.7 to −6.2 dB, where the methods
score 37 to 54 dB) and on textures without repeats (``grass``, −0.3 dB),
where patches find no like ones to average.

Its cost is the rounds' (2.9 and 3.1 times ``laplacian``'s with its pass on
``bench_core``'s 512² and 1024² tiles, 2026-12-05), and the schedule
is kept: on the same 72 cases (scratch runs, 2026-12-02), 5 rounds in
place of 8 took 24% less time and lost 0.32 dB of the median margin (47
cases won, +0.50 dB), and a search distance of 4 px in place of 6 made
non-local means 45% faster (the whole solve about 20%) for the same median
(51 won, +0.81 dB) but 0.29 dB less on the repeating ``brick``, where the
farther like patches count. Nor did more rounds pay: 12 in place of 8
moved the nine cases of ``chelsea``, ``immunohistochemistry`` and
``retina`` under the defocus disks and the Gaussian of σ 1.2 at noise
0.01 by 0.00 to +0.05 dB (the median margin from +0.17 to +0.19 dB), for
45% more time (a scratch run of ``bench_quality.py``, 2026-12-07). Nor
did the denoiser's own settings in the rounds pay (a scratch study,
2026-12-06, of 20 of the cases: ``camera``, ``astronaut``, ``moon``,
``brick`` and ``grass`` under the article's PSF and the motion line at
noise 0.01 and 0.03): strengths of 0.25, 0.35, 0.45 and
0.8 times each round's noise, in place of 0.6, moved the margins by a mean
-0.10, -0.04, -0.00 and -0.12 dB, the weaker ones gaining up to 0.5 dB at
noise 0.03 and losing up to 1.0 dB under the motion line at 0.01; 7 px
patches, -0.02 dB; a search distance of 5 px in every round (27% less
denoising time), of 4 px in the first four rounds or in the last four,
-0.015, +0.003 and -0.023 dB, each losing ``brick`` under the Gaussian at
noise 0.01 by 0.23 to 0.35 dB; with the DCT shrinkage beside it, 4 px in
the first four rounds is the default (see :mod:`tiledeblur.denoising`,
*Two denoisers*). Nor did scikit-image's slow mode, whose
patch distances weigh a patch's pixels by a Gaussian, at the strength its
documentation gives for it with the noise known (0.8 in place of 0.6), in the
rounds and the pass (a scratch study, 2026-12-06, of 13 cases with
``loss="auto"``: ``camera``, ``moon``, ``grass``, ``cell`` and ``brick``
under the three PSFs at noise 0.01): a mean +0.05 dB (-0.54 dB, ``camera``
under the motion line, to +0.40 dB, ``brick`` under the Gaussian) for
about 5 times the time.

The start
---------
Zhang et al. start from 49/255 on images of [0, 1], about the standard
deviation of a photograph's values there (0.25 for the 192² crop of
``camera`` that the tests use). A denoiser told of noise beyond the image's
own spread takes its texture for noise and flattens it, and the rounds
after it do not bring it back. So where the image's contrast, the standard
deviation of its values, is below ``START_RATIO`` times the noise, the
rounds after the first start from it (:func:`ratios`). The first keeps
``START_RATIO``: its solve, the weakest, fits the data nearly alone, where
its start, the data's local mean, is far from the truth, as along a border
that a blur with zeros beyond the image faded. Started there too, stronger,
the rounds kept such a border faded: on ``bench_quality --zeros-beyond``
the full image of ``moon`` lost up to 9 dB (5.53 dB against 6.42 dB the
median margin over the 72 cases' best-tuned peers on the full image),
where with the first round kept it lost 0.3 to 1.8 dB (the median margin
6.42 dB), and the interiors held either way. The contrast is measured
once per image on the regions that ``mu="auto"`` samples
(:func:`tiledeblur.regularization.sampled_contrasts`), with ``mu`` given or
not, and every tile takes it, as it takes ``mu``; the later rounds' solves
are stronger than the first, so the halo of ``FIRST_WEIGHT`` still covers
them.

Measured with ``loss="auto"``, the default (``python
benchmarks/bench_quality.py``, 2026-12-05): 67 of the 72 cases won inside
by a median +1.01 dB (66 by +0.97 dB before); case by case, the margins
moved by a mean +0.034 dB (-0.28 to +0.59), +0.061 dB at noise 0.03, and
+0.11 dB on ``brick``, whose values spread over a few times that noise
(see the README for the other sets). Every round from the
contrast did about as well inside (67, +1.03 dB), but not on the faded
border above. Starting every image lower, from 10 times the noise, the
median margin at noise 0.005 fell from +1.15 to +0.86 dB (a scratch
study of ``nlmeans`` alone).

Only the first round, the weakest, is solved by Newton-CG to the
tolerance. The rounds after it take ``APPROXIMATE_STEPS`` steps of the
preconditioned Chebyshev iteration (:func:`tiledeblur.preconditioning.chebyshev`),
in float32, from the preconditioner's own estimate of the solve: that
estimate is the solve where the image is periodic and every pixel
observed, and ``z`` is by then near the result, so the change that the
steps approximate is small. The steps' coefficients follow from bounds on
the eigenvalues of the preconditioned Hessian, estimated once per PSF and
weight on a small image (:func:`tiledeblur.solver._ridge_bounds`), the
same for every tile, so a tile's result depends on its halo alone, as a
solve's does: solves stopped early at a tolerance (scratch runs,
2026-12-03) left the 3 × 3 tiles of ``test_no_seams`` up to 4.0e-3 from
the whole image's solve, since the conjugate gradients' coefficients are
sums over the whole extent solved. The Fourier part of the preconditioner
is padded by the reach of each round's inverse
(:func:`tiledeblur.tiling.auto_halo`), or its periodic grid joins the
image's opposite sides.

Until 2026-12-07 those rounds took 8 steps of the Richardson iteration
``x + P Pᵀ (b - H x)``, which leaves the error as it is where ``P Pᵀ H``
has eigenvalues near 2 (on the band of the ``free`` model, where both
parts of ``P`` hold) and shrinks it by 6% a step at the least eigenvalue
of the second round's weight (0.06 for the article's PSF), where the
Chebyshev steps shrink every error by 28% a step. With zeros beyond the
image (``boundary="zero"``), whose eigenvalues reach 12 at that weight,
the Richardson steps grew the error more than 11 times a step, to 8e19 on a
192² crop (found by a probe, 2026-12-07). On the 72 cases of
``bench_quality.py`` the Chebyshev steps moved the margins by -0.05 to
+0.02 dB (a mean -0.004 dB), 68 still won by +1.01 dB, and ``bench_core``'s
tiles, blurred with zeros beyond their sides, scored 0.02 and 0.08 dB more
on the full image for the same time (2026-12-07).

The first round's solve is kept. Replaced by 24 Chebyshev steps (a study
of 2026-12-07), it took 10 to 12% less time on a 1024² tile (9.5 and 9.9 s
against 10.8 and 11.0 s, alternate runs) and 13% less on a 512² RGB
image, and on the 72 cases the margins moved by -0.05 to +0.02 dB (a mean
-0.004 dB); but then no tile of an image that ``loss="auto"`` restores by
``nlmeans`` alone would run the Newton-CG solver that the library is built
on. Richardson steps in its place were measured and dropped on
2026-12-05: with 16, 24 or 32 of them, ``bench_core``'s tile, blurred with
zeros beyond its sides, lost 0.43, 0.18 and 0.08 dB on the full image at
512² and 1.08, 0.44 and 0.19 dB at 1024², and with none, the interior lost
up to 2 dB under the motion line.

Noise that grows with the signal
--------------------------------
Non-local means takes one noise level, but a photon count's variance grows
with its level (:mod:`tiledeblur.shotnoise`). On the star field
(``hubble_deep_field``) counted at 100 photons for a value of 1 under a
Gaussian of σ(1, 3), denoised at the image's one level, a galaxy's pixels
kept their noise, which the rounds' solves then raised into speckle: 24.8
dB inside, below the blurred image's 26.5 dB. So where the plan fits a
line through the noise's variance by level (``noise_line``, on the sample
regions, as ``contrast``), each round denoises ``x / d`` and multiplies the
result by ``d``, the noise's standard deviation at each pixel relative to
the image's: each pixel at its own level. ``d`` follows the level of the
start ``Aᵀb / Aᵀ1``, fixed for the rounds and tile by tile the same as in
the whole image, its variance averaged over the PSF convolved with itself
(:func:`tiledeblur.shotnoise.noise_deviations`), since the solve mixes a
pixel's noise with its neighbours'. On that star field: 29.6 dB (the tuned
Richardson-Lucy: 29.3 dB).

Measured on ``bench_quality --photons``' 72 cases with ``loss="auto"`` (a
scratch study, 2026-12-06; the wins, the median and the worst margin inside
against the best-tuned peer): one level, 56 won, +0.22 dB, worst -4.56 dB,
the star field 0 of 8; with the variance averaged over the PSF convolved
with itself, 65, +0.30 dB, -0.50 dB, the star field 6 of 8. Averaged over
nothing, 64, +0.22 dB, -0.75 dB; over the PSF twice as wide, 64, +0.31 dB,
-0.86 dB; over a 13 or 17 px box (non-local means' search window), 63
and 62, +0.28 and +0.26 dB, -1.58 and -0.95 dB. The other 64 cases moved
by a mean -0.03 dB: ``coins`` lost 0.31 dB on average (up to 0.59),
``brick`` 0.07 (from -0.53 to +0.41), and ``camera``, ``astronaut`` and
``moon`` gained 0.04 to 0.06 dB (``camera`` up to 0.85). Under Gaussian
noise the fitted line is nearly flat (see :mod:`tiledeblur.shotnoise`),
and ``bench_quality``'s 72 cases stayed at 68 won by +1.01 dB. An earlier
study (:mod:`tiledeblur.shotnoise`) stabilized each round's ``x`` by its
own values, which the noise and the rounds' overshoot move, and lost the
photographs up to 2.2 dB.

Non-negative images
-------------------
With ``nonneg=True`` each round's denoised image is held at or above
zero, ``z = max(z, 0)``: the projection onto the images that the bound
allows, which joins the denoiser's prior in the half-quadratic splitting
as the prior's proximal step would, and costs one pass over the image.
The rounds' solves stay those of the change from ``z``, unbounded, and the
last ``x`` is held at zero as every loss's result is. Each pixel's bound
is its own, so a tile holds it as the whole image does.

Pixels without a datum are not held, as the denoiser leaves them to the
solves: held too, the band of the ``free`` model, beyond the image, made
the outermost 13 px of a 192² crop of ``camera`` blurred with zeros beyond
it 0.57 dB worse than without the bound (27.165 dB without it and left
alone; ``tests/test_solver.py``), and ``bench_quality --zeros-beyond
--nonneg`` on ``camera``, ``astronaut``, ``hubble_deep_field`` and
``coins`` lost up to 0.20 dB on the full image (a mean 0.049 dB), where
left alone it scored within 0.00 to +0.04 dB of the unbounded solve (found
by a probe: 2.7 dB on the 20 px border of a 2048² RGB scan).

Until 2026-12-07 ``nonneg=True`` was refused with ``nlmeans``, and made
``loss="auto"`` ``laplacian``, whose bounded solve
(:mod:`tiledeblur.nonnegative`) then restored every image that asked for
the bound. Measured with ``bench_quality.py --nonneg`` (2026-12-07):

- the 72 cases went from 67 won by a median +0.21 dB to 68 by +1.10 dB,
  case by case +1.01 dB on average (-0.05 to +5.55 dB), the same as
  without the bound within -0.01 to +0.04 dB (``"auto"`` chose as it
  chose without it);
- the 27 of ``hubble_deep_field``, ``immunohistochemistry`` and
  ``retina``, from 18 by +0.04 dB to 26 by +0.17 dB, the deep field from 2
  of 9 (-0.44 dB) to 9 of 9 (+0.72 dB), each of its cases gaining 0.92 to
  1.94 dB;
- under photon noise (``--photons 100,1000 --images
  hubble_deep_field,cell,moon`` under the four PSFs of the README's photon
  cases), from 16 of 24 by +0.14 dB to 23 by +0.28 dB, the deep field from
  1 of 8 to 8 of 8 (+0.50 dB).

Each set scored as without the bound, within 0.01 dB a case inside under
photon noise and -0.01 to +0.04 dB elsewhere.

The bound moved those images little, whose truths rise off zero (their
tenth percentiles 0.03 and up): on a sparse star field, zero between its
stars (``tests/test_solver.py``), it held the rings at zero and gained
0.03 dB.
"""

import itertools

import numpy as np

from .denoising import Denoising

__all__ = ["APPROXIMATE_STEPS", "FIRST_WEIGHT", "NOISE_WEIGHT", "START_RATIO", "plug_and_play", "ratios"]

#: ``mu / sigma²``: the weight of the prior against the data at the image's own noise. The best of 0.1, 0.3 and 1
#: on ``camera`` under the article's PSF at noise 0.01 (+0.1, +1.7 and +0.5 dB over the best-tuned peer; a scratch
#: sweep with the true noise); on ``brick``, ``cell``, ``coins`` and ``grass`` under three PSFs, 0.2 moved the
#: Gaussian cases by -0.7 to +0.7 dB and lost 1.0 to 1.9 dB under the motion line, and 0.5 lost in 11 of 12.
NOISE_WEIGHT = 0.3
#: The first round's noise level at most, in units of the image's, and the rounds: the schedule of Zhang et al.'s
#: deblurring (2021), from 49/255 to noise near 2.55/255 in 8 rounds, in ratios so that tiles of any scale share it.
START_RATIO = 20.0
STEPS = 8
#: The weight of the first round's solve, ``mu / s²``, at its weakest: the solve that reaches furthest.
FIRST_WEIGHT = NOISE_WEIGHT / START_RATIO**2
#: The steps of the preconditioned Chebyshev iteration that each round but the first takes in place of a solve
#: (:func:`tiledeblur.preconditioning.chebyshev`).
APPROXIMATE_STEPS = 8


def ratios(sigma, contrast=None):
    """Each round's noise level over the image's noise ``sigma``: from ``START_RATIO`` down to 1, or, where the
    image's ``contrast`` (the standard deviation of its values) is lower, from ``START_RATIO`` for the first round
    and from the contrast for the rest (see the notes).

    Examples
    --------
    >>> ratios(0.01).round(2).tolist()
    [20.0, 13.04, 8.5, 5.54, 3.61, 2.35, 1.53, 1.0]
    >>> ratios(0.01, contrast=0.05).round(2).tolist()
    [20.0, 5.0, 3.82, 2.92, 2.24, 1.71, 1.31, 1.0]
    """
    after = START_RATIO if contrast is None else min(START_RATIO, max(1.0, contrast / sigma))
    if after == START_RATIO:
        return np.geomspace(START_RATIO, 1.0, STEPS)
    return np.concatenate([[START_RATIO], np.geomspace(after, 1.0, STEPS - 1)])


def plug_and_play(start, fit, mu, unobserved, contrast=None, *, deviations=None, lower=None):
    """The rounds from ``z = start``, a generator that yields each round's ``x`` to denoise, as a
    :class:`~tiledeblur.denoising.Denoising`, is sent its denoised image, and returns the last ``x``.

    A generator, so that the rounds of an image's channels can be run
    together and their images denoised together
    (:func:`tiledeblur.denoising.run_together`).

    Pixels without a datum (the band of the ``free`` model, missing pixels
    and the unknowns around them) are the solve's alone: the denoiser sees
    the nearest observed pixel's value in their place, and leaves them as the
    solve put them. The data hardly hold them, so their values follow the
    solve's path; seen by the denoiser, they made tiles end up to 9e-2 from
    the whole image's solve along its border (found by a test).

    Parameters
    ----------
    start : ndarray
        The first ``z``, an image of the unknowns' shape.
    fit : callable
        ``fit(z, weight, steps)`` returns the ``x`` that minimizes
        ``||Ax - b||² / 2 + weight ||x - z||² / 2``, solved to the
        tolerance where ``steps`` is None, or else approximated by that many
        steps of the preconditioned Chebyshev iteration.
    mu : float
        The weight of the prior, ``NOISE_WEIGHT`` times the noise variance.
    unobserved : ndarray of bool
        The pixels without a datum.
    contrast : float, optional
        The standard deviation of the whole image's values, in its units,
        which the rounds after the first start from where it is lower than
        their usual start (:func:`ratios`).
    deviations : ndarray, optional
        The noise's standard deviation at each unknown, relative to the
        image's, where it grows with the signal
        (:func:`tiledeblur.shotnoise.noise_deviations`): the denoiser takes
        ``x`` divided by it, and its result is multiplied back, so that each
        pixel is denoised at its own level (see the notes). None denoises
        alike everywhere.
    lower : float, optional
        A bound that each round's denoised image is held at or above where
        observed: the projection onto the bounded images that ``nonneg``
        asks for (see *Non-negative images* in the notes). None bounds
        nothing.

    Yields
    ------
    Denoising

    Returns
    -------
    x : ndarray

    Examples
    --------
    With no blur, each round's solve is a weighted mean of the data and ``z``:

    >>> from tiledeblur.denoising import run_together
    >>> image = np.random.default_rng(0).normal(0.5, 0.01, (32, 32))
    >>> fit = lambda z, weight, steps: (image + weight * z) / (1 + weight)
    >>> x, = run_together([plug_and_play(image, fit, NOISE_WEIGHT * 0.01**2, np.zeros(image.shape, dtype=bool))])
    >>> bool(np.std(x) < np.std(image))
    True
    """
    sigma = np.sqrt(mu / NOISE_WEIGHT)
    schedule = ratios(sigma, contrast)
    x = fit(start, NOISE_WEIGHT / schedule[0] ** 2, None)
    del start  # a tile's image, which the rounds no longer need, held while other channels' rounds are solved
    # The last round's x is the result, so the last denoising is of the round before it: a denoising of the last
    # x too, the scheme's own last z, lost 0.01 to 0.52 dB in each of the first 30 of the 72 cases that the module's
    # note cites (a scratch study, 2026-12-05), and cost an eighth of the denoiser's time.
    for stage, (ratio, next_ratio) in enumerate(itertools.pairwise(schedule), start=1):
        z = yield Denoising(x, ratio * sigma, deviations, unobserved, stage)
        if lower is not None:
            z = np.where(unobserved, z, np.maximum(z, lower))
        x = fit(z, NOISE_WEIGHT / next_ratio**2, APPROXIMATE_STEPS)
    return x
