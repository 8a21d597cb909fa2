"""The dask dashboard of a run, read over HTTP on 127.0.0.1 as a browser would."""

import json
import re
import threading
import time
import urllib.request

import zarr
from skimage import data

from tiledeblur import gaussian_psf, run


def _get(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read().decode("utf-8", "replace")


def test_dashboard_serves_bokeh_and_counts_move(tmp_path, client):
    link = client.dashboard_link
    assert link.startswith("http://127.0.0.1:")
    base = link.rsplit("/", 1)[0]
    status, page = _get(link)
    assert status == 200
    assert "Dask Diagnostic UI" in page and "requires bokeh" not in page.lower()
    scripts = re.findall(r'<script[^>]*src="(static/js/bokeh\.min\.js[^"]*)"', page)
    assert scripts, "the status page links no bokeh script"
    status, script = _get(f"{base}/{scripts[0]}")
    assert status == 200 and "Bokeh" in script[:100_000]

    zarr.create_array(tmp_path / "scan.zarr", data=data.camera()[:256, :256], chunks=(64, 64))
    runner = threading.Thread(target=run, args=(tmp_path / "scan.zarr", gaussian_psf(13, (1, 3))),
                              kwargs={"tile": 64, "mu": 0.01, "client": client, "progress": False})
    runner.start()
    snapshots = []
    while runner.is_alive():
        counts = json.loads(_get(f"{base}/json/counts.json")[1])
        snapshots.append((counts["processing"], counts["memory"], counts["tasks"]))
        time.sleep(0.1)
    runner.join()
    assert any(processing > 0 for processing, _, _ in snapshots)
    assert len(set(snapshots)) > 2, f"the task counts did not move: {sorted(set(snapshots))}"
