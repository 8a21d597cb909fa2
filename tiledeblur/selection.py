"""``loss="auto"``: ``laplacian``, ``nlmeans`` or a mix of the two, whichever an estimate of its error favours, for a
whole image.

``nlmeans`` restores photographs, repeating texture and motion blur 1 to 5
dB better than ``laplacian``, and loses 2 to 6 dB on nearly flat images (a
cell in saline) and up to 0.5 dB on textures without repeats (grass,
gravel), where its patches find no like ones
(``benchmarks/bench_quality.py``). Which one suits an image can be
estimated from the image itself.

The estimate
------------
The truth is unknown, but the blurred truth ``Ax`` is the data less the
noise, so the error of the data that a restoration predicts, ``||Ax̂ - Ax||²``,
has an unbiased estimate (Stein, 1981):

    ||Ax̂ - b||² - n σ² + 2 σ² div_b(Ax̂)

over ``n`` pixels, with the noise level ``σ`` that generalized
cross-validation estimates (:func:`tiledeblur.regularization.estimate_image_mu`)
and the divergence by one restoration of the data perturbed by white noise
``δ`` (Ramani, Blu and Unser, 2008): ``div ≈ δᵀ(Ax̂(b + δ) - Ax̂(b)) / ||δ||²``
in expectation, with ``δ`` of ``PERTURBATION`` times ``σ``. Each loss is
solved on up to ``SAMPLES`` of the regions that ``mu="auto"`` samples, at the
weight that ``mu="auto"`` gives it, and scored on the pixels whose PSF lies
within the region and covers no missing pixel (NaN; a restoration holds
none there). The regions are those where ``mu="auto"`` found more than
noise, spread over them (:func:`compared_regions`): the image's corners,
which a 2 x 2 grid of the samples took before, are a slide's glass, and a
retina amid glass chose ``nlmeans`` alone, where the retina alone chose a
mix (found by a probe, 2026-12-06). Crops of up to 512 px a side, such as
``bench_quality``'s, compare every region either way, less any of noise
alone. The error is weighed at each frequency nearer the sharp image's
error than the blurred one's (see *Weighing the error* below).

The choice
----------
The blurred error weighs each frequency by the PSF's response, so the
estimate sees little of the fine detail that the blur nearly erased, which
is where ``nlmeans`` gains: ``nlmeans`` is chosen unless its estimate
exceeds ``laplacian``'s by more than ``NLMEANS_ALLOWANCE`` (0.25 dB;
alone where it does not exceed it, else it may be mixed: see below). On the 72 cases of
``bench_quality`` (256² crops; a scratch study with the noise that GCV
estimates) the estimate of the two errors' ratio came within 0.4 dB of the
true one in 68 (at most 0.64 dB off). Choosing by it would have won 51 of
the cases with no allowance (median +0.31 dB, worst -0.53 dB), 53 with
0.25 dB (+0.72 dB, the same worst), and 56 with 0.5 dB (+0.97 dB), which
chose ``nlmeans`` for a ``cell`` case it lost by 3 dB: 0.25 dB is the
largest allowance that kept the worst case. ``python
benchmarks/bench_quality.py --loss auto`` then measured 57 cases won on
the interior by a median +0.97 dB, the worst -0.52 dB, with
``nlmeans`` chosen for 41 (every ``camera``, ``astronaut``, ``coins`` and
``brick`` case, and 5 of ``moon``'s) and ``laplacian`` for every ``cell``,
``grass`` and ``gravel`` case (``nlmeans`` alone: 50, +0.82 dB, worst
-6.18 dB; ``laplacian``: 38, +0.00 dB, worst -0.53 dB). On 27 cases of
images that played no part in setting the allowance (``--images
hubble_deep_field,immunohistochemistry,retina``) it won 20, median
+0.01 dB, worst -1.19 dB (``nlmeans``: 11, -0.36 dB, worst -5.52 dB;
``laplacian``: 13, -0.00 dB, worst -1.26 dB): ``laplacian`` for the slide
and the retina, ``nlmeans`` for 7 of the 9 of the deep field.

A mix of the two
----------------
Blur, residual and divergence are linear in the restoration, so the
estimate of the mix ``(1 - s) x_laplacian + s x_nlmeans`` is a quadratic
in ``s`` whose coefficients the two solves already made give
(:func:`_mix_risk`). Where ``nlmeans``' estimate exceeds ``laplacian``'s,
the share that minimizes it over [0, 1] is taken (:func:`best_share`): where it
is estimated better than ``laplacian`` alone by at least ``MIX_GAIN``
(0.01 dB), the tiles solve both, without ``laplacian``'s pass, and mix them
(``mix`` of :class:`~tiledeblur.settings.SolverSettings`). A scratch study of
``bench_quality``'s 72 cases and of the 54 of other images and PSFs (see
the default below), 2026-12-06, with each share from 0 to 1 in steps of
0.05:

* Mixes beat either loss alone on images that neither suits: textures
  without repeats, smooth images with some detail. Each case's best share,
  chosen with the truth, won 68 of the 72 by a median +1.01 dB and all 54
  by +0.58 dB, where ``"auto"`` won 67 by +1.01 dB and 41 by +0.43 dB.
* A share that varies would gain little over one for the whole image (a
  second study of the 72, 2026-12-06, mixing ``laplacian`` with its pass,
  every share chosen with the truth by least squares): one share won 68 by
  +1.10 dB; one per band of frequencies (4 or 8 bands by the PSF's
  response, or 8 by radius) or per block of 32 or 64 px, 68 by +1.12 to
  +1.16 dB.
* Nor would ``tv`` as a third, or a share per band, on the near-ties of
  the 54 (``retina``, ``immunohistochemistry``, ``chelsea`` and ``clock``
  under the smaller disk and the Gaussian of σ 1.2 at noise 0.01; a
  scratch study, 2026-12-07, every share chosen with the truth by least
  squares, ``laplacian`` without its pass): the best mix of the two came
  within 0.05 dB of ``"auto"``, ``tv`` added at most 0.04 dB to it, and a
  share per band of 6 by radius 0.02 to 0.07 dB, but for ``clock``, won
  by 2 dB already, 0.54 and 0.63 dB.
* The estimate's best share for every case won 68 by +0.77 dB and 52 by
  +0.56 dB: it is too small where ``nlmeans`` restores detail that the
  blur erased, as above (``camera`` under the article's PSF at noise 0.005:
  a share of 0.5 made +1.92 dB, ``nlmeans`` alone +2.63 dB). So at first
  ``nlmeans`` within the allowance was taken alone, as before, and only the
  cases that chose ``laplacian`` mixed: 67 won by +1.01 dB, and 48 by +0.49
  dB (but see below).
* ``laplacian`` with its pass in the mix won 66 and 45 (+1.01 and +0.50
  dB): ``nlmeans`` removes the noise that the pass would, and the pass
  takes detail that the mix keeps.
* The nine cases of ``cell`` were estimated to gain at most 0.004 dB, and
  the three of them that mixed, under the wider Gaussian, lost 0.12 to 0.18
  dB to ``laplacian`` and its pass; the other 43 cases that chose
  ``laplacian`` were estimated to gain 0.020 dB and more. ``MIX_GAIN`` lies
  between, where a gain too small to measure would not be worth
  ``nlmeans``' solve in each tile.

``bench_quality`` then measured 67 of the 72 won by +1.01 dB, 48 of the 54
by +0.49 dB, and 26 of the field's 27 by +0.18 dB (20 by +0.12 dB before).
Under photon noise (``--photons 100,1000``, see below), 29 of the 72 cases
mixed where they had chosen ``laplacian``: 18 gained, up to 0.40 dB, and
10 lost, 5 of them the star field's, by 0.28 to 2.46 dB, where the mix's
share of ``nlmeans`` overshoots at the stars as ``nlmeans`` alone does,
which the estimate cannot see (see below); neither the ratio of the two
losses' estimates nor the spread of the pixels' noise set those cases apart
from the textures that gained.

Within the allowance, the estimate still favours ``laplacian``, if by less
than it may miss of ``nlmeans``' detail; there, too, the best mix is taken
where it gains ``MIX_GAIN``, and ``nlmeans`` alone only where its estimate
is no larger than ``laplacian``'s (:func:`best_share`). In the scratch
study above, 11 of the 126 cases lay within the allowance: 8 gained, by
0.04 to 1.57 dB (``clock`` under the smaller disk at noise 0.03, which
``nlmeans`` alone lost by 1.27 dB, and ``moon``, ``chelsea`` and
``immunohistochemistry`` cases that it lost by 0.02 to 0.31 dB), and 3 of
``camera``'s lost 0.37 to 0.50 dB, where ``nlmeans`` alone was best and
the estimate's share of it about half: 119 of the 126 won against 115, by
the same median, +0.71 dB. ``bench_quality`` then measured the same
changes: 68 of the 72 won by +0.76 dB, where the three ``camera`` cases,
still won by +0.68 to +1.22 dB, had lain just above the median of +1.01
dB; 51 of the 54 by +0.49 dB, the worst -0.08 dB (-1.27 dB before); the
field's 27 as before, and under photon noise one case of ``gravel``, +0.17
dB, 55 of the 72 won as before (2026-12-06, in
``benchmarks/RESULTS.md``).

Weighing the error
------------------
The blurred error ``A(x̂ - x)`` is the sharp error times the PSF's transfer
function ``K`` at each frequency, so its square counts the detail that the
blur weakened by ``|K|²``: little, where ``nlmeans`` gains most. Stein's
estimate holds for any fixed, symmetric weighing ``W`` of the error:
``(Ax̂ - b)ᵀ W (Ax̂ - b) - tr(W Σ) + 2 tr(W Σ J)``, ``Σ`` the noise's
covariance and ``J`` the derivative of ``Ax̂`` in the data, whose term the
same perturbation gives as ``(W δ)ᵀ (Ax̂(b + δ) - Ax̂(b))``. ``W`` here is
``(1 + γ) / (|K|² + γ)`` at each frequency of the scored pixels' grid
(periodic there; zero on the pixels not scored), with ``γ`` of
``WEIGHING_FLOOR`` (:func:`error_weights`): it counts the sharp image's own
error where the PSF passes much more of the power than ``γ``, and the
blurred error's, times up to ``1 / γ``, where it passes less, since the
data hold little but noise there, which ``1 / |K|²`` would weigh without
bound. On the camera under the article's PSF at noise 0.01, the weighed
estimate came within 2% of the weighed error (the tests).

A scratch study of the 126 cases above (2026-12-06), with
:func:`best_share`'s rule as it is: ``γ`` of 1, 0.3, 0.1, 0.03, 0.01 and
0.003 won 68, 68, 68, 68, 67 and 65 of the 72 by medians of +0.88, +1.01,
+1.01, +1.01, +1.01 and +1.01 dB (unweighed: 68 by +0.76 dB), and 51, 51,
49, 50, 48 and 46 of the 54 by +0.49 to +0.50 dB (unweighed: 51 by +0.49
dB); from 0.01, it chose ``nlmeans`` alone for two ``cell`` cases that it
loses by 3.1 and 3.5 dB. At 0.3, each of the 16 cases that changed gained:
the three ``camera`` cases under the Gaussians that had mixed half
``laplacian`` took ``nlmeans`` alone (+0.39 to +0.53 dB), and the others'
shares moved by a few hundredths (+0.02 to +0.07 dB); at 0.1, four lost,
by up to 0.16 dB. ``bench_quality`` then measured 68 of the 72 won by
+1.01 dB, the worst -0.43 dB, all 72 full images won (the three
``camera`` cases as in the study, the others' margins moving by -0.01 to
+0.05 dB), and 51 of the 54 by +0.49 dB, the worst -0.08 dB (margins
moving by -0.01 to +0.05 dB; 2026-12-06, in ``benchmarks/RESULTS.md``).
The weighing by a regularized inverse of the blur below was measured on
the choice between the two losses alone, with allowances of its own.

With ``denoise`` (:mod:`tiledeblur.denoising`), ``laplacian`` is followed by
its pass of non-local means where it is chosen, but the choice is made
between the solves alone, as the allowance was set. Compared with the pass
(``python benchmarks/bench_quality.py --loss auto`` on 2026-12-03, in
``benchmarks/RESULTS.md``), the estimate, which barely sees what the pass
gains, chose ``laplacian`` for photographs at noise 0.03 and ``nlmeans``
for ``grass`` and ``gravel``: 62 cases won by a median +0.55 dB. The
solves' own choices, with the pass after ``laplacian``, won 66 by +0.97 dB
(the worst -0.43 dB; the same command's next run).

Weighing the error by a regularized inverse of the blur instead,
``||W(Ax̂ - Ax)||²`` with ``W = conj(K) / (|K|² + γ)``, which counts the
fine detail as the truth's error would (a "projected" estimate after
Ramani, Liu, Rosen, Nielsen and Fessler, 2012), was measured and dropped
(a scratch study of the 72 cases, 2026-12-02): where the rule above chose
the worse of the two losses in 12 cases, at 3.2 dB in all (the worst
0.59 dB below the better loss), ``γ`` of 0.01 with an allowance of 0.5 dB
missed 6 (1.2 dB, the worst 0.37), and 3e-4 with none missed 9; but beside
each, ``γ`` of 3e-3 with 0.5 dB and 1e-4 with none chose ``nlmeans`` for
``cell`` cases that it loses by 2.4 to 3.7 dB. Its few gains, near-ties, came from settings tuned on the very
cases that score them, each beside one that loses ``cell``.

A border faded to black
-----------------------
A blur computed with zeros beyond the image fades its border within the
PSF's reach (see :mod:`tiledeblur.gcv`'s notes). Scored there,
the estimate chose ``nlmeans`` for two ``cell`` crops so blurred, which
lost 3.3 and 1.7 dB inside to ``laplacian`` (``python
benchmarks/bench_quality.py --zeros-beyond``: 59 of 72 won by a median
+0.89 dB, worst -3.30 dB). A band of the PSF's side along the image's own
sides is left out of a region's score where the test of ``mu="auto"``
finds the border faded (:func:`~tiledeblur.gcv.is_border_faded`):
both ``cell`` cases chose ``laplacian`` (61 won, worst -1.36 dB), and no
case of the 72 crops of larger scenes changed its choice. Left out of every
region along the sides, the band did the same there, but of the 54 cases
of other images (see below) it turned ``clock`` under the smaller disk at
noise 0.03 to ``nlmeans``, which lost by 1.30 dB where ``laplacian`` won by
0.36 dB (41 of the 54 won, worst -1.30 dB, against 42 and -0.12 dB with the
test; 2026-12-05). Since ``nlmeans``' rounds start from the image's
contrast (:mod:`tiledeblur.plugandplay`), its estimate for that case falls
within the allowance without the band, and it chooses ``nlmeans`` again,
which loses by 1.27 dB: the estimate favours ``nlmeans`` on that smooth
image by a hair either way. A band
twice as wide changed two motion-blurred cases of ``moon`` and ``grass`` to
``laplacian``, which lost 0.6 and 1.9 dB (a scratch study of the 27 faded
cases of ``cell``, ``moon`` and ``grass``).

Noise that grows with the signal
--------------------------------
The estimate holds each pixel's own noise variance ``σᵢ²``:
``Σ (Ax̂ - b)ᵢ² - Σ σᵢ² + 2 Σ σᵢ² ∂(Ax̂)ᵢ/∂bᵢ``, whose last sum the
perturbation gives where it is shaped like the noise, ``δᵢ = PERTURBATION
σᵢ nᵢ``. The variances are the image's noise level from generalized
cross-validation, spread over the region's pixels as the image's line,
which ``nlmeans``' denoiser follows (:func:`nlmeans_noise_lines`), rises
with their level (:func:`_relative_variances`): alike where the noise is
(on the 72 cases of ``bench_quality``, every choice and score stayed as it
was), and for a scan of a JPEG's pixels, whose error
the quantization of each block sets, not the level: quantized away in some
blocks more than in others, it made lines that weighed the pixels of one
image up to 4.6 times apart between the 5th and 95th percentiles of level
(``coins`` at qualities 70 and 85; a probe of 256² crops of five images
under the article's PSF at noise 0.005 and 0.01, qualities 50 to 95), where
``bench_quality``'s noise without JPEG gave at most 1.24 times. Weighed alike, the 8 cases of a star field
counted at 100 and 1000 photons for a value of 1 all chose ``nlmeans``,
whose denoiser, told the sky's level, kept the noise of the stars, 3 to 4
times larger, for detail: they lost 0.22 to 9.62 dB inside to the
best-tuned peer (``python benchmarks/bench_quality.py --photons 100,1000
--images camera,astronaut,coins,moon,brick,grass,gravel,cell,hubble_deep_field
--psfs "gaussian 13 σ(1, 3),gaussian 17 σ2,motion 13 at 30°,defocus r2.5"``,
2026-12-06: 0 of the 8 won, a median -4.41 dB). Weighed by pixel, 6 of
them chose ``laplacian``: 1 won, a median -0.40 dB, the worst -4.56 dB,
and the full images 7 of 8 against 3; the other 64 cases chose as before.
The case still lost, under the article's PSF at 100 photons, is one where
the two losses' blurred restorations lie as far from the blurred truth
(5.09e-5 and 5.12e-5; estimated 5.07e-5 and 5.47e-5), and ``nlmeans`` errs
in the detail that the blur erased, which the estimate does not see.

A dark floor
------------
Cross-validation measures the noise on the pixels that it scores
(:func:`~tiledeblur.scoredpixels.scored_pixels`), beyond the PSF's reach
of clipped or filled plateaus, and the line is relative to their mean
variance; the plateaus' own pixels hold no noise, and take none. Before
(to 2026-12-07), each region's own line was relative to all of its pixels,
and a plateau's took the line's least variance. A photon count's dark
floor is such a plateau: where the scene is black, a pixel counts nothing.
On the Shepp-Logan phantom's central 128², whose dark ellipses count
nothing over half of its pixels, cross-validation measured the bright
pixels' noise, which spread over all of them put the dark pixels' far
above none: both losses' estimates fell below zero, and four of its six
cases counted at 100 and 1000 photons chose ``laplacian``, losing to the
tuned Wiener filter or Richardson-Lucy by 0.07 to 1.31 dB. All six now
choose ``nlmeans`` or its mix, and win by +0.55 to +1.29 dB, the two that
chose ``nlmeans`` before by 0.46 and 0.51 dB more, with its denoiser's
line relative to the same pixels (``python
benchmarks/bench_quality.py --size 128 --photons 100,1000 --images
cat,shepp_logan_phantom,binary_blobs,checkerboard,page,text``, 2026-12-07:
30 of 36 won by a median +0.67 dB, the worst -0.56 dB, where 22 had won
by +0.12 dB, the worst -18.30 dB; the two worst, blobs under the motion
line, were :mod:`tiledeblur.demosaic`'s, fixed with it). The 72 cases
counted in photons above moved by -0.01 to +0.06 dB inside, one choice
among them (``astronaut`` under the motion line at 100 photons) turning
from ``laplacian`` to a mix at the same score inside, 0.26 dB lower on the
full image. Under Gaussian noise, every case of the 72 of ``bench_quality``,
the 54 of other images and PSFs, the field's 27 and the 54 in colour
restored as before, and one of the 36 with channels of different scenes
moved by 0.01 dB on the full image (2026-12-07, in
``benchmarks/RESULTS.md``).

The estimate's spread
---------------------
On an image of one region, 256 px a side or less, the estimate may stray by
as much as the two errors differ, most where a wide PSF leaves few pixels
to score: on ``cat``'s central 128² under a Gaussian of σ 4 px at noise
0.03 (``python benchmarks/bench_quality.py --size 128 --psfs
"gaussian 25 σ4"``), ``nlmeans`` alone was chosen, and lost 1.9 dB inside
to ``laplacian`` with its pass. The two blurred restorations' weighed errors
were 5.44e-5 (``laplacian``) and 6.72e-5, their estimates 7.16e-5 and
6.84e-5, and with the divergence's perturbation drawn anew, 4.55e-5 to
7.16e-5 and 5.72e-5 to 7.33e-5 in six draws. Averaging the divergence over
four draws per image, each region compared taking its share (a scratch
study, 2026-12-07), mixed that case, 1.75 dB better, but left the 72 cases
of ``bench_quality`` and the 54 of other images and PSFs within 0.02 dB of
where they were, and moved the 72 under the PSFs that no rule used by a
mean +0.006 dB (two gaining 0.16 and 0.35 dB, two near-ties turning to
losses of 0.00 dB), for three solves more of each loss on such images. The
rest of the spread is the noise's own: over five draws of that crop's
noise, the estimated difference of the two errors strayed from the true
one, -0.41e-5 to -1.63e-5, by an RMS of 1.35e-5 with one draw of the
perturbation and 1.16e-5 with four. So one draw per region stays.

The default
-----------
``loss=None``, the default of :func:`~tiledeblur.deconvolve`,
:func:`~tiledeblur.run`, :func:`~tiledeblur.plan` and the command line, is
``"auto"``: in the runs of ``bench_quality`` on 2026-12-05 (``--loss
auto`` against the default of then, ``laplacian`` with its pass) it won 66
of the 72 cases by a median +0.97 dB against 67 by +0.22 dB, 42 of 54 by
+0.41 dB against 41 by +0.12 dB on images and PSFs that set no rule
(``--images chelsea,coffee,rocket,retina,clock,immunohistochemistry
--psfs "defocus r2.5,defocus r4,gaussian 9 σ1.2"``), and 20 of the 27 of
the field's images by +0.12 dB against 16 by +0.02 dB. Its price is the
comparison, once per image, and ``nlmeans``' time per tile, 3 to 4 times
``laplacian``'s, where it chooses ``nlmeans``, with ``laplacian``'s solve
besides where it mixes them. A given ``mu`` or ``noise`` asks for what
``laplacian`` alone takes, and the default is then ``laplacian``
(:func:`default_loss`); ``nonneg=True`` bounds both losses, and keeps the
default ``"auto"`` (see :mod:`tiledeblur.plugandplay`).

The comparison costs two solves of each loss per region and channel, once
per image: about 2 s for a 256² image on one core (2.0 s for ``camera``
under the article's PSF at noise 0.01, 1.7 s for ``cell``), and the
benchmark's 256² cases took 1.8 to 4.8 s in all, median 2.4 s, the final
solve included (2026-12-05).
"""

