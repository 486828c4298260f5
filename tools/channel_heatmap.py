#!/usr/bin/env python
"""Heat map of a gate's per-channel selection rates: three labelled 8x8 grids (Y, Cb, Cr).

    python tools/channel_heatmap.py output/gate/gate_selection_rates.json [-o rates.png]

The input is the JSON that the gate hook writes (``train_net.py`` at the end of training or
with ``--eval-only``); the picture is the paper's Figure 5 for that run.
"""
import argparse
import json
from pathlib import Path

from freqdet.core.plots import plot_selection_rates
from freqdet.core.selection import per_channel_values


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rates", help="selection-rate JSON (rates keyed by channel index)")
    parser.add_argument("-o", "--output", help="PNG path (default: the JSON path with .png)")
    parser.add_argument("--title", help="figure title (default: summary of the file)")
    args = parser.parse_args(argv)

    data = json.loads(Path(args.rates).read_text())
    num_images = data.get("num_images") if isinstance(data, dict) else None
    out = plot_selection_rates(per_channel_values(data, "rates"), args.output or Path(args.rates).with_suffix(".png"),
                               title=args.title, num_images=num_images)
    print(out)
    return out


if __name__ == "__main__":
    main()
