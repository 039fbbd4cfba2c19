"""What VGS could reach on the funnel with an exact value: the optimal policy's TVD-E for a Gaussian start.

    python benchmarks/vgs_funnel_bound.py --out results/vgs_funnel_bound.json

With the start fixed to ``N(0, s^2 I)`` and a VE chain of total noise ``S = sum_t s_t^2``, the
sampler that minimises the path KL is the auxiliary chain conditioned on its start, so its samples
follow ``int N(x_0; 0, s^2 I) q~(x_T | x_0) dx_0`` with ``q~(x_0 | x_T) = N(x_0; x_T, S I)`` and
``x_T ~ p``. We draw that by importance sampling: exact funnel samples ``x_T``, ``x_0 = x_T + sqrt(S) z``,
weights ``N(x_0; 0, s^2 I) / q~_0(x_0)`` with the marginal ``q~_0`` by quadrature over the funnel's
first coordinate (``x_i | a ~ N(0, e^a)`` makes the rest Gaussian). ``s`` minimises ``KL(N(0, s^2 I) || q~_0)``,
as the learned ``s_init`` does. This bounds what a learned value can give with that schedule (the
Gaussian policy of VGS can only do worse); the baseline in the same run is the reference floor.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import torch

from dxmi.algorithms.vgs import make_config
from dxmi.metrics import synthetic_metrics
from dxmi.samplers import VGSSchedule
from dxmi.targets import make_target
from provenance import write_json


def log_q0(x: torch.Tensor, S: float, a: torch.Tensor) -> torch.Tensor:
    """``log q~_0(x) = log int N(a; 0, 9) N(x_0; a, S) prod_i N(x_i; 0, e^a + S) da``: ``(N, 10) -> (N,)``."""
    la = -0.5 * a**2 / 9 - 0.5 * math.log(2 * math.pi * 9)
    v = a.exp() + S
    l0 = -0.5 * (x[:, :1] - a) ** 2 / S - 0.5 * math.log(2 * math.pi * S)
    li = -0.5 * (x[:, 1:] ** 2).sum(1, keepdim=True) / v - 0.5 * (x.shape[1] - 1) * torch.log(2 * math.pi * v)
    return torch.logsumexp(la + l0 + li, 1) + math.log(float(a[1] - a[0]))


def bound(S: float, n: int, n_eval: int, seed: int) -> dict[str, float]:
    target = make_target("funnel")
    a = torch.linspace(-30, 30, 3001, dtype=torch.float64)
    xT = target.sample(n, torch.Generator().manual_seed(seed)).double()
    z = torch.randn(xT.shape, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    x0 = xT + math.sqrt(S) * z
    lq = torch.cat([log_q0(c, S, a) for c in x0.split(5000)])
    sq = (x0**2).sum(1)
    best: tuple[float, float, torch.Tensor] | None = None
    for s in torch.linspace(1.0, 3 * math.sqrt(S + 9), 300).tolist():
        lw = -0.5 * sq / s**2 - 10 * math.log(s) - 5 * math.log(2 * math.pi) - lq
        w = torch.softmax(lw, 0)
        kl = float((w * lw).sum())  # KL(pi_0 || q~_0) by self-normalised importance sampling
        if best is None or kl < best[0]:
            best = (kl, s, w)
    assert best is not None
    kl, s, w = best
    idx = torch.multinomial(w.float(), n_eval, replacement=True, generator=torch.Generator().manual_seed(seed + 2))
    ref = target.sample(n_eval, torch.Generator().manual_seed(seed + 3))
    floor = target.sample(n_eval, torch.Generator().manual_seed(seed + 4))
    opt, ref_m = synthetic_metrics(xT[idx].float(), ref, target), synthetic_metrics(floor, ref, target)
    q = torch.tensor([0.01, 0.5, 0.99], dtype=torch.float64)
    return {"total_noise": S, "s_init": s, "kl_start": kl, "ess": float(1 / (w**2).sum()) / n,
            "tvd_e": opt.tvd_e, "sinkhorn": opt.sinkhorn, "reference_tvd_e": ref_m.tvd_e,
            "x0_quantiles_1_50_99": xT[idx, 0].quantile(q).tolist()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--out", default="results/vgs_funnel_bound.json")
    p.add_argument("--extra-noise", default="20", help="comma-separated total noises S besides the quick schedule's")
    p.add_argument("--n", type=int, default=200_000, help="exact funnel samples for the importance sampling")
    p.add_argument("--n-eval", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    c = make_config("funnel", [])  # the release funnel schedule, which the quick run keeps
    quick = float(VGSSchedule(c.num_steps, c.s2_start, c.s2_end, c.schedule, c.variant).s2.sum())
    rows = []
    t0 = time.perf_counter()
    for S in [quick] + [float(v) for v in args.extra_noise.split(",") if v]:
        r = bound(S, args.n, args.n_eval, args.seed)
        rows.append(r)
        print(f"S = {S:.3g}: s_init {r['s_init']:.2f}, TVD-E {r['tvd_e']:.3f} (reference floor "
              f"{r['reference_tvd_e']:.3f}), Sinkhorn {r['sinkhorn']:.3f}, ESS {r['ess']:.3f}, x0 1/50/99 % "
              + " / ".join(f"{v:.2f}" for v in r["x0_quantiles_1_50_99"]), flush=True)
    out = write_json(args.out, {"rows": rows, "seconds": time.perf_counter() - t0}, "vgs_funnel_bound.py", argv)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