import dataclasses
import functools
import time
import warnings

import numpy as np
import scipy.fft
import scipy.signal

from .denoising import DENOISED_LOSSES
from .gcv import border_band, image_sides, is_border_faded
from .operators import periodic_transfer
from .plugandplay import NOISE_WEIGHT
from .progress import duration_text, tell
from .psf import psf_radius
from .regularization import (
    MAX_MISSING_SHARE,
    MuWarning,
    estimate_image_mus,
    is_auto,
    is_informative,
    sample_regions,
    sampled_contrasts,
)
from .scoredpixels import plateaus
from .shotnoise import relative_noise_variance, sampled_noise_lines

__all__ = ["CANDIDATES", "MIX_GAIN", "NLMEANS_ALLOWANCE", "SAMPLES", "WEIGHING_FLOOR", "best_share", "check_request",
           "choose_loss", "compared_regions", "default_loss", "error_weights", "nlmeans_noise_lines", "prediction_risk",
           "tell_of_choice"]

#: The losses that ``"auto"`` chooses between, the first where it cannot compare them.
CANDIDATES = ("laplacian", "nlmeans")
#: How much larger ``nlmeans``' estimated error may be than ``laplacian``'s for it to be chosen (0.25 dB).
NLMEANS_ALLOWANCE = 10**0.025
#: How much smaller than ``laplacian``'s the estimated error of its mix with ``nlmeans`` must be for the mix to be
#: chosen (0.01 dB), for the time of ``nlmeans``' solve in each tile.
MIX_GAIN = 10**0.001
#: The error at each frequency is weighed by ``(1 + WEIGHING_FLOOR) / (|K|² + WEIGHING_FLOOR)``, ``K`` the PSF's
#: transfer function: as the image's own error where the PSF passes much more of the power than this, and as the
#: blurred error's, times at most ``1 / WEIGHING_FLOOR``, where it passes less (see the notes).
WEIGHING_FLOOR = 0.3
#: The regions compared: up to this many of those that ``mu="auto"`` samples (see :func:`compared_regions`).
SAMPLES = 4
#: The perturbation of the data for the divergence, in units of the noise, and its seed.
PERTURBATION = 0.1
SEED = 0


