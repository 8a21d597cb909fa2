"""The examples run, at their small size, and reach their figures."""

import runpy
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_article_reproduction(tmp_path):
    main = runpy.run_path(str(EXAMPLES / "article.py"))["main"]
    blurred_db, restored_db, png = main(tmp_path)
    assert round(blurred_db, 1) == 19.9
    assert restored_db >= 24.0
    assert png.stat().st_size > 10_000


def test_gigapixel_demo_at_small_size(tmp_path):
    main = runpy.run_path(str(EXAMPLES / "gigapixel.py"))["main"]
    blurred_db, restored_db, png = main(size=600, out_dir=tmp_path, n_workers=2)
    assert restored_db > blurred_db + 2.0
    assert png.stat().st_size > 50_000
