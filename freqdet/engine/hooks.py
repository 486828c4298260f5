"""Detectron2 hooks both tasks train with: the frequency gate's schedule and records, and the skipped-image count."""
from __future__ import annotations

import logging
import os
from typing import Any, Callable, Iterable, Optional

import torch
from detectron2.engine import HookBase
from detectron2.engine.hooks import PeriodicWriter
from detectron2.utils import comm

from freqdet.core.channels import COMPONENTS
from freqdet.core.gate import FrequencyGate, find_gates, lambda_at, tau_at
from freqdet.analysis.gate_statistics import gate_statistics
from freqdet.core.selection import save_selection_rates

logger = logging.getLogger(__name__)

__all__ = ["FrequencyGateHook", "SkippedImagesHook", "insert_before_writer", "write_gate_outputs"]


def write_gate_outputs(
    model: torch.nn.Module,
    data_loader: Iterable,
    output_dir: str,
    filename: str = "gate_selection_rates.json",
    heatmap: bool = True,
    run: Optional[Callable] = None,
    **meta: Any,
) -> Optional[str]:
    """Measure selection rates over ``data_loader``; the main process writes the JSON (and PNG).

    The rates are those of the gate's inference rule, named in the JSON as ``inference``. The JSON
    also holds ``on_probability``: each channel's mean training-time probability of being on (see
    :func:`gate_statistics`), which ranks the channels whatever the rule keeps.

    Used by the hook at the end of training and by ``train_net.py --eval-only``. Every process
    must call it (the rates are gathered across processes). Returns the JSON path on the main
    process, None elsewhere.
    """
    rates, on_probability, n = gate_statistics(model, data_loader, run=run)
    if not comm.is_main_process():
        return None
    rule = find_gates(model)[0].inference
    path = save_selection_rates(os.path.join(output_dir, filename), rates, n, **meta, inference=rule,
                                on_probability={str(i): round(float(p), 6) for i, p in enumerate(on_probability)})
    logger.info("Gate (inference rule %s) keeps %.1f of %d channels per image on average (%s; %.1f expected "
                "from training's on-probabilities); rates in %s", rule, rates.sum(), len(rates),
                ", ".join(f"{c} {v:.1f}" for c, v in zip(COMPONENTS, rates.reshape(3, -1).sum(1))),
                on_probability.sum(), path)
    if heatmap:
        from freqdet.core.plots import plot_selection_rates

        png = plot_selection_rates(rates, path.with_suffix(".png"),
                                   title=f"gate selection rate, {rule} ({n} images, {rates.sum():.1f} channels on)")
        logger.info("Gate heat map: %s", png)
    return str(path)


