"""``OUT/report.html``: one self-contained page per run folder (``dxmi train``, ``evaluate`` and
``plot`` write it).

It collects what the folder holds: the metrics of every evaluated sampler (``eval_*.json``) as one
table, each column with its unit and direction and the best value marked; the samples those
evaluations scored (``samples_*.npy``, drawn again as one labelled figure per run); the learning
curves of each phase (``*/metrics.csv``, redrawn as grids of labelled panels); every other figure in
``OUT/plots/``; the run's settings. Figures are embedded as base64 PNGs: the page is one file that
can be mailed or archived without the folder.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dxmi.viz.labels import METRICS, metric_info, parse_stem, sampler_colour, stem_label, stem_order

__all__ = ["REPORT_FILE", "evaluation_rows", "plot_evaluated_samples", "render_report", "write_report"]

REPORT_FILE = "report.html"
PHASES = ("pretrain", "warmstart", "train")
PHASE_TITLES = {"pretrain": "pretraining of the base model", "warmstart": "warm start (solver distillation)",
                "train": "fine-tuning of the T-step sampler"}
#: figures of OUT/plots in the order the page shows them, with their captions
FIGURES = {
    "evaluated_samples.png": "The samples each evaluation scored (OUT/samples_*.npy; the first 64 images beside 64 "
                             "of the data, or up to 3000 points over the data in grey), labelled by method and "
                             "network evaluations per sample (NFE).",
    "samples.png": "Samples of the data, the untrained T-step policy and the trained sampler (dxmi plot).",
    "energy.png": "The learned energy: the model density exp(-E) and E over the plane, data in white.",
    "trajectories.png": "The trained sampler's chains: the states x_t from noise (t = 0) to samples (t = T).",
    "curves_pretrain.png": "Learning curves: " + PHASE_TITLES["pretrain"] + ".",
    "curves_warmstart.png": "Learning curves: " + PHASE_TITLES["warmstart"] + ".",
    "curves_train.png": "Learning curves: " + PHASE_TITLES["train"] + ".",
}


# -- inputs --------------------------------------------------------------------------------------------
def evaluation_rows(out: str | Path) -> tuple[list[tuple[str, dict[str, float]]], list[str]]:
    """([(stem, metrics)] of OUT/eval_*.json in sampler order, [notes on files that did not read])."""
    rows, notes = [], []
    for path in Path(out).glob("eval_*.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            notes.append(f"{path.name}: not read ({type(e).__name__})")
            continue
        if not isinstance(data, dict):
            notes.append(f"{path.name}: not a JSON object")
            continue
        vals = {k: float(v) for k, v in data.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        rows.append((path.stem[len("eval_"):], vals))
    rows.sort(key=lambda r: stem_order(r[0]))
    return rows, notes


def _load_config(out: Path) -> Any:
    from dxmi.config import ConfigError, load_config
    from dxmi.io import FileFormatError

    try:
        return load_config(str(out / "config.yaml")) if (out / "config.yaml").is_file() else None
    except (ConfigError, FileFormatError, OSError):
        return None


def _reference(cfg: Any, n: int) -> np.ndarray | None:
    """n items of the run's data in data units (None when the data do not load)."""
    from dxmi.experiment import build_dataset, to_data_units

    try:
        dataset = build_dataset(cfg)
        x = dataset.sample(n, torch.Generator().manual_seed(cfg.seed + 200))
        return to_data_units(dataset, x).detach().cpu().float().numpy()
    except Exception:  # the figure is drawn without the data rather than not at all
        return None


