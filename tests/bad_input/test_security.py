"""Security checks: no unsafe deserialisation, safe YAML, no leaked passwords, loopback defaults,
and the rule for paths a study file makes the service write to.

Path rule (search.studyfile.spec.check_write_path): ``study.artifacts`` and the SQLite file of
``study.storage`` are resolved under the current directory when relative, and may never contain
a ``..`` component, relative or absolute. Absolute paths are the operator's explicit choice and
are allowed. ``--storage`` / ``$SPARSESEARCH_STORAGE`` come from the operator, not the file, and
are not restricted.
"""

from __future__ import annotations

import argparse
import ast
import json
from pathlib import Path

import pytest

import search.dashboard
import search.launch
import search.report
from search.studyfile import SpecError, parse_spec
from tests.bad_input.corpus import ENTRY_POINTS
from tests.helpers import ROOT, run_cli, study_doc

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
SOURCES = sorted(p for d in ("core", "search") for p in (ROOT / d).rglob("*.py"))
PASSWORD = "Hunter2-s3cret"


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node, ast.unparse(node.func)


def _scan(path: Path, root: Path = ROOT) -> list[str]:
    """Unsafe deserialisation and unsafe YAML in one source file, as 'file:line what' strings
    (the file named relative to ``root``)."""
    tree, bad = ast.parse(path.read_text(encoding="utf-8")), []
    where = lambda n: f"{path.relative_to(root)}:{n.lineno}"  # noqa: E731
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            bad += [
                f"{where(node)} imports {n}"
                for n in names
                if n and n.split(".")[0] in {"pickle", "cPickle", "dill", "shelve", "marshal", "joblib"}
            ]
        if isinstance(node, ast.Attribute) and ast.unparse(node) in {
            "yaml.Loader",
            "yaml.FullLoader",
            "yaml.UnsafeLoader",
            "yaml.CLoader",
            "yaml.unsafe_load",
            "yaml.full_load",
            "yaml.unsafe_load_all",
            "yaml.full_load_all",
        }:
            bad.append(f"{where(node)} uses {ast.unparse(node)}")
    for call, func in _calls(tree):
        kwargs = {k.arg: ast.unparse(k.value) for k in call.keywords}
        if func.endswith("torch.load") or func == "load" and "map_location" in kwargs:
            if kwargs.get("weights_only") != "True":
                bad.append(f"{where(call)} torch.load without weights_only=True")
        if func in ("yaml.load", "yaml.load_all"):
            loader = kwargs.get("Loader") or (ast.unparse(call.args[1]) if len(call.args) > 1 else "")
            if loader not in ("yaml.SafeLoader", "yaml.CSafeLoader", "SafeLoader", "CSafeLoader"):
                bad.append(f"{where(call)} {func} with Loader={loader or 'default'}")
        if func.split(".")[-1] == "load" and kwargs.get("allow_pickle") == "True":
            bad.append(f"{where(call)} {func}(allow_pickle=True)")
    return bad


def test_scanner_finds_what_it_looks_for(tmp_path: Path) -> None:
    sample = tmp_path / "scan_sample.py"
    sample.write_text(
        "import pickle\nimport yaml, torch, numpy as np\nyaml.load(s)\n"
        "yaml.load(s, Loader=yaml.Loader)\n"
        "yaml.unsafe_load(s)\ntorch.load(f)\ntorch.load(f, weights_only=False)\n"
        "np.load(f, allow_pickle=True)\nyaml.load(s, Loader=yaml.SafeLoader)\n"
        "torch.load(f, weights_only=True)\n"
    )
    found = _scan(sample, root=tmp_path)
    assert len(found) == 8, found  # every line but the last two


def test_no_unsafe_deserialisation_or_unsafe_yaml_in_core_and_search() -> None:
    assert SOURCES
    assert [b for p in SOURCES for b in _scan(p)] == []


def test_core_and_search_read_yaml_only_in_core_yamlfile_with_the_safe_loader() -> None:
    users = {
        p.relative_to(ROOT).as_posix()
        for p in SOURCES
        if any(
            f.startswith("yaml.") and f not in ("yaml.dump", "yaml.safe_dump")
            for _, f in _calls(ast.parse(p.read_text(encoding="utf-8")))
        )
    }
    assert users <= {"core/yamlfile.py"}, users


