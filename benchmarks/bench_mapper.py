#!/usr/bin/env python
"""Data-loader cost per image at COCO scale: Detectron2's RGB DatasetMapper vs every DCT variant, side by side.

Each pipeline maps the same real photos with Detectron2's training augmentation
(ResizeShortestEdge 800/1333 + horizontal flip), one thread (as in a DataLoader worker), every
pipeline in turn on each image (in a shuffled order), several passes. A mapper's cost is the CPU
time of the call (``time.process_time``: what a loader worker spends, and unlike wall time not
inflated while other jobs hold the core); each photo counts at its median over passes.
Reported per photo group and overall: images/s of one core, the ratio to RGB, and the bytes of
the tensor handed to the model per image (vs RGB's uint8 CHW). Pipelines:

- ``rgb``: Detectron2's ``DatasetMapper`` (what the DCT mappers are compared with);
- ``read+augment``: the floor every pipeline pays (decode, resize, flip; no tensor);
- ``dctC_sS_fB``: ``DCTDatasetMapper``, DCT-C at s=S handed as float B (loader-side DCT);
- ``on_device``: ``INPUT.DCT.ON_DEVICE`` (the mapper hands Detectron2's uint8 image);
- ``paper_dctC_s2``: the paper's released pipeline rebuilt from its description: x2 and x4
  bilinear copies of the augmented image, each encoded as a quality-100 4:2:0 JPEG
  (PyTurboJPEG), the coefficients read back (jpeg2dct): Y from the x2 copy, Cb/Cr from the x4 one,
  both on the (H/4, W/4) grid, then the subset, as float32.

Benchmarks report; they assert nothing about time. Ratios from one run are what to compare
across (shared, noisy) machines.

    python benchmarks/bench_mapper.py --repeat 3 --output output/benchmarks/mapper.json
"""
import argparse
import glob
import json
import os
import platform
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from detectron2.data import DatasetMapper  # noqa: E402
from detectron2.data import detection_utils as utils  # noqa: E402
from detectron2.data import transforms as T  # noqa: E402

from freqdet.detection.config import load_config  # noqa: E402
from freqdet.detection.mapper import DCTDatasetMapper  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(REPO, "configs/COCO-InstanceSegmentation/mask_rcnn_dct24_R_50_FPN_1x.yaml")
PHOTO_DIRS = ["/usr/share/backgrounds/mate", os.path.join(REPO, "datasets/demo/val")]


class ReadAugmentMapper(DatasetMapper):
    """Only what every pipeline must do: read the file and run the augmentations."""

    def __call__(self, dataset_dict):
        image = utils.read_image(dataset_dict["file_name"], format=self.image_format)
        aug_input = T.AugInput(image)
        self.augmentations(aug_input)
        return {"image": aug_input.image}


