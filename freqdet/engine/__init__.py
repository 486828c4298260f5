"""Training-loop and inference pieces: the gate hook (temperature / loss-weight schedule,
selection statistics) and the DCT predictor."""
from .gate_hook import (
    FrequencyGateHook,
    add_gate_hook,
    insert_gate_hook,
    write_gate_outputs,
    write_gate_outputs_for_cfg,
)
from .predictor import DCTPredictor
from .skipped_images import SkippedImagesHook
from .selection import (
    compute_selection_rates,
    gate_statistics,
    load_selection_rates,
    save_selection_rates,
    select_from_rates,
)

__all__ = [
    "DCTPredictor", "FrequencyGateHook", "SkippedImagesHook", "add_gate_hook", "compute_selection_rates", "gate_statistics",
    "insert_gate_hook",
    "load_selection_rates", "save_selection_rates", "select_from_rates", "write_gate_outputs",
    "write_gate_outputs_for_cfg",
]
