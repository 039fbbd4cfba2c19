"""dxmi.training.loggers: the CSV logger adds columns."""

from dxmi.training import CSVLogger


def test_csv_logger_adds_columns(tmp_path):
    lg = CSVLogger(tmp_path / "m.csv")
    lg.log(1, {"a": 1.0})
    lg.log(2, {"a": 2.0, "b": 3.0})
    text = (tmp_path / "m.csv").read_text().splitlines()
    assert text[0] == "step,a,b" and text[2].startswith("2,2,3")
