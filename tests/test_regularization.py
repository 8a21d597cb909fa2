"""mu="auto" for a whole scan: the regions that choose it."""

import numpy as np
from skimage import data

from tiledeblur import gaussian_psf
from tiledeblur.operators import Blur
from tiledeblur.regularization import estimate_image_mu


def test_glass_and_sky_do_not_choose_the_weight():
    """A slide whose sample covers a quarter of it: its glass, flat or noisy, must not outvote the sample."""
    psf = gaussian_psf(13, (1, 3))
    rng = np.random.default_rng(0)
    scene = np.pad(data.camera() / 255.0, 6, mode="reflect")  # the camera, blurred as part of a larger scene
    sample = Blur(psf, (512, 512), boundary="free").matvec(scene)
    sample += rng.normal(0, 0.01, sample.shape)
    expected = estimate_image_mu(lambda yx: sample[yx][None], sample.shape, [psf], "tikhonov")
    for glass in (np.full((1024, 1024), 0.9), 0.9 + rng.normal(0, 0.01, (1024, 1024))):
        slide = glass.copy()
        slide[256:768, 256:768] = sample
        assert estimate_image_mu(lambda yx, slide=slide: slide[yx][None], slide.shape, [psf], "tikhonov") == expected
