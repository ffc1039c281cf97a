"""How many jobs of a multirun the configured Hydra launcher runs at once."""

from __future__ import annotations

import os
from typing import Any, Mapping


def parallel_jobs(launcher: Mapping[str, Any]) -> int:
    """The jobs ``hydra.launcher`` runs at once: the joblib launcher's ``n_jobs``, else 1.

    joblib reads a negative ``n_jobs`` from the core count: -1 is every core, -2 all but one.
    Other launchers run one job at a time (Hydra's basic launcher) or queue them (submitit's
    ``array_parallelism``), so they count as 1.

    Args:
        launcher: ``hydra.launcher`` of the multirun's config.

    Returns:
        At least 1.
    """
    if "joblib" not in str(launcher.get("_target_", "")):
        return 1
    jobs = launcher.get("n_jobs") or 1
    return max(1, (os.cpu_count() or 1) + 1 + jobs) if jobs < 0 else jobs
