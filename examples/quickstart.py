# Pretrain a DDPM on 8gaussians, fine-tune its 4-step sampler with DxMI, compare (about a minute on one core).
from dxmi.config import load_config
from dxmi.experiment import evaluate, pretrain, train

cfg = load_config("8gaussians", ["out=runs/quickstart", "pretrain.steps=1000", "train.iterations=200",
                                 "eval.n_samples=2000", "progress=false", "tensorboard=false"])
pretrain(cfg)  # the 1000-step base model; re-running resumes from runs/quickstart
train(cfg)  # DxMI: the T = 4 sampler and the energy, trained together
for sampler in ("base", "ddim", "dxmi"):  # untrained 4-step policy, 4-step DDIM, DxMI's sampler
    print(f"{sampler:>5}: sliced Wasserstein to the data {evaluate(cfg, sampler)['sw']:.3f}")
