"""Shared fixtures: real photos shipped by PyPI packages (no downloads)."""
import numpy as np
import pytest


@pytest.fixture(scope="session")
def china():
    """scikit-learn's china.jpg, (427, 640, 3) RGB uint8."""
    from sklearn.datasets import load_sample_image

    return load_sample_image("china.jpg")


@pytest.fixture(scope="session")
def photos(china):
    """Real RGB photos of several sizes (none a multiple of 8 on both sides)."""
    from skimage import data

    return {"china": china, "astronaut": data.astronaut(), "coffee": data.coffee(), "chelsea": data.chelsea()}


@pytest.fixture
def rng():
    return np.random.default_rng(0)
