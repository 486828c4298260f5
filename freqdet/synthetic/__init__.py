"""Data made here, so everything trains and is tested offline: the demo and study scenes
(:mod:`.shapes` draws, :mod:`.coco_writer` writes COCO, :mod:`.register` names them for
Detectron2), photo patches and Fashion-MNIST as ImageFolders."""
