"""Chunks of CPU work (locating points, checking ledger rows) in forked worker processes, results in order.

Forked workers inherit what the parent already built (the road network): nothing is rebuilt or sent but the
chunks and their results. Used by the command line only (``--jobs``); the app's server, which runs many threads,
never forks (``jobs=1`` works in the calling process)."""

from __future__ import annotations

import itertools
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_TASK: tuple[Callable[[Any, Any], Any], Any] | None = None  # what a forked worker inherits
_END = object()


def default_jobs() -> int:
    """The processor cores this process may use, at most 4."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(4, cores))


def ordered_map(fn: Callable[[Any, T], R], state: Any, items: Iterable[T], jobs: int = 1) -> Iterator[R]:
    """``fn(state, item)`` for each item, yielded in the items' order. With ``jobs`` above one and more than one
    item, in that many forked workers, at most two items per worker in flight (memory stays bounded however
    many items there are); otherwise in this process. ``fn`` must be a module-level function."""
    global _TASK
    it: Iterator[Any] = iter(items)
    first: Any = next(it, _END)
    if first is _END:
        return
    second: Any = next(it, _END)
    if jobs <= 1 or second is _END or _TASK is not None or not _can_fork():
        yield fn(state, first)
        if second is not _END:
            yield fn(state, second)
            for item in it:
                yield fn(state, item)
        return
    import multiprocessing

    _TASK = (fn, state)
    try:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            pending: deque[Any] = deque()
            for item in itertools.chain([first, second], it):
                pending.append(pool.apply_async(_run, (item,)))
                if len(pending) >= 2 * jobs:
                    yield pending.popleft().get()
            while pending:
                yield pending.popleft().get()
    finally:
        _TASK = None


def _can_fork() -> bool:
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def _run(item: Any) -> Any:
    assert _TASK is not None
    fn, state = _TASK
    return fn(state, item)
