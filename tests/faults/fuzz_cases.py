"""Fuzz cases through the ``dxmi`` command line, in process: random settings, data files and damaged files.

Used by ``tests/faults/test_fuzz.py`` (hypothesis properties) and ``benchmarks/faults.py`` (many cases).
A case runs ``dxmi.cli.main.main(argv)`` with stdout and stderr captured and is judged:

- ``ok``: exit 0, and the result is right (the settings given are the settings used, the parameters
  trained are finite, samples drawn from a damaged run folder equal those of the intact one);
- ``error``: a non-zero exit with exactly one error line on stderr that names the setting or the
  file at fault (and no traceback);
- ``traceback``: an exception escaped ``main``; ``not_one_line``: an error of several lines (or none);
  ``unnamed``: a one-line error that names neither the setting nor the file;
  ``silent_wrong``: exit 0 with a wrong result (NaN data trained on, a setting silently changed,
  non-finite parameters, other samples than the intact folder's).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import re
import shutil
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from hypothesis import strategies as st

GOOD = ("ok", "error")
OUTCOMES = ("ok", "error", "traceback", "not_one_line", "unnamed", "silent_wrong")
ERROR_PREFIXES = ("dxmi: error", "error:")


# -- running and judging -------------------------------------------------------------------------------
@dataclass
class Invocation:
    code: int | None
    stdout: str
    stderr: str
    traceback: str | None = None


@contextlib.contextmanager
def _no_report() -> Iterator[None]:
    """``dxmi train`` / ``evaluate`` write OUT/report.html (plots: seconds each); a by-product whose own
    failures are warnings. Fuzz cases skip it."""
    import dxmi.cli.main as cli

    real = cli.write_run_report
    cli.write_run_report = lambda cfg: None  # type: ignore[assignment]
    try:
        yield
    finally:
        cli.write_run_report = real  # type: ignore[assignment]


def invoke(argv: Sequence[str]) -> Invocation:
    """``dxmi argv`` in this process; an exception escaping ``main`` is recorded, not raised."""
    from dxmi.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    tb = None
    code: int | None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings(), _no_report():
        warnings.simplefilter("ignore")
        try:
            code = main(list(argv))
        except SystemExit as e:  # argparse
            code = e.code if isinstance(e.code, int) else 2
        except BaseException:  # noqa: B036 - a fuzz case must report anything that escapes
            code, tb = None, traceback.format_exc()
    return Invocation(code, out.getvalue(), err.getvalue(), tb)


@dataclass
class Verdict:
    category: str
    outcome: str
    detail: str = ""
    argv: tuple[str, ...] = ()

    @property
    def good(self) -> bool:
        return self.outcome in GOOD

    def __str__(self) -> str:
        return f"[{self.category}] {self.outcome}: {self.detail}\n  argv: {' '.join(self.argv)}"


def error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith(ERROR_PREFIXES)]


def judge(category: str, argv: Sequence[str], res: Invocation, names: Sequence[str], must_fail: str | None = None,
          check: Callable[[], str | None] | None = None) -> Verdict:
    """The verdict on one case: ``names`` are what an error must mention (any one of them: the
    settings or files of the case); ``must_fail``: why the case cannot succeed (NaN data...);
    ``check``: after exit 0, a description of what is wrong with the result (None: right)."""
    argv = tuple(argv)
    if res.traceback is not None:
        last = [ln for ln in res.traceback.strip().splitlines() if ln and not ln[0].isspace()]
        return Verdict(category, "traceback", (last[-1] if last else "")[:300], argv)
    if "Traceback (most recent call last)" in res.stderr:
        return Verdict(category, "traceback", "a traceback printed on stderr", argv)
    if res.code == 0:
        if must_fail:
            return Verdict(category, "silent_wrong", f"exit 0 although {must_fail}", argv)
        problem = check() if check is not None else None
        if problem:
            return Verdict(category, "silent_wrong", problem, argv)
        return Verdict(category, "ok", "", argv)
    lines = error_lines(res.stderr)
    if len(lines) != 1 or len(lines[0]) > 1000:
        return Verdict(category, "not_one_line", f"exit {res.code}, {len(lines)} error lines: {res.stderr[-300:]!r}",
                       argv)
    line = lines[0]
    if names and not any(n and n in line for n in names) and DIVERGED not in line:
        return Verdict(category, "unnamed", f"{line[:300]} (expected one of {list(names)[:4]})", argv)
    return Verdict(category, "error", line[:200], argv)


# -- settings ------------------------------------------------------------------------------------------
JUNK = ["[1,", "{", "'x", '"x', ": :", "[1, 2]", "{a: 1}", "[]", "{}", "- a", "!!python/object/apply:os.getcwd []",
        "&a [*a]", "@", "`", "%x", "0x1F", "1_000", "1e5", "1E-5", ".5", "+3", "0o17", "12:30", "2020-01-01", "|", ">",
        "~", "null", "", "yes", "no", "on", "off", "true", "false", ".nan", ".inf", "-.inf", "nan", "inf", "1e-300",
        "1e300", "-0.0", "3e-5", "0.5", "2", "-1", "0", "1", "abc", "cuda", "cpu", "mlp", "unet", "conv", "file"]


def yaml_values(big_ints: bool = False, small_floats: bool = False) -> st.SearchStrategy[str]:
    """Values as typed after ``--set key=``: small and odd integers (large ones only where they cost
    no compute), floats incl. NaN/inf (small ones where they set an amount of work), booleans, YAML
    oddities, random text."""
    ints = st.integers(-3, 6) if not big_ints else st.one_of(st.integers(-3, 6), st.integers(-2**70, 2**70))
    bound = 2.0 if small_floats else 1e6
    floats = st.floats(allow_nan=False, allow_infinity=False, min_value=-bound, max_value=bound).map(repr)
    junk = [j for j in JUNK if not small_floats or j not in ("1e300", "1e5", "1_000", "0x1F", "0o17", "12:30")]
    return st.one_of(ints.map(str), floats, st.sampled_from(junk), text_values())


def text_values() -> st.SearchStrategy[str]:
    return st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=10)


def flat_defaults(obj: Any, prefix: str = "") -> dict[str, Any]:
    """The dotted leaf keys of a settings dataclass and their default values."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        out.update(flat_defaults(v, f"{prefix}{f.name}.") if dataclasses.is_dataclass(v) else {f"{prefix}{f.name}": v})
    return out


