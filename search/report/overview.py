"""The short end-of-launch summary: best result, counts by state, where things are."""

from __future__ import annotations

from collections import Counter

import optuna

from search.report.progress import short
from search.store import public_url, sqlite_path
from search.studyfile import StudySpec

__all__ = ["summary"]


def summary(study: optuna.Study, spec: StudySpec) -> str:
    trials = study.get_trials(deepcopy=False)
    counts = Counter(t.state.name for t in trials)
    lines = [
        f"study {spec.study.name!r}: {len(trials)} trials  "
        + "  ".join(f"{s} {counts[s]}" for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING"))
    ]
    metric = ", ".join(spec.study.metrics)
    if spec.multi_objective:
        front = study.best_trials
        lines.append(f"pareto front ({metric}; {', '.join(spec.study.directions)}): {len(front)} trials")
        for t in front[:10]:
            lines.append(f"  trial {t.number}: {[short(v) for v in t.values]}  {t.params}")
    elif counts["COMPLETE"]:
        best = study.best_trial
        lines.append(f"best {metric} ({spec.study.directions[0]}): {short(best.value)}  (trial {best.number})")
        lines.append("best params: " + ", ".join(f"{k}={short(v)}" for k, v in best.params.items()))
    else:
        lines.append("no completed trial yet")
    path = sqlite_path(spec.study.storage)
    lines.append(f"storage: {path if path else public_url(spec.study.storage)}")
    lines.append(f"artifacts: {spec.study.artifacts}")
    lines.append(f"dashboard: python -m search.dashboard {spec.source}")
    lines.append(f"report: python -m search.report {spec.source}")
    return "\n".join(lines)
