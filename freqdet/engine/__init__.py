"""Pieces of Detectron2's training engine that detection and classification share: the resumable
data stream (:mod:`.resumable`), the gate's config keys and hook and the skipped-image hook
(:mod:`.gate_config`, :mod:`.hooks`), the weights-only checkpointer (:mod:`.checkpoint`) and
DistributedDataParallel on CPU (:mod:`.ddp`)."""
