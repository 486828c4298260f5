"""Metrics for DATALOADER.SKIP_UNREADABLE_IMAGES: how many unreadable images were skipped so far."""
from __future__ import annotations

from detectron2.engine import HookBase

__all__ = ["SkippedImagesHook"]


class SkippedImagesHook(HookBase):
    """Logs ``data/skipped_images`` (running count of this process's loader workers) every iteration.

    ``count``: a callable returning the count, e.g. ``lambda: mapper.num_skipped``. Put it before
    the PeriodicWriter (``insert_gate_hook`` does) so the value is written the same iteration.
    """

    def __init__(self, count):
        self._count = count

    def after_step(self):
        self.trainer.storage.put_scalar("data/skipped_images", float(self._count()), smoothing_hint=False)