def prediction_risk(observed, psf, noise, restore, *, unscored=None, floor=None):
    """Stein's unbiased estimate of the mean square error of the blurred restoration against the blurred truth.

    Parameters
    ----------
    observed : (M, N) ndarray of float
        The blurred, noisy image; NaN marks a missing pixel.
    psf : (P, Q) ndarray
        Its normalized PSF.
    noise : float or (M, N) ndarray of float
        The standard deviation of its noise, positive: one for every pixel,
        or each pixel's own, where the noise grows with the signal
        (:mod:`tiledeblur.shotnoise`).
    restore : callable
        ``restore(image)`` returns a restoration of ``image``'s shape.
    unscored : (M, N) ndarray of bool, optional
        Pixels left out of the score besides those above, unless none
        would be left (found by CI: an image of a few rows scored nothing,
        and warned of a division by zero).
    floor : float, optional
        Where given, the error is weighed at each frequency by
        ``(1 + floor) / (|K|² + floor)`` (:func:`error_weights`), which
        counts the detail that the blur weakened more nearly as the sharp
        image's error would: the estimate is then of ``eᵀ W e`` over the
        pixels scored, ``e`` the blurred restoration's error and ``W`` that
        weighing, periodic on the grid of the pixels whose PSF lies within
        the image.

    Returns
    -------
    risk : float
        Per pixel, over the pixels whose PSF lies within the image and
        covers no missing pixel, which the restoration holds no value for.

    Examples
    --------
    Taking the data for the restoration predicts the blurred truth with the
    blurred noise, whose variance is the noise's times the sum of the PSF's
    squares, a ninth for a 3 x 3 box:

    >>> psf = np.ones((3, 3)) / 9
    >>> observed = np.random.default_rng(1).normal(0, 0.1, (400, 400))
    >>> round(prediction_risk(observed, psf, 0.1, lambda image: image) / (0.1**2 / 9), 1)
    1.0
    """
    residual, weighed_residual, weighed_divergence, variance = _stein_terms(observed, psf, noise, restore,
                                                                            unscored=unscored, floor=floor)
    return float((residual @ weighed_residual + 2 * weighed_divergence - variance) / residual.size)


