"""The search service: study files, Optuna storage, Ray workers, launch, report, dashboard.

Imports ``core``; ``core`` never imports this package. Importing the package itself loads nothing
else (not Optuna): each command imports the modules it needs, and ``search.store.studies``, which every
command that touches a study imports, quiets Optuna's experimental warnings and INFO logging.
"""

__all__: list[str] = []
