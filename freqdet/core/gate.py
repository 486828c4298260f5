"""Learned frequency-channel selection (Xu et al. 2020, Sec. 3.3 / Fig. 4).

An SE-like gate looks at the globally pooled 192-channel DCT input and decides, per image
and per channel, whether the channel is passed on or zeroed. Training uses a hard
Gumbel-softmax over two logits (off, on) per channel, so the forward pass sees a binary
mask while gradients flow through the soft relaxation (straight-through estimator).
Inference applies one of :data:`INFERENCE_RULES` (see :func:`inference_mask`).

The module is plain PyTorch (no Detectron2) so detectors and classifiers share it. The
schedules for the Gumbel temperature and the loss weight are plain functions here; the
Detectron2 hook in :mod:`freqdet.engine` applies them once per iteration.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "INFERENCE_RULES",
    "FrequencyGate",
    "expected_count_mask",
    "find_gates",
    "fraction_on",
    "inference_mask",
    "lambda_at",
    "on_probability",
    "tau_at",
]


def fraction_on(mask: torch.Tensor) -> torch.Tensor:
    """Mean over images of the fraction of channels switched on; ``mask`` is (N, C)."""
    return mask.float().mean(dim=1).mean()


# How an eval-mode gate turns its logits into a mask (MODEL.FREQ_GATE.INFERENCE); the first is the default.
INFERENCE_RULES = ("expected_count", "on_greater_off", "sample")
_RULES_TEXT = ", ".join(repr(r) for r in INFERENCE_RULES)


def on_probability(logits: torch.Tensor) -> torch.Tensor:
    """(N, C) probability that training's hard Gumbel-softmax switches each channel on:
    softmax of the two logits ``(off, on)``, i.e. ``sigmoid(on - off)``, whatever the temperature."""
    return torch.sigmoid(logits[..., 1].float() - logits[..., 0].float())


def expected_count_mask(logits: torch.Tensor) -> torch.Tensor:
    """(N, C) mask keeping, per image, the ``k = round(sum_c P(on)_c)`` (at least 1) channels of highest P(on).

    Training samples about ``sum_c P(on)_c`` channels per image, so this keeps as many as the
    network was trained on, the ones the gate prefers, deterministically; ``on > off`` instead
    keeps none once a sparsity loss has pushed every P(on) below 1/2. Ties go to the lower index.
    """
    p = on_probability(logits)
    k = torch.round(p.sum(dim=1)).clamp(min=1.0)
    order = torch.sort(p, dim=1, descending=True, stable=True)[1]
    rank = torch.argsort(order, dim=1)  # rank[n, c]: place of channel c in image n's order
    return (rank < k[:, None]).to(logits.dtype)


def inference_mask(logits: torch.Tensor, rule: str, tau: float = 1.0) -> torch.Tensor:
    """(N, C) binary mask of an eval-mode gate under ``rule`` (one of :data:`INFERENCE_RULES`).

    - ``"expected_count"``: :func:`expected_count_mask` (deterministic).
    - ``"on_greater_off"``: every channel whose ``on`` logit exceeds ``off`` (deterministic;
      keeps nothing when every P(on) < 1/2).
    - ``"sample"``: the training-time hard Gumbel-softmax at temperature ``tau`` (random, as the
      paper's released code infers).
    """
    if rule == "expected_count":
        return expected_count_mask(logits)
    if rule == "on_greater_off":
        return (logits[..., 1] > logits[..., 0]).to(logits.dtype)
    if rule == "sample":
        return F.gumbel_softmax(logits.float(), tau=tau, hard=True, dim=-1)[..., 1].to(logits.dtype)
    # A literal (TorchScript compiles this function and reads no global strings); a test checks it.
    raise ValueError("unknown gate inference rule '" + rule + "'; choose one of 'expected_count', "
                     "'on_greater_off', 'sample'")


def tau_at(iteration: int, max_iter: int, tau0: float, tau_min: float, schedule: str = "exp") -> float:
    """Gumbel temperature at ``iteration``.

    ``"exp"``: geometric decay from ``tau0`` (iteration 0) to ``tau_min`` (``max_iter``),
    ``tau0 * (tau_min / tau0) ** (iteration / max_iter)``, then held. A high temperature
    early gives smooth, low-variance gradients while the gate is still random; a low one
    late makes the soft relaxation agree with the hard mask the forward pass uses.
    ``"constant"``: ``tau0`` throughout (what the paper's released code did, with 1).
    """
    if tau0 <= 0 or tau_min <= 0:
        raise ValueError(f"temperatures must be positive, got tau0={tau0}, tau_min={tau_min}")
    if schedule == "constant":
        return float(tau0)
    if schedule != "exp":
        raise ValueError(f"unknown temperature schedule {schedule!r}; use 'exp' or 'constant'")
    if max_iter <= 0:
        return float(tau_min)
    t = min(max(iteration, 0), max_iter) / max_iter
    return float(tau0 * math.exp(t * math.log(tau_min / tau0)))


def lambda_at(iteration: int, lam: float, warmup_iters: int = 0) -> float:
    """Gate-loss weight at ``iteration``: linear warm-up from 0 to ``lam`` over ``warmup_iters``.

    The warm-up lets the task loss establish which channels are useful before the sparsity
    pressure starts switching channels off.
    """
    if warmup_iters <= 0:
        return float(lam)
    return float(lam) * min(1.0, max(iteration, 0) / warmup_iters)


class FrequencyGate(nn.Module):
    """Per-image binary channel mask, learned; ``forward`` returns ``x * mask``.

    Layout (SE-like, as the paper's Fig. 4): global average pool (N, C, 1, 1) -> 1x1 conv
    C -> C mixing all channels -> norm -> ReLU -> grouped 1x1 conv C -> 2C (groups=C:
    channel ``c`` gets its own pair of logits ``(off, on)``).

    Attributes set by the training loop (the hook does it each iteration):
        tau: Gumbel-softmax temperature (training, and inference under ``"sample"``).
        loss_weight: lambda of :meth:`gate_loss`.
    After each forward:
        last_mask: (N, C) mask of that forward, still attached to the graph in training so
        :meth:`gate_loss` can back-propagate into the logits; use ``.detach()`` to read it.
        last_logits: (N, C, 2) logits of that forward.
    """

    def __init__(
        self,
        channels: int = 192,
        norm: str = "LN",
        tau: float = 1.0,
        loss_weight: float = 0.0,
        init_on_logit: float = 3.0,
        grad_scale: float = 1.0,
        inference: str = "expected_count",
    ):
        """
        Args:
            norm: "LN" (normalises the C hidden units of each image: works with one image per device,
                as detection often has), "BN" (the paper's choice; needs >1 image per device in
                training) or "" (none).
            init_on_logit: initial ``logit_on - logit_off`` for every channel; the gate opens
                each channel with probability ``sigmoid(init_on_logit)`` at the start (0.95 for 3),
                so training begins from the full input and learns what to drop.
            grad_scale: multiplies every gradient reaching the gate's parameters (the forward is
                unchanged): for SGD a learning-rate multiplier of the gate alone. The gate loss
                gives each channel only lambda/C of gradient, so at a detector's SGD learning rate
                the logits barely move in a short schedule without it. No effect under Adam.
            inference: the eval-mode rule, one of :data:`INFERENCE_RULES` (see :func:`inference_mask`);
                the default keeps as many channels per image as training sampled on average.
        """
        super().__init__()
        if inference not in INFERENCE_RULES:
            raise ValueError(f"unknown gate inference rule {inference!r}; choose one of {_RULES_TEXT}")
        self.inference = inference
        self.channels = channels
        self.tau = float(tau)
        self.loss_weight = float(loss_weight)
        self.grad_scale = float(grad_scale)
        self.squeeze = nn.Conv2d(channels, channels, kernel_size=1, bias=not norm)
        if norm == "LN":
            self.norm = nn.GroupNorm(1, channels)
        elif norm == "BN":
            self.norm = nn.BatchNorm2d(channels)
        elif norm in ("", "none", None):
            self.norm = nn.Identity()
        else:
            raise ValueError(f"unknown gate norm {norm!r}; use 'LN', 'BN' or ''")
        # groups=channels: channel c's two logits read only hidden unit c (the paper's
        # "two trainable variables per channel" that turn 1x1xC into 1x1xCx2).
        self.logits_conv = nn.Conv2d(channels, 2 * channels, kernel_size=1, groups=channels, bias=True)
        self.last_mask: Optional[torch.Tensor] = None
        self.last_logits: Optional[torch.Tensor] = None
        self._init_weights(init_on_logit)

    def _init_weights(self, init_on_logit: float) -> None:
        nn.init.kaiming_normal_(self.squeeze.weight, mode="fan_out", nonlinearity="relu")
        if self.squeeze.bias is not None:
            nn.init.zeros_(self.squeeze.bias)
        # Small weights: the initial decision is the bias (all channels likely on), not noise.
        nn.init.normal_(self.logits_conv.weight, std=0.01)
        with torch.no_grad():
            bias = self.logits_conv.bias.view(self.channels, 2)
            bias[:, 0] = 0.0
            bias[:, 1] = init_on_logit

    def logits(self, x: torch.Tensor, pooled: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(N, C, 2) logits ``(off, on)`` for the input (N, C, H, W).

        ``pooled`` (N, C): per-image channel means to use instead of pooling ``x``; a detector
        passes the means over each image's own extent, so batch padding does not sway the gate.
        """
        if x.shape[1] != self.channels:
            raise ValueError(f"gate built for {self.channels} channels got input of shape {list(x.shape)}")
        h = F.adaptive_avg_pool2d(x, 1) if pooled is None else pooled.reshape(x.shape[0], self.channels, 1, 1)
        h = F.relu(self.norm(self.squeeze(h)))
        logits = self.logits_conv(h).view(x.shape[0], self.channels, 2)
        if self.grad_scale != 1.0 and torch.is_grad_enabled():
            # Same value, gradient times grad_scale (into every gate parameter).
            logits = logits * self.grad_scale - (logits * (self.grad_scale - 1.0)).detach()
        return logits

    def mask_from_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """(N, C) binary mask: hard Gumbel-softmax in training, ``self.inference``'s rule in eval."""
        if self.training:
            # hard=True: one-hot forward, softmax((l + g) / tau) gradient (straight-through).
            return F.gumbel_softmax(logits.float(), tau=self.tau, hard=True, dim=-1)[..., 1]
        return inference_mask(logits, self.inference, self.tau)

    def forward(self, x: torch.Tensor, pooled: Optional[torch.Tensor] = None) -> torch.Tensor:
        logits = self.logits(x, pooled)
        mask = self.mask_from_logits(logits)
        if not torch.jit.is_scripting():  # kept for gate_loss / statistics; a scripted model infers only
            self.last_logits = logits
            self.last_mask = mask
        return x * mask.to(x.dtype)[:, :, None, None]

    def gate_loss(self) -> torch.Tensor:
        """``loss_weight`` times the fraction of channels on (mean over images) of the last forward."""
        if self.last_mask is None:
            raise RuntimeError("gate_loss() needs a forward pass first")
        return self.loss_weight * fraction_on(self.last_mask)

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, tau={self.tau:.4g}, loss_weight={self.loss_weight:.4g}, "
                f"grad_scale={self.grad_scale:.4g}, inference={self.inference}")


def find_gates(model: nn.Module) -> list[FrequencyGate]:
    """Every :class:`FrequencyGate` inside ``model`` (DDP / DataParallel wrappers unwrapped)."""
    while isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        model = model.module
    return [m for m in model.modules() if isinstance(m, FrequencyGate)]
