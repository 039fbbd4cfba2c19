"""Imports only go downwards: every module of src/dxmi imports (at the top or lazily inside a
function, type-checking imports included) only from its own layer or the layers below it.

Layers, bottom to top. A package's layer covers its submodules; modules of one layer may import
each other. A new top-level module or package must be given a layer here.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

LAYERS: list[set[str]] = [
    {"records", "io", "validation", "settings", "configs"},  # plain data, files, settings machinery, presets
    {"nets", "schedules"},  # backbones, noise schedules
    {"energies", "diffusion"},  # E(x); denoisers on a schedule
    {"targets", "values"},  # known energies to sample; V(x, t)
    {"policies", "samplers", "baselines", "buffers", "metrics", "data"},  # samplers, MCMC, datasets, scores
    {"algorithms"},  # one training step
    {"training"},  # the outer loop: Trainer, checkpoints, devices, DDP, precision
    {"config"},  # the run configuration (holds the algorithms' and training's settings)
    {"experiment"},  # the jobs of a run: pretrain, warm start, train, sample, evaluate
    {"anomaly", "mate", "viz", "export", "cli", "__main__", "__init__"},  # applications and entry points
]

#: the modules of dxmi.experiment in the order of a run; each imports only the ones before it
EXPERIMENT_ORDER = ["build", "run_folder", "pretraining", "warm_start", "scores", "fine_tuning", "sampling",
                    "evaluation"]

#: (importing module, imported module) -> why the upward import stays. Keep this short.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}


def layer_name(module: str) -> str:
    """``dxmi.algorithms.vgs`` -> ``algorithms``; the package itself -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_of(module: str) -> int:
    name = layer_name(module)
    for i, layer in enumerate(LAYERS):
        if name in layer:
            return i
    raise AssertionError(f"{module}: '{name}' has no layer in tests/project/test_layers.py; add it to LAYERS")


def modules() -> dict[str, Path]:
    out = {}
    for f in sorted((SRC / "dxmi").rglob("*.py")):
        parts = list(f.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def imports(module: str, path: Path) -> list[tuple[str, int]]:
    """Every ``dxmi`` module that ``module`` imports, anywhere in the file, with its line."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from . import x / from ..a import b
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "dxmi" or node.module is None:  # from dxmi import algorithms / from . import x
                found += [(f"{target}.{a.name}", node.lineno) for a in node.names]
            else:
                found.append((target, node.lineno))
    return [(t, line) for t, line in found if t == "dxmi" or t.startswith("dxmi.")]


def test_imports_only_go_downwards():
    violations, used = [], set()
    for module, path in modules().items():
        own = layer_of(module)
        for target, line in imports(module, path):
            if layer_of(target) <= own:
                continue
            key = (module, target)
            if key in KNOWN_EXCEPTIONS:
                used.add(key)
                continue
            violations.append(f"{path.relative_to(SRC.parent)}:{line}: {module} ({layer_name(module)}) imports "
                              f"{target} ({layer_name(target)}, a layer above)")
    assert not violations, "upward imports:\n" + "\n".join(violations)
    assert used == set(KNOWN_EXCEPTIONS), f"stale known exceptions: {sorted(set(KNOWN_EXCEPTIONS) - used)}"


def test_the_experiment_modules_import_only_earlier_ones():
    found = {m.split(".")[2]: m for m in modules() if m.startswith("dxmi.experiment.")}
    assert sorted(found) == sorted(EXPERIMENT_ORDER), "give each module of dxmi/experiment/ a place in EXPERIMENT_ORDER"
    violations = []
    for name, module in found.items():
        for target, line in imports(module, modules()[module]):
            parts = target.split(".")
            if parts[:2] == ["dxmi", "experiment"] and (
                    len(parts) < 3 or EXPERIMENT_ORDER.index(parts[2]) >= EXPERIMENT_ORDER.index(name)):
                violations.append(f"{module}:{line} imports {target}")
    assert not violations, "dxmi.experiment modules importing later ones:\n" + "\n".join(violations)


def test_the_walk_sees_lazy_and_relative_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("from . import sibling\nimport os\n\ndef f():\n    from dxmi.cli import main\n"
                 "    from ..training import loop\n")
    assert sorted(imports("dxmi.algorithms.m", f)) == [("dxmi.algorithms.sibling", 1), ("dxmi.cli", 5),
                                               ("dxmi.training", 6)]
    assert layer_of("dxmi.cli.main") > layer_of("dxmi.training.loop") > layer_of("dxmi.algorithms.m")
