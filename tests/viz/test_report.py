"""OUT/report.html (dxmi.viz.report): a tiny digits run's report after train and evaluate; the
metrics table and figures on hand-written run folders (no training)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

from dxmi.config import load_config
from dxmi.experiment import save_config
from dxmi.viz.report import REPORT_FILE, write_report

PNG = b"\x89PNG\r\n\x1a\n"


def _images(page: str) -> list[bytes]:
    """The embedded PNGs of a page; it links nothing outside itself."""
    assert not re.search(r'src="(?!data:)', page), "the report links a file instead of embedding it"
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def test_tiny_digits_run_report_after_train_and_evaluate(tmp_path, capsys):
    pytest.importorskip("sklearn")
    from dxmi.cli.main import main

    out = tmp_path / "run"
    sets = ["pretrain.net.channels=8", "pretrain.batch_size=16", "pretrain.steps=5", "train.iterations=3",
            "train.algo.batch_size=8", "train.algo.sampler_warmup=0", "sampler.num_steps=4", "log_every=1",
            "sampler.energy_net.channels=8", "ckpt_every=0", "tensorboard=false", "eval.n_samples=32",
            "eval.classifier_steps=20"]
    assert main(["train", "--config", "digits", "--out", str(out), "--no-progress",
                 *[a for s in sets for a in ("--set", s)]]) == 0
    page = (out / REPORT_FILE).read_text()
    assert f"wrote {out / REPORT_FILE}" in capsys.readouterr().out
    assert "No evaluations yet" in page and "curves_train.png" in page and len(_images(page)) == 2
    for which in ("dxmi", "base"):
        assert main(["evaluate", "--out", str(out), "--sampler", which]) == 0
    page = (out / REPORT_FILE).read_text()
    # the metrics table: a row per evaluation, labelled by method and NFE; units and directions
    table = page.split('<table class="metrics">')[1].split("</table>")[0]
    assert "DxMI (dxdp) · NFE 4" in table and "base T-step policy · NFE 4" in table
    assert "eval_dxmi.json" in table and "eval_base.json" in table
    assert "fd ↓" in table and "lower is better" in table and "recall ↑" in table and "higher is better" in table
    fd = json.loads((out / "eval_dxmi.json").read_text())["fd"]
    assert f"{fd:.4g}" in table
    # the images: the evaluated samples and the learning curves of both phases, all embedded PNGs
    imgs = _images(page)
    assert len(imgs) == 3 and all(i.startswith(PNG) for i in imgs)
    assert {"evaluated_samples.png", "curves_pretrain.png", "curves_train.png"} <= set(
        re.findall(r'alt="([^"]+)"', page))
    assert (out / "plots" / "evaluated_samples.png").is_file()
    assert "config.yaml" in page and "fastdpm_quadratic" in page


def _fake_run(out: Path, config: str = "8gaussians") -> None:
    save_config(load_config(config, [f"out={out}"]), out)
    (out / "train").mkdir(parents=True)
    rows = ["step,loss_energy,sigma_first,custom_metric"] + [f"{i},{1 / i},{0.1 + i / 100},{i}" for i in range(1, 31)]
    (out / "train" / "metrics.csv").write_text("\n".join(rows) + "\n")


def test_report_table_marks_the_best_and_notes_unreadable_files(tmp_path):
    out = tmp_path / "run"
    _fake_run(out)
    (out / "eval_dxmi.json").write_text(json.dumps({"sw": 0.05, "recall": 0.9, "n_samples": 500}))
    (out / "eval_ddim.json").write_text(json.dumps({"sw": 0.2, "recall": 0.95, "n_samples": 500,
                                                    "sinkhorn": float("nan")}))
    (out / "eval_unipc_4_trailing.json").write_text(json.dumps({"sw": 0.3, "extra": 1.5}))
    (out / "eval_broken.json").write_text("{not json")
    rng = np.random.default_rng(0)
    for stem in ("dxmi", "ddim"):
        np.save(out / f"samples_{stem}.npy", rng.normal(size=(200, 2)).astype(np.float32))
    page = write_report(out).read_text()
    table = page.split('<table class="metrics">')[1].split("</table>")[0]
    # rows in sampler order, labelled with NFE (T = 4 for 8gaussians; the stem's step count otherwise)
    labels = re.findall(r'<td class="name">([^<]+)<br>', table)
    assert labels == ["DxMI (dxdp) · NFE 4", "DDIM · NFE 4", "UniPC, trailing · NFE 4"]
    # the best of each directional column is bold: the lowest sw, the highest recall; counts are not ranked
    assert '<td class="best">0.05</td>' in table and '<td class="best">0.95</td>' in table
    assert '<td class="best">500</td>' not in table
    assert "NaN" in table and "extra" in table and '<td class="na">–</td>' in table
    assert "eval_broken.json: not read" in page
    # the curves panels, the 2D samples over the data; one file with everything embedded
    assert len(_images(page)) == 2 and (out / "plots" / "curves_train.png").is_file()
    assert (out / "plots" / "evaluated_samples.png").is_file()


def test_report_of_an_empty_run_folder(tmp_path):
    page = write_report(tmp_path).read_text()
    assert "No readable config.yaml" in page and "No evaluations yet" in page and "No training logs yet" in page
