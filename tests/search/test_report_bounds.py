"""The report's bound warning: a best trial (or most of the top 5) within 5 % of a
search-space bound is flagged with the next night's range, in report.md and in the dashboard note."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml
from optuna_dashboard import get_note
from pydantic import TypeAdapter

from search.launch import prepare_study
from search.report import bound_flags, main, suggestion_yaml
from search.report.bound_choices import choice_flags, choice_yaml
from search.studyfile import Param, load_spec, parse_param, to_optuna
from search.studyfile.sections import SearchParam
from tests.helpers import study_doc

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def _entry(raw: dict):
    """A study file's search_space entry, typed as the file's own validation types it."""
    return TypeAdapter(SearchParam).validate_python(raw)


def _param(name: str, **raw) -> Param:
    return parse_param(name, _entry(raw), f"search_space.{name}")


LIN = _param("a", type="float", low=-3.0, high=3.0)
LOG = _param("lr", type="float", low=1e-4, high=1.0, log=True)
INT = _param("n", type="int", low=10, high=40)
INT_LOG = _param("k", type="int", low=2, high=64, log=True)
CAT = _param("c", type="categorical", choices=[1, 2, 3])


def _flags(space: list[Param], values: list, direction: str = "maximize", **kw) -> dict:
    """Flags when the i-th value is the i-th best trial's value of the (one) parameter."""
    n = len(values)
    sign = 1 if direction == "maximize" else -1
    trials = [({space[0].name: v}, sign * (n - i)) for i, v in enumerate(values)]
    return {f.param.name: f for f in bound_flags(space, trials, direction, **kw)}


@pytest.mark.parametrize(
    "param, at_low, at_high, inside",
    [
        (LIN, -2.8, 2.9, 1.0),  # 5 % of the 6-wide range: within 0.3 of a bound
        (LOG, 1.5e-4, 0.7, 1e-3),  # log space: 1e-3 is 1/4 of the way up (linearly it is at low)
        (INT, 11, 40, 30),
        (INT_LOG, 2, 64, 8),
    ],
)
def test_best_trial_at_a_bound_is_flagged_and_not_otherwise(param, at_low, at_high, inside) -> None:
    assert _flags([param], [at_low, inside, inside])[param.name].sides == ("low",)
    assert _flags([param], [at_high, inside, inside])[param.name].sides == ("high",)
    assert _flags([param], [inside, at_low, at_high, inside, inside]) == {}
    assert _flags([param], [inside]) == {}


def test_log_bounds_are_measured_in_log_space() -> None:
    # 1e-3 is linearly at 0.09 % of [1e-4, 1] but a quarter of its decades: not at the bound.
    assert _flags([LOG], [1e-3]) == {}
    assert _flags([_param("lr", type="float", low=1e-4, high=1.0)], [1e-3])["lr"].sides == ("low",)


def test_most_of_the_top_five_flag_even_when_the_best_does_not() -> None:
    flag = _flags([LIN], [0.0, 2.9, 3.0, 2.95, -1.0, 2.9])["a"]  # a sixth trial is not in the top 5
    assert flag.sides == ("high",) and flag.near == {"low": 0, "high": 3} and flag.n_top == 5
    assert _flags([LIN], [0.0, 2.9, 3.0, -1.0, 1.0, 2.9]) == {}, "2 of the top 5 are not a majority"
    assert _flags([LIN], [0.0, 3.0, 3.0])["a"].near["high"] == 2, "2 of 3 are"


def test_the_direction_decides_which_trial_is_best() -> None:
    trials = [({"a": 2.95}, 1.0), ({"a": 0.0}, 2.0)]
    assert [f.sides for f in bound_flags([LIN], trials, "minimize")] == [("high",)]
    assert bound_flags([LIN], trials, "maximize") == []


def test_categorical_parameters_and_missing_values_are_not_checked() -> None:
    trials = [({"c": 1, "a": 0.0}, 1.0), ({"c": 1}, 0.5)]
    assert bound_flags([CAT, LIN], trials, "maximize") == []
    assert bound_flags([LIN], [], "maximize") == []


