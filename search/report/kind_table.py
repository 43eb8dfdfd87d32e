"""The experiment kinds' answer sections in the morning report: an explicit table, one line per kind.

Nothing registers itself on import: adding a kind's sections is adding its line here.
"""

from __future__ import annotations

from collections.abc import Callable

from search.report.dendritic import dendritic_sections
from search.report.imp import imp_sections
from search.report.kinds import KindSections, ReportInputs

__all__ = ["KIND_SECTIONS", "kind_sections"]

KIND_SECTIONS: dict[str, Callable[[ReportInputs], KindSections]] = {
    "dendritic": dendritic_sections,
    "imp": imp_sections,
}


def kind_sections(kind: str, inputs: ReportInputs) -> KindSections:
    """Kind ``kind``'s answer sections, or none (the generic report only) for a kind not in the table."""
    write = KIND_SECTIONS.get(kind)
    return write(inputs) if write is not None else KindSections()
