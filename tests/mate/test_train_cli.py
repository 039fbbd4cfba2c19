"""Config handling, CLI, checkpoints/resume, replay, and agents' updates."""

import json

import pytest
import torch

from dxmi.mate.agents import AgentConfig
from dxmi.mate.cli import main
from dxmi.mate.config import load_config
from dxmi.mate.replay import EpisodeReplay
from dxmi.mate.rollout import run_episodes
from dxmi.mate.train import MATETrainer, build
from dxmi.settings import ConfigError
from dxmi.training.checkpoint import load_checkpoint


def test_unknown_keys_and_bad_values_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match=r"unknown config key 'lenght'"):
        load_config("tmaze", ["lenght=3"])
    with pytest.raises(ConfigError, match=r"unknown config key 'agent\.lrr'"):
        load_config("tmaze", ["agent.lrr=3"])
    with pytest.raises(ConfigError, match="iterations: expected an integer, got 'many'"):
        load_config("tmaze", ["iterations=many"])
    with pytest.raises(ConfigError, match="env: expected a mapping, got 5"):
        load_config("tmaze", ["env=5"])
    with pytest.raises(ConfigError, match="key.sub=value"):
        load_config("tmaze", ["iterations"])
    cfg = load_config("tmaze", ["env.length=4", "agent.lr=0.001", "memory=gru"])
    assert cfg.env["length"] == 4 and cfg.agent.lr == 0.001 and cfg.memory == "gru"


def test_a_config_file_error_names_the_file_and_the_key(tmp_path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("task: tmaze\nagent: {lr: fast}\n")
    with pytest.raises(ConfigError, match=rf"^{str(path)}: agent\.lr: expected a number, got 'fast'$"):
        load_config(str(path))
    with pytest.raises(ConfigError, match=r"^agent\.hidden: expected an integer"):  # the override's: no file
        load_config("tmaze", ["agent.hidden=wide"])


def test_a_checkpoint_of_the_earlier_format_is_a_one_line_error(tmp_path, capsys) -> None:
    from safetensors.torch import save_file

    save_file({"agent.w": torch.zeros(2)}, str(tmp_path / "checkpoint.safetensors"),
              metadata={"mate_state": json.dumps({"iteration": 1, "config": {}})})
    assert main(["evaluate", str(tmp_path), "--episodes", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "checkpoint.safetensors: a MATE checkpoint of an earlier dxmi version" in err[0]


def test_cli_error_is_one_line(capsys) -> None:
    assert main(["train", "--set", "bogus=1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: unknown config key")


@pytest.mark.parametrize("task", ["tmaze", "point"])
def test_cli_train_resume_evaluate(tmp_path, capsys, task: str, tiny: list[str]) -> None:
    out = tmp_path / "run"
    sets = [a for s in tiny for a in ("--set", s)]
    assert main(["train", "--config", task, "--out", str(out), "--quiet", *sets]) == 0
    for name in ("log.csv", "curve.png", "checkpoint.safetensors", "config.yaml"):
        assert (out / name).exists(), name
    assert not list(out.glob("*.tmp"))
    sets += ["--set", "iterations=6"]
    assert main(["train", "--config", task, "--out", str(out), "--quiet", "--resume",
                 *sets]) == 0
    assert load_checkpoint(out / "checkpoint.safetensors")["counters"]["iteration"] == 6
    assert len((out / "log.csv").read_text().strip().splitlines()) == 1 + 3
    capsys.readouterr()
    assert main(["evaluate", str(out), "--episodes", "8"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["episodes"] == 8 and summary["task"] == task


def test_resume_restores_weights_exactly(tmp_path, tiny: list[str]) -> None:
    cfg = load_config("bandit", tiny)
    a = MATETrainer(cfg, tmp_path, progress=False)
    a.run()
    b = MATETrainer(cfg, tmp_path, progress=False)
    b.load()
    for (k, v), (_, w) in zip(a.agent.state_dict().items(), b.agent.state_dict().items()):
        torch.testing.assert_close(v, w, msg=k)
    assert len(b.replay) == len(a.replay)


@pytest.mark.parametrize("task", ["tmaze", "point"])
@pytest.mark.parametrize("memory", ["mate", "lstm", "transformer", "memoryless", "true_context"])
def test_every_memory_trains_with_both_agents(task: str, memory: str, tiny: list[str]) -> None:
    cfg = load_config(task, [*tiny, f"memory={memory}"])
    env, agent = build(cfg)
    replay = EpisodeReplay(16, env.max_steps, env.obs_dim, env.action, env.context_dim)
    gen = torch.Generator().manual_seed(0)
    batch, stats = run_episodes(env, agent, explore=True, seed=0, generator=gen)
    replay.add(batch)
    obs_ptr = replay.obs.data_ptr()
    metrics = agent.update(replay.sample(4, gen))
    assert metrics.all_finite()
    replay.add(batch)
    assert replay.obs.data_ptr() == obs_ptr  # preallocated, written in place
    assert stats.returns.shape == (4,)


def test_agent_config_defaults_follow_reference() -> None:
    cfg = AgentConfig()
    assert cfg.gamma == 0.99 and cfg.grad_clip == 5.0


@pytest.mark.parametrize("name", ["banana", "mps", *([] if torch.cuda.is_available() else ["cuda"])])
def test_bad_device_is_a_one_line_error(tmp_path, capsys, name: str) -> None:
    assert main(["train", "--out", str(tmp_path / "run"), "--device", name, "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: --device '{name}'"), err
    assert not (tmp_path / "run").exists()  # refused before anything is written


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@needs_cuda
@pytest.mark.parametrize("task", ["tmaze", "point"])
def test_cuda_run_resumes_on_cpu_and_evaluates_on_cuda(tmp_path, capsys, task: str,
                                                      tiny: list[str]) -> None:
    out = tmp_path / "run"
    sets = [a for s in tiny for a in ("--set", s)]
    assert main(["train", "--config", task, "--out", str(out), "--quiet", "--device",
                 "cuda", *sets]) == 0
    assert main(["train", "--config", task, "--out", str(out), "--quiet", "--device",
                 "cpu", "--resume", *sets, "--set", "iterations=6"]) == 0
    assert load_checkpoint(out / "checkpoint.safetensors")["counters"]["iteration"] == 6
    capsys.readouterr()
    assert main(["evaluate", str(out), "--episodes", "8", "--device", "cuda"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["episodes"] == 8


@needs_cuda
def test_seeded_exploration_is_the_same_on_cpu_and_cuda(tiny: list[str]) -> None:
    """With epsilon = 1 every DQN action is a draw of the CPU generator, on any device."""
    cfg = load_config("tmaze", tiny)
    actions = []
    for device in ("cpu", "cuda"):
        env, agent = build(cfg, device=device)
        agent.epsilon = 1.0
        batch, _ = run_episodes(env, agent, explore=True, seed=3,
                                generator=torch.Generator().manual_seed(3))
        assert batch.obs.device.type == device
        actions.append(batch.actions.cpu())
    torch.testing.assert_close(actions[0], actions[1])
