"""Every malformed file × every entry point: exit 2, one stderr line naming the field, nothing created.

The bulk runs in-process through each command's ``main(argv)`` (fast); a handful of real
subprocess runs prove that no traceback escapes the interpreter either. Each run happens in
an empty temporary working directory, so that default relative paths (``runs/...``) would
show up in its listing if anything were created.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import core.run
import search.launch
from tests.bad_input.corpus import ENTRY_POINTS, EXPERIMENTS, STUDIES, Case, experiment_cases, study_cases
from tests.helpers import run_cli

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

STUDY_CASES = study_cases()
EXPERIMENT_CASES = experiment_cases()


def listing(*roots: Path) -> set[str]:
    """Every path under ``roots`` (what 'nothing created on disk' compares)."""
    return {str(p) for root in roots for p in root.rglob("*")}


def call(main: Callable[[list[str]], int], argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:  # argparse and friends
        return exit_.code if isinstance(exit_.code, int) else 1


def check_one_line(err: str, expect: str, code: int) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, f"exit status {code}, stderr:\n{err}"
    assert len(lines) == 1, f"expected one stderr line, got:\n{err}"
    assert lines[0].startswith("error: ") and "Traceback" not in err
    assert expect in lines[0], f"the error line should name {expect!r}: {lines[0]}"


def _expected(case: Case, entry: str) -> str:
    # A launch-only mistake leaves a valid study file: the others find no study database.
    return case.expect if case.only in (None, entry) else "study.storage"


def _study_params():
    for case in STUDY_CASES:
        for entry in ENTRY_POINTS:
            yield pytest.param(case, entry, id=f"{entry}-{case.name}")


@pytest.fixture
def rundir(tmp_path: Path, monkeypatch) -> Path:
    """An empty working directory (default storage and artifacts are relative to it)."""
    work = tmp_path / "run"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("SPARSESEARCH_STORAGE", raising=False)
    return work


@pytest.mark.parametrize(("case", "entry"), list(_study_params()))
def test_bad_study_file(case: Case, entry: str, rundir: Path, tmp_path: Path, capsys) -> None:
    path = case.path(tmp_path, STUDIES)
    before = listing(tmp_path, STUDIES)
    main, extra = ENTRY_POINTS[entry]
    code = call(main, [str(path), *extra])
    check_one_line(capsys.readouterr().err, _expected(case, entry), code)
    assert listing(tmp_path, STUDIES) == before, "something was created on disk"


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in EXPERIMENT_CASES])
def test_bad_experiment_file(case: Case, rundir: Path, tmp_path: Path, capsys) -> None:
    path = case.path(tmp_path, EXPERIMENTS)
    before = listing(tmp_path, EXPERIMENTS)
    code = call(core.run.main, [str(path)])
    check_one_line(capsys.readouterr().err, case.expect, code)
    assert listing(tmp_path, EXPERIMENTS) == before, "something was created on disk"


def test_corpus_is_large_enough() -> None:
    assert len(STUDY_CASES) + len(EXPERIMENT_CASES) >= 40
    assert all(c.expect for c in STUDY_CASES + EXPERIMENT_CASES), "every file says what its error names"


@pytest.mark.timeout(60)  # without a connect timeout the launch would wait for ever: pytest-timeout fails it
@pytest.mark.slow
def test_storage_that_never_answers_fails_with_the_connect_timeout(rundir: Path, tmp_path: Path, capsys) -> None:
    """A host that accepts the connection and then says nothing: an error after the connect timeout
    (search.store.storage.CONNECT_TIMEOUT_S), not a hang and not some other error."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list = []
    threading.Thread(target=lambda: [held.append(server.accept()) for _ in range(8)], daemon=True).start()
    study = tmp_path / "silent.yaml"
    study.write_text(
        (STUDIES / "unreachable_storage.yaml")
        .read_text()
        .replace("127.0.0.1:1/", f"127.0.0.1:{server.getsockname()[1]}/")
    )
    code = call(search.launch.main, [str(study)])
    server.close()
    err = capsys.readouterr().err
    check_one_line(err, "study.storage: cannot open storage postgresql://", code)
    assert held and "connection timeout expired" in err, err  # reached the silent host, then timed out


# Real processes: no traceback escapes, the line is the same as in-process.
SUBPROCESS = [
    ("search.launch", "python_object_tag.yaml", [], "line"),
    ("search.dashboard", "unreachable_storage.yaml", ["--port", "0"], "study.storage"),
    ("search.report", "malformed_storage_port.yaml", [], "study.storage"),
    ("search.rerun", "alias_bomb.yaml", ["--trial", "0"], "line"),
    ("core.run", "python_tag.yaml", [], "line"),
]


@pytest.mark.parametrize(("module", "name", "extra", "expect"), SUBPROCESS, ids=[s[0] for s in SUBPROCESS])
@pytest.mark.slow
def test_subprocess_one_line_no_traceback(module: str, name: str, extra: list[str], expect: str, rundir: Path) -> None:
    folder = EXPERIMENTS if module == "core.run" else STUDIES
    result = run_cli(module, str(folder / name), *extra, cwd=rundir, timeout=60)
    check_one_line(result.stderr, expect, result.returncode)
    assert result.stdout == "" and not os.listdir(rundir)


@pytest.mark.slow
def test_gpu_shortfall_is_one_line_and_creates_no_storage(rundir: Path) -> None:
    """This machine's GPUs are counted before the study database exists (and without starting Ray)."""
    result = run_cli("search.launch", str(STUDIES / "gpus_more_than_node.yaml"), cwd=rundir, timeout=120)
    check_one_line(result.stderr, "resources.gpus_per_trial", result.returncode)
    assert not os.listdir(rundir), f"left behind: {os.listdir(rundir)}"


@pytest.mark.postgres
@pytest.mark.parametrize("storage_url", ["postgresql"], indirect=True)
def test_bad_study_files_create_no_study_in_postgresql(storage_url: str, rundir: Path, tmp_path: Path, capsys) -> None:
    """The same corpus against the real PostgreSQL server (``--storage``): no new study appears."""
    url = storage_url
    import optuna

    def names() -> set[str]:
        return {s.study_name for s in optuna.get_all_study_summaries(url, include_best_trial=False)}

    # --storage replaces the file's storage: files whose only mistake is their storage would be valid.
    cases = [c for c in STUDY_CASES if c.expect != "study.storage" and c.only is None]
    before = names()
    for case in cases:
        for main, extra in ENTRY_POINTS.values():
            code = call(main, [str(case.path(tmp_path, STUDIES)), "--storage", url, *extra])
            check_one_line(capsys.readouterr().err, case.expect, code)
    assert names() == before