def typed_values(default: Any, big_ints: bool = False) -> st.SearchStrategy[str]:
    """Values of a setting's own type near its default (most of them valid): these cases must work
    and keep the value given."""
    if isinstance(default, bool):
        return st.sampled_from(["true", "false"])
    if isinstance(default, int):
        return st.integers(0, 2**32 - 1 if big_ints else 6).map(str)
    if isinstance(default, float):
        return st.one_of(st.sampled_from([default, default * 2, default / 2]), st.floats(0, 1)).map(repr)
    if isinstance(default, str):
        return st.just(default)
    return st.just(yaml.safe_dump(default, default_flow_style=True).strip())


def overrides(keys: Sequence[str], unknown: Sequence[str], big_int_keys: Sequence[str] = (),
              work_keys: Sequence[str] = (), defaults: dict[str, Any] | None = None
              ) -> st.SearchStrategy[list[tuple[str, str]]]:
    """One to three ``(key, value)`` overrides: known keys with values of their type (given
    ``defaults``) or any value, misspelt or unknown keys."""
    key = st.one_of(st.sampled_from(list(keys)), st.sampled_from(list(unknown)),
                    st.from_regex(r"[a-z_]{1,8}(\.[a-z_]{1,8}){0,2}", fullmatch=True))

    @st.composite
    def pair(draw: Any) -> tuple[str, str]:
        k = draw(key)
        if defaults and k in defaults and k not in work_keys and draw(st.booleans()):
            return k, draw(typed_values(defaults[k], big_ints=k in big_int_keys))
        return k, draw(yaml_values(big_ints=k in big_int_keys, small_floats=k in work_keys))

    return st.lists(pair(), min_size=1, max_size=3, unique_by=lambda kv: kv[0])


