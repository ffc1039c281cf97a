"""The one place that decides how data preparation is spread over the cores.

Two kinds of pool, with one worker-count rule (:func:`worker_count`, the cores
this process may run on):

* :func:`process_map` for work that runs Python code per image and so holds
  the GIL (Albumentations transforms, decoding and standardising thousands of
  files): only separate processes use several cores for it. Each task is
  shipped to a worker and back, so tasks should be sizeable chunks.
* :func:`thread_map` for work that spends its time inside C code that
  releases the GIL (OpenCV decoding one file): threads share memory, start
  at once and return results without copying, which suits many small tasks.

Worker processes are started with ``forkserver`` where the platform has it
(``spawn`` elsewhere) rather than ``fork``: the calling process may already run
TensorFlow's threads, and forking a multi-threaded process can deadlock. As
with any process pool, a script that loads data at import time needs an
``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Callable, Sequence, TypeVar

Task = TypeVar("Task")
Result = TypeVar("Result")


def worker_count() -> int:
    """How many workers to use: one per CPU core available to this process."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def process_map(
    function: Callable[[Task], Result], tasks: Sequence[Task], workers: int | None = None
) -> list[Result]:
    """Apply ``function`` to every task in a pool of processes, keeping the task order.

    Args:
        function: A top-level (picklable) function of one argument.
        tasks: Its arguments, one per call; each should be a sizeable piece of
            work, since every task is shipped to a worker and back.
        workers: At most this many processes; default :func:`worker_count`.

    Returns:
        The results, in the order of ``tasks``. A single task or a single
        worker runs in this process, without a pool.
    """
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    return _pool_map(lambda count: ProcessPoolExecutor(count, mp_context=context), function, tasks, workers)


def thread_map(
    function: Callable[[Task], Result], tasks: Sequence[Task], workers: int | None = None
) -> list[Result]:
    """Apply ``function`` to every task on a pool of threads, keeping the task order.

    Args:
        function: Any callable of one argument; it should spend its time in
            code that releases the GIL (OpenCV, file reads), or threads gain nothing.
        tasks: Its arguments, one per call.
        workers: At most this many threads; default :func:`worker_count`.

    Returns:
        The results, in the order of ``tasks``. A single task or a single
        worker runs in this thread, without a pool.
    """
    return _pool_map(ThreadPoolExecutor, function, tasks, workers)


def _pool_map(
    make_pool: Callable[[int], Executor],
    function: Callable[[Task], Result],
    tasks: Sequence[Task],
    workers: int | None,
) -> list[Result]:
    """``function`` over ``tasks`` in order, on a pool of ``min(workers, tasks)`` workers when that is more than one."""
    count = min(workers or worker_count(), len(tasks))
    if count <= 1:
        return [function(task) for task in tasks]
    with make_pool(count) as pool:
        return list(pool.map(function, tasks))
