#!/usr/bin/env python
"""Cost of the block DCT next to the JPEG decode of the same photo, measured side by side.

The target: a 1024x1024 photo to 192 float32 channels costs about as much as decoding its JPEG,
a subset costs less than all 192, and s=2 (computed without the enlarged image) a few times s=1.
One thread, interleaved repetitions, medians of the CPU time of each call (``time.process_time``:
unlike wall time, not inflated while other jobs hold the core); ratios are what to compare
across (noisy, shared) machines.
"""
import argparse
import io
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from freqdet.core import image_to_dct  # noqa: E402


def photo(size):
    from sklearn.datasets import load_sample_image

    return cv2.resize(load_sample_image("china.jpg"), (size, size), interpolation=cv2.INTER_CUBIC)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    rgb = photo(args.size)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=90)
    data = np.frombuffer(buf.getvalue(), np.uint8)

    cases = {
        "jpeg decode (OpenCV)": lambda: cv2.imdecode(data, cv2.IMREAD_COLOR),
        "jpeg decode (Pillow)": lambda: np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")),
        "dct 192 channels": lambda: image_to_dct(rgb, "192"),
        "dct 24 channels": lambda: image_to_dct(rgb, "24"),
        "dct 24 channels, upsample 2": lambda: image_to_dct(rgb, "24", upsample=2),
        "dct 24 channels, upsample 2, float16": lambda: image_to_dct(rgb, "24", upsample=2, dtype=np.float16),
        "dct 192 channels, upsample 2": lambda: image_to_dct(rgb, "192", upsample=2),
    }
    times = {k: [] for k in cases}
    for _ in range(args.repeat):  # interleaved, so drifts in machine load hit every case alike
        for name, fn in cases.items():
            t0 = time.process_time()
            fn()
            times[name].append(time.process_time() - t0)
    base = np.median(times["jpeg decode (OpenCV)"])
    print(f"{args.size}x{args.size} photo, one thread, median CPU time of {args.repeat}")
    for name, ts in times.items():
        med = np.median(ts)
        print(f"  {name:38s} {med * 1e3:7.2f} ms   {med / base:5.2f}x OpenCV decode")


if __name__ == "__main__":
    main()
