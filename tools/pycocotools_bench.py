#!/usr/bin/env python3
"""The peer figures for bench/eval.ts: pycocotools' or faster-coco-eval's COCOeval (bbox) on the same gt.json /
dt.json that psdet evaluates.

    bash tools/build-peers.sh .peers        # bench/eval.ts does this when .peers is missing
    PYTHONPATH=.peers /usr/bin/python3 tools/pycocotools_bench.py gt.json dt.json [pycocotools|faster-coco-eval]

Prints one JSON object: seconds for COCO(gt), loadRes, evaluate, accumulate, summarize, their total (loadRes to
summarize), the CPU time from COCO(gt) to the end of summarize (user + system, as bench/eval.ts times psdet), peak
RSS in MB and the 12 stats. Exits 3 when the peer is missing.
"""
import contextlib
import io
import json
import resource
import sys
import time


def load(peer):
    if peer == "pycocotools":
        import pycocotools
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
        return getattr(pycocotools, "__version__", "2.0.11"), COCO, COCOeval
    if peer == "faster-coco-eval":
        import faster_coco_eval
        from faster_coco_eval import COCO, COCOeval_faster
        return faster_coco_eval.__version__, COCO, COCOeval_faster
    raise SystemExit(f"unknown peer {peer!r} (pycocotools or faster-coco-eval)")


def main() -> int:
    gt_path, dt_path = sys.argv[1], sys.argv[2]
    peer = sys.argv[3] if len(sys.argv) > 3 else "pycocotools"
    try:
        import numpy as np
        version, COCO, COCOeval = load(peer)
    except ImportError as err:
        print(json.dumps({"error": f"{peer} not importable: {err}"}))
        return 3
    quiet = io.StringIO()
    times = {}
    cpu0 = time.process_time()
    t = time.perf_counter()
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        gt = COCO(gt_path)
    times["load_gt_s"] = time.perf_counter() - t
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        dt = gt.loadRes(dt_path)
    times["loadres_s"] = time.perf_counter() - t0
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        ev = COCOeval(gt, dt, "bbox")
        t = time.perf_counter()
        ev.evaluate()
        times["evaluate_s"] = time.perf_counter() - t
        t = time.perf_counter()
        ev.accumulate()
        times["accumulate_s"] = time.perf_counter() - t
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(quiet):
        t = time.perf_counter()
        ev.summarize()
        times["summarize_s"] = time.perf_counter() - t
    times["total_s"] = time.perf_counter() - t0
    cpu_s = time.process_time() - cpu0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    per_category = {}
    precision = ev.eval["precision"]
    for k, cat_id in enumerate(ev.params.catIds):
        p = precision[:, :, k, 0, -1]
        per_category[str(cat_id)] = float(np.mean(p[p > -1])) if (p > -1).any() else -1.0
    print(json.dumps({
        "peer": peer,
        "version": version,
        "numpy": np.__version__,
        **times,
        "cpu_s": cpu_s,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "stats": [float(s) for s in ev.stats[:12]],
        "perCategoryAP": per_category,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
