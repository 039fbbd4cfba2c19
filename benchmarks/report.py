"""Render a benchmark JSON (toy2d layout) as a Markdown table: python benchmarks/report.py FILE.json"""

from __future__ import annotations

import json
import sys

COLS = ["sw", "mmd", "energy_distance", "recall", "modes_covered", "in_mode_fraction", "seconds"]


def main() -> int:
    rep = json.load(open(sys.argv[1]))
    print(f"`{rep.get('command', '')}` ({rep.get('mode')}, seeds {rep.get('seeds')}, "
          f"{rep.get('n_eval_samples')} samples per method, total {rep.get('total_seconds', 0):.0f} s)\n")
    for d, ms in rep["datasets"].items():
        print(f"**{d}**\n\n| method | " + " | ".join(COLS) + " |\n|---|" + "---|" * len(COLS))
        for m, r in ms.items():
            cells = [(f"{r[c]:.4g} ± {r[c + '_std']:.2g}" if c + "_std" in r else f"{r[c]:.4g}") if c in r else ""
                     for c in COLS]
            print(f"| {m} | " + " | ".join(cells) + " |")
        print()
    for k, v in rep.get("checks", {}).items():
        print(f"- {'PASS' if v else 'FAIL'}: `{k}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
