"""The demo dataset: real JPEGs and COCO json that pycocotools and Detectron2 read back."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin
from pycocotools.coco import COCO

from freqdet.synthetic import coco_writer, shapes
from freqdet.synthetic.coco_writer import generate_demo_dataset
from freqdet.synthetic.register import register_demo_datasets

SIZE = (96, 128)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    return root, generate_demo_dataset(root, num_train=10, num_val=4, image_size=SIZE, seed=3)


@pytest.fixture(scope="module")
def coco_train(dataset):
    return COCO(dataset[1]["train"]["json_file"])


def mask_bbox(mask):
    ys, xs = np.nonzero(mask)
    return [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]


def test_every_annotation_matches_its_mask(coco_train):
    anns = coco_train.loadAnns(coco_train.getAnnIds())
    assert len(anns) >= 10
    for ann in anns:
        mask = coco_train.annToMask(ann)
        assert mask.sum() > 0
        assert ann["area"] == mask.sum()
        np.testing.assert_allclose(ann["bbox"], mask_bbox(mask), atol=1)
        assert ann["iscrowd"] == 0 and ann["category_id"] in {c["id"] for c in coco_writer.CATEGORIES}


def test_both_polygon_and_rle_masks_occur(coco_train):
    kinds = {type(a["segmentation"]) for a in coco_train.dataset["annotations"]}
    assert kinds == {list, dict}


def test_instances_in_an_image_do_not_overlap(coco_train):
    """Occlusion: a later shape's pixels are removed from every earlier mask."""
    for image_id in coco_train.getImgIds():
        masks = [coco_train.annToMask(a) for a in coco_train.loadAnns(coco_train.getAnnIds(imgIds=image_id))]
        if len(masks) > 1:
            assert np.max(np.sum(masks, axis=0)) == 1


def test_jpegs_mix_444_and_420_subsampling(dataset, coco_train):
    root = dataset[1]["train"]["image_root"]
    samplings = set()
    for im in coco_train.dataset["images"]:
        with Image.open(os.path.join(root, im["file_name"])) as f:
            assert f.format == "JPEG" and f.size == (SIZE[1], SIZE[0])
            samplings.add(JpegImagePlugin.get_sampling(f))
    assert samplings == {0, 2}  # Pillow: 0 is 4:4:4, 2 is 4:2:0


def test_polygons_rasterise_back_to_the_exact_mask():
    rng = np.random.default_rng(0)
    for kind in ("circle", "rectangle", "triangle", "ellipse", "star"):
        for radius in (5, 17.5, 40):
            mask = shapes.shape_mask(kind, rng, (100, 120), (60, 50), radius)
            polys = coco_writer.mask_to_polygons(mask)
            assert coco_writer.mask_iou(coco_writer.polygons_to_mask(polys, 100, 120), mask) >= 0.99, (kind, radius)


def test_same_seed_same_files_other_seed_differs(dataset, tmp_path):
    again = generate_demo_dataset(tmp_path / "a", num_train=10, num_val=4, image_size=SIZE, seed=3)
    other = generate_demo_dataset(tmp_path / "b", num_train=10, num_val=4, image_size=SIZE, seed=4)
    for split in ("train", "val"):
        first = Path(dataset[1][split]["json_file"]).read_bytes()
        assert Path(again[split]["json_file"]).read_bytes() == first
        assert Path(other[split]["json_file"]).read_bytes() != first
    jpg = "000002.jpg"
    assert (Path(again["train"]["image_root"]) / jpg).read_bytes() == (Path(dataset[1]["train"]["image_root"]) / jpg).read_bytes()


def test_detectron2_loads_registered_splits_into_instances(dataset):
    from detectron2.data import DatasetCatalog, MetadataCatalog
    from detectron2.data.detection_utils import annotations_to_instances

    root = dataset[0]
    names = ("test_demo_train", "test_demo_val")
    register_demo_datasets(root, names=names)
    register_demo_datasets(root, names=names)  # idempotent
    assert MetadataCatalog.get(names[0]).thing_classes == coco_writer.THING_CLASSES
    for name, count in zip(names, (10, 4)):
        records = DatasetCatalog.get(name)
        assert len(records) == count
        for rec in records:
            assert os.path.isfile(rec["file_name"])
            inst = annotations_to_instances(rec["annotations"], (rec["height"], rec["width"]), mask_format="bitmask")
            assert len(inst) == len(rec["annotations"]) > 0
            assert inst.gt_masks.tensor.shape == (len(inst), rec["height"], rec["width"])
            assert inst.gt_masks.tensor.flatten(1).any(1).all()
            assert inst.gt_classes.max() < len(coco_writer.THING_CLASSES)


