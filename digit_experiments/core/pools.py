"""Run CPU-bound data preparation (image decoding, standardisation) on every core.

Workers are started with ``forkserver`` where the platform has it (``spawn``
elsewhere) rather than ``fork``: the training process may already run
TensorFlow's threads, and forking a multi-threaded process can deadlock. As
with any such pool, a script that loads data at import time needs an
``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Sequence, TypeVar

Task = TypeVar("Task")
Result = TypeVar("Result")


def worker_count() -> int:
    """How many worker processes to use: one per CPU core available to this process."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def process_map(function: Callable[[Task], Result], tasks: Sequence[Task]) -> list[Result]:
    """Apply ``function`` to every task in a pool of processes, keeping the task order.

    Args:
        function: A top-level (picklable) function of one argument.
        tasks: Its arguments, one per call; each should be a sizeable piece of
            work, since every task is shipped to a worker and back.

    Returns:
        The results, in the order of ``tasks``. A single task or a single core
        runs in this process, without a pool.
    """
    workers = min(worker_count(), len(tasks))
    if workers <= 1:
        return [function(task) for task in tasks]
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(function, tasks))
