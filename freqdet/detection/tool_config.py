"""What every freqdet tool reads from a config, for yacs ``.yaml`` and LazyConfig ``.py`` files alike.

Detectron2 has two config systems and freqdet ships both (each LazyConfig has a yacs twin).
:func:`load_tool_config` reads either, with that kind's override style (``KEY VALUE`` pairs for
yacs, ``key=value`` for LazyConfigs; the wrong one is an error naming the right one), and returns a
:class:`ToolConfig` that answers what the tools need in one way: the model with its weights, the
train/test mappers, the dataset names, the :class:`~freqdet.core.input_spec.InputSpec`, the
statistics file. Where a yacs config has a key, its LazyConfig twin holds the same thing here:

    =============================  =========================================================
    yacs                           LazyConfig
    =============================  =========================================================
    MODEL.WEIGHTS                  train.init_checkpoint
    MODEL.WEIGHTS_PARTIAL          train.init_checkpoint_partial (absent: False)
    MODEL.DEVICE                   train.device
    MODEL.PIXEL_STATS_FILE         model.pixel_mean.path (pixel_std follows it)
    DATASETS.TRAIN / TEST          dataloader.train / test.dataset.names
    INPUT.DCT.*, INPUT.FORMAT      dataloader.test.mapper.input_spec / image_format
    =============================  =========================================================

``--dataset NAME=JSON:IMAGE_ROOT`` (:func:`add_dataset_argument`, :func:`register_datasets`) registers
COCO-format json datasets for the tools, as ``register_coco_instances`` does in Python.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import logging
import os
import re
from typing import Optional, Sequence

from freqdet.core.input_spec import InputSpec

logger = logging.getLogger(__name__)

__all__ = ["LAZY", "YACS", "LazyToolConfig", "ToolConfig", "ToolConfigError", "YacsToolConfig",
           "add_dataset_argument", "argument_parser", "check_dataset_spec", "check_overrides", "check_tool_args",
           "config_kind", "ensure_stats", "load_lazy_config", "load_tool_config", "load_yacs_config",
           "parse_dataset_spec", "register_datasets", "split_overrides", "training_main"]

YACS, LAZY = "yacs", "lazy"
# Images a missing LazyConfig statistics file is computed from (MODEL.PIXEL_STATS_MAX_IMAGES' default;
# a LazyConfig has no such key: tools/compute_dct_stats.py --max-images N sets it explicitly).
LAZY_STATS_MAX_IMAGES = 5000
YACS_EXAMPLE = "MODEL.WEIGHTS output/model_final.pth"
LAZY_EXAMPLE = "train.init_checkpoint=output/model_final.pth"
# A yacs key as written on a command line (MODEL.WEIGHTS), and a LazyConfig override (train.max_iter=...).
_YACS_KEY = re.compile(r"^[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)+$")
_LAZY_OVERRIDE = re.compile(r"^[A-Za-z_][\w.]*=")


class ToolConfigError(ValueError):
    """A config file, override or ``--dataset`` a tool cannot use; the message names it and the fix."""


# ---- config kind and override style -------------------------------------------------------------------


def config_kind(path: str) -> str:
    """``"yacs"`` or ``"lazy"``: a ``.py`` file is a LazyConfig; a ``.yaml`` is yacs unless it is a saved
    LazyConfig (the ``config.yaml`` a LazyConfig run writes: lower-case ``model``/``dataloader``/``train``)."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".py":
        return LAZY
    if ext not in (".yaml", ".yml"):
        raise ToolConfigError(f"--config-file {path!r}: expected a yacs .yaml or a LazyConfig .py file")
    if not os.path.isfile(path):
        raise ToolConfigError(f"--config-file {path!r} does not exist")
    with open(path, encoding="utf-8") as f:  # top-level keys only (a saved LazyConfig has python/object tags)
        top = set(re.findall(r"^([A-Za-z_]\w*):", f.read(), flags=re.M))
    return LAZY if {"model", "dataloader"} <= top else YACS


