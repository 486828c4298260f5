"""A user's own COCO-format data for the command-line tests: generated JPEGs + json, and the flags that register it."""
from freqdet.synthetic.coco_writer import generate_demo_dataset


def own_coco_dataset(root, prefix: str, seed: int):
    """4 train / 2 val 128 px images under ``root``; returns ``(paths, flags)``, ``flags`` the two
    ``--dataset NAME=JSON:IMAGE_ROOT`` pairs naming them ``<prefix>_train`` and ``<prefix>_val``."""
    paths = generate_demo_dataset(root, num_train=4, num_val=2, image_size=128, seed=seed)
    flags = [f for split in ("train", "val")
             for f in ("--dataset", f"{prefix}_{split}={paths[split]['json_file']}:{paths[split]['image_root']}")]
    return paths, flags
