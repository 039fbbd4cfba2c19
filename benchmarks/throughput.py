"""Throughput of DxMI updates for a CIFAR-10-size diffusion UNet, on random data.

The sampler is the T = 10 FastDPM-quadratic DDPM policy built on a diffusers ``UNet2DModel`` with
the architecture of the CIFAR-10 DDPM (35.7 M parameters; random weights, or a local pretrained
folder with ``--model``), through :class:`dxmi.diffusion.diffusers.DiffusersEpsNet`. The
energy/value is a small conv net (a stand-in for the project's image energy). One DxMI iteration =
B rollouts of T steps (no gradient) + an energy step + T TD steps + one sampler step on B
transitions, so ``images_per_s = B x iterations / seconds`` counts rolled-out images.

Measured in the same run, per precision (fp32 is the baseline of bf16 / fp16): the DxMI update and,
as a reference, plain T-step sampling (no training). Under torchrun each process runs B images with
DDP-synchronised gradients and the figures are totals over processes.

    python benchmarks/throughput.py --device cuda --iterations 300 --out results/throughput_cuda.json
    torchrun --nproc_per_node 4 benchmarks/throughput.py --device cuda --precision bf16
    python benchmarks/throughput.py --tiny --iterations 3 --batch 4 --out results/throughput_cpu_tiny.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import torch
from torch import Tensor, nn

from dxmi.algorithms import DxMI, DxMIConfig
from dxmi.diffusion.diffusers import DiffusersEpsNet, import_diffusers, load_diffusers_eps_model
from dxmi.energies import Energy
from dxmi.policies import DDPMSubsequencePolicy
from dxmi.schedules import LinearBetaSchedule, make_subsequence
from dxmi.training.distributed import Distributed, shutdown
from dxmi.training.precision import PRECISIONS, Precision
from dxmi.values import SharedEnergyValue
from provenance import made_by, write_json

# google/ddpm-cifar10-32's UNet2DModel architecture (Ho et al. 2020, CIFAR-10)
CIFAR10_DDPM_UNET = dict(sample_size=32, in_channels=3, out_channels=3, layers_per_block=2,
                         block_out_channels=(128, 256, 256, 256),
                         down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
                         up_block_types=("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
                         downsample_padding=0, flip_sin_to_cos=False, freq_shift=1, norm_eps=1e-6,
                         norm_num_groups=32)
TINY_UNET = {**CIFAR10_DDPM_UNET, "layers_per_block": 1, "block_out_channels": (16, 32, 32, 32),
             "norm_num_groups": 8}


class ConvEnergy(Energy):
    """E(x) = scale * sum_{h, w} f(x)[h, w]: strided 3x3 convs with LeakyReLU, no normalisation,
    spatial sum, learnable output scale (the paper's kind of image energy, kept small here)."""

    def __init__(self, sample_shape: tuple[int, int, int], width: int = 64):
        super().__init__(sample_shape)
        c = sample_shape[0]
        self.net = nn.Sequential(
            nn.Conv2d(c, width, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 1, 3, padding=1))
        self.scale = nn.Parameter(torch.tensor(0.1))

    def energy(self, x: Tensor) -> Tensor:
        return self.scale * self.net(x).sum(dim=(1, 2, 3))


def build(args: argparse.Namespace, device: torch.device, gen_seed: int) -> DxMI:
    torch.manual_seed(0)
    if args.model:
        model = load_diffusers_eps_model(args.model, device=device)
        eps_net, schedule = model.eps_net, model.schedule
    else:
        unet = import_diffusers().UNet2DModel(**(TINY_UNET if args.tiny else CIFAR10_DDPM_UNET))
        eps_net, schedule = DiffusersEpsNet(unet), LinearBetaSchedule(1000)
    shape = eps_net.sample_shape  # type: ignore[union-attr]
    steps = make_subsequence("fastdpm_quadratic").build(schedule, args.steps)
    policy = DDPMSubsequencePolicy(eps_net, steps, shape).to(device)
    energy = ConvEnergy(shape, width=16 if args.tiny else 64).to(device)
    cfg = DxMIConfig(batch_size=args.batch, sampler_lr=1e-7, sigma_lr=1e-5, value_lr=1e-5, energy_lr=1e-5,
                     time_cost_kappa=0.1, entropy_in_value=False, velocity_in_value=False)
    return DxMI(policy, SharedEnergyValue(energy, args.steps), energy, cfg,
                generator=torch.Generator(device=device).manual_seed(gen_seed))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(args: argparse.Namespace, dist: Distributed, name: str) -> dict:
    device = dist.device
    precision = Precision(name, device.type)
    algo = dist.wrap(build(args, device, dist.seed(1)))
    algo.grad_scaler = precision.make_scaler()
    data_gen = torch.Generator(device=device).manual_seed(dist.seed(2))

    def batch() -> Tensor:
        return torch.rand((args.batch, *algo.policy.sample_shape), generator=data_gen, device=device) * 2 - 1

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(args.warmup):
        with precision.autocast():
            algo.update(batch())
    sync(device)
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(args.iterations):
        with precision.autocast():
            m = algo.update(batch())
    sync(device)
    dist.barrier()
    seconds = time.perf_counter() - t0
    with torch.no_grad():  # reference: T-step sampling alone, same precision
        sync(device)
        t1 = time.perf_counter()
        for _ in range(args.iterations):
            with precision.autocast():
                algo.policy.sample(args.batch, algo.generator)
        sync(device)
        dist.barrier()
        sample_seconds = time.perf_counter() - t1
    n = args.batch * args.iterations * dist.world_size
    out = {"iterations": args.iterations, "seconds": seconds, "ms_per_iteration": 1000 * seconds / args.iterations,
           "images_per_s": n / seconds, "sampling_images_per_s": n / sample_seconds,
           "last_loss_energy": float(m["loss_energy"]) if "loss_energy" in m else None,
           "eps_net_parameters": sum(p.numel() for p in algo.policy.eps_net.parameters())}
    if device.type == "cuda":
        out["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu or cuda (under torchrun: cuda -> one GPU per process)")
    p.add_argument("--precision", nargs="+", default=None, choices=sorted(PRECISIONS),
                   help="precisions to measure (default: fp32 bf16 on cuda, fp32 on cpu)")
    p.add_argument("--batch", type=int, default=128, help="trajectories (images) per iteration and process (128)")
    p.add_argument("--steps", type=int, default=10, help="sampler steps T (10)")
    p.add_argument("--iterations", type=int, default=300, help="timed DxMI iterations (300)")
    p.add_argument("--warmup", type=int, default=5, help="untimed iterations first (5)")
    p.add_argument("--tiny", action="store_true", help="a tiny UNet (CPU smoke test), not the CIFAR-10 size")
    p.add_argument("--model", default=None, help="a local diffusers folder to load instead of random weights")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1)")
    p.add_argument("--out", default=None, help="write the JSON here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("throughput.py: error: --device cuda but CUDA is not available", file=sys.stderr)
        return 2
    if args.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    dist = Distributed.from_env(args.device)
    names = args.precision or (["fp32", "bf16"] if args.device.startswith("cuda") else ["fp32"])
    finished = False
    try:
        results = {}
        for name in names:
            results[name] = measure(args, dist, name)
            if dist.is_main:
                r = results[name]
                print(f"{name}: {r['images_per_s']:.1f} images/s of DxMI updates "
                      f"({r['ms_per_iteration']:.1f} ms/iteration), sampling alone {r['sampling_images_per_s']:.1f} "
                      f"images/s", flush=True)
        if "fp32" in results:
            for r in results.values():
                r["speedup_vs_fp32"] = r["images_per_s"] / results["fp32"]["images_per_s"]
        report = {
            "device": (torch.cuda.get_device_name(dist.device) if dist.device.type == "cuda"
                       else f"cpu ({platform.processor() or platform.machine()}, {args.threads} thread(s), "
                            f"{os.cpu_count()} cores visible)"),
            "torch": torch.__version__, "world_size": dist.world_size,
            "model": "tiny UNet" if args.tiny else (args.model or "CIFAR-10 DDPM UNet architecture, random weights"),
            "batch_per_process": args.batch, "T": args.steps, "results": results}
        if dist.is_main:
            print(json.dumps({**report, **made_by("throughput.py", argv)}, indent=2))
            if args.out:
                print(f"wrote {write_json(args.out, report, 'throughput.py', argv)}")
        finished = True
    finally:
        shutdown(synchronise=finished)
    return 0


if __name__ == "__main__":
    sys.exit(main())
