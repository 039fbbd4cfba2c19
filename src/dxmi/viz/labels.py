"""What a plot or table says about a number: metric names, units and directions; sampler names with
their network evaluations (NFE); a colour-blind-safe palette.

Directions: ``lower`` / ``higher`` (a quality score: lower / higher is better), ``min`` (a training
objective the run minimises: lower is its aim, not a quality score), ``None`` (a diagnostic).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: Okabe & Ito's palette (distinguishable with the common colour-vision deficiencies), black first
PALETTE = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")
#: the colours of samplers in a figure (the palette without black, which marks the data)
SAMPLER_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
DATA_COLOUR = "#7F7F7F"


@dataclass(frozen=True)
class MetricInfo:
    label: str
    unit: str = ""
    direction: str | None = None

    @property
    def direction_text(self) -> str:
        return DIRECTION_TEXT.get(self.direction or "", "")

    @property
    def arrow(self) -> str:
        return {"lower": "↓", "higher": "↑", "min": "↓"}.get(self.direction or "", "")


DIRECTION_TEXT = {"lower": "lower is better", "higher": "higher is better",
                  "min": "minimised by training", "": ""}

METRICS: dict[str, MetricInfo] = {
    # sample quality (eval_*.json)
    "fd": MetricInfo("Fréchet distance (classifier features)", "", "lower"),
    "precision": MetricInfo("precision (k-NN)", "fraction", "higher"),
    "recall": MetricInfo("recall (k-NN)", "fraction", "higher"),
    "label_accuracy": MetricInfo("label accuracy (classifier reads the requested class)", "fraction", "higher"),
    "sw": MetricInfo("sliced Wasserstein distance", "data units", "lower"),
    "mmd": MetricInfo("MMD", "", "lower"),
    "energy_distance": MetricInfo("energy distance", "", "lower"),
    "sinkhorn": MetricInfo("Sinkhorn distance (reg 0.05)", "", "lower"),
    "emd": MetricInfo("earth mover's distance", "data units", "lower"),
    "modes_covered": MetricInfo("modes covered", "count", "higher"),
    "in_mode_fraction": MetricInfo("samples within a mode", "fraction", "higher"),
    "effective_modes": MetricInfo("effective number of modes", "count", "higher"),
    "within_mode_std": MetricInfo("within-mode std", "data units", None),
    "density_tv": MetricInfo("EBM density error (total variation)", "", "lower"),
    "density_kl": MetricInfo("EBM density error (KL)", "nats", "lower"),
    "sampling_seconds": MetricInfo("sampling time", "s", "lower"),
    "n_samples": MetricInfo("samples", "count", None),
    "n_reference": MetricInfo("reference items", "count", None),
    # training logs (metrics.csv)
    "loss": MetricInfo("denoising loss (MSE of the noise)", "per dimension", "min"),
    "grad_norm": MetricInfo("gradient norm", "", None),
    "loss_energy": MetricInfo("energy loss (contrastive)", "", "min"),
    "energy_data": MetricInfo("energy of data", "", None),
    "energy_model": MetricInfo("energy of samples", "", None),
    "grad_norm_energy": MetricInfo("energy gradient norm", "", None),
    "loss_value": MetricInfo("value loss (TD)", "", "min"),
    "loss_sampler": MetricInfo("sampler loss", "", "min"),
    "sampler_v_next": MetricInfo("value of the next state", "", None),
    "grad_norm_sampler": MetricInfo("sampler gradient norm", "", None),
    "sigma_first": MetricInfo("learned sigma of the first step", "data units", None),
    "sigma_last": MetricInfo("learned sigma of the last step", "data units", None),
    "s2_mean": MetricInfo("velocity normaliser (mean s²)", "", None),
    "val_score": MetricInfo("validation score (FD for images, SW in 2D)", "", "lower"),
    "loss_distill": MetricInfo("distillation loss (MSE to the solver)", "per dimension", "min"),
    "loss_distill_last": MetricInfo("distillation loss, last step", "per dimension", "min"),
    "lr": MetricInfo("learning rate", "", None),
}


def metric_info(key: str) -> MetricInfo:
    """The label, unit and direction of a metric key (unknown keys: the key itself, no direction)."""
    return METRICS.get(key, MetricInfo(key.replace("_", " ")))


# -- samplers ----------------------------------------------------------------------------------------
#: every sampler's name in plots and tables; "full order": a solver kept at its order to the last step
SAMPLER_NAMES = {"dxmi": "DxMI", "base": "base T-step policy", "ddpm": "DDPM ancestral", "ddim": "DDIM",
                 "dpmsolver++": "DPM-Solver++ 2M", "dpmsolver++3m": "DPM-Solver++ 3M", "unipc": "UniPC",
                 "dpmsolver++_full": "DPM-Solver++ 2M, full order", "dpmsolver++3m_full": "DPM-Solver++ 3M, full order",
                 "unipc3": "UniPC-3", "deis": "DEIS-2", "deis3": "DEIS-3", "deis_full": "DEIS-2, full order",
                 "deis3_full": "DEIS-3, full order"}
#: the order of samplers in tables and figures
SAMPLER_ORDER = ("dxmi", "base", "ddim", "dpmsolver++", "dpmsolver++3m", "dpmsolver++_full", "dpmsolver++3m_full",
                 "unipc", "unipc3", "deis", "deis3", "deis_full", "deis3_full", "ddpm")


def sampler_colour(which: str) -> str:
    """One colour per method, the same in every figure (dxmi blue, base vermillion, ...)."""
    rank = SAMPLER_ORDER.index(which) if which in SAMPLER_ORDER else len(SAMPLER_ORDER)
    return SAMPLER_COLOURS[rank % len(SAMPLER_COLOURS)]


def parse_stem(stem: str) -> tuple[str, int | None, str | None]:
    """(sampler, steps or None, spacing or None) of an evaluation stem (``eval_<stem>.json``:
    ``dxmi``, ``ddim_10``, ``unipc_4_trailing``; see :func:`dxmi.experiment.eval_name`)."""
    m = re.fullmatch(r"(.+?)(?:_(\d+))?(?:_(leading|trailing|linspace))?", stem)
    if m is None:  # pragma: no cover - the pattern matches every string
        return stem, None, None
    return m.group(1), int(m.group(2)) if m.group(2) else None, m.group(3)


def sampler_nfe(which: str, steps: int | None, cfg: Any) -> int | None:
    """Network evaluations per sample of a sampler of the run ``cfg`` (None when not known)."""
    if which in ("dxmi", "base"):
        return int(cfg.sampler.num_steps)
    if which == "ddpm":
        return int(cfg.pretrain.num_diffusion_steps) if cfg.pretrain.model == "ddpm" else steps
    return steps if steps is not None else int(cfg.sampler.num_steps)


def sampler_label(which: str, nfe: int | None = None, cfg: Any = None, spacing: str | None = None) -> str:
    """``"DxMI (dxdp) · NFE 4"``: the method (the trained sampler named by its update) and its NFE."""
    name = SAMPLER_NAMES.get(which, which)
    if which == "dxmi" and cfg is not None:
        update = str(cfg.train.update)
        name = "GCD" if update == "gcd" else f"DxMI ({update})"
    if which == "ddpm" and cfg is not None and cfg.pretrain.model == "edm":
        name = "Euler ancestral (EDM)"
    if spacing:
        name += f", {spacing}"
    return f"{name} · NFE {nfe}" if nfe is not None else name


def stem_label(stem: str, cfg: Any = None) -> str:
    """The label of an evaluation stem (``ddim_10`` -> ``DDIM · NFE 10``)."""
    which, steps, spacing = parse_stem(stem)
    nfe = sampler_nfe(which, steps, cfg) if cfg is not None else steps
    return sampler_label(which, nfe, cfg, spacing)


def stem_order(stem: str) -> tuple[int, int, str]:
    which, steps, _ = parse_stem(stem)
    rank = SAMPLER_ORDER.index(which) if which in SAMPLER_ORDER else len(SAMPLER_ORDER)
    return rank, steps or 0, stem


__all__ = ["DATA_COLOUR", "METRICS", "PALETTE", "SAMPLER_COLOURS", "MetricInfo", "metric_info", "parse_stem",
           "sampler_colour", "sampler_label", "sampler_nfe", "stem_label", "stem_order"]