def key_names(keys: Sequence[str]) -> list[str]:
    """How an error may name a setting: in full (``train.algo.tau1``), or quoted down to the first part
    that is unknown (``'train.algoo'`` for ``train.algoo.tau1``)."""
    out = list(keys)
    for k in keys:
        parts = k.split(".")
        out += [f"'{'.'.join(parts[:i])}'" for i in range(1, len(parts) + 1)]
        out += [f"{'.'.join(parts[:i])}: " for i in range(1, len(parts))]  # "sampler: ..." (its section)
    return out


#: errors that name no setting but the run's divergence (a valid but too large learning rate), pointing at
#: the rates and clips
DIVERGED = "non-finite metrics at step"


def _sets(items: Sequence[str]) -> list[str]:
    return [a for s in items for a in ("--set", s)]


def _parsed(value: str) -> Any:
    try:
        return yaml.safe_load(value) if value != "" else ""
    except yaml.YAMLError:
        return None


def _same_setting(saved: Any, given: str) -> bool:
    """Whether a setting read back from a run folder is the value given on the command line."""
    want = _parsed(given)
    if saved == want:
        return True
    if isinstance(saved, float) and isinstance(want, (int, float, str)) and not isinstance(want, bool):
        try:
            return float(want) == saved or (math.isnan(saved) and math.isnan(float(want)))
        except ValueError:
            return False
    return False