def test_suggested_ranges_widen_the_flagged_side_by_one_range() -> None:
    lr = _param("train.lr", type="float", low=3e-3, high=0.1, log=True)
    assert suggestion_yaml(_flags([lr], [0.003])["train.lr"].suggested) == (
        "train.lr: {type: float, low: 9.0e-05, high: 0.1, log: true}"
    )
    assert suggestion_yaml(_flags([lr], [0.1])["train.lr"].suggested) == (
        "train.lr: {type: float, low: 0.003, high: 3.33333, log: true}"
    )
    assert suggestion_yaml(_flags([LIN], [3.0])["a"].suggested) == "a: {type: float, low: -3.0, high: 9.0}"
    assert suggestion_yaml(_flags([INT], [40])["n"].suggested) == "n: {type: int, low: 10, high: 70}"
    k = _param("k", type="int", low=3, high=20, log=True)  # 3 / (20/3) = 0.45 and 20 * 20/3 = 133.3
    assert suggestion_yaml(_flags([k], [3])["k"].suggested) == "k: {type: int, low: 1, high: 20, log: true}"
    assert suggestion_yaml(_flags([k], [20])["k"].suggested) == "k: {type: int, low: 3, high: 134, log: true}"
    stepped = _param("s", type="float", low=0.5, high=2.0, step=0.25)
    assert (
        suggestion_yaml(_flags([stepped], [2.0])["s"].suggested) == "s: {type: float, low: 0.5, high: 3.5, step: 0.25}"
    )


def test_suggestions_stay_inside_hard_limits() -> None:
    # A range on one side of zero stays there; an int log range starts at 1.
    positive = _param("p", type="float", low=1.0, high=50.0)
    assert _flags([positive], [1.0])["p"].suggested.low == 0.0
    from_zero = _flags([_param("z", type="int", low=0, high=8)], [0])["z"]
    assert from_zero.suggested is None and "side of zero" in from_zero.limited["low"]
    one = _flags([_param("k", type="int", low=1, high=16, log=True)], [1])["k"]
    assert one.suggested is None and "starts at 1" in one.limited["low"]
    # The experiment's own check: 0 refused, so half the bound; nothing refused on the other side.
    refused = _flags([positive], [1.0], allowed=lambda p, v: v > 0)["p"]
    assert refused.suggested.low == 0.5 and refused.limited == {}
    refused = _flags([positive], [1.0], allowed=lambda p, v: v >= 1)["p"]
    assert refused.suggested is None and refused.limited == {"low": "the experiment refuses p = 0.5"}


@pytest.mark.parametrize("param", [LIN, LOG, INT, INT_LOG, _param("t", type="float", low=1e-7, high=1e-5, log=True)])
def test_suggestions_paste_back_as_valid_study_file_entries(param: Param) -> None:
    for value in (param.low, param.high):
        line = suggestion_yaml(_flags([param], [value])[param.name].suggested)
        (name, raw), *_ = yaml.safe_load(line).items()
        again = parse_param(name, _entry(raw), name)
        assert again.type == param.type and again.log == param.log
        assert (
            again.low <= param.low and again.high >= param.high and (again.low, again.high) != (param.low, param.high)
        )


REWIND = _param("imp.rewind_step", type="categorical", choices=[0, 20, 100])
DECAY = _param("wd", type="categorical", choices=[0.0, 1e-6, 1e-5, 1e-4])


def _choices(param: Param, taken: list, allowed=lambda p, v: True) -> dict:
    """Choice flags when the i-th value is the i-th best trial's choice."""
    return {f.side: f for f in choice_flags([param], [({param.name: v}, -i) for i, v in enumerate(taken)], allowed)}


def test_a_categorical_of_numbers_is_flagged_at_its_last_choice() -> None:
    high = _choices(REWIND, [100, 20, 0])["high"]  # the best took the largest choice: one more geometric step
    assert (high.best, high.near, high.n_top, high.added) == (100, 1, 3, 500)
    assert _choices(REWIND, [20, 100, 100, 100, 0])["high"].near == 3, "most of the top 5 outvote the best"
    assert _choices(REWIND, [20, 100, 0, 0, 100]) == {}, "2 at each end of 5: no majority, best inside"
    low = _choices(REWIND, [0, 20])["low"]  # 0 is the smallest a range of choices >= 0 can offer
    assert low.added is None and "side of zero" in low.limited
    assert _choices(DECAY, [1e-4])["high"].added == pytest.approx(1e-3)
    refused = _choices(DECAY, [1e-4], allowed=lambda p, v: v <= 1e-4)["high"]
    assert refused.added is None and "refuses wd" in refused.limited
    # Lists, strings, booleans and two choices have no ends to widen.
    for param in (
        _param("w", type="categorical", choices=[[64], [128], [256]]),
        _param("s", type="categorical", choices=["a", "b", "c"]),
        _param("b", type="categorical", choices=[False, True]),
        _param("two", type="categorical", choices=[1, 2]),
    ):
        assert choice_flags([param], [({param.name: param.choices[-1]}, 1.0)], lambda p, v: True) == []


