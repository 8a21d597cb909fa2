import numpy as np
import pytest
from skimage.draw import line_aa

from tiledeblur import gaussian_psf
from tiledeblur.tiling import MAX_HALO, TilePlan, auto_halo


@pytest.mark.parametrize(("shape", "tile", "halo"), [((100, 70), 32, 9), ((64, 64), 64, 20), ((5, 300), 16, 40)])
def test_cores_partition_the_image_and_reads_hold_them(shape, tile, halo):
    plan = TilePlan(shape=shape, tile=tile, chunk=tile, halo=halo)
    covered = np.zeros(shape, dtype=int)
    image = np.arange(np.prod(shape)).reshape(shape)
    for t in plan.tiles():
        covered[t.core] += 1
        np.testing.assert_array_equal(image[t.read][t.trim], image[t.core])
        for core, read, size in zip(t.core, t.read, shape):
            assert read.start == max(core.start - halo, 0) and read.stop == min(core.stop + halo, size)
            assert core.start % tile == 0  # every core starts on a chunk boundary: one writer per chunk
    assert (covered == 1).all()
    assert len(plan) == len(list(plan.tiles()))


def test_a_hundred_thousand_tiles_are_made_on_demand():
    plan = TilePlan(shape=(316 * 512, 317 * 512), tile=512, chunk=512, halo=43)
    assert len(plan) == 100_172
    last = None
    for last in plan.tiles():
        pass
    assert last.index == (315, 316)


def test_auto_halo_grows_as_mu_shrinks_and_stays_in_bounds():
    psf = gaussian_psf(13, (1, 3))
    halos = [auto_halo(psf, mu) for mu in (0.1, 0.01, 0.001)]
    assert halos == sorted(halos) and halos[0] < halos[-1]
    assert all(6 <= h <= MAX_HALO for h in halos)
    assert auto_halo(gaussian_psf(41, 1.0), 10.0) == 20  # never below the PSF radius


def test_auto_halo_of_a_psf_padded_with_zeros_beyond_the_limit_is_its_radius():
    """A measured PSF stored in a large array: the halo must still cover its radius."""
    padded, small = np.zeros((1501, 2501)), gaussian_psf(13, 2.0)
    padded[744:757, 1244:1257] = small
    assert auto_halo(padded, 0.01) == 1250
    padded = np.zeros((1501, 1501))
    padded[744:757, 744:757] = small
    assert auto_halo(padded, 0.01) == 750  # its radius: the grid holds the whole PSF, whose spectrum is the small one's


def _motion_psf(length, degrees):
    """A normalized anti-aliased line of ``length`` px at ``degrees``."""
    psf, middle = np.zeros((length, length)), length // 2
    reach = middle  # end to end, the line spans ``length`` px along its direction
    dy, dx = round(reach * np.sin(np.radians(degrees))), round(reach * np.cos(np.radians(degrees)))
    rows, columns, values = line_aa(middle + dy, middle - dx, middle - dy, middle + dx)
    psf[rows, columns] = values
    return psf / psf.sum()


def test_auto_halo_follows_long_motion_blur_to_its_limit():
    """A 21 px motion line needs longer halos than any Gaussian here (the limit was 256 px, and tiles showed seams)."""
    assert 256 < auto_halo(_motion_psf(21, 30), 1e-2) < MAX_HALO
    assert auto_halo(_motion_psf(21, 80), 1e-3) == MAX_HALO