def check_overrides(kind: str, path: str, opts: Sequence[str]) -> list:
    """``opts`` as a list, after checking they are written in ``kind``'s style (errors name the token)."""
    opts = list(opts or [])
    if kind == LAZY:
        for tok in map(str, opts):
            if "=" not in tok:
                raise ToolConfigError(
                    f"{path} is a LazyConfig: overrides are key=value (e.g. {LAZY_EXAMPLE}), got {tok!r}; "
                    "KEY VALUE pairs are the style of yacs .yaml configs")
        return opts
    for tok in map(str, opts[::2]):
        if _LAZY_OVERRIDE.match(tok) and not _YACS_KEY.match(tok):
            raise ToolConfigError(
                f"{path} is a yacs config: overrides are KEY VALUE pairs (e.g. {YACS_EXAMPLE}), got {tok!r}; "
                "key=value is the style of LazyConfig .py configs")
    if len(opts) % 2:
        raise ToolConfigError(
            f"{path} is a yacs config: overrides are KEY VALUE pairs (e.g. {YACS_EXAMPLE}), got an odd number "
            f"of words ({' '.join(map(str, opts))})")
    return opts


def looks_like_override(token: str) -> bool:
    """True for ``MODEL.WEIGHTS`` (a yacs key) or ``train.max_iter=2`` (a LazyConfig override)."""
    return bool(_YACS_KEY.match(token) or _LAZY_OVERRIDE.match(token)) and not os.path.exists(token)


def split_overrides(items: Sequence[str]) -> tuple[list, list]:
    """``(values, overrides)``: ``items`` of a many-valued option (``--input a.jpg b/ MODEL.WEIGHTS w.pth``)
    split at the first word that is a config override and not an existing path."""
    items = list(items)
    for i, tok in enumerate(items):
        if looks_like_override(str(tok)):
            return items[:i], items[i:]
    return items, []


# ---- datasets from the command line ---------------------------------------------------------------------

DATASET_HELP = ("register a COCO-format json dataset as NAME (Detectron2's register_coco_instances), e.g. "
                "my_train=data/train.json:data/images; repeatable. Use NAME in DATASETS.TRAIN/TEST (yacs) "
                "or dataloader.train/test.dataset.names (LazyConfig)")


def parse_dataset_spec(spec: str) -> tuple[str, str, str]:
    """``(name, json_file, image_root)`` of ``NAME=JSON:IMAGE_ROOT`` (the json path ends at ``.json:`` when
    there is one, else at the first ``:``); errors name the spec and the expected form."""
    form = f"--dataset {spec!r}: expected NAME=JSON:IMAGE_ROOT, e.g. my_train=data/train.json:data/images"
    name, eq, paths = spec.partition("=")
    if not eq or not name.strip() or not paths:
        raise ToolConfigError(form)
    cut = paths.lower().find(".json:")
    cut = cut + len(".json") if cut >= 0 else paths.find(":")
    if cut <= 0 or cut == len(paths) - 1:
        raise ToolConfigError(form)
    return name.strip(), paths[:cut], paths[cut + 1:]


def check_dataset_spec(spec: str) -> tuple[str, str, str]:
    """:func:`parse_dataset_spec`, and the json file and image folder exist (errors name them)."""
    name, json_file, image_root = parse_dataset_spec(spec)
    if not os.path.isfile(json_file):
        raise ToolConfigError(f"--dataset {spec!r}: the json file {json_file!r} does not exist")
    if not os.path.isdir(image_root):
        raise ToolConfigError(f"--dataset {spec!r}: the image folder {image_root!r} does not exist")
    return name, json_file, image_root


def register_datasets(specs: Sequence[str] = ()) -> list[str]:
    """Register each ``NAME=JSON:IMAGE_ROOT`` with Detectron2's catalogs (``register_coco_instances``);
    returns the names. A name already registered with other paths (a builtin one) is replaced, with a
    log line; the same paths again are a no-op. Missing files are errors naming the spec."""
    from detectron2.data import DatasetCatalog, MetadataCatalog
    from detectron2.data.datasets import register_coco_instances

    names = []
    for spec in specs or ():
        name, json_file, image_root = check_dataset_spec(spec)
        json_file, image_root = os.path.abspath(json_file), os.path.abspath(image_root)
        if name in DatasetCatalog.list():
            meta = MetadataCatalog.get(name)
            if meta.get("json_file") == json_file and meta.get("image_root") == image_root:
                names.append(name)
                continue
            logger.info("--dataset: %s now reads %s (images in %s)", name, json_file, image_root)
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
        register_coco_instances(name, {}, json_file, image_root)
        names.append(name)
    return names


