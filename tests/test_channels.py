"""Channel indices (c*64 + u*8 + v), zigzag order and the named subsets of the paper's released code."""
import pytest

from freqdet.core import channel_name, named_subsets, parse_channels, zigzag_order, zigzag_rank

COUNTS = {"6": (4, 1, 1), "24": (16, 4, 4), "32": (22, 5, 5), "48": (32, 8, 8), "64": (44, 10, 10),
          "192": (64, 64, 64)}


def per_component(indices):
    return tuple(sum(1 for i in indices if i // 64 == c) for c in range(3))


@pytest.mark.parametrize("name", list(COUNTS))
def test_named_subset_sizes(name):
    for spec in (name, name + "T", int(name)):
        idx = parse_channels(spec)
        assert len(idx) == int(name) == len(set(idx))
        assert per_component(idx) == COUNTS[name]


def test_named_subset_values():
    assert parse_channels("6") == [0, 1, 8, 9, 64, 128]
    assert parse_channels("24") == [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27,
                                    64, 65, 72, 73, 128, 129, 136, 137]
    assert parse_channels("32")[22:] == [64, 65, 66, 72, 73, 128, 129, 130, 136, 137]
    y48 = parse_channels("48")[:32]
    assert y48 == [*range(0, 6), *range(8, 14), *range(16, 22), *range(24, 30), *range(32, 36), *range(40, 44)]
    assert parse_channels("64")[44:54] == [64, 65, 66, 72, 73, 74, 80, 81, 88, 89]
    assert parse_channels("192") == list(range(192))


def test_zigzag():
    zz = zigzag_order()
    assert zz[:10] == (0, 1, 8, 16, 9, 2, 3, 10, 17, 24)
    assert zz[-3:] == (55, 62, 63) and sorted(zz) == list(range(64))
    assert zigzag_rank(16) == 3 and zigzag_rank(64 + 16) == 3


@pytest.mark.parametrize("name", ["6", "24", "32", "48", "64"])
def test_triangle_subsets_follow_zigzag(name):
    idx = parse_channels(name + "T")
    zz = zigzag_order()
    for c, count in enumerate(COUNTS[name]):
        comp = sorted(i % 64 for i in idx if i // 64 == c)
        assert comp == sorted(zz[:count])
    assert parse_channels("24t") == parse_channels("24T")
    assert set(named_subsets()) >= {"24T", "192T"}


def test_explicit_lists():
    assert parse_channels([5, 0, 130]) == [5, 0, 130]
    assert parse_channels("5, 0,130") == [5, 0, 130]


@pytest.mark.parametrize("spec, needle", [
    ("25", "'25'"), ("abc", "'abc'"), ([0, 192], "192"), ([-1], "-1"), ([3, 3], "3 appears twice"),
    ("1,x", "'x'"), ([1.5], "1.5"), ([], "no channel"), (None, "None"),
])
def test_bad_specs_name_the_entry(spec, needle):
    with pytest.raises(ValueError, match=".*" + needle.replace("(", r"\(")):
        parse_channels(spec)


def test_channel_name():
    assert channel_name(0) == "Y(0,0)" and channel_name(64 + 9) == "Cb(1,1)" and channel_name(191) == "Cr(7,7)"
