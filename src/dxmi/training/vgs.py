"""VGS training runs: the algorithm on a known target through the package's :class:`Trainer`."""

from __future__ import annotations

from dxmi.algorithms.vgs import VGS, VGSConfig, no_data
from dxmi.targets.base import Target
from dxmi.training.loop import Trainer

__all__ = ["train_vgs"]


def train_vgs(target: Target, cfg: VGSConfig, out_dir: str, progress: bool = False, log_every: int = 50,
              ckpt_every: int = 500, tensorboard: bool = False, resume: bool = True) -> VGS:
    """Train VGS on ``target`` through the package's :class:`Trainer` (checkpoints, resume, CSV logs)."""
    algo = VGS(target, cfg)
    Trainer(algo, data=no_data, batch_size=1, steps=cfg.iterations, out_dir=out_dir, seed=cfg.seed,
            device=cfg.device, log_every=log_every, ckpt_every=ckpt_every, progress=progress,
            tensorboard=tensorboard, desc=f"vgs {target.name}").fit(resume=resume)
    return algo