def test_a_categorical_suggestion_pastes_back_with_its_new_choice() -> None:
    for param, added in ((REWIND, [500]), (DECAY, [1e-3])):
        line = choice_yaml(param, added)
        (name, raw), *_ = yaml.safe_load(line).items()
        again = parse_param(name, _entry(raw), name)
        assert list(again.choices) == sorted([*param.choices, *added])
    assert choice_yaml(DECAY, [1e-3]) == "wd: {type: categorical, choices: [0.0, 1.0e-06, 1.0e-05, 0.0001, 0.001]}"


def _stored_study(write_study, tmp_path: Path, name: str, space: dict, points: list[dict]) -> Path:
    """A real SQLite study of the synthetic kind with one completed trial per point (its loss)."""
    path = write_study(study_doc(name, search_space=space), f"{name}.yaml")
    spec = load_spec(path)
    study = prepare_study(spec)
    dists = {p.name: to_optuna(p) for p in spec.search_space}
    for point in points:
        loss = (point["x"] - 2.0) ** 2 + (point["y"] + 1.0) ** 2 + 1.0 / point.get("steps", 3)
        study.add_trial(optuna.trial.create_trial(params=point, distributions=dists, value=loss))
    return path


def test_report_and_note_warn_about_bounds(write_study, tmp_path: Path) -> None:
    # The bowl's minimum is at x = 2, beyond x's high bound 1; more steps are always better.
    space = {"x": {"type": "float", "low": -3.0, "high": 1.0}, "steps": {"type": "int", "low": 1, "high": 4}}
    points = [
        {"x": 1.0, "y": -1.0, "steps": 4},
        {"x": 0.9, "y": -1.0, "steps": 4},
        {"x": 0.0, "y": 0.0, "steps": 2},
        {"x": -2.0, "y": 1.0, "steps": 1},
    ]  # y keeps the study_doc's [-3, 3]: never at a bound
    path = _stored_study(write_study, tmp_path, "edge", space, points)
    assert main([str(path), "--out", str(tmp_path / "report")]) == 0
    text = (tmp_path / "report" / "report.md").read_text()
    note = get_note(optuna.load_study(study_name="edge", storage=f"sqlite:///{tmp_path}/study.db"))
    for where in (text, note):
        section = where[where.index("## Search-space bounds") :]
        assert "- `x` is at its high bound 1.0: best trial's value 1; 2 of the top 4 at the high bound." in section
        assert "- `steps` is at its high bound 4: best trial's value 4; 2 of the top 4 at the high bound." in section
        assert "x: {type: float, low: -3.0, high: 5.0}" in section
        assert "steps: {type: int, low: 1, high: 7}" in section
        assert "`y`" not in section
    assert text.index("## Search-space bounds") < text.index("## Trials by state")


def test_report_flags_a_categorical_of_numbers_at_its_largest_choice(write_study, tmp_path: Path) -> None:
    space = {"steps": {"type": "categorical", "choices": [1, 2, 4]}}  # more steps are always better
    points = [{"x": 2.0, "y": -1.0, "steps": s} for s in (4, 4, 2, 1)]
    path = _stored_study(write_study, tmp_path, "ends", space, points)
    assert main([str(path), "--out", str(tmp_path / "report")]) == 0
    text = (tmp_path / "report" / "report.md").read_text()
    section = text[text.index("## Search-space bounds") : text.index("## Trials by state")]
    assert (
        "- `steps` is at its largest choice 4 (categorical): best trial's value 4; 2 of the top 4 took it." in section
    )
    assert "steps: {type: categorical, choices: [1, 2, 4, 8]}" in section


def test_report_says_in_one_line_when_no_best_trial_is_at_a_bound(write_study, tmp_path: Path) -> None:
    points = [{"x": 2.0, "y": -1.0}, {"x": 1.0, "y": 0.0}, {"x": -1.0, "y": 1.0}]
    path = _stored_study(write_study, tmp_path, "inside", {}, points)  # x, y in [-3, 3]: the minimum inside
    assert main([str(path), "--out", str(tmp_path / "report")]) == 0
    text = (tmp_path / "report" / "report.md").read_text()
    note = get_note(optuna.load_study(study_name="inside", storage=f"sqlite:///{tmp_path}/study.db"))
    line = (
        "No best trial sits at a bound: for none of the 2 numeric parameters is the best trial by `loss`, "
        "or most of the top 3, within 5 % of a bound."
    )
    assert f"## Search-space bounds\n\n{line}\n" in text and f"## Search-space bounds\n\n{line}\n" in note