def plot_evaluated_samples(out: str | Path, cfg: Any = None, stems: Sequence[str] | None = None) -> Path | None:
    """OUT/plots/evaluated_samples.png from OUT/samples_<stem>.npy (images: a grid per sampler; 2D
    points: a panel per sampler over the data); None when there are no such samples."""
    out = Path(out)
    stems = list(stems) if stems is not None else sorted(
        (p.stem[len("samples_"):] for p in out.glob("samples_*.npy")), key=stem_order)
    arrays = {}
    for stem in stems:
        path = out / f"samples_{stem}.npy"
        try:
            arrays[stem] = np.load(path, mmap_mode="r")
        except (OSError, ValueError):
            continue
    images = {s: a for s, a in arrays.items() if a.ndim == 4}
    points = {s: a for s, a in arrays.items() if a.ndim == 2 and a.shape[1] == 2}
    target = out / "plots" / "evaluated_samples.png"
    if images:
        from dxmi.viz.images import plot_image_grids

        grids = {stem_label(s, cfg): torch.from_numpy(np.array(a[:64], dtype=np.float32)) for s, a in images.items()}
        data = _reference(cfg, 64) if cfg is not None else None
        if data is not None and data.ndim == 4:
            grids = {"data": torch.from_numpy(data), **grids}
        name = f"{cfg.data.name}: " if cfg is not None else ""
        return plot_image_grids(grids, target, title=f"{name}samples of the evaluated samplers")
    if points:
        from dxmi.viz.plots import plot_samples

        pts = {stem_label(s, cfg): np.array(a[:3000], dtype=np.float64) for s, a in points.items()}
        colours = [sampler_colour(parse_stem(s)[0]) for s in points]
        data = _reference(cfg, 3000) if cfg is not None else None
        if data is None or data.ndim != 2:
            data = np.zeros((0, 2))
        everything = np.concatenate([data, *pts.values()])
        finite = everything[np.isfinite(everything).all(1)]
        lim = float(np.percentile(np.abs(finite), 99.5)) * 1.15 if len(finite) else 4.5
        return plot_samples(pts, data, target, lim=lim if lim > 0 else 4.5, colours=colours)
    return None


def plot_phase_curves(out: str | Path) -> list[Path]:
    """OUT/plots/curves_<phase>.png for every phase with a metrics log (skipped: empty logs)."""
    from dxmi.viz.plots import plot_learning_curves

    out = Path(out)
    paths = []
    for phase in PHASES:
        csv_path = out / phase / "metrics.csv"
        if csv_path.is_file():
            try:
                paths.append(plot_learning_curves(csv_path, out / "plots" / f"curves_{phase}.png",
                                                  title=f"{PHASE_TITLES[phase]} ({phase}/metrics.csv)"))
            except ValueError:  # a log without rows yet
                continue
    return paths


