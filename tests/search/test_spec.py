"""Study files: good ones load into a frozen spec, bad ones give one line naming the field."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml

from core import ConfigError
from search.studyfile import SpecError, load_spec, parse_duration, parse_spec
from tests.helpers import ROOT, run_cli, study_doc


def test_good_file_gives_frozen_spec(write_study) -> None:
    spec = load_spec(write_study(study_doc(study={"timeout": "2h", "enqueue": [{"x": 2.0, "y": -1.0}]})))
    assert spec.kind == "synthetic" and spec.experiment.steps == 3
    assert [p.name for p in spec.search_space] == ["x", "y"]
    assert spec.study.timeout_s == 7200 and spec.study.n_trials == 6
    assert spec.resources.workers == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.study.n_trials = 3  # type: ignore[misc]


@pytest.mark.parametrize("path", sorted((ROOT / "studies").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_studies_are_valid(path: Path) -> None:
    spec = load_spec(path)
    assert spec.search_space


def _mutate(doc: dict, dotted: str, value) -> dict:
    doc = copy.deepcopy(doc)
    *parents, last = dotted.split(".")
    node = doc
    for key in parents:
        node = node.setdefault(key, {})
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return doc


_DELETE = object()
BAD = [
    ("study.n_trials", -3, "study.n_trials"),
    ("study.n_trials", "many", "study.n_trials"),
    ("study.name", "has space", "study.name"),
    ("study.direction", "up", "study.direction"),
    ("study.bogus", 1, "study.bogus"),
    ("study.sampler", {"name": "annealing"}, "study.sampler.name"),
    ("study.pruner", {"name": "median", "warmup": 3}, "study.pruner"),
    ("study.timeout", "soon", "study.timeout"),
    ("study.storage", "redis://localhost", "study.storage"),
    ("study.storage", "postgresql://u:${NO_SUCH_VAR_XYZ}@h/db", "study.storage"),
    ("experiment.kind", "nope", "experiment.kind"),
    ("experiment.steps", 0, "experiment.steps"),
    ("experiment.stepz", 3, "experiment.stepz"),
    ("search_space.z", {"type": "float", "low": 0, "high": 1}, "search_space.z"),
    ("search_space.x", {"type": "float", "low": 2, "high": 1}, "search_space.x.high"),
    ("search_space.x", {"type": "float", "low": 0, "high": 1, "log": True}, "search_space.x.low"),
    ("search_space.x", {"type": "normal", "low": 0, "high": 1}, "search_space.x.type"),
    ("search_space.x", {"type": "float", "low": "0", "high": 1}, "search_space.x.low"),  # no quoted numbers
    ("search_space.x", {"type": "float", "low": 0, "high": True}, "search_space.x.high"),  # nor YAML's yes
    ("search_space.steps", {"type": "int", "low": 1, "high": 4.5}, "search_space.steps.high"),
    ("search_space.x", {"type": "categorical", "choices": []}, "search_space.x.choices"),
    ("search_space.steps", {"type": "int", "low": 0, "high": 5}, "search_space.steps"),
    ("search_space", {}, "search_space"),
    ("resources.workers", -1, "resources.workers"),
    ("resources.cpus_per_trial", 0, "resources.cpus_per_trial"),
    ("resources.gpus", 1, "resources.gpus"),
    ("bogus_section", {}, "bogus_section"),
    ("experiment", _DELETE, "experiment"),
]


@pytest.mark.parametrize("dotted,value,where", BAD, ids=[f"{d}={v!r}"[:40] for d, v, _ in BAD])
def test_bad_value_names_the_field(dotted: str, value, where: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(_mutate(study_doc(), dotted, value))
    assert info.value.path == where, str(info.value)
    assert "\n" not in str(info.value)


def test_enqueue_must_name_search_space_entries() -> None:
    with pytest.raises(SpecError, match=r"study.enqueue\[0\].z"):
        parse_spec(study_doc(study={"enqueue": [{"z": 1}]}))


def test_durations() -> None:
    assert parse_duration("8h", "t") == 28800 and parse_duration(90, "t") == 90 and parse_duration("30m", "t") == 1800
    for bad in ("-1h", "0", "soon", True):
        with pytest.raises(ConfigError):
            parse_duration(bad, "t")


def test_storage_var_interpolation(monkeypatch) -> None:
    monkeypatch.setenv("PGPASS_T", "s3cret")
    spec = parse_spec(study_doc(study={"storage": "postgresql://u:${PGPASS_T}@localhost/db"}))
    assert spec.study.storage == "postgresql://u:s3cret@localhost/db"


def test_aliases_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "alias.yaml"
    text = yaml.safe_dump(study_doc()) + "extra: &a [1]\nmore: *a\n"
    path.write_text(text)
    with pytest.raises(SpecError, match="aliases"):
        load_spec(path)


@pytest.mark.slow
def test_cli_bad_file_exits_2_with_one_line_and_creates_nothing(write_study, tmp_path: Path) -> None:
    path = write_study(_mutate(study_doc(), "study.n_trials", -3))
    out = run_cli("search.launch", str(path), cwd=tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "study.n_trials" in lines[0] and "Traceback" not in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.yaml"]


@pytest.mark.slow
def test_cli_missing_file_exits_2(tmp_path: Path) -> None:
    out = run_cli("search.launch", str(tmp_path / "nope.yaml"), cwd=tmp_path)
    assert out.returncode == 2 and "cannot read" in out.stderr and list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_artifact_directory_that_cannot_exist_is_one_line_and_no_study(write_study, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    path = write_study(study_doc(study={"artifacts": str(blocker / "artifacts")}))
    out = run_cli("search.launch", str(path), cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        f"error: {path}: study.artifacts: cannot create the artifact directory {blocker / 'artifacts'}: Not a directory"
    ]
    assert not (tmp_path / "study.db").exists()


@pytest.mark.slow
def test_unreachable_storage_leaves_no_directory_behind(tmp_path: Path) -> None:
    path = tmp_path / "q.yaml"
    path.write_text((ROOT / "studies" / "quickstart.yaml").read_text())
    out = run_cli("search.launch", str(path), "--storage", "postgresql://u:secret@127.0.0.1:1/db", cwd=tmp_path)
    assert out.returncode == 2 and "study.storage: cannot open storage postgresql://u:***@" in out.stderr
    assert "secret" not in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.yaml"]


def test_the_readme_example_study_is_valid() -> None:
    readme = (ROOT / "README.md").read_text()
    example = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    spec = parse_spec(yaml.safe_load(example))
    assert spec.kind == "imp" and {p.name for p in spec.search_space} >= {"train.lr", "model.widths"}


def test_messages_are_one_line_in_the_projects_words() -> None:
    cases = [
        ("study.n_trials", -3, "study.n_trials: expected an integer >= 1, got -3"),
        ("study.replicates", True, "study.replicates: expected an integer >= 1, got True"),
        ("resources.cpus_per_trial", 0, "resources.cpus_per_trial: expected a number > 0, got 0"),
        ("study.enqueue", [5], "study.enqueue[0]: expected a mapping, got 5"),
    ]
    for dotted, value, line in cases:
        with pytest.raises(SpecError) as info:
            parse_spec(_mutate(study_doc(), dotted, value))
        assert str(info.value) == line
    with pytest.raises(SpecError, match=r"^search_space.x.lo: unknown key; expected one of high, log, low"):
        parse_spec(_mutate(study_doc(), "search_space.x", {"type": "float", "lo": 0, "high": 1}))


def test_sections_stay_dataclasses_that_replace_revalidates() -> None:
    spec = parse_spec(study_doc(study={"timeout": "1h", "direction": "maximize"}))
    study = dataclasses.replace(spec.study, storage="sqlite:///elsewhere.db")
    assert study.storage == "sqlite:///elsewhere.db" and study.timeout_s == 3600 and study.directions == ("maximize",)
    with pytest.raises(ValueError):
        dataclasses.replace(spec.resources, workers=0)


def test_a_resumed_study_whose_space_changed_incompatibly_is_refused_before_any_trial(tmp_path: Path) -> None:
    """Optuna keeps one value space per name in a study: new choices would fail every new trial."""
    import optuna

    from search.launch import prepare_study
    from tests.helpers import optimize_here

    space = {"x": {"type": "categorical", "choices": [0.5, 1.0]}, "y": {"type": "float", "low": -3.0, "high": 3.0}}
    doc = study_doc("space", search_space=space, study={"n_trials": 2})
    optimize_here(tmp_path, copy.deepcopy(doc), 2)
    wider = copy.deepcopy(doc)
    wider["search_space"]["x"]["choices"] = [0.5, 1.0, 2.0]
    wider["study"].update(storage=f"sqlite:///{tmp_path}/study.db", artifacts=str(tmp_path / "artifacts"))
    with pytest.raises(SpecError, match=r"^search_space\.x: differs from the space study 'space' sampled \(choices"):
        prepare_study(parse_spec(wider))
    study = optuna.load_study(study_name="space", storage=f"sqlite:///{tmp_path}/study.db")
    assert len(study.trials) == 2  # nothing enqueued or started
    narrower_range = copy.deepcopy(wider)
    narrower_range["search_space"]["x"]["choices"] = [0.5, 1.0]
    narrower_range["search_space"]["y"].update(low=-1.0)  # a number's range may change (Optuna allows it)
    prepare_study(parse_spec(narrower_range))


def test_search_trials_evaluate_only_what_decides_and_confirmation_keeps_the_curves() -> None:
    spec = load_spec(ROOT / "studies" / "resample_overnight_population.yaml")
    assert spec.experiment.curves is False  # the objective is val_acc: train/test after the last epoch only
    assert spec.confirm.overrides["curves"] is True and spec.confirm.overrides["data.val_size"] == 0
    doc = yaml.safe_load((ROOT / "studies" / "resample_overnight_population.yaml").read_text())
    asked = copy.deepcopy(doc)
    asked["experiment"]["curves"] = True  # a study that asks for curves gets them
    assert parse_spec(asked).experiment.curves is True
    on_test = copy.deepcopy(doc)
    on_test["study"]["metric"] = "test_acc"  # not a validation objective: every epoch evaluates everything
    del on_test["confirm"]
    assert parse_spec(on_test).experiment.curves is True
    assert not hasattr(load_spec(ROOT / "studies" / "quickstart.yaml").experiment, "curves")


def test_a_round_asks_population_trainings_worth_of_trials_in_one_place() -> None:
    spec = load_spec(ROOT / "studies" / "resample_overnight_population.yaml")  # population 15, 3 seeds
    assert spec.trials_per_round() == 5 and spec.trials_per_round(cap=8) == 2 and spec.trials_per_round(cap=2) == 1
    alone = dataclasses.replace(spec, resources=dataclasses.replace(spec.resources, population=1))
    assert alone.trials_per_round() == 1
