"""The search service: study files, Optuna storage, Ray workers, launch, report, dashboard.

Imports ``core``; ``core`` never imports this package.
"""

import warnings

import optuna

# Heartbeats, retries and metric names are marked experimental in Optuna but are exactly what
# this service is built on; the warning would repeat in every worker for every trial.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
optuna.logging.set_verbosity(optuna.logging.WARNING)

__all__: list[str] = []