class FrequencyGateHook(HookBase):
    """Schedules the gate's temperature and loss weight, logs its choices, saves the final rates.

    - before each step: ``tau`` and ``loss_weight`` of every gate from :func:`tau_at` /
      :func:`lambda_at` of the iteration (so a resumed run continues the schedule).
    - after each step: ``gate/channels_on`` (mean channels on per image), ``gate/tau``,
      ``gate/lambda``; every ``log_period`` iterations the per-channel selection rate of the
      training masks since the last log (``gate/rate/NNN``) and per component (``gate/on_Y`` ...).
      These go to EventStorage, hence metrics.json and TensorBoard.
    - after training: rates over ``rates_loader()`` (the val set) written to
      ``output_dir/rates_file`` with a heat map beside it.
    """

    def __init__(
        self,
        *,
        lam: float,
        tau0: float,
        tau_min: float,
        tau_schedule: str = "exp",
        lambda_warmup_iters: int = 0,
        log_period: int = 20,
        rates_loader: Optional[Callable[[], Iterable]] = None,
        output_dir: Optional[str] = None,
        rates_file: str = "gate_selection_rates.json",
        heatmap: bool = True,
        run: Optional[Callable] = None,
        dataset_name: str = "",
    ):
        self.lam = float(lam)
        self.tau0 = float(tau0)
        self.tau_min = float(tau_min)
        self.tau_schedule = tau_schedule
        self.lambda_warmup_iters = int(lambda_warmup_iters)
        self.log_period = int(log_period)
        self.rates_loader = rates_loader
        self.output_dir = output_dir
        self.rates_file = rates_file
        self.heatmap = heatmap
        self.run = run
        self.dataset_name = dataset_name
        tau_at(0, 1, self.tau0, self.tau_min, self.tau_schedule)  # validate early
        self._gates: list[FrequencyGate] = []
        self._sum: Optional[torch.Tensor] = None
        self._count = 0

    @classmethod
    def from_config(
        cls,
        gate_cfg,
        *,
        output_dir: str,
        rates_loader: Optional[Callable[[], Iterable]] = None,
        dataset_name: str = "",
        run: Optional[Callable] = None,
    ) -> "FrequencyGateHook":
        """The hook of a gate config node (:func:`freqdet.engine.gate_config.add_frequency_gate_config`;
        ``cfg.MODEL.FREQ_GATE`` in both tasks): its schedule, logging and rates file; the final rates
        over ``rates_loader()`` (named ``dataset_name``) go to ``output_dir``."""
        g = gate_cfg
        return cls(
            lam=g.LAMBDA,
            tau0=g.TAU,
            tau_min=g.TAU_MIN,
            tau_schedule=g.TAU_SCHEDULE,
            lambda_warmup_iters=g.LAMBDA_WARMUP_ITERS,
            log_period=g.LOG_PERIOD,
            rates_loader=rates_loader,
            output_dir=output_dir,
            rates_file=g.RATES_FILE,
            heatmap=g.HEATMAP,
            run=run,
            dataset_name=dataset_name,
        )

    def schedule(self, iteration: int, max_iter: int) -> tuple[float, float]:
        """(tau, lambda) at ``iteration`` of ``max_iter``."""
        return (tau_at(iteration, max_iter, self.tau0, self.tau_min, self.tau_schedule),
                lambda_at(iteration, self.lam, self.lambda_warmup_iters))

    def before_train(self):
        self._gates = find_gates(self.trainer.model)
        if not self._gates:
            raise RuntimeError("FrequencyGateHook is registered but the model has no FrequencyGate")

    def before_step(self):
        tau, lam = self.schedule(self.trainer.iter, self.trainer.max_iter)
        for gate in self._gates:
            gate.tau = tau
            gate.loss_weight = lam

    def after_step(self):
        gate = self._gates[0]
        if gate.last_mask is None:
            return
        mask = gate.last_mask.detach().float()
        storage = self.trainer.storage
        storage.put_scalars(**{"gate/channels_on": mask.sum(dim=1).mean().item(),
                               "gate/tau": gate.tau, "gate/lambda": gate.loss_weight},
                            smoothing_hint=False)
        self._sum = mask.sum(dim=0).cpu() if self._sum is None else self._sum + mask.sum(dim=0).cpu()
        self._count += mask.shape[0]
        it = self.trainer.iter
        if (it + 1) % self.log_period == 0 or it + 1 == self.trainer.max_iter:
            rates = (self._sum / self._count).numpy()
            storage.put_scalars(smoothing_hint=False,
                                **{f"gate/on_{c}": float(v) for c, v in zip(COMPONENTS, rates.reshape(3, -1).sum(1))})
            storage.put_scalars(smoothing_hint=False, **{f"gate/rate/{i:03d}": float(r) for i, r in enumerate(rates)})
            self._sum, self._count = None, 0

    def after_train(self):
        # As EvalHook: after a failed run there is nothing worth measuring.
        if self.trainer.iter + 1 < self.trainer.max_iter or self.rates_loader is None or not self.output_dir:
            return
        write_gate_outputs(
            self.trainer.model, self.rates_loader(), self.output_dir, self.rates_file,
            heatmap=self.heatmap, run=self.run, iteration=self.trainer.iter, dataset=self.dataset_name,
        )


def insert_before_writer(hooks: list, hook) -> list:
    """Put ``hook`` before the PeriodicWriter, so what it logs in after_step is written that step."""
    for i, h in enumerate(hooks):
        if isinstance(h, PeriodicWriter):
            hooks.insert(i, hook)
            return hooks
    hooks.append(hook)
    return hooks


class SkippedImagesHook(HookBase):
    """Logs ``data/skipped_images`` (running count of this process's loader workers) every iteration.

    ``count``: a callable returning the count, e.g. ``lambda: mapper.num_skipped``. Put it before
    the PeriodicWriter (``insert_before_writer`` does) so the value is written the same iteration.
    """

    def __init__(self, count):
        self._count = count

    def after_step(self):
        self.trainer.storage.put_scalar("data/skipped_images", float(self._count()), smoothing_hint=False)