def test_reregistering_at_another_root_points_there(tmp_path, dataset):
    from detectron2.data import DatasetCatalog, MetadataCatalog

    names = ("test_move_train", "test_move_val")
    register_demo_datasets(tmp_path / "nowhere", names=names)
    register_demo_datasets(dataset[0], names=names)
    assert MetadataCatalog.get(names[1]).json_file == dataset[1]["val"]["json_file"]
    assert len(DatasetCatalog.get(names[1])) == 4


def test_missing_or_corrupt_json_names_the_file(tmp_path):
    from detectron2.data import DatasetCatalog

    names = ("test_bad_train", "test_bad_val")
    paths = register_demo_datasets(tmp_path, names=names)
    with pytest.raises(FileNotFoundError, match="instances_train.json"):
        DatasetCatalog.get(names[0])
    bad = Path(paths[names[1]]["json_file"])
    bad.parent.mkdir(parents=True)
    bad.write_text('{"images": [')
    with pytest.raises(ValueError, match=str(bad)):
        DatasetCatalog.get(names[1])


def test_builtin_names_point_at_default_root_and_registering_writes_nothing(tmp_path, monkeypatch):
    import freqdet  # noqa: F401  (registration happens on import)
    from detectron2.data import MetadataCatalog

    default = coco_writer.split_paths(coco_writer.default_demo_root(), "train")["json_file"]
    assert MetadataCatalog.get("freqdet_demo_train").json_file == default
    monkeypatch.setenv("FREQDET_DATASETS", str(tmp_path))
    try:
        register_demo_datasets()
        assert MetadataCatalog.get("freqdet_demo_val").json_file == str(tmp_path / "demo" / "annotations" / "instances_val.json")
        assert list(tmp_path.iterdir()) == []
    finally:
        monkeypatch.undo()
        register_demo_datasets()  # back to the default root for other tests


def test_ensure_demo_dataset_skips_complete_data_and_regenerates_cleanly(tmp_path):
    assert coco_writer.ensure_demo_dataset(tmp_path, 4, 2, (64, 80), seed=0)
    assert coco_writer.is_complete(tmp_path, 4, 2, (64, 80), 0)
    stamp = (tmp_path / "train" / "000001.jpg").stat().st_mtime_ns
    assert not coco_writer.ensure_demo_dataset(tmp_path, 4, 2, (64, 80), seed=0)  # complete: nothing written
    assert (tmp_path / "train" / "000001.jpg").stat().st_mtime_ns == stamp
    (tmp_path / "val" / "000002.jpg").unlink()
    assert not coco_writer.is_complete(tmp_path, 4, 2, (64, 80), 0)
    assert coco_writer.ensure_demo_dataset(tmp_path, 2, 2, 64, seed=0)  # other parameters: regenerated
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == ["000001.jpg", "000002.jpg"]  # no leftovers
    assert coco_writer.is_complete(tmp_path, 2, 2, 64, 0) and not coco_writer.is_complete(tmp_path, 4, 2, 64, 0)
    assert coco_writer.ensure_demo_dataset(tmp_path, 2, 2, 64, seed=0, force=True)


def test_prepare_demo_cli_finds_the_set_it_describes(tmp_path):
    """End to end: ``--image-size HxW`` is height x width, so a set made at (64, 80) is found complete."""
    coco_writer.generate_demo_dataset(tmp_path, num_train=4, num_val=2, image_size=(64, 80), seed=0)
    repo = Path(__file__).parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, str(repo / "datasets" / "prepare_demo.py"), "--output", str(tmp_path),
                           "--num-train", "4", "--num-val", "2", "--image-size", "64x80"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = coco_writer.summarize(tmp_path)["train"]
    assert "already there" in proc.stdout
    assert f"train: 4 images, {summary['instances']} instances" in proc.stdout


def test_scene_parameters_make_another_set_and_defaults_keep_the_demo_json(tmp_path, dataset):
    params = COCO(dataset[1]["val"]["json_file"]).dataset["info"]["params"]
    assert set(params) == {"version", "num_images", "image_size", "seed", "polygon_fraction", "quality",
                           "max_instances"}  # the demo's json carries no scene keys
    if not Path(shapes.MATE_DIR).is_dir():
        pytest.skip("Debian's mate-backgrounds is not installed")
    paths = coco_writer.generate_split(tmp_path, "val", 2, 160, seed=0, radius_range=(0.03, 0.06), period_range=(2, 3),
                                backgrounds="mate", max_instances=8)
    coco = COCO(paths["json_file"])
    info = coco.dataset["info"]["params"]
    assert info["backgrounds"] == "mate" and info["radius_range"] == [0.03, 0.06] and info["period_range"] == [2.0, 3.0]
    assert coco.anns and max(a["bbox"][2] for a in coco.anns.values()) <= 2 * 0.06 * 160 + 2  # small objects only
    with pytest.raises(ValueError, match="backgrounds"):
        shapes.photos_for("nope")