def error_weights(shape, psf, floor):
    """``(1 + floor) / (|K|² + floor)`` on the ``rfft2`` grid of ``shape``, ``K`` the transfer function of ``psf``
    folded onto it: one at the zero frequency, and at most ``1 + 1 / floor``.

    Examples
    --------
    >>> weights = error_weights((64, 64), np.ones((5, 5)) / 25, 0.3)
    >>> float(weights[0, 0]), bool(weights.max() <= 1 + 1 / 0.3)
    (1.0, True)
    """
    return (1 + floor) / (np.abs(periodic_transfer(psf, shape)) ** 2 + floor)


def _stein_terms(observed, psf, noise, restore, *, unscored=None, floor=None):
    """The terms of :func:`prediction_risk`'s estimate, its arguments': ``(residual, weighed_residual,
    weighed_divergence, variance)``, the blurred restoration less the data on each scored pixel and that weighed by
    ``floor``'s weights, and sums over them, which a mix of restorations combines (see :func:`_mix_risk`)."""
    return _channels_stein_terms([observed], [psf], [noise], lambda images: [restore(images[0])], unscored=[unscored],
                                 floor=floor)[0]


def _channels_stein_terms(observed, psfs, noises, restore, *, unscored, floor):
    """:func:`_stein_terms` of each channel of one region, which ``restore(images)`` restores together (a list of
    one restoration per channel).

    Each channel is perturbed by its own draw, and one restoration of them
    all perturbed gives every channel's divergence: the draws of the others
    are independent of a channel's own, so the change that they make in it
    adds to the estimate's spread, not to its mean.
    """
    scorings = [_Scoring(image, psf, noise, unscored=band, floor=floor, seed=SEED if channel == 0 else (SEED, channel))
                for channel, (image, psf, noise, band) in enumerate(zip(observed, psfs, noises, unscored))]
    predicted = restore(observed)
    moved = restore([image + scoring.perturbation for image, scoring in zip(observed, scorings)])
    return [scoring.terms(image, restored, perturbed)
            for image, scoring, restored, perturbed in zip(observed, scorings, predicted, moved)]


