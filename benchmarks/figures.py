"""Figures drawn from result files, so that a plot in the docs cannot drift from the numbers.

A benchmark that writes a result file draws its figure from the file's content (``--plot``), and
``benchmarks/report.py --out docs/results.md`` redraws every figure of ``FIGURES`` into ``docs/img/``
from ``results/``. Each PNG carries the SHA-256 of the result file it was drawn from and of this module (a
``Source`` text chunk), so ``report.py --check`` (and ``tests/project/test_report.py``) notice a figure whose file
has changed since. Only matplotlib (imported when a figure is drawn) and the package's palette.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: the rows of a ``benchmarks/vgs_budget.py`` file, in the order they are drawn (``vgs_td0``, the paper's
#: one-step TD without replay, is present where the quick ``vgs`` row uses our additions)
BUDGET_METHODS = ("vgs", "vgs_td0", "mala", "mala_long", "hmc", "pt", "reference")
BUDGET_LABELS = {"vgs": "VGS (ours, TD(λ))", "vgs_td0": "VGS, one-step TD", "mala": "MALA, many short chains",
                 "mala_long": "MALA, 64 long chains", "hmc": "HMC", "pt": "parallel tempering",
                 "reference": "reference floor (exact draws)"}
SOURCE_KEY = "Source"


def source_stamp(result_file: Path) -> str:
    """What a figure drawn from ``result_file`` carries: the file's name and SHA-256, and that of this
    module (a figure drawn by older drawing code is stale too)."""
    code = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    return f"{result_file.name} sha256:{hashlib.sha256(result_file.read_bytes()).hexdigest()} figures:{code}"


def read_stamp(png: Path) -> str | None:
    """The ``Source`` stamp of a PNG drawn by :func:`save` (None when absent or unreadable)."""
    try:
        from PIL import Image

        with Image.open(png) as im:
            return im.text.get(SOURCE_KEY)  # type: ignore[attr-defined]
    except (OSError, ValueError):
        return None


def budget_figure(data: dict[str, Any]) -> Any:
    """TVD-E against energy evaluations and against wall time, one line per method, from a
    ``benchmarks/vgs_budget.py`` result (``{"target": ..., "rows": [{method: {"tvd_e", "seconds",
    "n_energy_evals"?}, "n_energy_evals": ...}]}``). Returns the matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dxmi.viz.labels import SAMPLER_COLOURS  # the package's colour-blind-safe palette

    rows = data["rows"]
    if not rows:
        raise ValueError("a budget figure needs at least one row; the file has none")
    target = data.get("target", "?")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.3), sharey=True)
    for colour, m in zip((*SAMPLER_COLOURS, "#000000"), BUDGET_METHODS):
        if m not in rows[0]:
            continue
        # each method at its own budget (the reference floor, which spends none, at the VGS one)
        evals = [r[m].get("n_energy_evals") or r["n_energy_evals"] for r in rows]
        style = "--" if m == "reference" else "-o"
        label = BUDGET_LABELS.get(m, m)
        axes[0].plot(evals, [r[m]["tvd_e"] for r in rows], style, color=colour, label=label)
        if m != "reference":
            axes[1].plot([r[m]["seconds"] for r in rows], [r[m]["tvd_e"] for r in rows], style, color=colour,
                         label=label)
    axes[0].set_xlabel("energy evaluations (VGS: training + sampling)")
    axes[1].set_xlabel("wall time, s, 1 thread (VGS: training + sampling)")
    axes[0].set_ylabel("TVD-E of the samples (lower is better)")
    from matplotlib.ticker import NullFormatter

    for ax in axes:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # decades only: the minor labels overlap
        ax.grid(alpha=0.3)
    axes[0].set_title(f"{target}: TVD-E against energy evaluations")
    axes[1].set_title(f"{target}: TVD-E against wall time")
    handles, labels = axes[0].get_legend_handles_labels()  # one legend below both panels, off the lines
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return fig


def save(fig: Any, path: Path, stamp: str | None = None) -> None:
    """Write ``fig`` as a PNG (folders made), with the ``Source`` stamp when given, and close it."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, metadata={SOURCE_KEY: stamp} if stamp else None)
    plt.close(fig)


#: how each kind of figure is drawn from its result file's content
Draw = Callable[[dict[str, Any]], Any]