# -- rendering -----------------------------------------------------------------------------------------
def _fmt(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if float(v).is_integer() and abs(v) < 1e9:
        return str(int(v))
    return f"{v:.4g}"


def _columns(rows: list[tuple[str, dict[str, float]]]) -> list[str]:
    keys = {k for _, r in rows for k in r}
    known = [k for k in METRICS if k in keys]
    return known + sorted(keys - set(known))


def _best(rows: list[tuple[str, dict[str, float]]], key: str) -> float | None:
    direction = metric_info(key).direction
    vals = [r[key] for _, r in rows if key in r and math.isfinite(r[key])]
    if direction not in ("lower", "higher") or len(vals) < 2 or min(vals) == max(vals):
        return None
    return min(vals) if direction == "lower" else max(vals)


def _metrics_table(rows: list[tuple[str, dict[str, float]]], cfg: Any) -> str:
    cols = _columns(rows)
    head = ["<th>sampler</th>"]
    for k in cols:
        info = metric_info(k)
        sub = " · ".join(x for x in (info.unit, info.direction_text) if x)
        head.append(f'<th title="{html.escape(info.label)}">{html.escape(k)} {info.arrow}<br>'
                    f'<span class="sub">{html.escape(info.label)}</span>'
                    + (f'<br><span class="dir">{html.escape(sub)}</span>' if sub else "") + "</th>")
    body = []
    best = {k: _best(rows, k) for k in cols}
    for stem, r in rows:
        cells = [f'<td class="name">{html.escape(stem_label(stem, cfg))}<br>'
                 f'<span class="sub">eval_{html.escape(stem)}.json</span></td>']
        for k in cols:
            if k not in r:
                cells.append('<td class="na">–</td>')
                continue
            cls = ' class="best"' if best[k] is not None and r[k] == best[k] else ""
            cells.append(f"<td{cls}>{_fmt(r[k])}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    # wide tables (many metrics) scroll sideways inside the page instead of running off it
    return ('<div class="wide"><table class="metrics"><thead><tr>' + "".join(head) + "</tr></thead><tbody>"
            + "".join(body) + "</tbody></table></div>")


def _figure(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(path.name)}" src="data:image/png;base64,{data}">'
            f"<figcaption><b>{html.escape(path.name)}</b>: {html.escape(caption)}</figcaption></figure>")


def _run_summary(cfg: Any, out: Path) -> str:
    if cfg is None:
        return "<p>No readable config.yaml in the run folder.</p>"
    s = cfg.sampler
    items = [("data", cfg.data.name + (f" ({cfg.data.path})" if cfg.data.path else "")),
             ("base model", cfg.pretrain.diffusers_path or
              f"{cfg.pretrain.model}, {cfg.pretrain.num_diffusion_steps} diffusion steps, "
              f"{cfg.pretrain.steps} pretraining steps"),
             ("sampler", f"T = {s.num_steps} steps ({s.subsequence} subsequence), value: {s.value}"),
             ("training", f"{cfg.train.update}, {cfg.train.iterations} iterations, batch {cfg.train.algo.batch_size}"),
             ("seed / device", f"{cfg.seed} / {cfg.device}")]
    for phase in PHASES:
        csv_path = out / phase / "metrics.csv"
        if csv_path.is_file():
            items.append((f"{phase} log", f"{phase}/metrics.csv"))
    return "<table class='kv'>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                                          for k, v in items) + "</table>"


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:1200px;
color:#222;padding:0 1em;line-height:1.4}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em;
margin-top:1.6em}
.meta{color:#666;font-size:.9em}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0} .wide{overflow-x:auto}
th,td{border:1px solid #ddd;padding:.3em .55em;vertical-align:top}
table.metrics td{text-align:right;font-variant-numeric:tabular-nums}
table.metrics td.name{text-align:left;white-space:nowrap} table.metrics th{background:#f4f4f4}
td.best{font-weight:bold;background:#e6f0fa} td.na{color:#aaa;text-align:center}
.sub{font-weight:normal;color:#555;font-size:.85em} .dir{font-weight:normal;color:#0072B2;font-size:.85em}
table.kv th{text-align:left;background:#f8f8f8;font-weight:600}
figure{margin:1em 0} figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85em;color:#444} pre{background:#f6f6f6;padding:.8em;overflow:auto;font-size:.8em}
"""


def render_report(out: Path, cfg: Any, rows: list[tuple[str, dict[str, float]]], figures: list[Path],
                  notes: list[str]) -> str:
    """The HTML text of the report (see the module docstring)."""
    title = f"dxmi run report: {out.name}"
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f"<p class='meta'>Run folder <code>{html.escape(str(out.resolve()))}</code>; written "
             f"{time.strftime('%Y-%m-%d %H:%M:%S')} by dxmi (train, evaluate and plot rewrite it).</p>",
             "<h2>Run</h2>", _run_summary(cfg, out), "<h2>Metrics</h2>"]
    if rows:
        parts.append("<p>One row per evaluated sampler (<code>dxmi evaluate --sampler ...</code>), NFE = network "
                     "evaluations per sample. ↓ lower is better, ↑ higher is better; the best value of a column is "
                     "<b>bold</b>.</p>")
        parts.append(_metrics_table(rows, cfg))
    else:
        parts.append(f"<p>No evaluations yet: <code>dxmi evaluate --out {html.escape(str(out))} --sampler dxmi"
                     "</code> (and <code>--sampler base</code>, <code>ddim</code>, ...) adds a row each.</p>")
    parts.extend(f"<p class='meta'>{html.escape(n)}</p>" for n in notes)
    samples = [f for f in figures if not f.name.startswith("curves_")]
    curves = [f for f in figures if f.name.startswith("curves_")]
    parts.append("<h2>Samples and plots</h2>")
    if samples:
        parts.extend(_figure(f, FIGURES.get(f.name, "a figure of the run's plots folder.")) for f in samples)
    else:
        parts.append(f"<p>No sample figures yet: <code>dxmi evaluate</code> or <code>dxmi plot --out "
                     f"{html.escape(str(out))}</code> draws them.</p>")
    parts.append("<h2>Learning curves</h2>")
    if curves:
        parts.extend(_figure(f, FIGURES.get(f.name, "learning curves.")) for f in curves)
    else:
        parts.append("<p>No training logs yet.</p>")
    config_path = out / "config.yaml"
    if config_path.is_file():
        parts.append("<h2>Settings</h2><details><summary>config.yaml</summary><pre>"
                     + html.escape(config_path.read_text(encoding="utf-8", errors="replace")) + "</pre></details>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _figure_order(path: Path) -> tuple[int, str]:
    names = list(FIGURES)
    return (names.index(path.name) if path.name in names else len(names), path.name)


def write_report(out: str | Path, cfg: Any = None) -> Path:
    """Redraw the learning curves and the evaluated samples, then write ``OUT/report.html``."""
    out = Path(out)
    cfg = cfg if cfg is not None else _load_config(out)
    rows, notes = evaluation_rows(out)
    plot_phase_curves(out)
    plot_evaluated_samples(out, cfg)
    figures = sorted((out / "plots").glob("*.png"), key=_figure_order) if (out / "plots").is_dir() else []
    text = render_report(out, cfg, rows, figures, notes)
    path = out / REPORT_FILE
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