class _Scoring:
    """What :func:`_stein_terms` scores one channel of a region by: its scored pixels, perturbation and weighing."""

    def __init__(self, observed, psf, noise, *, unscored, floor, seed):
        self.psf, self.noise = psf, noise
        self.inner = tuple(slice(r, n - r) for r, n in zip(psf_radius(psf), observed.shape))
        self.scored = scipy.signal.fftconvolve(np.isnan(observed), np.ones(psf.shape), mode="valid") < 0.5
        if unscored is not None and (self.scored & ~unscored[self.inner]).any():
            self.scored &= ~unscored[self.inner]
        self.perturbation = PERTURBATION * noise * np.random.default_rng(seed).standard_normal(observed.shape)
        self.weights = None if floor is None else error_weights(self.scored.shape, psf, floor)

    def predict(self, restored):
        """The blurred restoration on the scored pixels."""
        return scipy.signal.fftconvolve(np.nan_to_num(restored), self.psf, mode="valid")[self.scored]

    def weighed(self, values):
        """``W values``, the scored pixels' values weighed at each frequency of their grid, zero where not scored."""
        if self.weights is None:
            return values
        spread = np.zeros(self.scored.shape)
        spread[self.scored] = values
        return scipy.fft.irfft2(self.weights * scipy.fft.rfft2(spread), s=self.scored.shape)[self.scored]

    def terms(self, observed, restored, perturbed):
        """:func:`_stein_terms` from the restorations of ``observed`` and of it perturbed."""
        predicted = self.predict(restored)
        moved = self.predict(perturbed) - predicted
        residual = predicted - observed[self.inner][self.scored]
        # Each pixel's divergence weighed by its noise variance, as the perturbation, shaped like the noise, gives
        # it, and by W: the trace of W J Σ. W's diagonal is its weights' mean, so the noise's own term is that times
        # Σ's trace.
        weighed_divergence = np.sum(self.weighed(self.perturbation[self.inner][self.scored]) * moved) / PERTURBATION**2
        variance = np.broadcast_to(np.square(self.noise), observed.shape)[self.inner][self.scored]
        # The inverse transform at the origin is the weights' mean over the whole grid.
        mean_weight = 1.0 if self.weights is None else scipy.fft.irfft2(self.weights, s=self.scored.shape)[0, 0]
        return residual, self.weighed(residual), float(weighed_divergence), float(mean_weight * np.sum(variance))


