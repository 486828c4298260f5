"""The learned frequency gate's config keys, one definition for detection and classification.

Detection adds them as ``MODEL.FREQ_GATE`` (:func:`freqdet.detection.config.add_freqdet_config`),
classification as the same node of its own config (:mod:`freqdet.classification.config`);
:meth:`freqdet.engine.hooks.FrequencyGateHook.from_config` reads them for both.
"""
from __future__ import annotations

from detectron2.config import CfgNode as CN

from freqdet.core.gate import INFERENCE_RULES

__all__ = ["add_frequency_gate_config", "check_gate_inference"]


def add_frequency_gate_config(node: CN) -> CN:
    """Fill ``node`` (e.g. ``cfg.MODEL.FREQ_GATE = CN()``) with the gate's keys and defaults; returns it."""
    # ---- Learned frequency-channel selection (freqdet.core.gate.FrequencyGate) --------------
    # An SE-like gate after per-channel normalization picks, per image, which channels reach
    # the network (the others are zeroed); trained with a hard Gumbel-softmax and a loss
    # LAMBDA * (fraction of channels on), reported as "loss_gate". Its per-channel selection
    # rates (val set, end of training and --eval-only) go to OUTPUT_DIR/RATES_FILE, from which
    # tools/select_channels.py derives a static subset (INPUT.DCT.CHANNELS) for cheap inference.
    #
    # Insert the gate. It selects among all 192 channels: a detector needs
    # INPUT.DCT.CHANNELS = ["192"], a classifier takes all 192 and ignores INPUT.DCT.CHANNELS.
    node.ENABLED = False
    # lambda: weight of the fraction of channels on (0..1, mean over images). Larger keeps
    # fewer channels. Not published by the paper; 0 trains the gate on the task loss only.
    node.LAMBDA = 1.0
    # Linear warm-up of lambda from 0 over this many iterations (0: full lambda from the start),
    # so the task loss can show which channels matter before sparsity pressure begins.
    node.LAMBDA_WARMUP_ITERS = 0
    # Gumbel-softmax temperature at iteration 0. With hard=True the forward mask does not
    # depend on it; it shapes the straight-through gradient (high: smooth, low: sharp).
    node.TAU = 2.0
    # Temperature reached at the last iteration (SOLVER.MAX_ITER) under the "exp" schedule.
    node.TAU_MIN = 0.5
    # "exp": TAU * (TAU_MIN / TAU) ** (iter / MAX_ITER); "constant": TAU throughout (the
    # paper's released code used a constant 1).
    node.TAU_SCHEDULE = "exp"
    # Norm between the gate's two 1x1 convs: "LN" (per image, works with one image per
    # device), "BN" (the paper's; needs >1 image per device) or "" (none).
    node.NORM = "LN"
    # Initial logit_on - logit_off of every channel: each channel starts on with probability
    # sigmoid(INIT_ON_LOGIT) (0.73 for 1), so training starts near the full input.
    node.INIT_ON_LOGIT = 1.0
    # How the gate decides at inference (eval mode; training always samples the hard Gumbel mask):
    #   "expected_count": per image, keep the k = round(sum_c P(on)_c) channels (at least 1) of
    #     highest P(on) = sigmoid(on - off). Deterministic, and as many channels as training
    #     sampled on average: the default, because a sparsity loss can push every P(on) below
    #     1/2 while training still samples ~sum P(on) channels, and "on_greater_off" then keeps none.
    #   "on_greater_off": keep the channels whose on logit exceeds off (deterministic; freqdet's
    #     rule before this key existed).
    #   "sample": the hard Gumbel-softmax mask at the current temperature, as in training (the
    #     paper's released code infers this way); random, so two evaluations differ.
    # The selection rates (RATES_FILE) are those of the mask this rule gives.
    node.INFERENCE = "expected_count"
    # Multiplier of the gradients reaching the gate's parameters, i.e. the gate's own SGD
    # learning-rate multiplier (forward unchanged). The loss gives each channel LAMBDA/192 of
    # gradient, so at detection learning rates the gate's logits need this to move within a
    # schedule; 1 leaves them at the base learning rate.
    node.GRAD_SCALE = 100.0
    # Every this many iterations, log the per-channel selection rate of the training masks
    # since the last log (gate/rate/NNN) and the channels on per component (gate/on_Y, ...).
    node.LOG_PERIOD = 20
    # File in OUTPUT_DIR for the selection rates over the validation set (detection:
    # DATASETS.TEST[0]) under INFERENCE's rule, JSON keyed by channel index.
    node.RATES_FILE = "gate_selection_rates.json"
    # Also draw the rates as a heat map (RATES_FILE with .png), like the paper's Figure 5.
    node.HEATMAP = True
    return node


def check_gate_inference(rule: str, key: str = "MODEL.FREQ_GATE.INFERENCE") -> None:
    """``rule`` must be one of :data:`freqdet.core.gate.INFERENCE_RULES`; the error names ``key``,
    so a typo fails when the config is checked, before any network is built."""
    if rule not in INFERENCE_RULES:
        raise ValueError(f"{key} = {rule!r}: choose one of {', '.join(repr(r) for r in INFERENCE_RULES)}")
