"""Runs killed with SIGKILL at random moments and resumed by the same command end bit-identical to an
uninterrupted run: pretraining, DxMI training, VGS training, an anomaly fit and a MATE run.

Each run is a child process (``kill_harness.py``); the moments are drawn from the part of the run that
writes checkpoints: a SIGKILL from outside at a random time, or the child killing itself at a random
rename of an atomic write (just before it, or with the temporary file cut to half). After the kills the
same command runs until it exits 0; then the final checkpoints must equal the uninterrupted run's
byte for byte, its metrics logs must hold every row exactly once with the same values, and no
temporary file may be left.

CI runs ``DXMI_FAULT_KILLS`` kills per kind (default 2, in one episode); ``DXMI_FAULT_SEED`` picks the
moments (default 0). ``benchmarks/faults.py`` runs many more.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from kill_harness import (
    KINDS,
    Episode,
    Reference,
    compare_run,
    kill_episode,
    log_steps_once,
    make_reference,
    run_child,
)

KILLS = int(os.environ.get("DXMI_FAULT_KILLS", "2"))
SEED = int(os.environ.get("DXMI_FAULT_SEED", "0"))
#: kills per episode (a run killed this many times, then finished)
PER_EPISODE = 3

_references: dict[str, Reference] = {}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kills")


def reference(kind: str, workdir: Path) -> Reference:
    if kind not in _references:
        _references[kind] = make_reference(KINDS[kind], workdir / kind)
    return _references[kind]


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(KINDS))
def test_killed_runs_resume_bit_identical(kind: str, workdir: Path) -> None:
    ref = reference(kind, workdir)
    assert not log_steps_once(ref)
    rng = random.Random(f"{SEED}-{kind}")
    kills, episode = 0, 0
    while kills < KILLS:
        ep = kill_episode(ref, workdir / kind / f"episode_{episode}", rng, kills=min(PER_EPISODE, KILLS - kills))
        assert ep.ok, ep.summary()
        assert ep.kills >= 1 or episode < 3, ep.summary()  # the moments fall inside the run
        kills += ep.kills
        episode += 1


@pytest.mark.parametrize("mode", ["rename", "partial"])
def test_a_kill_inside_a_checkpoint_write_resumes(mode: str, workdir: Path) -> None:
    """Pretraining killed inside its third checkpoint write (written but not yet in place, or half
    written), then run again: the same final checkpoint and log, no temporary file."""
    ref = reference("pretrain", workdir)
    saves = [i for i, (_, target) in enumerate(ref.renames, 1) if target.endswith("last.safetensors")]
    run = workdir / f"pretrain_{mode}" / "run"
    argv = ref.kind.argv(run, ref.data)
    killed = run_child(argv, run.parent / "logs", kill_at=saves[2], mode=mode)
    assert killed.killed and len(killed.renames) == saves[2] - 1
    assert list((run / "pretrain" / "checkpoints").glob(".last.safetensors.*.tmp"))  # what the kill left
    assert run_child(argv, run.parent / "logs").returncode == 0
    ep = compare_run(ref, run, Episode("pretrain"))
    assert ep.ok, ep.summary()
