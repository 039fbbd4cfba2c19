"""The jobs of a run, in the order of the method: parts built from a :class:`RunConfig`, pretraining,
the optional warm start, DxMI fine-tuning, sampling and evaluation.

The CLI and the benchmarks call these; they hold no algorithmic logic of their own.

Modules, in the order a run goes through them (each imports only the ones above it)::

    build         the parts from the config: base model, T-step policy, energy, value, algorithm
    run_folder    device check, resume check against OUT/config.yaml, saved config, one rank's share
    pretraining   phase 1, OUT/pretrain/: the base diffusion model on the data
    warm_start    phase 2, OUT/warmstart/: the T-step policy distilled from a training-free solver
    scores        sample metrics (2D, classifier features) and the validation / test halving
    fine_tuning   phase 3, OUT/train/: DxMI / GCD with checkpoint selection on validation draws
    sampling      samples from the trained sampler, its start, or the base model with a solver
    evaluation    the evaluate job: OUT/eval_<stem>.json, OUT/samples_<stem>.npy

Run folder::

    OUT/config.yaml                 the resolved configuration (a resumed phase keeps its settings:
                                    see check_resumable)
    OUT/data_scale.json             point clouds: the standardisation the models work in
    OUT/pretrain/                   base DDPM: checkpoints/last.safetensors, metrics.csv
    OUT/warmstart/                  the warm start (sampler.warmstart.steps > 0): checkpoints/, metrics.csv
    OUT/train/                      DxMI/GCD: checkpoints/last.safetensors (+ best.safetensors with
                                    train.select), metrics.csv, tensorboard/
    OUT/samples.npy, OUT/eval.json  written by sample / evaluate
    OUT/plots/*.png
"""

from dxmi.data.sources import (  # the jobs' data helpers live with the data
    DATA_SCALE_FILE,
    DATASETS,
    balanced_labels,
    build_dataset,
    clear_data_scale,
    data_dim,
    data_shape,
    data_source,
    is_image_dataset,
    save_data_scale,
    to_data_units,
)
from dxmi.experiment.build import (
    BASE_MODELS,
    ENERGIES,
    EPS_NETS,
    build_algorithm,
    build_base_model,
    build_energy,
    build_eps_model,
    build_policy,
    build_value,
)
from dxmi.experiment.evaluation import eval_name, evaluate
from dxmi.experiment.fine_tuning import (
    VALIDATION_DATA_SEED,
    VALIDATION_SAMPLE_SEED,
    TrainResult,
    load_trained,
    train,
    validation_score,
)
from dxmi.experiment.pretraining import PretrainResult, load_pretrained, pretrain, pretrain_finished, pretrain_step
from dxmi.experiment.run_folder import (
    PHASES,
    PRETRAIN_SETTINGS,
    RESUME_FREE_SETTINGS,
    check_device,
    check_resumable,
    for_this_rank,
    make_generator,
    save_config,
)
from dxmi.experiment.sampling import SAMPLERS, SOLVER_SAMPLERS, draw_labelled_samples, draw_samples
from dxmi.experiment.scores import evaluate_samples, image_metrics, split_reference
from dxmi.experiment.warm_start import load_warmstarted, warmstart

__all__ = [
    "BASE_MODELS", "DATASETS", "DATA_SCALE_FILE", "ENERGIES", "EPS_NETS", "PHASES", "PRETRAIN_SETTINGS",
    "RESUME_FREE_SETTINGS", "SAMPLERS", "SOLVER_SAMPLERS", "VALIDATION_DATA_SEED", "VALIDATION_SAMPLE_SEED",
    "PretrainResult", "TrainResult",
    "balanced_labels", "build_algorithm", "build_base_model", "build_dataset", "build_energy", "build_eps_model",
    "build_policy", "build_value", "check_device", "check_resumable", "clear_data_scale", "data_dim", "data_shape",
    "data_source", "draw_labelled_samples", "draw_samples", "eval_name", "evaluate", "evaluate_samples",
    "for_this_rank", "image_metrics", "is_image_dataset", "load_pretrained", "load_trained", "load_warmstarted",
    "make_generator", "pretrain", "pretrain_finished", "pretrain_step", "save_config", "save_data_scale",
    "split_reference", "to_data_units", "train", "validation_score", "warmstart",
]
