"""Which term drives a trained image sampler: per step t, the gradient norm (w.r.t. the mean
network's parameters) of each term of the DxDP sampler loss

    V(x_{t+1}, t + 1)  (E(x_T) at the last step)      and      tau2 c_t = tau2 mean_d (x_{t+1} - x_t)^2 / (2 s_t^2),

on B fresh rollouts of the run's online policy, with the run's own s_t^2 and tau2 (or --tau2). A velocity-cost
gradient that outweighs the energy's means the sampler is being pulled towards shorter steps
rather than towards the data.

    python benchmarks/images_sampler_grads.py --run runs/digits --out results/grads.json

JSON: {"run": str, "tau2": float, "energy_data": float, "energy_model": float,
"steps": [{"t", "grad_value", "grad_velocity", "ratio"}], "command": str}
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="a trained run folder (holds config.yaml and train/)")
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--n", type=int, default=256, help="rollouts (and data points) B")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tau2", type=float, default=None,
                   help="velocity weight to measure with (default: the run's own; needed when the run used 0)")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    from dxmi.buffers.trajectory import TrajectoryBuffer
    from dxmi.config import load_config
    from dxmi.experiment import build_dataset, load_trained
    from images import write_result  # benchmarks/images.py, next to this script

    cfg = load_config(str(Path(args.run) / "config.yaml"), [])
    algo = load_trained(cfg)
    policy = algo.policy
    params = [q for q in policy.mean_parameters() if q.requires_grad]
    gen = torch.Generator().manual_seed(args.seed)

    def grad_norm(loss: torch.Tensor) -> float:
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        return float(sum((g**2).sum() for g in grads if g is not None) ** 0.5)

    traj = policy.rollout(args.n, gen)
    buffer = TrajectoryBuffer(algo.T, args.n, policy.sample_shape)
    buffer.store(traj)
    data = build_dataset(cfg).sample(args.n, torch.Generator().manual_seed(args.seed + 1))
    with torch.no_grad():
        e_data, e_model = float(algo.energy(data).mean()), float(algo.energy(traj.states[-1]).mean())
    tau2 = algo.config.tau2 if args.tau2 is None else args.tau2
    if tau2 <= 0:
        p.error(f"the run has tau2 = {algo.config.tau2}: pass --tau2 (e.g. the release's 0.01) to measure the term")
    rows = []
    for t in range(algo.T):
        b = buffer.at(t)
        step = policy.step(b.x, b.t, gen)
        g_v = grad_norm(algo.cost_to_go(step.next_x, b.t + 1, None).mean())
        g_c = grad_norm(tau2 * algo.velocity(b.x, step.next_x, b.t).mean())
        rows.append({"t": t, "grad_value": g_v, "grad_velocity": g_c, "ratio": g_c / max(g_v, 1e-30)})
        print(f"t={t}  |grad V(x_t+1)| = {g_v:.3e}   |grad tau2 c_t| = {g_c:.3e}   "
              f"velocity / value = {rows[-1]['ratio']:.2f}")
    print(f"E(data) = {e_data:.4f}   E(x_T) = {e_model:.4f}   (tau2 = {tau2})")
    write_result(args.out, "images_sampler_grads.py", argv,
                 {"run": args.run, "tau2": tau2, "energy_data": e_data, "energy_model": e_model, "steps": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
