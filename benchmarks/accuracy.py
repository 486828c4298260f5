#!/usr/bin/env python
"""Does the frequency input pay off? RGB vs DCT arms, same recipe, schedule and seeds (`make study`).

Detection (Faster R-CNN R50-FPN, GN, from scratch; bbox AP of COCOEvaluator) on the study set:
large scenes on Debian's mate-backgrounds photos (``--scene`` px) with small objects whose five
classes differ in fine texture as well as shape and colour (freqdet/synthetic/ with scene
parameters), trained and tested at ``R`` = ``--size`` px:

- ``rgb_R``            Detectron2's RGB R50-FPN at R                      (paper Table 3 baseline)
- ``dct24_s2_R``       DCT-24, s=2, at R: same image and feature sizes as rgb_R
- ``dct24_s1_2R``      DCT-24, s=1, at 2R: the backbone cost of rgb_R, 4x the pixels
- ``dct6/64/192_s2_R`` channel count at s=2
- ``dct24_s2_R_src``   INPUT.DCT.FROM_SOURCE: the original resized to 2R before the DCT, the cost
                       of dct24_s2_R (its upsampled twin) but without the detail the downsizing lost

Classification (MobileNetV2, tools/train_classifier.py's engine): ``cls_rgb`` at size/4 vs
``cls_dct24`` at size, equal feature sizes (MobileNetV2's stride-2 first conv vs the stride-8 DCT
grid), on photo patches (freqdet/synthetic/photo_patches.py says what and why).

After the runs: the spectral sensitivity of the first seed's DCT-192 detector per 2x2 band and per
colour component, a gated twin of it (same seed and schedule) for the gate's selection rates, and
both rankings against the square-24 subset and each other (``"spectral_ranking"`` in the JSON).

Every (arm, seed) is one run with SEED set; finished runs are skipped, so the study resumes.
Per arm: per-seed metric, mean ± std, and the cost: GFLOPs (fvcore, one image at R, 1 MAC =
1 flop), bytes handed to the model per image, train s/iter (median of Detectron2's "time").
Writes ``--output`` (JSON) and ``--plot`` (accuracy vs input bytes with std error bars).

    python benchmarks/accuracy.py                      # the study (CPU, ~2 h; see README)
    python benchmarks/accuracy.py --quick              # tiny end-to-end check (minutes)
    python benchmarks/accuracy.py --arms rgb_R dct24_s2_R --seeds 1 2 3 -- MODEL.DEVICE cuda
"""
import os
import sys

# The study's pieces (arms, data, running, cost, report) are the package benchmarks/study/, imported from
# this checkout under the name the tests use.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.study.main import main  # noqa: E402

if __name__ == "__main__":
    main(description=__doc__)
