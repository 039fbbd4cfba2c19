"""Scale-out: 2 processes (gloo on CPU) stay in sync under DxMI, GCD, VGS, LangevinCD and EBM-VGS;
the averaged update equals the single-process update on the combined batch where that is exact;
resume; the CLI under torchrun."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from dxmi.algorithms import DDPMTraining, DxMI, LangevinCD, LangevinCDConfig
from dxmi.algorithms.base import Algorithm, MethodAsForward
from dxmi.algorithms.ebm_vgs import EBMVGS
from dxmi.algorithms.vgs import VGS, make_config
from dxmi.config import load_config
from dxmi.data import make_toy2d
from dxmi.diffusion import EpsilonModel
from dxmi.energies import MLPEnergy
from dxmi.experiment import for_this_rank
from dxmi.nets import TimeMLP
from dxmi.records import Metrics, Trajectory
from dxmi.schedules import LinearBetaSchedule
from dxmi.targets import make_target
from dxmi.training import load_checkpoint
from dxmi.training.distributed import Distributed, shutdown
from dxmi.training.loop import NonFiniteLossError, Trainer
from tests.helpers import DXMI_STEPS, flat_params, make_dxmi

T, B_GLOBAL, WORLD = DXMI_STEPS, 32, 2


def make_ebm_algorithm(kind: str, init_seed: int, gen_seed: int) -> Algorithm:
    """A small VGS (on the u1 target), LangevinCD or EBM-VGS (2D energy); ``init_seed`` sets the
    initial parameters, ``gen_seed`` the generator of the update."""
    torch.manual_seed(init_seed)
    vgs = make_config("u1", ["num_steps=3", "batch_size=8", "net.hidden=16", "net.depth=2", "net.time_dim=8",
                             "energy_clip=50.0", f"seed={init_seed}"])
    g = torch.Generator().manual_seed(gen_seed)
    if kind == "vgs":
        return VGS(make_target("u1"), vgs, generator=g)
    if kind == "ebm_vgs":
        return EBMVGS(MLPEnergy(2, hidden=16, depth=2), 2, vgs, generator=g)
    return LangevinCD(MLPEnergy(2, hidden=16, depth=2), LangevinCDConfig(batch_size=8, langevin_steps=2), generator=g)


def global_trajectory() -> Trajectory:
    g = torch.Generator().manual_seed(5)
    states = torch.randn(T + 1, B_GLOBAL, 2, generator=g) * torch.linspace(1.0, 0.3, T + 1)[:, None, None]
    return Trajectory(states=states, log_sigma=torch.zeros(T))


def fixed_buffer_step(algo: DxMI, traj: Trajectory, data: torch.Tensor) -> None:
    """The deterministic part of one DxMI iteration on a given rollout: velocity scale, energy
    step, TD value sweep (no random draws: the global result must not depend on the split)."""
    algo.buffer.store(traj)
    algo._update_velocity_scale()
    algo.energy_step(data)
    algo.value_steps()


# -- the worker: one rank ------------------------------------------------------------------------
def _sync(d: Distributed) -> dict:
    """Several DxMI / GCD updates with both value kinds, each rank on its shard of the data."""
    out = {}
    for value in ("time_dependent", "shared"):
        for update in ("dxdp", "gcd"):
            # a different initialisation on each rank: DDP must broadcast rank 0's
            algo = d.wrap(make_dxmi(100 + d.rank, B_GLOBAL // WORLD, value, update, gen_seed=d.seed(1)))
            start = flat_params(algo).clone()
            data_gen = torch.Generator().manual_seed(0)
            for _ in range(3):
                algo.update(d.shard(make_toy2d("8gaussians").sample(B_GLOBAL, data_gen)))
            out[f"{value}/{update}"] = {"start": start, "end": flat_params(algo), "s2": algo.s2.clone(),
                                        "samples": algo.buffer.samples.clone()}
    for kind in ("vgs", "langevin_cd", "ebm_vgs"):
        algo = d.wrap(make_ebm_algorithm(kind, 100 + d.rank, d.seed(1)))
        start = flat_params(algo).clone()
        data_gen = torch.Generator().manual_seed(0)
        for _ in range(2):
            algo.update(d.shard(make_toy2d("8gaussians").sample(16, data_gen)))
        out[kind] = {"start": start, "end": flat_params(algo), "s2": torch.zeros(()),
                     "samples": algo.generator.get_state().float()}  # per-rank generators: own streams
    return out


def _exact(d: Distributed) -> dict:
    """The deterministic part of an iteration on this rank's shard of a fixed global rollout."""
    algo = d.wrap(make_dxmi(0, B_GLOBAL // WORLD))
    traj = global_trajectory()
    local = Trajectory(states=d.shard(traj.states.transpose(0, 1)).transpose(0, 1), log_sigma=traj.log_sigma)
    data = make_toy2d("8gaussians").sample(B_GLOBAL, torch.Generator().manual_seed(0))
    fixed_buffer_step(algo, local, d.shard(data))
    return {"end": flat_params(algo), "s2": algo.s2.clone()}


def _resume(d: Distributed, out: Path) -> dict:
    """4 steps through the Trainer in one go ("full") and as 2 + 2 with a resume ("split")."""
    res = {}
    for name, calls in (("full", [None]), ("split", [2, None])):
        for max_steps in calls:
            algo = d.wrap(make_dxmi(0, B_GLOBAL // WORLD, gen_seed=d.seed(1)))
            Trainer(algo, make_toy2d("8gaussians").sample, B_GLOBAL, 4, out / name, progress=False,
                    tensorboard=False, ckpt_every=0, max_steps_this_call=max_steps, distributed=d).fit()
        res[name] = flat_params(algo)
    return res


def _nonfinite(d: Distributed, out: Path) -> dict:
    """NaN data reaches rank 1 only, at step 2: both ranks must stop there with the error (not one
    waiting for the other); and a non-finite metric on one rank is seen by all."""
    model = EpsilonModel(TimeMLP(2, 2, hidden=16, depth=1), LinearBetaSchedule(50), (2,))
    algo = d.wrap(DDPMTraining(model, generator=torch.Generator().manual_seed(d.seed(0))))
    calls = []

    def data(n: int, g: torch.Generator) -> torch.Tensor:
        calls.append(n)
        x = torch.randn(n, 2, generator=g)
        if len(calls) == 2:
            x[n // 2:] = float("nan")  # rank 1's shard
        return x

    trainer = Trainer(algo, data, 8, 5, out / "nan", progress=False, tensorboard=False, distributed=d)
    local_only = Metrics({"local": float("nan") if d.rank == 1 else 1.0})
    res = {"flag": trainer._all_ranks_finite(local_only), "error": "no error",
           "logged": dict(trainer._mean_over_ranks(Metrics({"rank": float(d.rank), "one": 1.0})))}
    try:
        trainer.fit()
    except NonFiniteLossError as e:
        res["error"] = str(e)
    return res


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    d = Distributed.from_env("cpu")
    try:
        result = {"sync": _sync(d), "exact": _exact(d), **_resume(d, Path(out)), "nan": _nonfinite(d, Path(out))}
        torch.save(result, Path(out) / f"rank{rank}.pt")
    finally:
        shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> tuple[Path, list[dict]]:
    """One 2-process gloo job (spawned once: starting processes is the slow part) running every scenario."""
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(free_port(), str(out)), nprocs=WORLD, join=True)
    return out, [torch.load(out / f"rank{r}.pt") for r in range(WORLD)]


# -- tests -------------------------------------------------------------------------------------------
def test_two_ranks_stay_in_sync(ranks):
    """DxMI and GCD (both value kinds), VGS, LangevinCD and EBM-VGS."""
    _, res = ranks
    assert len(res[0]["sync"]) == 7
    for key in res[0]["sync"]:
        r0, r1 = res[0]["sync"][key], res[1]["sync"][key]
        assert torch.equal(r0["start"], r1["start"]), f"{key}: DDP did not broadcast rank 0's initialisation"
        assert torch.equal(r0["end"], r1["end"]), f"{key}: parameters diverged across ranks"
        assert torch.equal(r0["s2"], r1["s2"]), f"{key}: the velocity scale differs across ranks"
        assert not torch.allclose(r0["end"], r0["start"]), f"{key}: nothing was trained"
        # each rank rolled out its own trajectories (per-rank generators), not copies
        assert not torch.allclose(r0["samples"], r1["samples"]), f"{key}: ranks drew the same rollouts"


def test_two_ranks_equal_one_process_on_the_combined_batch(ranks):
    res = [r["exact"] for r in ranks[1]]
    single = make_dxmi(0, B_GLOBAL)
    start = flat_params(single).clone()
    data = make_toy2d("8gaussians").sample(B_GLOBAL, torch.Generator().manual_seed(0))
    fixed_buffer_step(single, global_trajectory(), data)
    assert not torch.allclose(start, flat_params(single))
    for r in res:
        torch.testing.assert_close(r["s2"], single.s2, rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(r["end"], flat_params(single), rtol=1e-5, atol=1e-6)
    # and a half batch alone gives a different update: the match above is the averaging at work
    half = make_dxmi(0, B_GLOBAL // WORLD)
    traj = global_trajectory()
    fixed_buffer_step(half, Trajectory(states=traj.states[:, : B_GLOBAL // WORLD], log_sigma=traj.log_sigma),
                      data[: B_GLOBAL // WORLD])
    assert not torch.allclose(flat_params(half), flat_params(single), atol=1e-6)


def test_distributed_resume_equals_uninterrupted(ranks):
    out, res = ranks
    for r in res:
        assert torch.equal(r["split"], r["full"])
    assert torch.equal(res[0]["full"], res[1]["full"])
    state = load_checkpoint(out / "full" / "checkpoints" / "last.safetensors")
    assert len(state["rank_generators"]) == WORLD and state["step"] == 4
    lines = (out / "full" / "metrics.csv").read_text().strip().splitlines()
    assert len(lines) == 2  # header + step 4 (log_every 50), written by rank 0 only


def test_a_non_finite_loss_on_one_rank_stops_every_rank(ranks):
    _, res = ranks
    for r in res:
        assert "non-finite metrics at step 2 on rank" in r["nan"]["error"], r["nan"]["error"]
        assert r["nan"]["flag"] is False  # rank 1's NaN is seen by rank 0 too
        assert dict(r["nan"]["logged"]) == {"rank": 0.5, "one": 1.0}  # logged metrics are means over ranks


def test_single_process_helpers():
    d = Distributed()
    assert not d.enabled and d.is_main and d.seed(7) == 7
    x = torch.arange(8.0)
    assert torch.equal(d.shard(x), x) and torch.equal(d.all_mean(x), x)
    two = Distributed(rank=1, world_size=2)
    assert torch.equal(two.shard(x), x[4:]) and two.seed(7) != 7
    with pytest.raises(ValueError, match="not divisible"):
        two.shard(torch.zeros(5))
    cfg = load_config("8gaussians", ["train.algo.batch_size=33"])
    with pytest.raises(ValueError, match="global batch size 33 is not divisible by the 2 processes"):
        for_this_rank(cfg, two)
    assert for_this_rank(load_config("8gaussians", ["train.algo.batch_size=32"]), two).train.algo.batch_size == 16
    algo = make_dxmi(0, 8)
    assert d.wrap(algo) is algo and algo.wrappers is None and algo.trained("energy") is algo.energy
    step = algo.trained("policy")(torch.zeros(3, 2), 0, torch.Generator().manual_seed(0))
    assert torch.equal(step.next_x, algo.policy.step(torch.zeros(3, 2), 0, torch.Generator().manual_seed(0)).next_x)
    model = EpsilonModel(TimeMLP(2, 2, hidden=8, depth=1), LinearBetaSchedule(10), (2,))
    pre = DDPMTraining(model)
    assert pre.supports_distributed and set(pre.train_targets()) == {"model"}
    x = torch.randn(4, 2)
    assert torch.equal(pre.trained("model")(x, torch.Generator().manual_seed(1)),
                       model.loss(x, torch.Generator().manual_seed(1)))  # the loss, not model.forward
    with pytest.raises(AttributeError, match="no method 'sample_fast'"):
        MethodAsForward(model, "sample_fast")


@pytest.mark.slow
def test_cli_train_under_torchrun(tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun is not installed next to this python")
    out = tmp_path / "run"
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "dxmi", "train", "--config", "8gaussians",
           "--out", str(out), "--no-progress", "--set", "pretrain.steps=20", "--set", "pretrain.batch_size=64",
           "--set", "train.iterations=4", "--set", "train.algo.batch_size=32", "--set", "tensorboard=false"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "on 2 processes (gloo)" in proc.stdout
    state = load_checkpoint(out / "train" / "checkpoints" / "last.safetensors")
    assert state["step"] == 4 and len(state["rank_generators"]) == 2
    assert len(load_checkpoint(out / "pretrain" / "checkpoints" / "last.safetensors")["rank_generators"]) == 2
