"""Top-1 / top-5 accuracy as a Detectron2 ``DatasetEvaluator``, over a loader sharded across processes."""
from __future__ import annotations

import torch
from detectron2.evaluation import DatasetEvaluator, inference_on_dataset
from detectron2.utils import comm

__all__ = ["ClassificationEvaluator", "evaluate_classifier"]


class ClassificationEvaluator(DatasetEvaluator):
    """Counts top-1 / top-5 hits of ``(images, labels)`` batches and their logits.

    Each process counts its shard (Detectron2's ``InferenceSampler``); :meth:`evaluate` gathers
    the counts, so every process returns ``{"top1", "top5", "num_images"}`` (percentages) over
    the whole set. With fewer than 5 classes, top-5 is top-(number of classes).
    """

    def reset(self):
        self._correct = torch.zeros(2, dtype=torch.float64)
        self._count = 0

    def process(self, inputs, outputs):
        _, labels = inputs
        logits = outputs.float().cpu()
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices
        hit = top == labels[:, None]
        self._correct[0] += hit[:, 0].sum().item()
        self._correct[1] += hit.any(dim=1).sum().item()
        self._count += labels.numel()

    def evaluate(self):
        parts = comm.all_gather((self._correct, self._count))
        correct = sum(c for c, _ in parts)
        count = sum(n for _, n in parts)
        if count == 0:
            raise RuntimeError("the validation set is empty")
        return {"top1": 100.0 * correct[0].item() / count, "top5": 100.0 * correct[1].item() / count,
                "num_images": count}


def evaluate_classifier(model, data_loader) -> dict:
    """Top-1/top-5 of ``model`` (``(images, labels) -> logits`` in eval mode) over ``data_loader``,
    through Detectron2's ``inference_on_dataset`` (eval mode and no_grad while it runs, timing logged)."""
    return inference_on_dataset(model, data_loader, ClassificationEvaluator())
