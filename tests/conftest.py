"""Shared test data: real images from skimage.data, blurred with real PSFs."""

import subprocess

import numpy as np
import pytest
from skimage import color, data

from tiledeblur import gaussian_psf
from tiledeblur.cluster import give_back_environment, nanny_environment
from tiledeblur.operators import Blur


@pytest.fixture(autouse=True)
def _nanny_environment_kept():
    """Give this process back the variables that the nannies of a test's own ``LocalCluster`` set in it.

    A nanny sets dask's pre-spawn environment in the process that starts it
    and leaves it there, and a nanny takes a variable already set over dask's
    settings: a test's cluster left ``MALLOC_TRIM_THRESHOLD_`` at dask's
    value, which a later ``local_cluster`` in the same process then handed
    its workers instead of its own (found when tests came to run before
    ``local_cluster``'s doctest in its process).
    """
    kept = nanny_environment()
    yield
    give_back_environment(kept)


@pytest.fixture(scope="session")
def article_psf():
    return gaussian_psf(13, (1, 3))


def _recorded(image, psfs, noise=0.01):
    """``image`` (uint8, 2-D or channels last) as a camera records it: each channel blurred by its PSF, with noise.

    Tests where ``mu="auto"`` only has to run take such scans: on a sharp image it picks the grid's smallest weight,
    whose solves are slow, and warns of the PSF. The image stands for a crop of a larger scene, mirrored beyond its
    edges, as a scan's crop is.
    """
    channels = np.atleast_3d(image) / 255
    blurred = np.stack([Blur(psf, channels.shape[:2], boundary="free").matvec(
        np.pad(channels[..., channel], [(side // 2, side // 2) for side in psf.shape], mode="reflect"))
        for channel, psf in enumerate(psfs)], axis=-1)
    noisy = blurred + np.random.default_rng(0).normal(0.0, noise, blurred.shape)
    return np.clip(np.round(noisy * 255), 0, 255).astype(np.uint8).reshape(image.shape)


@pytest.fixture(scope="session")
def recorded():
    """``recorded(image, psfs, noise=0.01)``: a uint8 ``image`` blurred by one PSF per channel, with noise, as uint8."""
    return _recorded


@pytest.fixture(scope="session")
def astronaut_crop(article_psf):
    """A tile-like crop of a larger scene: (truth, observed), 448² with noise 0.01.

    The full 512² gray astronaut is blurred (zero boundary), then the centre is
    kept, so the crop's border sees real scene content blurred in from outside.
    """
    truth = color.rgb2gray(data.astronaut())
    blurred = Blur(article_psf, truth.shape, boundary="zero").matvec(truth)
    centre = slice(32, 480)
    noise = np.random.default_rng(0).normal(0.0, 0.01, (448, 448))
    return truth[centre, centre], blurred[centre, centre] + noise


@pytest.fixture(scope="session")
def camera_case(article_psf):
    """(truth, observed): a 192² crop of the camera scene, blurred by the article's PSF as part of it, noise 0.01."""
    scene = data.camera() / 255
    blurred = Blur(article_psf, scene.shape, boundary="zero").matvec(scene)
    crop = (slice(160, 352), slice(160, 352))
    return scene[crop], blurred[crop] + np.random.default_rng(1).normal(0.0, 0.01, (192, 192))


@pytest.fixture(scope="session")
def client():
    """A real local cluster: two single-threaded worker processes on 127.0.0.1."""
    from distributed import Client

    from tiledeblur.cluster import local_cluster

    with local_cluster(2, dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as connected:
        yield connected


@pytest.fixture(scope="session")
def astronaut_scene(article_psf):
    """(truth, observed): the 512² gray astronaut, blurred, with noise 0.01."""
    truth = color.rgb2gray(data.astronaut())
    blurred = Blur(article_psf, truth.shape, boundary="zero").matvec(truth)
    return truth, blurred + np.random.default_rng(0).normal(0.0, 0.01, truth.shape)


@pytest.fixture
def small_disk(tmp_path):
    """Mount a tmpfs of a given size under ``tmp_path``, unmounted after the test; skip where mounting is refused."""
    mounted = []

    def mount(size):
        disk = tmp_path / f"disk{len(mounted)}"
        disk.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", disk], capture_output=True,
                                check=False)
        if result.returncode:
            pytest.skip(f"no tmpfs mount here: {result.stderr.decode().strip()}")
        mounted.append(disk)
        return disk

    yield mount
    for disk in mounted:
        subprocess.run(["umount", disk], check=True)