def _mix_risk(smooth, detailed):
    """``(c0, c1, c2)``: :func:`prediction_risk` of the mix ``(1 - s) x_smooth + s x_detailed`` of two restorations of
    one region, as ``c0 + c1 s + c2 s²``, from their :func:`_stein_terms`.

    The blur, and so the residual, is linear in the restoration, and so is the
    divergence: the estimate of a mix is a quadratic in its share. The
    weighing is symmetric, so ``aᵀ W b = bᵀ W a``.

    Examples
    --------
    >>> one, other = (np.array([1.0, -1.0]),) * 2 + (0.5, 2.0), (np.array([0.0, 1.0]),) * 2 + (1.0, 2.0)
    >>> coefficients = _mix_risk(one, other)  # each alone: (2 + 1 - 2) / 2 and (1 + 2 - 2) / 2
    >>> coefficients.tolist(), float(np.polyval(coefficients[::-1], 0.5))
    ([0.5, -2.5, 2.5], -0.125)
    """
    (residual, weighed, divergence, variance), (other_residual, other_weighed, other_divergence, _) = smooth, detailed
    step = other_residual - residual
    return np.array([residual @ weighed + 2 * divergence - variance,
                     2 * (step @ weighed) + 2 * (other_divergence - divergence),
                     step @ (other_weighed - weighed)]) / residual.size


def default_loss(mu, noise=None):
    """The loss that ``loss=None``, the default, stands for: ``"auto"``, or ``laplacian`` where a given ``mu`` or
    ``noise`` level asks for what ``"auto"`` cannot take (see :func:`check_request`).

    Examples
    --------
    >>> default_loss("auto"), default_loss(0.01), default_loss("auto", noise=0.01)
    ('auto', 'laplacian', 'laplacian')
    """
    return "auto" if is_auto(mu) and noise is None else CANDIDATES[0]


def check_request(mu, changed_eps=None):
    """Refuse what ``loss="auto"`` cannot take: a given ``mu``, or an ``eps`` other than the default
    (``changed_eps``), which neither of its losses takes.

    ``mu`` means another thing to each loss (a smoothness weight, a noise
    variance), so only ``"auto"`` serves both.

    Examples
    --------
    >>> check_request("auto")
    >>> check_request(0.01)
    Traceback (most recent call last):
    ...
    ValueError: mu: expected 'auto' with loss 'auto', whose losses weigh mu on different scales, got 0.01 instead.
    """
    if not is_auto(mu):
        raise ValueError(f"mu: expected 'auto' with loss 'auto', whose losses weigh mu on different scales, "
                         f"got {mu!r} instead.")
    if changed_eps is not None:
        raise ValueError(f"eps: expected the default with loss 'auto', whose losses {CANDIDATES} smooth no edges by "
                         f"it (only 'tv' does), got {changed_eps!r} instead.")


