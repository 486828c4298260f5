#!/usr/bin/env python
"""Turn a gate's selection rates into a static channel subset and the config lines that use it.

    python tools/select_channels.py RATES.json --top-k 24 --stats dct_stats.json
    python tools/select_channels.py RATES.json --per-component 16,4,4 --stats dct_stats.json
    python tools/select_channels.py RATES.json --threshold 0.5 --stats dct_stats.json \
        --base-config ../Base-FreqRCNN-FPN.yaml -o configs/.../static.yaml

Prints (and with ``-o`` writes) YAML: the ``channels`` list, ascending channel indices, and the
per-channel mean/std for exactly those channels, in the same order, taken from the statistics
JSON of ``tools/compute_dct_stats.py``. With ``--base-config`` the YAML is a complete config.
"""
import argparse
import json
import sys
from pathlib import Path

from freqdet.core.channels import COMPONENTS, channel_name
from freqdet.core.stats import load_dct_stats
from freqdet.core.selection import per_channel_values, select_from_rates

# Where a static config keeps the subset and its normalization (see freqdet/detection/config.py).
CHANNELS_KEY = ("INPUT", "DCT", "CHANNELS")
MEAN_KEY = ("MODEL", "PIXEL_MEAN")
STD_KEY = ("MODEL", "PIXEL_STD")
STATS_FILE_KEY = ("MODEL", "PIXEL_STATS_FILE")  # cleared: inline mean/std apply only without it
GATE_KEY = ("MODEL", "FREQ_GATE", "ENABLED")  # a static subset replaces the gate


def _floats(values):
    return "[" + ", ".join(f"{float(v):.6g}" for v in values) + "]"


def config_yaml(channels, mean=None, std=None, base_config=None, comment=""):
    """YAML text for a static config: nested keys, flow-style lists (one line each).

    ``mean``/``std``: values of exactly ``channels``, in their order.
    """
    tree = {}

    def put(key, text):
        node = tree
        for k in key[:-1]:
            node = node.setdefault(k, {})
        node[key[-1]] = text

    put(GATE_KEY, "False")
    if mean is not None:
        put(STATS_FILE_KEY, '""')
        put(MEAN_KEY, _floats(mean))
        put(STD_KEY, _floats(std))
    put(CHANNELS_KEY, "[" + ", ".join(str(c) for c in channels) + "]")

    lines = [f"# {line}" for line in comment.splitlines()]
    if base_config:
        lines.append(f'_BASE_: "{base_config}"')

    def emit(node, depth):
        for k, v in node.items():
            if isinstance(v, dict):
                lines.append("  " * depth + f"{k}:")
                emit(v, depth + 1)
            else:
                lines.append("  " * depth + f"{k}: {v}")

    emit(tree, 0)
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rates", help="selection-rate JSON written by the gate hook")
    rule = parser.add_mutually_exclusive_group(required=True)
    rule.add_argument("--top-k", type=int, help="the K most selected channels overall")
    rule.add_argument("--per-component", help="counts for Y,Cb,Cr, e.g. 16,4,4")
    rule.add_argument("--threshold", type=float, help="channels selected for at least this fraction of images")
    parser.add_argument("--stats", help="per-channel mean/std JSON (tools/compute_dct_stats.py, all 192 "
                                        "channels); without it the config keeps its base's statistics")
    parser.add_argument("--base-config", help="_BASE_ of the written config (makes it a full config)")
    parser.add_argument("-o", "--output", help="write the YAML here as well")
    args = parser.parse_args(argv)

    rates = per_channel_values(json.loads(Path(args.rates).read_text()), "rates")
    per_component = None
    if args.per_component:
        per_component = tuple(int(x) for x in args.per_component.split(","))
    channels = select_from_rates(rates, top_k=args.top_k, per_component=per_component, threshold=args.threshold)
    mean = std = None
    if args.stats:
        mean, std = load_dct_stats(args.stats, channels)

    counts = [sum(1 for c in channels if c // 64 == k) for k in range(3)]
    rule_text = (f"top {args.top_k}" if args.top_k else
                 f"per component {args.per_component}" if args.per_component else f"rate >= {args.threshold}")
    comment = (f"Static subset from {args.rates} ({rule_text}): {len(channels)} channels, "
               + ", ".join(f"{c} {n}" for c, n in zip(COMPONENTS, counts))
               + f"\nlowest kept rate {rates[channels].min():.3f} ({channel_name(int(channels[rates[channels].argmin()]))})")
    text = config_yaml(channels, mean, std, args.base_config, comment)
    sys.stdout.write(text)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text)
    return channels, text


if __name__ == "__main__":
    main()