def add_dataset_argument(parser: argparse.ArgumentParser, help: str = DATASET_HELP) -> argparse.ArgumentParser:
    """Add the repeatable ``--dataset NAME=JSON:IMAGE_ROOT`` option (``args.dataset``: a list)."""
    parser.add_argument("--dataset", action="append", default=[], metavar="NAME=JSON:IMAGE_ROOT", help=help)
    return parser


def argument_parser(epilog: Optional[str] = None) -> argparse.ArgumentParser:
    """Detectron2's ``default_argument_parser`` (``--config-file``, ``--resume``, ``--eval-only``,
    ``--num-gpus`` ..., overrides last) with ``--dataset``; for the training tools."""
    from detectron2.engine import default_argument_parser

    parser = default_argument_parser(epilog)
    parser.set_defaults(opts=[])
    for action in parser._actions:  # say which override style each config kind takes
        if action.dest == "opts":
            action.help = (f"config overrides, last: KEY VALUE pairs for a yacs .yaml ({YACS_EXAMPLE}), "
                           f"key=value for a LazyConfig .py ({LAZY_EXAMPLE})")
    return add_dataset_argument(parser)


def check_tool_args(args) -> "ToolConfig":
    """The config of ``args.config_file`` + ``args.opts`` after ``args.dataset`` is registered: what a tool
    loads once before it starts processes, so a wrong override or ``--dataset`` stops it with one line
    (raises :class:`ToolConfigError`)."""
    if not args.config_file:
        raise ToolConfigError("--config-file is required")
    return load_tool_config(args.config_file, args.opts, getattr(args, "dataset", None) or ())


def training_main(config_file: str):
    """The per-process entry point that trains ``config_file``: Detectron2's DefaultTrainer path
    (:func:`freqdet.detection.trainer.main`) for yacs, the LazyConfig trainer
    (:func:`freqdet.detection.lazy_train.main`) for LazyConfigs."""
    if config_kind(config_file) == LAZY:
        from .lazy_train import main
    else:
        from .trainer import main
    return main



def launch_training(argv: Optional[Sequence[str]] = None) -> None:
    """The command line of tools/train_net.py and tools/lazyconfig_train_net.py: parse, check the config
    and ``--dataset`` once (one-line errors), then Detectron2's ``launch`` of :func:`training_main`."""
    from detectron2.engine import launch

    from freqdet.core.known_warnings import quiet_known_warnings

    quiet_known_warnings()
    parser = argument_parser()
    args = parser.parse_args(argv)
    try:
        check_tool_args(args)
    except ToolConfigError as e:
        parser.error(str(e))
    print("Command Line Args:", args)
    launch(training_main(args.config_file), args.num_gpus, num_machines=args.num_machines,
           machine_rank=args.machine_rank, dist_url=args.dist_url, args=(args,))

# ---- the config as the tools see it ------------------------------------------------------------------


def load_yacs_config(path: str, opts: Sequence[str] = ()):
    """:func:`freqdet.detection.config.load_config` after checking the override style (not frozen)."""
    from .config import load_config

    if config_kind(path) != YACS:
        raise ToolConfigError(f"{path} is a LazyConfig: it is read with LazyConfig.load (load_tool_config does)")
    return load_config(path, check_overrides(YACS, path, opts))


def load_lazy_config(path: str, opts: Sequence[str] = ()):
    """``LazyConfig.load`` + ``apply_overrides`` after checking the override style."""
    from detectron2.config import LazyConfig

    if config_kind(path) != LAZY:
        raise ToolConfigError(f"{path} is a yacs config: it takes KEY VALUE overrides (load_tool_config reads it)")
    opts = check_overrides(LAZY, path, opts)
    cfg = LazyConfig.load(path)
    try:
        return LazyConfig.apply_overrides(cfg, opts)
    except Exception as e:  # Hydra's parser: say which override and how lists/indices are written
        raise ToolConfigError(
            f"{path}: could not apply the overrides {opts}: {str(e).splitlines()[0]}. LazyConfig overrides are "
            "key=value; a list item is addressed by a dot and its position (augmentations.0, not [0]) and a "
            "list value is written in brackets without spaces, quoted for the shell, e.g. "
            "'dataloader.train.mapper.augmentations.0.short_edge_length=[256,288]'") from None


