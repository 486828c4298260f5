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

from freqdet.core.selection import describe_subset, per_channel_values, select_from_rates, static_subset_yaml
from freqdet.core.stats import load_dct_stats


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
    per_component = tuple(int(x) for x in args.per_component.split(",")) if args.per_component else None
    channels = select_from_rates(rates, top_k=args.top_k, per_component=per_component, threshold=args.threshold)
    mean, std = load_dct_stats(args.stats, channels) if args.stats else (None, None)
    rule_text = (f"top {args.top_k}" if args.top_k else
                 f"per component {args.per_component}" if args.per_component else f"rate >= {args.threshold}")
    comment = f"Static subset from {args.rates} ({rule_text}): {describe_subset(channels, rates)}"
    text = static_subset_yaml(channels, mean, std, args.base_config, comment)
    sys.stdout.write(text)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text)
    return channels, text


if __name__ == "__main__":
    main()