def choose_loss(read_region, shape, psfs, settings, solve_channels, *, together=True, denoise=False, jpeg_blocks=None,
                progress=False, stacklevel=1):
    """The loss of :data:`CANDIDATES` for each channel of a whole image, its ``mu="auto"`` weights, the noise levels
    that its pass of non-local means takes (:mod:`tiledeblur.denoising`), where ``denoise`` asks for one, the contrasts
    that ``nlmeans`` starts from (:func:`~tiledeblur.regularization.sampled_contrasts`), the lines of its noise
    that its denoiser follows (:func:`~tiledeblur.shotnoise.sampled_noise_lines`), and its mix with ``laplacian``,
    where it is mixed.

    ``read_region``, ``psfs`` and ``jpeg_blocks`` are those of
    :func:`~tiledeblur.regularization.estimate_image_mu`; each region's
    channels are restored by ``solve_channels(regions, psfs, settings,
    together=together)`` (:func:`tiledeblur.solver.solve_channels`), with
    ``settings`` of each loss and each channel's weight in turn (their other
    fields, such as ``tol``, stay). Channels ``together`` (of one scene) get
    one choice, from their estimates summed; those denoised alone each their
    own. Regions that ``mu="auto"`` leaves out (flat, or missing
    too many pixels) are left out; where none is left, it is
    :data:`CANDIDATES`' first, with a :class:`MuWarning`. Where ``laplacian``
    is estimated better, a mix with ``nlmeans`` may be (:func:`best_share`).
    With ``progress``, each region compared is told as it ends
    (:func:`~tiledeblur.progress.tell`): on an RGB scan each takes seconds.

    Returns
    -------
    losses : tuple of str
        One loss per channel.
    mus : tuple of float
        One weight per channel.
    noises : tuple of float or None
        One noise level per channel for :class:`~tiledeblur.settings.SolverSettings`' ``noise``: None for each
        without ``denoise``, or for ``nlmeans``.
    contrasts : tuple of float or None
        One per channel for its ``contrast``: None for each but with ``nlmeans``.
    noise_lines : tuple of NoiseLine or None
        One per channel for its ``noise_line``: None for each but with ``nlmeans``, and for a JPEG's (see the
        notes), or a channel whose noise is alike at every level.
    mixes : tuple of (float, float) or None
        One per channel for its ``mix``: ``laplacian``'s share and weight where ``nlmeans`` is mixed with it, else
        None for each (see the notes).

    Examples
    --------
    >>> from tiledeblur import gaussian_psf
    >>> from tiledeblur.settings import SolverSettings
    >>> from tiledeblur.solver import solve_channels
    >>> flat = np.full((64, 64), 0.5) + np.random.default_rng(0).normal(0, 0.01, (64, 64))
    >>> choose_loss(lambda yx: flat[yx][None], flat.shape, [gaussian_psf(7, 1.0)], SolverSettings(), solve_channels)[0]
    ('laplacian',)
    """
    mus = estimate_image_mus(read_region, shape, psfs, (*CANDIDATES, "noise", "content"), jpeg_blocks=jpeg_blocks,
                             stacklevel=stacklevel + 1)
    # The solves alone are compared, as NLMEANS_ALLOWANCE was set on them, and the pass follows the choice (see the
    # notes).
    noises = {loss: mus["noise"] if denoise and loss in DENOISED_LOSSES else (None,) * len(psfs)
              for loss in CANDIDATES}
    contrasts = {"laplacian": (None,) * len(psfs), "nlmeans": sampled_contrasts(read_region, shape, len(psfs))}
    noise_lines = {"laplacian": (None,) * len(psfs), "nlmeans": nlmeans_noise_lines(read_region, shape, psfs,
                                                                                    jpeg_blocks=jpeg_blocks)}
    # Stein's estimate of the mix (1 - s) laplacian + s nlmeans as a quadratic in s, relative to each channel's noise
    # variance, so that each channel counts alike whatever its scale.
    mix_risks, compared = np.zeros((len(psfs), 3)), np.zeros(len(psfs), dtype=bool)
    regions, started = compared_regions(mus["content"], shape), time.monotonic()
    for done, yx in enumerate(regions, start=1):
        sides = image_sides(yx, shape)
        informative = [(channel, region) for channel, region in enumerate(read_region(yx)) if is_informative(region)]
        variances, noises_here, bands = [], [], []
        for channel, region in informative:
            psf = psfs[channel]
            variances.append(mus["nlmeans"][channel] / NOISE_WEIGHT)
            noises_here.append(np.sqrt(variances[-1] * _relative_variances(region, noise_lines["nlmeans"][channel],
                                                                           jpeg=jpeg_blocks is not None)))
            # A border that a blur with zeros beyond the image faded to black, scored, chose nlmeans for a cell
            # that it lost by 3.3 dB; left out where not faded, it turned a clock to nlmeans, 1.3 dB worse (see the
            # notes).
            bands.append(border_band(region.shape, psf.shape, sides) if is_border_faded(region, psf, sides) else None)
        if informative:
            # The channels are restored as run restores them, together or alone (see tiledeblur.denoising).
            terms = [_channels_stein_terms(
                [region for _, region in informative], [psfs[channel] for channel, _ in informative], noises_here,
                functools.partial(_restored, functools.partial(solve_channels, together=together),
                                  [psfs[channel] for channel, _ in informative],
                                  [dataclasses.replace(settings, loss=loss, mu=mus[loss][channel],
                                                       contrast=contrasts[loss][channel],
                                                       noise_line=noise_lines[loss][channel])
                                   for channel, _ in informative]),
                unscored=bands, floor=WEIGHING_FLOOR)
                for loss in CANDIDATES]
            for (channel, _), variance, smooth, detailed in zip(informative, variances, *terms):
                mix_risks[channel] += _mix_risk(smooth, detailed) / variance
                compared[channel] = True
        tell(f"loss 'auto': {done} of {len(regions)} regions compared after "
             f"{duration_text(time.monotonic() - started)}", progress=progress)
    if not compared.any():
        warnings.warn(
            f"loss: 'auto' found no region to compare its losses on among its {len(regions)} samples (each was "
            f"constant or missed more than {MAX_MISSING_SHARE:.0%} of its pixels); it used {CANDIDATES[0]}.",
            MuWarning, stacklevel=stacklevel + 1,
        )
    # nlmeans' share of each channel: 0, laplacian, for a channel that no region compared (constant throughout).
    if together:
        shares = [best_share(mix_risks.sum(axis=0)) if compared.any() else 0.0] * len(psfs)
    else:
        shares = [best_share(risk) if seen else 0.0 for risk, seen in zip(mix_risks, compared)]
    losses = tuple("nlmeans" if share else "laplacian" for share in shares)
    mixes = tuple((1 - share, mu) if 0 < share < 1 else None for share, mu in zip(shares, mus["laplacian"]))
    return losses, *(tuple(values[loss][channel] for channel, loss in enumerate(losses))
                     for values in (mus, noises, contrasts, noise_lines)), mixes