def _names(value) -> tuple:
    if value is None:
        return ()
    return (str(value),) if isinstance(value, str) else tuple(str(v) for v in value)


class ToolConfig:
    """A loaded config as the tools use it (:class:`YacsToolConfig` or :class:`LazyToolConfig`). ``cfg`` is
    the CfgNode or the LazyConfig DictConfig itself, for what only one kind has."""

    kind: str

    def __init__(self, cfg, path: str):
        self.cfg, self.path = cfg, path

    # What each kind answers (see the table in the module docstring).
    weights: str
    weights_partial: bool
    device: str
    train_datasets: tuple
    test_datasets: tuple
    input_format: str
    stats_file: Optional[str]  # None: inline per-channel statistics
    stats_max_images: int

    @property
    def input_spec(self) -> InputSpec:
        """The DCT input the test mapper hands the model."""
        return self.build_mapper(is_train=False).input_spec

    def build_mapper(self, is_train: bool, input_spec: Optional[InputSpec] = None):
        """The config's DCTDatasetMapper for training or test, with ``input_spec`` in place of its own."""
        raise NotImplementedError

    def build_bare_model(self):
        """The model on its device, without weights."""
        raise NotImplementedError

    def build_model(self):
        """The model on its device in eval mode with ``weights`` loaded (shape mismatches are errors unless
        ``weights_partial``; an empty ``weights`` leaves it initialised, as Detectron2 does)."""
        from freqdet.engine.checkpoint import SafeCheckpointer

        model = self.build_bare_model().eval()
        SafeCheckpointer(model, allow_partial=self.weights_partial).load(self.weights)
        return model

    def build_predictor(self):
        """``predictor(image)`` -> Detectron2's outputs for one ``(H, W, 3)`` image in ``input_format``: the
        test mapper's resize and DCT, then the model with its weights (:class:`~.inference.DCTPredictor`'s
        job, for either config kind)."""
        import torch

        from .inference import build_test_input

        model, mapper = self.build_model(), self.build_mapper(is_train=False)

        @torch.no_grad()
        def predictor(image):
            return model([build_test_input(mapper, image)])[0]

        return predictor

    def build_test_loader(self, dataset_name: str):
        """Detectron2's test loader over ``dataset_name`` with the test mapper (no workers)."""
        from detectron2.data import build_detection_test_loader

        return build_detection_test_loader(dataset=_dataset_dicts(dataset_name), mapper=self.build_mapper(False),
                                           num_workers=0)


def _dataset_dicts(name):
    from detectron2.data import get_detection_dataset_dicts

    return get_detection_dataset_dicts(name, filter_empty=False)


class YacsToolConfig(ToolConfig):
    """A yacs ``CfgNode`` (:func:`freqdet.detection.config.load_config`)."""

    kind = YACS

    weights = property(lambda self: self.cfg.MODEL.WEIGHTS)
    weights_partial = property(lambda self: bool(self.cfg.MODEL.WEIGHTS_PARTIAL))
    device = property(lambda self: self.cfg.MODEL.DEVICE)
    train_datasets = property(lambda self: _names(self.cfg.DATASETS.TRAIN))
    test_datasets = property(lambda self: _names(self.cfg.DATASETS.TEST))
    input_format = property(lambda self: self.cfg.INPUT.FORMAT)
    stats_file = property(lambda self: self.cfg.MODEL.PIXEL_STATS_FILE or None)
    stats_max_images = property(lambda self: self.cfg.MODEL.PIXEL_STATS_MAX_IMAGES)

    @property
    def input_spec(self) -> InputSpec:
        from .config import input_spec

        return input_spec(self.cfg)

    def build_mapper(self, is_train, input_spec=None):
        from .mapper import DCTDatasetMapper

        kwargs = DCTDatasetMapper.from_config(self.cfg, is_train)
        return DCTDatasetMapper(**{**kwargs, "input_spec": input_spec or kwargs["input_spec"]})

    def build_bare_model(self):
        from detectron2.modeling import build_model

        return build_model(self.cfg)


