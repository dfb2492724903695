#!/usr/bin/env python3
"""Writes test/fixtures/cocoeval-corners.json: pycocotools 2.0.11's numbers on the corners where a COCO evaluator
can differ from it (undeclared categories and images, categories listed twice or unsorted without useCats, string
ids, ids beyond 2^53), so that the tests check psdet against them without pycocotools installed.

    bash tools/build-peers.sh .peers
    PYTHONPATH=.peers /usr/bin/python3 tools/gen_cocoeval_corners.py

Each case holds the GT and results as JSON text (written to files by the test, so tokens such as 2^53 + 1 reach the
reader as written), the parameters, and pycocotools' 12 stats and per-category AP, or the error psdet must give
instead (`psdet_error`) with what pycocotools printed. Scores take few distinct values, so exact ties occur (their
order is part of what is checked); no value sits near a rounding boundary.
"""
import contextlib
import io
import json
import os
import random
import sys
import tempfile

import numpy as np
import pycocotools
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "cocoeval-corners.json")


def base_case(seed, image_ids, category_ids, per_image=4):
    """A small GT (crowds, all area ranges) and detections: jittered copies (some of the wrong class) and noise."""
    rng = random.Random(seed)
    images = [{"id": i, "width": 200, "height": 200} for i in image_ids]
    categories = [{"id": c, "name": f"c{c}"} for c in category_ids]
    anns, dets = [], []
    ann_id = 1
    for img in image_ids:
        for _ in range(rng.randint(1, per_image)):
            w = rng.choice([6, 12, 20, 40, 60, 110, 150])
            h = rng.choice([8, 16, 30, 50, 90, 120])
            x, y = rng.randint(0, 200 - w), rng.randint(0, 200 - h)
            cat = rng.choice(category_ids)
            crowd = 1 if rng.random() < 0.08 else 0
            anns.append({"id": ann_id, "image_id": img, "category_id": cat, "bbox": [x, y, w, h], "area": w * h * 0.75, "iscrowd": crowd})
            ann_id += 1
            for _ in range(rng.randint(1, 3)):
                dx, dy = rng.randint(-4, 4), rng.randint(-4, 4)
                c = cat if rng.random() < 0.8 else rng.choice(category_ids)
                dets.append({"image_id": img, "category_id": c, "bbox": [x + dx, y + dy, w + rng.randint(-3, 3), h + rng.randint(-3, 3)],
                             "score": rng.choice([0.9, 0.75, 0.5, 0.25])})
        for _ in range(rng.randint(0, 3)):
            w, h = rng.randint(5, 80), rng.randint(5, 80)
            dets.append({"image_id": img, "category_id": rng.choice(category_ids), "bbox": [rng.randint(0, 120), rng.randint(0, 120), w, h],
                         "score": rng.choice([0.5, 0.25, 0.1])})
    return {"images": images, "categories": categories, "annotations": anns}, dets


def evaluate(gt_text, dt_text, params):
    """pycocotools on the texts: (stats, per-category AP) or the error it raised."""
    with tempfile.TemporaryDirectory() as tmp:
        gp, dp = os.path.join(tmp, "gt.json"), os.path.join(tmp, "dt.json")
        with open(gp, "w") as f:
            f.write(gt_text)
        with open(dp, "w") as f:
            f.write(dt_text)
        quiet = io.StringIO()
        try:
            with contextlib.redirect_stdout(quiet):
                gt = COCO(gp)
                dt = gt.loadRes(dp)
                ev = COCOeval(gt, dt, "bbox")
                if "useCats" in params:
                    ev.params.useCats = params["useCats"]
                if "catIds" in params:
                    ev.params.catIds = params["catIds"]
                if "imgIds" in params:
                    ev.params.imgIds = params["imgIds"]
                ev.evaluate()
                ev.accumulate()
                ev.summarize()
        except Exception as err:  # recorded: psdet must refuse such a case with a clear line
            return {"pycocotools_error": f"{type(err).__name__}: {err}"}
        per_category = {}
        if ev.params.useCats:
            precision = ev.eval["precision"]
            for k, cat_id in enumerate(ev.params.catIds):
                p = precision[:, :, k, 0, -1]
                per_category[str(cat_id)] = float(np.mean(p[p > -1])) if (p > -1).any() else -1.0
        return {"stats": [float(s) for s in ev.stats], "perCategoryAP": per_category}


def case(name, about, gt, dts, params=None, gt_text=None, dt_text=None, **expect):
    params = params or {}
    gt_text = gt_text if gt_text is not None else json.dumps(gt)
    dt_text = dt_text if dt_text is not None else json.dumps(dts)
    out = {"name": name, "about": about, "params": params, "gt": gt_text, "dt": dt_text}
    out.update(evaluate(gt_text, dt_text, params))
    out.update(expect)
    return out


