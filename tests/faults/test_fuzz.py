"""Fuzzing the command line in process (hypothesis): random ``--set`` overrides of four kinds of run
(types, ranges, unknown keys, YAML oddities), random YAML config files, random data files (shapes,
dtypes, NaN/inf, empty, scales 1e-6..1e6, text files, garbage bytes) and damaged files of finished run
folders (checkpoints and settings cut at random). Every case must work correctly or fail with one
error line naming the setting or the file: never a traceback, never a silently wrong result (see
``fuzz_cases.py`` for the judging).

``DXMI_FUZZ_EXAMPLES`` sets the cases per property (default 50); the draws are fixed (derandomised)
unless ``DXMI_FUZZ_RANDOM`` is set. ``benchmarks/faults.py`` runs many more.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
import fuzz_cases as fc  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

EXAMPLES = int(os.environ.get("DXMI_FUZZ_EXAMPLES", "50"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize="DXMI_FUZZ_RANDOM" not in os.environ,
                suppress_health_check=list(HealthCheck), print_blob=True)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.parametrize("kind", list(fc.CONFIG_KINDS))
def test_random_settings(kind: str, work: Path) -> None:
    keys = fc.CONFIG_KINDS[kind]()

    @FUZZ
    @given(fc.overrides(list(keys), fc.UNKNOWN_KEYS, fc.BIG_INT_KEYS, fc.WORK_KEYS, keys))
    def case(given_: list[tuple[str, str]]) -> None:
        verdict = fc.config_case(kind, given_, work / kind)
        assert verdict.good, str(verdict)

    case()


def test_random_config_files(work: Path) -> None:
    @FUZZ
    @given(fc.yaml_documents())
    def case(text: str) -> None:
        verdict = fc.config_file_case(text, work / "config_files")
        assert verdict.good, str(verdict)

    (work / "config_files").mkdir(exist_ok=True)
    case()


@pytest.mark.parametrize("target", ["dxmi", "anomaly"])
def test_random_data_files(target: str, work: Path) -> None:
    folder = work / f"data_{target}"
    folder.mkdir(exist_ok=True)

    @FUZZ
    @given(fc.data_arrays(), st.booleans())
    def case(data: tuple[str, object], header: bool) -> None:
        verdict = fc.data_case(target, data[0], data[1], header, folder)  # type: ignore[arg-type]
        assert verdict.good, str(verdict)

    case()


def test_damaged_run_folders(work: Path) -> None:
    folders = fc.make_folders(work / "folders")
    refs = fc.damaged_references(folders, work)
    files = [(k, f) for k, spec in fc.FOLDERS.items() for f in spec.files]

    @FUZZ
    @given(st.sampled_from(files), st.floats(0, 1))
    def case(kind_file: tuple[str, str], cut: float) -> None:
        verdict = fc.damaged_case(kind_file[0], kind_file[1], cut, folders, work, refs)
        assert verdict.good, str(verdict)

    case()
