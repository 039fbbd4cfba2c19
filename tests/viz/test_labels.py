"""dxmi.viz.labels: metric names with units, directions and NFE."""

from __future__ import annotations

from dxmi.config import load_config
from dxmi.viz.labels import metric_info, parse_stem, sampler_colour, stem_label


def test_labels_name_units_directions_and_nfe():
    assert metric_info("fd").direction_text == "lower is better"
    assert metric_info("recall").direction_text == "higher is better" and metric_info("recall").unit == "fraction"
    assert metric_info("loss").direction_text == "minimised by training"
    assert metric_info("sampling_seconds").unit == "s"
    assert metric_info("something_new").label == "something new" and metric_info("something_new").direction is None
    assert parse_stem("dpmsolver++3m_4_leading") == ("dpmsolver++3m", 4, "leading")
    assert parse_stem("ddim_leading") == ("ddim", None, "leading") and parse_stem("dxmi") == ("dxmi", None, None)
    cfg = load_config("digits", ["train.update=gcd"])
    assert stem_label("dxmi", cfg) == "GCD · NFE 10"
    assert stem_label("ddpm", cfg) == "DDPM ancestral · NFE 1000"
    assert stem_label("ddim_25", cfg) == "DDIM · NFE 25"
    assert sampler_colour("dxmi") != sampler_colour("base")