class PaperPipelineMapper(DCTDatasetMapper):
    """The paper's loader: JPEG-encode x2 / x4 bilinear copies at quality 100, read their coefficients."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from turbojpeg import TJPF_BGR, TJPF_RGB, TJSAMP_420, TurboJPEG

        self._jpeg = TurboJPEG()
        self._encode_kw = dict(quality=100, jpeg_subsample=TJSAMP_420,
                               pixel_format=TJPF_BGR if self.image_format == "BGR" else TJPF_RGB)
        chans = np.asarray(self.input_spec.channels)
        self._picks = [(c, chans[chans // 64 == c] % 64) for c in range(3)]

    def image_to_input(self, image):
        from jpeg2dct.numpy import loads

        h, w = image.shape[:2]
        planes = []
        for scale, comps in ((2, (0,)), (4, (1, 2))):  # Y from the x2 copy, Cb/Cr from the x4 one
            copy = cv2.resize(image, (w * scale, h * scale), interpolation=cv2.INTER_LINEAR)
            coeffs = loads(self._jpeg.encode(copy, **self._encode_kw))
            planes += [coeffs[c][..., self._picks[c][1]] for c in comps]
        gh, gw = min(p.shape[0] for p in planes), min(p.shape[1] for p in planes)
        out = np.concatenate([p[:gh, :gw] for p in planes], axis=-1).transpose(2, 0, 1)
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))


def photos(dirs, max_mpix, max_per_dir):
    """JPEG photos of at most ``max_mpix`` megapixels under ``dirs`` (sorted, first ``max_per_dir`` each),
    each tagged with its folder as its group."""
    found = []
    for d in dirs:
        kept = []
        for f in sorted(glob.glob(os.path.join(d, "**", "*.jp*g"), recursive=True)):
            full = utils.read_image(f)
            if full.shape[0] * full.shape[1] <= max_mpix * 1e6:
                kept.append({"file_name": f, "height": full.shape[0], "width": full.shape[1],
                             "group": os.path.relpath(d, REPO) if d.startswith(REPO) else d})
        found += kept[:max_per_dir]
    return found


def make_cfg(overrides=()):
    cfg = load_config(CONFIG)
    # Detectron2's training augmentation, fixed to 800 so every pipeline does the same work.
    cfg.merge_from_list(["INPUT.MIN_SIZE_TRAIN", (800,), "INPUT.MAX_SIZE_TRAIN", 1333, *overrides])
    return cfg


def pipelines(paper):
    """name -> mapper, in the order they run on each image."""
    rgb_cfg = make_cfg()
    out = {"rgb": DatasetMapper(rgb_cfg, is_train=True), "read+augment": ReadAugmentMapper(rgb_cfg, is_train=True)}
    for c in ("24", "64", "192"):
        for s in (2, 1):
            for dtype in ("float16", "float32"):
                cfg = make_cfg(["INPUT.DCT.CHANNELS", [c], "INPUT.DCT.UPSAMPLE", s, "INPUT.DCT.DTYPE", dtype])
                out[f"dct{c}_s{s}_f{dtype[-2:]}"] = DCTDatasetMapper(cfg, is_train=True)
    out["on_device"] = DCTDatasetMapper(make_cfg(["INPUT.DCT.ON_DEVICE", True]), is_train=True)
    if paper:
        for c in ("24", "192"):
            cfg = make_cfg(["INPUT.DCT.CHANNELS", [c], "INPUT.DCT.DTYPE", "float32"])
            out[f"paper_dct{c}_s2"] = PaperPipelineMapper(cfg, is_train=True)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3, help="passes over the photos (after one warm-up image)")
    p.add_argument("--photos", nargs="+", default=PHOTO_DIRS, help="folders searched for JPEGs")
    p.add_argument("--max-mpix", type=float, default=5.0, help="skip larger photos (COCO-like sizes)")
    p.add_argument("--max-per-dir", type=int, default=16)
    p.add_argument("--no-paper", action="store_true", help="skip the paper's pipeline (PyTurboJPEG, jpeg2dct)")
    p.add_argument("--output", default="output/benchmarks/mapper.json")
    args = p.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    dicts = photos(args.photos, args.max_mpix, args.max_per_dir)
    if not dicts:
        raise SystemExit(f"no JPEG photos under {args.photos} (apt-get install mate-backgrounds; make demo)")
    maps = pipelines(paper=not args.no_paper)
    times = {k: [[] for _ in dicts] for k in maps}  # per pipeline, per photo: CPU seconds of each pass
    nbytes = {k: [] for k in maps}
    for m in maps.values():  # warm-up: caches, lazy imports
        m(dict(dicts[0]))
    order = np.random.default_rng(0)
    for _ in range(args.repeat):
        for i, d in enumerate(dicts):  # every pipeline on the same image in turn: load drifts hit all alike
            for name in order.permutation(list(maps)):
                t = time.process_time()
                out = maps[name](dict(d))
                times[name][i].append(time.process_time() - t)
                nbytes[name].append(out["image"].nbytes)
    groups = {"all": list(range(len(dicts)))}
    for g in dict.fromkeys(d["group"] for d in dicts):
        groups[g] = [i for i, d in enumerate(dicts) if d["group"] == g]
    results = {}
    for g, idx in groups.items():
        mpix = [dicts[i]["height"] * dicts[i]["width"] / 1e6 for i in idx]
        rate = {k: len(idx) / sum(statistics.median(times[k][i]) for i in idx) for k in maps}
        size = {k: statistics.mean(nbytes[k][i] for i in idx) for k in maps}  # same bytes every pass
        results[g] = {"photos": len(idx), "mpix": [min(mpix), max(mpix)], "images_per_s": rate,
                      "ratio_to_rgb": {k: rate[k] / rate["rgb"] for k in maps}, "bytes_per_image": size,
                      "bytes_ratio_to_rgb": {k: size[k] / size["rgb"] for k in maps}}
    head = (f"{len(dicts)} JPEG photos, ResizeShortestEdge 800/1333 + flip, one thread, CPU time per call, "
            f"median of {args.repeat} shuffled interleaved passes per photo; "
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(head)
    names = list(groups)
    print("| pipeline | " + " | ".join(f"{g}: images/s (vs RGB)" for g in names) + " | bytes/image (vs RGB) |")
    print("|---|" + "---|" * (len(names) + 1))
    for k in maps:
        r = results["all"]
        cells = " | ".join(f"{results[g]['images_per_s'][k]:.1f} ({results[g]['ratio_to_rgb'][k]:.2f}x)" for g in names)
        print(f"| {k} | {cells} | {r['bytes_per_image'][k] / 1e6:.2f} MB ({r['bytes_ratio_to_rgb'][k]:.2f}x) |")
    for g in names:
        print(f"{g}: {results[g]['photos']} photos, {results[g]['mpix'][0]:.2f}-{results[g]['mpix'][1]:.1f} MPix")
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output, "w") as f:
        json.dump({"setup": head, "photos": [d["file_name"] for d in dicts], "groups": results,
                   "cpu_seconds": times}, f, indent=1)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
