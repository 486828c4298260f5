#!/usr/bin/env python
"""freqdet: Detectron2 detectors and ImageNet classifiers that learn from block-DCT inputs.

Detectron2 itself is not listed: it has no official PyPI release. ``make test`` /
``make demo`` install it (tools/install_detectron2.py); in an existing Detectron2
environment ``pip install -e .`` is enough.
"""
from setuptools import find_packages, setup

setup(
    name="freqdet",
    version="0.1.0",
    description="Learning in the frequency domain (Xu et al., CVPR 2020) for Detectron2",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=find_packages(exclude=("tests", "tests.*", "benchmarks", "tools", "configs", "datasets")),
    # The model zoo: configs/ in a checkout is a symlink to these files (freqdet.model_zoo).
    package_data={"freqdet.model_zoo": ["configs/*.yaml", "configs/**/*.yaml", "configs/**/*.py"]},
    install_requires=[
        "torch>=2.1",
        "torchvision>=0.16",
        "numpy",
        "opencv-python-headless",
        "threadpoolctl",  # one BLAS thread per data-loader worker in freqdet.core.fused
        "Pillow>=10",
        "tqdm",
        "matplotlib",
        # Detectron2's own runtime dependencies (it has no PyPI release to pull them in).
        "setuptools<81",  # detectron2.model_zoo imports pkg_resources
        "fvcore",
        "iopath",
        "pycocotools",
        "shapely",  # Detectron2's crop of polygon masks (INPUT.CROP.ENABLED with MASK_FORMAT polygon)
        "omegaconf",
        "hydra-core",
        "yacs",
        "termcolor",
        "tabulate",
        "cloudpickle",
        "tensorboard",
    ],
    extras_require={
        # Sample photos for the demo data sets and the tests (shipped inside these packages).
        "demo": ["scikit-image", "scikit-learn"],
        # onnx + onnxruntime: tests/test_export.py runs the exported ONNX graph.
        "test": ["pytest", "scipy", "jpeglib", "scikit-image", "scikit-learn", "onnx", "onnxruntime"],
        # benchmarks/bench_mapper.py: the paper's JPEG-coefficient pipeline (Debian's libturbojpeg0).
        "bench": ["PyTurboJPEG<2", "jpeg2dct-numpy"],
    },
)