def main():
    cases = []

    # A model's full category list against a GT that declares a subset: pycocotools ignores the rest.
    gt, dts = base_case(1, [1, 2, 3, 4, 5, 6], [1, 2, 3])
    rng = random.Random(11)
    extra = [{"image_id": d["image_id"], "category_id": rng.choice([4, 90]), "bbox": d["bbox"], "score": d["score"]} for d in dts[::3]]
    mixed = [x for pair in zip(dts, extra + [None] * len(dts)) for x in pair if x is not None]
    cases.append(case("undeclared-detection-categories", "detections of categories 4 and 90, which the GT does not declare", gt, mixed,
                      ignored={"detections": len(extra)}))
    cases.append(case("undeclared-detection-categories-usecats0", "the same without useCats", gt, mixed, {"useCats": 0},
                      ignored={"detections": len(extra)}))

    # GT annotations on an undeclared image and of an undeclared category.
    gt, dts = base_case(2, [1, 2, 3, 4, 5], [1, 2])
    gt["annotations"].append({"id": 900, "image_id": 77, "category_id": 1, "bbox": [10, 10, 50, 50], "area": 2500, "iscrowd": 0})
    gt["annotations"].append({"id": 901, "image_id": 2, "category_id": 5, "bbox": [10, 10, 50, 50], "area": 2500, "iscrowd": 0})
    gt["annotations"].append({"id": 902, "image_id": 3, "category_id": 6, "bbox": [0, 0, 80, 80], "area": 6400, "iscrowd": 0})
    cases.append(case("undeclared-gt-image-and-category", "GT annotations on image 77 and of categories 5 and 6, none declared", gt, dts,
                      ignored={"gtImage": 1, "gtCategory": 2}))
    cases.append(case("undeclared-gt-image-and-category-usecats0", "the same without useCats", gt, dts, {"useCats": 0},
                      ignored={"gtImage": 1, "gtCategory": 2}))

    # A category listed twice in the GT: without useCats its boxes count twice.
    gt, dts = base_case(3, [1, 2, 3, 4, 5, 6], [1, 2, 3])
    gt["categories"].insert(1, {"id": 3, "name": "c3 again"})
    cases.append(case("gt-category-twice-usecats0", "category 3 listed twice, useCats=0", gt, dts, {"useCats": 0}))
    cases.append(case("gt-category-twice-usecats1", "category 3 listed twice, useCats=1 (np.unique: once)", gt, dts))

    # catIds unsorted and with repeats without useCats: the order decides tied scores, repeats count twice.
    gt, dts = base_case(4, [1, 2, 3, 4, 5, 6, 7], [1, 2, 3])
    for img in [1, 2, 3, 4, 5, 6, 7]:
        gt["annotations"].append({"id": 1000 + img, "image_id": img, "category_id": 1, "bbox": [150, 150, 40, 40], "area": 1600, "iscrowd": 0})
        dts.append({"image_id": img, "category_id": 3, "bbox": [0, 150, 30, 30], "score": 0.6})
        dts.append({"image_id": img, "category_id": 1, "bbox": [151, 151, 40, 40], "score": 0.6})
    cases.append(case("catids-unsorted-repeated-usecats0", "catIds [3, 1, 3] without useCats", gt, dts, {"useCats": 0, "catIds": [3, 1, 3]}))
    cases.append(case("catids-sorted-usecats0", "catIds [1, 3] without useCats (the tie order differs from [3, 1, 3])", gt, dts, {"useCats": 0, "catIds": [1, 3]}))
    cases.append(case("catids-unsorted-repeated-usecats1", "catIds [3, 1, 3] with useCats (np.unique)", gt, dts, {"useCats": 1, "catIds": [3, 1, 3]}))

    # String ids, sorted by code point (image "B" before "a", "a10" before "a2").
    names = ["a2", "a10", "B", "\u00e9t\u00e9", "z"]
    gt, dts = base_case(5, names, ["person", "car", "Bike"])
    cases.append(case("string-ids", "string image and category ids", gt, dts))
    cases.append(case("string-ids-usecats0", "string ids without useCats", gt, dts, {"useCats": 0}))
    cases.append(case("string-ids-subsets", "string ids with image and category subsets", gt, dts, {"imgIds": ["z", "a2", "B"], "catIds": ["person", "Bike"]}))

    # Integer ids beyond 2^53: a double merges 2^53 and 2^53 + 1. psdet refuses them.
    big = 2 ** 53
    gt = {"images": [{"id": big}, {"id": big + 1}], "categories": [{"id": 1}],
          "annotations": [{"id": 1, "image_id": big, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0}]}
    dts = [{"image_id": big + 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9}]
    cases.append(case("image-ids-beyond-2^53", "images 2^53 and 2^53 + 1 (the GT box is on one, the detection on the other)", gt, dts,
                      psdet_error='index 1: field "images.id": id 9007199254740993 is not exactly representable'))

    about = {
        "source": f"pycocotools {getattr(pycocotools, '__version__', '2.0.11')} (numpy {np.__version__}), built from ../shared/peers by tools/build-peers.sh",
        "generator": "tools/gen_cocoeval_corners.py",
        "fields": "gt/dt: file texts; params: COCOeval.params overrides as written (ids as in the GT); stats and perCategoryAP: "
                  "pycocotools' numbers; ignored: what psdet must report as ignored; psdet_error: the message psdet must give instead",
    }
    with open(OUT, "w") as f:
        json.dump({"about": about, "cases": cases}, f, indent=1)
        f.write("\n")
    for c in cases:
        print(c["name"], c.get("stats", c.get("pycocotools_error"))[:3] if "stats" in c else c.get("pycocotools_error"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