def _lookup(d: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(d, dict) or part not in d:
            return KeyError
        d = d[part]
    return d


def _non_finite_floats(d: Any, prefix: str = "") -> list[str]:
    if isinstance(d, dict):
        return [k for kk, v in d.items() for k in _non_finite_floats(v, f"{prefix}{kk}.")]
    if isinstance(d, float) and not math.isfinite(d):
        return [prefix.rstrip(".")]
    return []


def settings_check(saved_file: Path, given: Sequence[tuple[str, str]], root: Callable[[Any], Any] = lambda d: d
                   ) -> Callable[[], str | None]:
    """After exit 0: every setting given is in the run's saved settings as given, and none is NaN/inf."""
    def check() -> str | None:
        if not saved_file.is_file():
            return f"{saved_file.name} not written"
        if saved_file.suffix == ".safetensors":  # a saved detector: its settings are in the checkpoint
            from dxmi.training.checkpoint import load_checkpoint

            saved = root(load_checkpoint(saved_file))
        else:
            text = saved_file.read_text()
            saved = root(json.loads(text) if saved_file.suffix == ".json" else yaml.safe_load(text))
        for k, v in given:
            got = _lookup(saved, k)
            if got is KeyError:
                return f"{k}={v!r} accepted but not in {saved_file.name}"
            if not _same_setting(got, v):
                return f"{k}={v!r} became {got!r}"
        bad = _non_finite_floats(saved)
        if bad:
            return f"non-finite settings accepted: {bad[:3]}"
        return None
    return check


def finite_checkpoint(path: Path) -> str | None:
    """None when every floating-point tensor of the checkpoint is finite."""
    import torch

    from dxmi.io import load_safetensors

    if not path.is_file():
        return f"{path.name} not written"
    tensors, _ = load_safetensors(path, "checkpoint")
    bad = [k for k, t in tensors.items()  # log/*: a MATE run's last loss (NaN before the first update)
           if t.is_floating_point() and not k.startswith("log/") and not bool(torch.isfinite(t).all())]
    return f"non-finite parameters in {path.name}: {bad[:3]}" if bad else None


def _all_checks(*checks: Callable[[], str | None]) -> Callable[[], str | None]:
    def run() -> str | None:
        for c in checks:
            problem = c()
            if problem:
                return problem
        return None
    return run


# -- the run configs of the four kinds of run -----------------------------------------------------------
DXMI_TINY = ["pretrain.steps=2", "pretrain.batch_size=16", "pretrain.net.hidden=8", "pretrain.net.depth=1",
             "pretrain.net.time_dim=8", "train.iterations=2", "train.algo.batch_size=8", "sampler.value_net.hidden=8",
             "sampler.value_net.depth=1", "sampler.value_net.time_dim=8", "sampler.energy_net.hidden=8",
             "sampler.energy_net.depth=1", "tensorboard=false", "log_every=1", "ckpt_every=1", "eval.n_samples=50"]
VGS_TINY = ["iterations=2", "num_steps=3", "batch_size=8", "net.hidden=8", "net.depth=1", "net.time_dim=8"]
ANOMALY_TINY = ["iterations=2", "batch_size=8", "hidden=8", "depth=1", "sampler_hidden=8"]
MATE_TINY = ["iterations=2", "num_envs=2", "batch_episodes=2", "width=8", "agent.hidden=8", "env.length=3",
             "warmup_iterations=0", "eval_every=1", "eval_episodes=2", "replay_capacity=8", "checkpoint_every=1"]

UNKNOWN_KEYS = ["pretrain.stepz", "pretrain.net.hiden", "train.algo.lr", "sampler.valu_net.hidden", "seeds",
                "train.algo", "pretrain", "data", "eval.n", "iteration", "net.width", "agent.learning_rate",
                "pretrain..steps", ".seed", "seed.", "a.b.c.d"]


def run_keys() -> dict[str, Any]:
    from dxmi.config import RunConfig

    # out: where the run goes (exercised by the CLI tests); the rest is fair game
    return {k: v for k, v in flat_defaults(RunConfig()).items() if k not in ("out", "progress")}


def vgs_keys() -> dict[str, Any]:
    from dxmi.algorithms.vgs import VGSConfig

    return {k: v for k, v in flat_defaults(VGSConfig()).items() if k != "device"}


def anomaly_keys() -> dict[str, Any]:
    from dxmi.anomaly.detector import DxMIDetectorConfig

    return {k: v for k, v in flat_defaults(DxMIDetectorConfig()).items() if k != "device"}


def mate_keys() -> dict[str, Any]:
    from dxmi.mate.config import MATEConfig

    return flat_defaults(MATEConfig()) | {"env.length": 3, "memory_kwargs.gate": True}


#: the settings whose large values cost nothing (seeds); every other integer is drawn small
BIG_INT_KEYS = ("seed",)
#: float settings that set an amount of work (gradient steps per environment step): drawn small
WORK_KEYS = ("updates_per_step",)


def anomaly_data(folder: Path) -> Path:
    path = folder / "normal.npy"
    if not path.is_file():
        rng = np.random.default_rng(0)
        np.save(path, (rng.normal(size=(64, 3)) * np.array([1.0, 3.0, 0.5])).astype(np.float32))
    return path


def config_case(kind: str, given: list[tuple[str, str]], tmp: Path) -> Verdict:
    """``--set`` overrides of one kind of run (dxmi train, dxmi vgs train, dxmi anomaly fit, dxmi mate train) on top
    of a tiny run."""
    run = tmp / "run"
    tmp.mkdir(parents=True, exist_ok=True)
    if run.exists():
        shutil.rmtree(run)
    sets = [f"{k}={v}" for k, v in given]
    names = key_names([k for k, _ in given]) + sets + [v for _, v in given if len(v) >= 4]  # e.g. a path given
    if kind == "dxmi":
        argv = ["train", "--out", str(run), "--no-progress", *_sets(DXMI_TINY + sets)]
        check = _all_checks(settings_check(run / "config.yaml", given),
                            lambda: finite_checkpoint(run / "train" / "checkpoints" / "last.safetensors"))
    elif kind == "vgs":
        argv = ["vgs", "train", "--target", "gmm", "--out", str(run), "--no-progress", *_sets(VGS_TINY + sets)]
        check = _all_checks(settings_check(run / "vgs.yaml", given, lambda d: d["config"]),
                            lambda: finite_checkpoint(run / "checkpoints" / "last.safetensors"))
    elif kind == "anomaly":
        argv = ["anomaly", "fit", "--data", str(anomaly_data(tmp)), "--out", str(run), "--no-progress",
                *_sets(ANOMALY_TINY + sets)]
        check = _all_checks(settings_check(run / "model.safetensors", given, lambda d: d["config"]),
                            lambda: finite_checkpoint(run / "model.safetensors"))
    elif kind == "mate":
        argv = ["mate", "train", "--config", "tmaze", "--out", str(run), "--quiet", *_sets(MATE_TINY + sets)]
        check = _all_checks(settings_check(run / "config.yaml", given),
                            lambda: finite_checkpoint(run / "checkpoint.safetensors"))
    else:
        raise ValueError(kind)
    return judge(f"settings_{kind}", argv, invoke(argv), names, check=check)


CONFIG_KINDS = {"dxmi": run_keys, "vgs": vgs_keys, "anomaly": anomaly_keys, "mate": mate_keys}


# -- YAML files ------------------------------------------------------------------------------------------
def yaml_documents() -> st.SearchStrategy[str]:
    """Random YAML texts: nested mappings of real and junk keys with odd values, or a cut preset."""
    leaf = st.one_of(st.integers(-3, 6), st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
                     st.text(max_size=6), st.lists(st.integers(-2, 4), max_size=3))
    keys = st.sampled_from(["seed", "pretrain", "steps", "net", "hidden", "data", "name", "train", "algo", "tau1",
                            "sampler", "num_steps", "eval", "junk", "lr", "batch_size"])
    tree = st.recursive(leaf, lambda inner: st.dictionaries(keys, inner, max_size=4), max_leaves=8)
    return st.one_of(tree.map(lambda d: yaml.safe_dump(d)), st.text(max_size=60),
                     st.sampled_from(JUNK).map(lambda j: f"pretrain:\n  steps: {j}\n"))


def config_file_case(text: str, tmp: Path) -> Verdict:
    """``dxmi pretrain --config FILE`` with a random YAML text."""
    path = tmp / "cfg.yaml"
    path.write_text(text, encoding="utf-8")
    run = tmp / "run_cf"
    if run.exists():
        shutil.rmtree(run)
    argv = ["pretrain", "--config", str(path), "--out", str(run), "--no-progress",
            *_sets(["pretrain.steps=2", "pretrain.batch_size=16", "pretrain.net.hidden=8", "pretrain.net.depth=1",
                    "tensorboard=false", "pretrain.net.kind=mlp", "data.name=8gaussians", "data.path=null",
                    "pretrain.model=ddpm", "pretrain.diffusers_path=null", "pretrain.num_diffusion_steps=50",
                    "pretrain.net.time_dim=8", "device=cpu", "precision=fp32"])]
    check = lambda: finite_checkpoint(run / "pretrain" / "checkpoints" / "last.safetensors")  # noqa: E731
    # an error may name the file, or a setting read from it
    res = invoke(argv)
    names = [str(path), path.name, *[ln.split(":")[0].strip() for ln in text.splitlines() if ":" in ln]]
    keys = [w for w in re.findall(r"[a-z_]+(?:\.[a-z_0-9]+)+", "".join(error_lines(res.stderr)))]
    return judge("config_file", argv, res, names + keys, check=check)


# -- data files ------------------------------------------------------------------------------------------
DTYPES = ["float64", "float32", "float16", "int64", "int32", "int8", "uint8", "bool", "complex64"]


@st.composite
def data_arrays(draw: Any) -> tuple[str, np.ndarray | bytes]:
    """(suffix, array or raw bytes): shapes from empty to 3-D, odd dtypes, scales 1e-6..1e6, NaN/inf
    sprinkled in, text files with headers, garbage bytes."""
    kind = draw(st.sampled_from(["npy", "npy", "npy", "csv", "txt", "bytes", "npz"]))
    if kind == "bytes":
        return draw(st.sampled_from([".npy", ".csv", ".npz", ".dat"])), draw(st.binary(max_size=64))
    shape = draw(st.sampled_from([(0, 2), (1, 2), (2, 2), (3, 1), (40, 2), (40, 3), (40,), (5, 2, 2), (40, 0), ()]))
    scale = 10.0 ** draw(st.integers(-6, 6))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    arr = rng.normal(size=shape) * scale + draw(st.sampled_from([0.0, 1.0, -1e3])) * scale
    if draw(st.booleans()) and arr.size:
        flat = arr.reshape(-1)
        for _ in range(draw(st.integers(1, 3))):
            flat[rng.integers(0, flat.size)] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    if draw(st.integers(0, 5)) == 0 and arr.size:
        arr = np.zeros_like(arr) + 3.0  # no spread
    dtype = draw(st.sampled_from(DTYPES)) if kind in ("npy", "npz") else "float64"
    with np.errstate(all="ignore"):
        arr = arr.astype(dtype)
    return "." + kind, arr


def _write_data(path: Path, data: np.ndarray | bytes, header: bool) -> None:
    if isinstance(data, bytes):
        path.write_bytes(data)
    elif path.suffix == ".npy":
        np.save(path, data)
    elif path.suffix == ".npz":
        np.savez(path, X=data)
    else:
        arr = np.atleast_2d(data) if data.ndim < 2 else data.reshape(data.shape[0], -1) if data.size else data
        with open(path, "w") as f:
            if header and arr.ndim == 2:
                f.write(",".join(f"c{i}" for i in range(arr.shape[1])) + "\n")
            np.savetxt(f, arr, delimiter="," if path.suffix == ".csv" else " ")


def _read_back(path: Path) -> np.ndarray | None:
    """The numbers the file holds as numpy reads them (None: not readable as numbers)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _read_numbers(path)


def _read_numbers(path: Path) -> np.ndarray | None:
    try:
        if path.suffix == ".npy":
            return np.asarray(np.load(path, allow_pickle=False))
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return np.asarray(z["X"])
        return np.loadtxt(path, delimiter="," if path.suffix == ".csv" else None, ndmin=2, skiprows=0)
    except Exception:
        try:
            return np.loadtxt(path, delimiter="," if path.suffix == ".csv" else None, ndmin=2, skiprows=1)
        except Exception:
            return None


def data_case(target: str, suffix: str, data: np.ndarray | bytes, header: bool, tmp: Path) -> Verdict:
    """A random data file given to ``dxmi pretrain`` (a point cloud, data.name=file) or ``dxmi anomaly fit``."""
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / f"data{suffix}"
    if path.exists():
        path.unlink()
    _write_data(path, data, header)
    arr = _read_back(path)
    must_fail = None
    if arr is not None and arr.dtype.kind in "biuf":
        with np.errstate(all="ignore"):
            if not np.isfinite(arr.astype(np.float64)).all():
                must_fail = "the data hold NaN or inf"
            elif arr.dtype.kind == "f" and np.abs(arr).max(initial=0.0) > np.finfo(np.float32).max:
                must_fail = "the data overflow float32"
    run = tmp / "run_data"
    if run.exists():
        shutil.rmtree(run)
    if target == "dxmi":
        argv = ["pretrain", "--out", str(run), "--no-progress",
                *_sets(["data.name=file", f"data.path={path}", "pretrain.steps=2", "pretrain.batch_size=16",
                        "pretrain.net.hidden=8", "pretrain.net.depth=1", "pretrain.net.time_dim=8",
                        "tensorboard=false"])]
        check = _all_checks(lambda: finite_checkpoint(run / "pretrain" / "checkpoints" / "last.safetensors"),
                            lambda: _finite_json(run / "data_scale.json"))
    else:
        argv = ["anomaly", "fit", "--data", str(path), "--out", str(run), "--no-progress", *_sets(ANOMALY_TINY)]
        check = lambda: finite_checkpoint(run / "model.safetensors")  # noqa: E731
    return judge(f"data_{target}", argv, invoke(argv), [str(path), path.name], must_fail=must_fail, check=check)


def _finite_json(path: Path) -> str | None:
    if not path.is_file():
        return f"{path.name} not written"
    bad = _non_finite_floats({"x": json.loads(path.read_text())})
    return f"non-finite values in {path.name}" if bad else None


# -- damaged files of a finished run folder ---------------------------------------------------------------
@dataclass(frozen=True)
class Folder:
    """A finished tiny run of one kind, the files a reader reads in it, and the reader's command
    (writing its result to ``result``, compared with the intact folder's)."""

    kind: str
    files: tuple[str, ...]
    reader: Callable[[Path, Path, Path], list[str]]  # (run, data folder, result file) -> argv


FOLDERS: dict[str, Folder] = {f.kind: f for f in (
    Folder("dxmi", ("config.yaml", "pretrain/checkpoints/last.safetensors", "train/checkpoints/last.safetensors"),
           lambda run, data, out: ["sample", "--out", str(run), "--n", "7", "--file", str(out)]),
    Folder("dxmi_base", ("config.yaml", "pretrain/checkpoints/last.safetensors"),
           lambda run, data, out: ["sample", "--out", str(run), "--n", "7", "--sampler", "base", "--file", str(out)]),
    Folder("vgs", ("vgs.yaml", "checkpoints/last.safetensors"),
           lambda run, data, out: ["vgs", "sample", "--out", str(run), "--n", "7", "--file", str(out)]),
    Folder("anomaly", ("model.safetensors",),
           lambda run, data, out: ["anomaly", "score", "--out", str(run), "--data", str(anomaly_data(data)),
                                   "--csv", str(out)]),
    Folder("mate", ("checkpoint.safetensors",),
           lambda run, data, out: ["mate", "evaluate", str(run), "--episodes", "2", "--out", str(out.parent)]),
)}


def make_folders(root: Path) -> dict[str, Path]:
    """The finished tiny run folders the damaged-file cases copy (built once)."""
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    runs = {"dxmi": root / "dxmi", "vgs": root / "vgs", "anomaly": root / "anomaly", "mate": root / "mate"}
    cmds = {"dxmi": ["train", "--out", str(runs["dxmi"]), "--no-progress", *_sets(DXMI_TINY)],
            "vgs": ["vgs", "train", "--target", "gmm", "--out", str(runs["vgs"]), "--no-progress", *_sets(VGS_TINY)],
            "anomaly": ["anomaly", "fit", "--data", str(anomaly_data(data)), "--out", str(runs["anomaly"]),
                        "--no-progress", *_sets(ANOMALY_TINY)],
            "mate": ["mate", "train", "--config", "tmaze", "--out", str(runs["mate"]), "--quiet", *_sets(MATE_TINY)]}
    for kind, argv in cmds.items():
        if not runs[kind].is_dir():
            res = invoke(argv)
            if res.code != 0:
                raise RuntimeError(f"building the {kind} folder failed: {res.stderr[-500:]} {res.traceback}")
    runs["dxmi_base"] = runs["dxmi"]
    return runs


def _result(path: Path) -> Any:
    if not path.is_file():
        return None
    if path.suffix == ".npy":
        return np.load(path).tobytes()
    text = path.read_text()
    return json.loads(text) if path.suffix == ".json" else text


def damaged_case(kind: str, file: str, cut: float, folders: dict[str, Path], tmp: Path,
                 reference: dict[str, Any]) -> Verdict:
    """Cut one file of a finished run folder to ``cut`` of its size (0: empty) and read the folder:
    the reader gives the intact folder's result or a one-line error naming the file."""
    spec = FOLDERS[kind]
    run = tmp / f"damaged_{kind}"
    if run.exists():
        shutil.rmtree(run)
    shutil.copytree(folders[kind], run)
    path = run / file
    size = path.stat().st_size
    keep = int(size * cut)
    with open(path, "r+b") as f:
        f.truncate(keep)
    out = tmp / ("result.json" if kind == "mate" else "result.csv" if kind == "anomaly" else "result.npy")
    for p in (out, tmp / "eval.json"):
        if p.exists():
            p.unlink()
    argv = spec.reader(run, tmp, out)
    res = invoke(argv)
    result_file = tmp / "eval.json" if kind == "mate" else out
    ref = reference.get(kind)

    def same() -> str | None:
        got = _result(result_file)
        if isinstance(got, dict) and isinstance(ref, dict):
            got = {k: v for k, v in got.items() if k != "out"}
        return None if got == ref else f"{file} cut to {keep} of {size} bytes: exit 0 with another result"

    return judge(f"damaged_{kind}", argv, res, [str(path), file, Path(file).name, str(run)], check=same)


def damaged_references(folders: dict[str, Path], tmp: Path) -> dict[str, Any]:
    """What each reader gives on the intact folders."""
    refs: dict[str, Any] = {}
    for kind, spec in FOLDERS.items():
        out = tmp / ("result.json" if kind == "mate" else "result.csv" if kind == "anomaly" else "result.npy")
        res = invoke(spec.reader(folders[kind], tmp, out))
        if res.code != 0:
            raise RuntimeError(f"reading the intact {kind} folder failed: {res.stderr[-500:]} {res.traceback}")
        got = _result(tmp / "eval.json" if kind == "mate" else out)
        refs[kind] = {k: v for k, v in got.items() if k != "out"} if isinstance(got, dict) else got
    return refs