# --- passwords ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://u:{PASSWORD}@127.0.0.1:1/db",
        f"postgresql://u:{PASSWORD}@localhost:port/db",
        f"mysql://u:{PASSWORD}@127.0.0.1:1/db",
    ],
    ids=["unreachable", "malformed", "mysql"],
)
@pytest.mark.parametrize("entry", ["launch", "dashboard", "report", "rerun"])
def test_storage_errors_never_show_the_password(
    url: str, entry: str, write_study, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write_study(study_doc(study={"storage": url}))
    main, extra = ENTRY_POINTS[entry]
    code = main([str(path), *extra])
    out, err = capsys.readouterr()
    assert code == 2 and "study.storage" in err, err
    assert PASSWORD not in out + err


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("storage_url", ["postgresql"], indirect=True)
def test_password_is_in_no_attribute_report_or_launch_output(
    storage_url, write_study, tmp_path, study_name, monkeypatch, capsys
) -> None:
    """A tiny real study on PostgreSQL through a URL with its password: the password is nowhere."""
    url = storage_url
    from sqlalchemy.engine import make_url

    password = make_url(url).password
    assert password, "the test URL must carry a password for this test to mean anything"
    monkeypatch.chdir(tmp_path)
    doc = study_doc(
        study_name,
        study={"storage": url, "n_trials": 2, "enqueue": [{"x": 1.0, "y": 0.0}]},
        experiment={"steps": 2, "step_seconds": 0.0},
        resources={"workers": 1},
    )
    path = write_study(doc)
    launched = run_cli("search.launch", str(path), cwd=tmp_path, timeout=300)
    assert launched.returncode == 0, launched.stdout + launched.stderr
    assert password not in launched.stdout + launched.stderr
    assert search.report.main([str(path), "--out", str(tmp_path / "report")]) == 0
    out, err = capsys.readouterr()
    assert password not in out + err

    import optuna

    study = optuna.load_study(study_name=study_name, storage=url)
    trials = study.get_trials()
    assert len(trials) >= 2
    system = study._storage.get_study_system_attrs(study._study_id)  # Optuna 5: no public accessor
    stored = json.dumps([study.user_attrs, system, *[[t.user_attrs, t.system_attrs] for t in trials]], default=str)
    assert password not in stored
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != path]
    assert written and not [p for p in written if password.encode() in p.read_bytes()]


# --- loopback by default --------------------------------------------------------------------------


def test_dashboard_binds_to_loopback_by_default() -> None:
    assert search.dashboard.DEFAULT_HOST == "127.0.0.1"
    assert _parsed(search.dashboard, ["s.yaml"]).host == "127.0.0.1"
    assert _parsed(search.launch, ["s.yaml"]).dashboard_host == "127.0.0.1"


def _parsed(command, argv: list[str]) -> argparse.Namespace:
    """``argv`` parsed by a command module's own options (its public ``add_arguments``)."""
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return parser.parse_args(argv)


def test_local_ray_starts_without_its_dashboard() -> None:
    """Ray's own dashboard (job submission = code execution) is never started by the launcher."""
    tree = ast.parse(Path(search.launch.prepare.__file__).read_text(encoding="utf-8"))
    start = next(f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name == "start_ray")
    inits = [c for c, func in _calls(start) if func == "ray.init"]
    local = [c for c in inits if not any(k.arg == "address" for k in c.keywords)]
    kwargs = [{k.arg: ast.unparse(k.value) for k in c.keywords} for c in local]
    assert kwargs and all(k.get("include_dashboard") == "False" for k in kwargs)


# --- paths a study file makes the service write to ------------------------------------------------


def _spec(**study):
    return parse_spec(study_doc(study=study))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("artifacts", "../outside"),
        ("artifacts", "runs/../../outside"),
        ("artifacts", "/srv/runs/../../etc"),
        ("storage", "sqlite:///../study.db"),
        ("storage", "sqlite:///runs/../../study.db"),
        ("storage", "sqlite:////srv/runs/../study.db"),
        ("artifacts", "runs\\..\\..\\outside"),
    ],
)
def test_write_paths_with_dotdot_are_refused(field: str, value: str) -> None:
    with pytest.raises(SpecError, match=rf"^study\.{field}: expected a path without '\.\.'"):
        _spec(**{field: value})


def test_write_paths_from_variables_are_checked_after_expansion(monkeypatch) -> None:
    monkeypatch.setenv("SPARSESEARCH_TEST_DIR", "../../elsewhere")
    with pytest.raises(SpecError, match=r"^study\.artifacts"):
        _spec(artifacts="${SPARSESEARCH_TEST_DIR}/artifacts")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("artifacts", "runs/a..b/artifacts"),
        ("artifacts", "/tmp/somewhere/artifacts"),
        ("artifacts", "./art"),
        ("storage", "sqlite:///runs/x/study.db"),
        ("storage", "sqlite:////tmp/x/study.db"),
    ],
)
def test_relative_and_absolute_paths_without_dotdot_are_allowed(field: str, value: str) -> None:
    spec = _spec(**{field: value})
    assert value.endswith(getattr(spec.study, field).split("///")[-1])


def test_operator_storage_override_is_not_restricted() -> None:
    spec = parse_spec(study_doc(), storage="sqlite:///../shared/study.db")
    assert spec.study.storage == "sqlite:///../shared/study.db"


def test_default_paths_stay_under_the_run_directory() -> None:
    spec = _spec()
    assert spec.study.artifacts == "runs/t/artifacts" and spec.study.storage == "sqlite:///runs/t/study.db"
