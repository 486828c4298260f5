"""gate_statistics: the rates of the gate's inference mask and its training-time on-probabilities, in one pass."""
import numpy as np
import pytest
import torch
from torch import nn

from freqdet.analysis.gate_statistics import gate_statistics
from freqdet.core.gate import FrequencyGate


def test_on_probability_is_sigmoid_of_the_logit_gap_and_ranks_a_closed_gate():
    torch.manual_seed(0)
    gate = FrequencyGate(channels=4, init_on_logit=-1.0, inference="on_greater_off")  # on < off: keeps nothing
    model = nn.Sequential(gate, nn.Conv2d(4, 1, 1))
    batches = [torch.randn(2, 4, 3, 3) for _ in range(3)]
    rates, p_on, n = gate_statistics(model, batches)
    assert n == 6 and rates.tolist() == [0.0] * 4
    with torch.no_grad():
        expected = torch.cat([torch.sigmoid(gate.logits(x)[..., 1] - gate.logits(x)[..., 0]) for x in batches]).mean(0)
    assert np.allclose(p_on, expected.double().numpy()) and 0.2 < p_on.min() and p_on.max() < 0.5
    assert len(set(np.round(p_on, 8))) == 4  # distinct: an order among channels the mask cannot give


class Unreachable(nn.Module):
    def forward(self, x):
        raise AssertionError("gate_statistics runs the model only up to its gate")


def test_rates_of_a_closed_gate_are_those_of_the_expected_count_mask():
    """Every P(on) < 1/2: the default rule still keeps round(sum P(on)) channels, the rates say which."""
    torch.manual_seed(0)
    gate = FrequencyGate(channels=8, init_on_logit=-1.0)
    nn.init.normal_(gate.logits_conv.weight, std=0.2)
    batches = [torch.randn(2, 8, 3, 3) for _ in range(3)]
    rates, p_on, n = gate_statistics(nn.Sequential(gate), batches)
    assert n == 6 and p_on.max() < 0.5
    with torch.no_grad():
        p = torch.cat([torch.sigmoid(gate.logits(x)[..., 1] - gate.logits(x)[..., 0]) for x in batches]).numpy()
    masks = np.zeros_like(p)
    for i, row in enumerate(p):  # reference: the round(sum P) channels of highest P, per image
        masks[i, np.argsort(-row, kind="stable")[:int(np.round(row.sum()))]] = 1
    assert np.allclose(rates, masks.mean(0)) and rates.sum() == pytest.approx(np.round(p.sum(1)).mean())
    assert rates.sum() >= 1


def test_rates_are_eval_mask_fractions_measured_up_to_the_gate():
    torch.manual_seed(0)
    gate = FrequencyGate(channels=6, init_on_logit=0.0, inference="on_greater_off")
    nn.init.normal_(gate.logits_conv.weight, std=1.0)  # per-image decisions, neither all on nor all off
    model = nn.Sequential(gate, Unreachable()).train()
    batches = [torch.randn(3, 6, 4, 4) for _ in range(4)]
    rates, _, n = gate_statistics(model, batches, max_batches=3)
    assert n == 9 and model.training  # three batches of three images; the training mode is restored
    with torch.no_grad():
        masks = torch.cat([(gate.logits(x)[..., 1] > gate.logits(x)[..., 0]).double() for x in batches[:3]])
    assert np.array_equal(rates, masks.mean(0).numpy()) and 0 < rates.mean() < 1
    with pytest.raises(ValueError, match="exactly one FrequencyGate"):
        gate_statistics(nn.Sequential(gate, FrequencyGate(channels=6)), batches)
    with pytest.raises(ValueError, match="no images"):
        gate_statistics(model, [])
