"""``python -m search.confirm STUDY.yaml``: the search's best configurations and the baselines
re-run on fresh seeds and judged on the test set, with their spreads and tests.

Imports :mod:`search.trial`, :mod:`search.store` and :mod:`search.studyfile`."""

from __future__ import annotations

from search.confirm.command import add_arguments, fresh_seeds, main, run
from search.confirm.runs import LEFTOVER
from search.confirm.stats import compare, format_table, summarise

__all__ = ["add_arguments", "compare", "format_table", "fresh_seeds", "LEFTOVER", "main", "run", "summarise"]
