"""`task.progress` log events at a steady pace while one model's tasks run: which model, how many tasks done of how
many.

Why: a model's evaluation can take many minutes with no other log line between `sandbox.healthy` and
`sandbox.removed`; an operator reading the logs (and the metrics processor, which turns these events into
`harness_tasks_done`/`harness_tasks_total`/`harness_model_in_progress`) should see it move. One event when the
model starts, one every `every_tasks` finished tasks and one at the last, and a heartbeat from a background
thread whenever `every_s` seconds passed without one (a slow model still shows it is alive, and which task count
it is stuck at).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from types import TracebackType

from harness.logging import get_logger

EVENT = "task.progress"
END_EVENT = "task.progress.end"
DEFAULT_EVERY_S = 30.0
LINES_PER_MODEL = 20  # events from finished tasks, besides the heartbeat: every ~5 % of the set

log = get_logger(__name__)


class TaskProgress:
    """Counts a model's finished tasks and logs `task.progress`; use as a context manager around the run."""

    def __init__(
        self,
        model: str,
        total: int,
        done: int = 0,
        *,
        every_tasks: int | None = None,
        every_s: float = DEFAULT_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.model = model
        self.total = total
        self.done = min(done, total)
        self.every_tasks = every_tasks or max(1, math.ceil(total / LINES_PER_MODEL))
        self.every_s = every_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last_emit = -math.inf
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._heartbeat, name=f"progress:{model}", daemon=True)

    def task_done(self) -> None:
        """One more task finished (answered, failed or out of time)."""
        with self._lock:
            self.done = min(self.done + 1, self.total)
            if self.done % self.every_tasks == 0 or self.done == self.total:
                self._emit()

    def __enter__(self) -> TaskProgress:
        with self._lock:
            self._emit()
        self._thread.start()
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        # The run is over, however it ended: its series go (the same label as the progress events, whatever the
        # round later logs about the model, so a scripted or selftest run leaves no stale "in progress").
        log.info(END_EVENT, model=self.model, done=self.done, total=self.total)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self._wait_s()):
            with self._lock:
                if self._clock() - self._last_emit >= self.every_s:
                    self._emit()

    def _wait_s(self) -> float:
        with self._lock:
            due = self._last_emit + self.every_s - self._clock()
        return max(0.01, min(self.every_s, due))

    def _emit(self) -> None:  # holds self._lock
        self._last_emit = self._clock()
        log.info(EVENT, model=self.model, done=self.done, total=self.total)
