"""Metric loggers: CSV (always), TensorBoard (when installed)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dxmi.io import atomic_write, reading


class Logger:
    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        return None


class NullLogger(Logger):
    """Logs nothing (the non-zero ranks of a distributed run)."""

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        return None


def _cell(value: float) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return f"{value:.6g}"


class CSVLogger(Logger):
    """Appends rows to a CSV; new metric names add columns (the file is rewritten then).

    ``truncate_after``: the step a run resumes from. A row is labelled with the number of updates
    done when it was logged (1, 2, ...), so the rows up to and including ``truncate_after`` describe
    the resumed state and are kept, and the later ones (logged after the checkpoint, by the run
    that was interrupted) are dropped on open: the resumed run writes them again, and every step
    appears once. 0 starts the log afresh. ``step_key``: the name of the step column (a MATE run's
    log counts rollouts: ``iteration``). Floats are written with 6 significant digits, integers
    (counters) in full."""

    def __init__(self, path: str | Path, truncate_after: int | None = None, step_key: str = "step"):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.step_key = step_key
        self.rows: list[dict[str, Any]] = []
        self.fields: list[str] = [step_key]
        if self.path.exists():
            with reading(self.path, "metrics log", allow_empty=True) as p:
                text = p.read_text()
                if text and not text.endswith("\n"):  # a row cut short by a stop while appending it
                    text = text[: text.rfind("\n") + 1]
                reader = csv.DictReader(io.StringIO(text, newline=""))
                self.fields = list(reader.fieldnames or [step_key])
                self.rows = [r for r in reader
                             if truncate_after is None or int(float(r[step_key])) <= truncate_after]
            self._rewrite()

    def _rewrite(self) -> None:
        def write(tmp: str) -> None:
            with open(tmp, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=self.fields)
                w.writeheader()
                w.writerows(self.rows)

        atomic_write(self.path, write)  # a stop while rewriting keeps the rows written so far

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        row: dict[str, Any] = {self.step_key: step, **{k: _cell(v) for k, v in metrics.items()}}
        self.rows.append(row)
        new = [k for k in row if k not in self.fields]
        if new:
            self.fields += new
            self._rewrite()
        else:
            with open(self.path, "a", newline="") as f:
                csv.DictWriter(f, fieldnames=self.fields).writerow(row)


class TensorBoardLogger(Logger):
    def __init__(self, folder: str | Path):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(folder))

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        for k, v in metrics.items():
            self.writer.add_scalar(k, v, step)

    def close(self) -> None:
        self.writer.close()


class MultiLogger(Logger):
    def __init__(self, loggers: list[Logger]):
        self.loggers = loggers

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        for lg in self.loggers:
            lg.log(step, metrics)

    def close(self) -> None:
        for lg in self.loggers:
            lg.close()


def make_loggers(folder: str | Path, tensorboard: bool = True, truncate_after: int | None = None) -> MultiLogger:
    folder = Path(folder)
    loggers: list[Logger] = [CSVLogger(folder / "metrics.csv", truncate_after=truncate_after)]
    if tensorboard:
        try:
            loggers.append(TensorBoardLogger(folder / "tensorboard"))
        except ImportError:
            pass
    return MultiLogger(loggers)
