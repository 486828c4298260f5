"""Pieces of Detectron2's training engine that detection and classification share: the resumable
data stream, the gate and skipped-image hooks, and the weights-only checkpointer."""
