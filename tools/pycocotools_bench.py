#!/usr/bin/env python3
"""The peer figure for bench/eval.ts: pycocotools COCOeval (bbox) on the same gt.json / dt.json.

    npm run bench:eval                      # writes .bench/eval/gt.json and dt.json
    python3 tools/pycocotools_bench.py .bench/eval/gt.json .bench/eval/dt.json

Prints one JSON object: seconds for COCO(gt), loadRes, evaluate, accumulate, summarize, their total (loadRes to
summarize, as bench/eval.ts times psdet), peak RSS in MB and the 12 stats. Exits 3 when pycocotools is missing.
"""
import contextlib
import io
import json
import resource
import sys
import time


def main() -> int:
    try:
        import numpy as np
        import pycocotools
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as err:
        print(json.dumps({"error": f"pycocotools not importable: {err}"}))
        return 3
    gt_path, dt_path = sys.argv[1], sys.argv[2]
    quiet = io.StringIO()
    times = {}
    t = time.perf_counter()
    with contextlib.redirect_stdout(quiet):
        gt = COCO(gt_path)
    times["load_gt_s"] = time.perf_counter() - t
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(quiet):
        dt = gt.loadRes(dt_path)
    times["loadres_s"] = time.perf_counter() - t0
    with contextlib.redirect_stdout(quiet):
        ev = COCOeval(gt, dt, "bbox")
        t = time.perf_counter()
        ev.evaluate()
        times["evaluate_s"] = time.perf_counter() - t
        t = time.perf_counter()
        ev.accumulate()
        times["accumulate_s"] = time.perf_counter() - t
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        t = time.perf_counter()
        ev.summarize()
        times["summarize_s"] = time.perf_counter() - t
    times["total_s"] = time.perf_counter() - t0
    per_category = {}
    precision = ev.eval["precision"]
    for k, cat_id in enumerate(ev.params.catIds):
        p = precision[:, :, k, 0, -1]
        per_category[str(cat_id)] = float(np.mean(p[p > -1])) if (p > -1).any() else -1.0
    print(json.dumps({
        "pycocotools": getattr(pycocotools, "__version__", "unknown"),
        "numpy": np.__version__,
        **times,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "stats": [float(s) for s in ev.stats],
        "summary": out.getvalue().rstrip("\n").split("\n"),
        "perCategoryAP": per_category,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