def _relative_variances(region, line, *, jpeg):
    """Each pixel's noise variance in ``region`` relative to the image's level, by the image's noise ``line``
    (:func:`nlmeans_noise_lines`), which ``nlmeans``' denoiser follows: zero in clipped or filled plateaus, which
    hold none (see the notes), and one for a JPEG's pixels.

    The level is spread over the pixels as the noise of a photon-counting
    sensor grows with the signal: weighed alike, a star field with photon
    noise chose ``nlmeans``, which lost it by 9.6 dB. A JPEG's error is its
    quantization's, whatever the level, and it leaves no line to fit.

    Examples
    --------
    A ramp counted at 200 photons per unit, black over its first quarter:

    >>> scene = np.tile(np.linspace(0, 1, 128), (128, 1))
    >>> scene[:, :32] = 0
    >>> counted = np.random.default_rng(0).poisson(scene * 200) / 200
    >>> line, = nlmeans_noise_lines(lambda yx: counted[yx][None], scene.shape, [np.ones((3, 3)) / 9])
    >>> relative = _relative_variances(counted, line, jpeg=False)
    >>> float(relative[64, 10]), round(float(relative[:, 120].mean() / relative[:, 64].mean()), 1)  # levels 0.94, 0.5
    (0.0, 1.7)
    """
    if jpeg:
        return 1.0
    return np.where(plateaus(region), 0.0, relative_noise_variance(region, line))


def nlmeans_noise_lines(read_region, shape, psfs, *, jpeg_blocks=None):
    """:func:`~tiledeblur.shotnoise.sampled_noise_lines`, or None for each channel of an image that shows JPEG's
    blocks (``jpeg_blocks``), whose error is its quantization's, whatever the level (see the notes).

    Examples
    --------
    >>> image = np.random.default_rng(0).poisson(np.full((1, 64, 64), 20.0)) / 20
    >>> nlmeans_noise_lines(lambda yx: image[(slice(None), *yx)], (64, 64), [np.ones((3, 3)) / 9], jpeg_blocks=(0, 0))
    (None,)
    """
    return (None,) * len(psfs) if jpeg_blocks is not None else sampled_noise_lines(read_region, shape, psfs)


def compared_regions(content, shape):
    """Up to ``SAMPLES`` of the regions ``content`` that hold more than noise (see
    :func:`~tiledeblur.regularization.estimate_image_mus`), spread over them, or where none does, a 2 x 2 grid of
    :func:`~tiledeblur.regularization.sample_regions` of an image of ``shape``.

    Found by a probe: the grid's regions are an image's corners, which on a
    slide are glass; a retina amid glass chose ``nlmeans`` alone, where the
    retina alone chose a mix.

    Examples
    --------
    >>> content = [(slice(0, 256), slice(x, x + 256)) for x in range(0, 1536, 256)]
    >>> [x.start for _, x in compared_regions(content, (256, 1536))]
    [0, 512, 768, 1280]
    >>> len(compared_regions([], (1024, 1024)))
    4
    """
    if not content:
        return sample_regions(shape, SAMPLES)
    return [content[index] for index in np.unique(np.linspace(0, len(content) - 1, SAMPLES).round().astype(int))]


def best_share(mix_risk):
    """``nlmeans``' share of its mix with ``laplacian``, from :func:`_mix_risk`'s coefficients ``mix_risk``: 1 for
    ``nlmeans`` alone, 0 for ``laplacian`` alone.

    ``nlmeans`` is taken alone where it is estimated no worse than
    ``laplacian``. Otherwise the share that minimizes the estimate is, where
    it gains at least ``MIX_GAIN`` over ``laplacian`` alone; where it gains
    less, ``nlmeans`` alone is taken within ``NLMEANS_ALLOWANCE`` of
    ``laplacian``, and ``laplacian`` beyond (see the notes).

    Examples
    --------
    ``nlmeans`` estimated better; within the allowance, and mixed there;
    beyond it, mixed, and neither mixed nor within it:

    >>> [round(best_share(np.array(coefficients)), 2) for coefficients in
    ...  ([0.5, -0.1, 0.05], [0.5, 0.02, 0.0], [0.5, -0.2, 0.22], [0.5, -0.2, 0.25], [0.5, -0.002, 0.25])]
    [1.0, 1.0, 0.45, 0.4, 0.0]
    """
    alone, slope, curvature = mix_risk
    nlmeans_alone = float(np.sum(mix_risk))
    if nlmeans_alone <= alone:
        return 1.0
    share = float(np.clip(-slope / (2 * curvature), 0, 1)) if curvature > 0 else 0.0
    if alone > 0 and np.polyval(mix_risk[::-1], share) * MIX_GAIN < alone:
        return share
    return 1.0 if nlmeans_alone <= NLMEANS_ALLOWANCE * alone else 0.0


def _restored(solve_channels, psfs, settings, images):
    """The images that ``solve_channels(images, psfs, settings)`` restores, without their info."""
    return [restored for restored, _ in solve_channels(images, psfs, settings)]


def tell_of_choice(*, progress):
    """:func:`~tiledeblur.progress.tell` that ``loss="auto"`` chooses, before the plan: seconds per region and channel.

    Found by a probe: ``plan --loss auto`` said nothing for 85 s on a 2048² RGB scan, where ``run`` told this.
    """
    tell(f"loss 'auto': solving {' and '.join(CANDIDATES)} on up to {SAMPLES} sample regions to choose between "
         "them (some seconds per region and channel)", progress=progress)
