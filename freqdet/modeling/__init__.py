"""Models: DCT backbones, the frequency meta-architecture and the frequency-channel gate."""
from .gate import FrequencyGate, find_gates, fraction_on, lambda_at, tau_at

__all__ = ["FrequencyGate", "find_gates", "fraction_on", "lambda_at", "tau_at"]
