import numpy as np
import pytest

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
