"""The training-free baselines of the few-step benchmarks: diffusers' DDIM, DPM-Solver++ (2M / 3M), UniPC
and DEIS (order 2 / 3) on the benchmark's own pretrained epsilon model, each at its best timestep spacing.

The choice (solver variant and spacing) is made on *validation* draws: samples drawn with a validation
seed and scored against a validation reference. The reported figure of the chosen setting comes from
the test seed and the test reference, which the choice never saw.

Rows, per step count T, each the best of its solvers over the three spacings: ``ddim_best_T`` (DDIM),
``dpmsolver_T`` (DPM-Solver++ 2M and 3M, each also kept at its order to the last step, ``_full``),
``unipc_T`` (UniPC of order 2 and 3), ``deis_T`` (DEIS of order 2 and 3, also ``_full``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

# row prefix -> the solvers it chooses among (each over every spacing)
SOLVER_ROWS: dict[str, tuple[str, ...]] = {
    "ddim_best": ("ddim",),
    "dpmsolver": ("dpmsolver++", "dpmsolver++3m", "dpmsolver++_full", "dpmsolver++3m_full"),
    "unipc": ("unipc", "unipc3"),
    "deis": ("deis", "deis3", "deis_full", "deis3_full"),
}


def validation_scores(model: Any, solvers: Sequence[str], T: int, n: int, val_score: Callable[[Any], float],
                      val_generator: Callable[[], Any], y: Any = None) -> dict[str, float]:
    """``{"solver/spacing": score}`` of every solver in ``solvers`` on every spacing: n validation samples
    with T network evaluations, scored by ``val_score`` (lower is better). A setting whose samples are not
    all finite (a solver that diverged on this model) scores inf, so it is never chosen."""
    import math

    import torch

    from dxmi.diffusion.solvers import SPACINGS, solver_sample

    def one(s: str, sp: str) -> float:
        x = solver_sample(model, s, T, n, val_generator(), sp, y)
        score = float(val_score(x)) if bool(torch.isfinite(x).all()) else math.inf
        return score if math.isfinite(score) else math.inf

    return {f"{s}/{sp}": one(s, sp) for s in solvers for sp in SPACINGS}


def best_solver(model: Any, T: int, n: int, val_score: Callable[[Any], float], val_generator: Callable[[], Any],
                y: Any = None) -> tuple[str, dict[str, float]]:
    """The best ``"solver/spacing"`` at T steps over every solver of :data:`SOLVER_ROWS`, chosen on
    validation draws (the same scores :func:`solver_rows` chooses each row's spacing on), and the scores."""
    val = validation_scores(model, [s for row in SOLVER_ROWS.values() for s in row], T, n, val_score,
                            val_generator, y)
    return min(val, key=val.__getitem__), val


def best_choice(choices: dict[str, dict], T: int) -> str:
    """The ``"solver/spacing"`` with the lowest validation score at T over every row of ``choices`` (what
    :func:`solver_rows` returns): :func:`best_solver` without drawing the validation samples again."""
    val = {k: v for c in choices.values() if c["nfe"] == T for k, v in c["validation"].items()}
    if not val:
        raise ValueError(f"no solver row at NFE {T} among {sorted(choices)}")
    return min(val, key=val.__getitem__)


def solver_rows(model: Any, steps: Sequence[int], n: int, val_score: Callable[[Any], float],
                val_generator: Callable[[], Any], test_generator: Callable[[], Any],
                record: Callable[[str, Any, float, dict], None], y: Any = None) -> dict[str, dict]:
    """For each T in ``steps`` and each row of :data:`SOLVER_ROWS`: score every (solver, spacing) on n
    validation samples with ``val_score`` (lower is better), then draw n test samples with the best one
    and hand them to ``record(row, samples, seconds, extra)``. Returns the choices per row."""
    from dxmi.diffusion.solvers import solver_sample

    choices: dict[str, dict] = {}
    for T in steps:
        for row, solvers in SOLVER_ROWS.items():
            val = validation_scores(model, solvers, T, n, val_score, val_generator, y)
            best = min(val, key=val.__getitem__)
            solver, spacing = best.split("/")
            t0 = time.perf_counter()
            samples = solver_sample(model, solver, T, n, test_generator(), spacing, y)
            extra = {"solver": solver, "spacing": spacing, "nfe": T, "validation": val}
            record(f"{row}_{T}", samples, time.perf_counter() - t0, extra)
            choices[f"{row}_{T}"] = extra
    return choices