class LazyToolConfig(ToolConfig):
    """A LazyConfig built like :mod:`freqdet.model_zoo.lazy`'s: ``model`` (FreqRCNN), ``dataloader.train/test``
    with a DCTDatasetMapper, Detectron2's ``train`` keys."""

    kind = LAZY

    weights = property(lambda self: self.cfg.train.get("init_checkpoint", "") or "")
    weights_partial = property(lambda self: bool(self.cfg.train.get("init_checkpoint_partial", False)))
    device = property(lambda self: self.cfg.train.get("device", "cuda"))
    train_datasets = property(lambda self: _names(self._dataset_names("train")))
    test_datasets = property(lambda self: _names(self._dataset_names("test")))
    input_format = property(lambda self: self._mapper_node(False).get("image_format", "BGR"))

    def _dataset_names(self, split):
        dataset = self.cfg.dataloader[split].get("dataset")
        return dataset.get("names") if dataset is not None and hasattr(dataset, "get") else None

    def _mapper_node(self, is_train):
        return self.cfg.dataloader["train" if is_train else "test"].mapper

    @property
    def _pixel_mean(self):
        from omegaconf import DictConfig

        node = self.cfg.model.get("pixel_mean")
        return node if isinstance(node, DictConfig) and "path" in node else None

    @property
    def stats_file(self):
        node = self._pixel_mean
        return (node.path or None) if node is not None else None

    stats_max_images = LAZY_STATS_MAX_IMAGES

    def build_mapper(self, is_train, input_spec=None):
        from detectron2.config import LazyCall as L
        from detectron2.config import instantiate

        from .mapper import DCTDatasetMapper

        cfg = copy.deepcopy(self.cfg)  # interpolations (image_format="${...}") need the whole config
        split = "train" if is_train else "test"
        node = cfg.dataloader[split].mapper
        if input_spec is not None:
            fields = dataclasses.asdict(input_spec)
            node.input_spec = L(InputSpec)(**{**fields, "channels": list(fields["channels"])})
        mapper = instantiate(node)
        if not isinstance(mapper, DCTDatasetMapper):
            raise ToolConfigError(f"{self.path}: dataloader.{split}.mapper builds {type(mapper).__name__}, not "
                                  "freqdet's DCTDatasetMapper (see freqdet.model_zoo.lazy.dct_dataloader)")
        return mapper

    def build_bare_model(self):
        from detectron2.config import instantiate

        return instantiate(self.cfg.model).to(self.device)


def load_tool_config(path: str, opts: Sequence[str] = (), datasets: Sequence[str] = ()) -> ToolConfig:
    """The config at ``path`` (yacs or LazyConfig) with its overrides, after registering ``datasets``
    (``NAME=JSON:IMAGE_ROOT`` specs)."""
    register_datasets(datasets)
    if config_kind(path) == LAZY:
        return LazyToolConfig(load_lazy_config(path, opts), path)
    return YacsToolConfig(load_yacs_config(path, opts), path)


# ---- statistics ---------------------------------------------------------------------------------------


def ensure_stats(tc: ToolConfig) -> Optional[str]:
    """Make sure the statistics file describes this run's training data, for either config kind; returns
    its path (None for inline statistics). yacs: :func:`freqdet.detection.stats.ensure_dct_stats`.
    LazyConfig: the same rule (:func:`freqdet.detection.stats.ensure_stats_file`) for
    ``model.pixel_mean.path``, over at most :data:`LAZY_STATS_MAX_IMAGES` images of the first training
    dataset."""
    from .stats import ensure_dct_stats, ensure_stats_file

    if tc.kind == YACS:
        return ensure_dct_stats(tc.cfg)
    return ensure_stats_file(tc.stats_file, "model.pixel_mean.path", lambda: tc.build_mapper(is_train=True),
                             tc.train_datasets, tc.stats_max_images, max_images_key="freqdet's cap for LazyConfigs")
