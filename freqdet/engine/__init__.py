"""Training-loop pieces: the gate hook (temperature / loss-weight schedule, selection statistics)."""
from .gate_hook import FrequencyGateHook, insert_gate_hook, write_gate_outputs
from .selection import (
    compute_selection_rates,
    load_channel_stats,
    load_selection_rates,
    save_selection_rates,
    select_from_rates,
)

__all__ = [
    "FrequencyGateHook", "compute_selection_rates", "insert_gate_hook", "load_channel_stats",
    "load_selection_rates", "save_selection_rates", "select_from_rates", "write_gate_outputs",
]
