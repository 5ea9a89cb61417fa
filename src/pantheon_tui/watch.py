"""Follow the newest night's ``metrics.jsonl`` from a worker thread.

:class:`NightFollower` knows which night is shown and reads what was appended to its
metrics since the last look; :func:`follow` is the loop a thread worker runs: it waits for
file events with ``watchfiles`` (or polls, when watching is off or fails) and hands every
batch of new records to ``emit``. The screen's ``emit`` posts a :class:`NightMetrics`
message, so nothing here touches a widget.

Each look also reads when the night ended (``finished_at`` of its ``night.json``, written
once ``pantheon night`` stops), only when that file changed; an update carries it, so the
screen can say a night ended instead of waiting for samples that will not come.

Only the newest ``keep`` records of a batch travel: the screen keeps that many per panel,
so a night of 50,000 lines crosses to the UI thread as one message of ``keep`` records
(and a count), and the file is parsed a megabyte at a time, so memory stays bounded too.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import watchfiles
from textual.message import Message

from pantheon_engine.atomic import read_dict
from pantheon_engine.night.tail import JsonlTail, latest_night, night_dirs

__all__ = [
    "METRICS_FILE",
    "POLL_S",
    "MetricsUpdate",
    "NightFollower",
    "NightMetrics",
    "ended_at",
    "follow",
    "watch_target",
]

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
NIGHT_FILE = "night.json"  # finished_at: when the night ended
POLL_S = 0.1  # how often the file is looked at when not watching (cheap: one fstat)
ABSENT_S = 0.5  # how often to look for the artifacts folder while it does not exist
RESCAN_S = 5.0  # while watching, look anyway this often (events can be missed)
CHUNK_BYTES = 1 << 20  # parse this much at a time, keeping only the newest records
WATCH_TIMEOUT_MS = 1000  # the watcher wakes this often without events
WATCH_DEBOUNCE_MS = 400  # a burst of writes is reported at least this often

Emit = Callable[["MetricsUpdate"], object]


@dataclass(frozen=True)
class MetricsUpdate:
    """What changed since the last update of the night shown."""

    night: Path | None  # the night folder, None before the first night
    records: list[dict[str, Any]]  # the newest (at most ``keep``) new records, oldest first
    count: int  # how many new records there were in all
    reset: bool  # another night, or its file was replaced: forget what was shown
    skipped: int = 0  # lines of this night's file that were not JSON objects, so far
    pinned: bool = False  # the operator chose this night (False: following the newest)
    ended_at: float | None = None  # when the night ended (unix time); None: not yet


class NightMetrics(Message, bubble=False):
    """Posted from the follower thread with one :class:`MetricsUpdate`."""

    def __init__(self, update: MetricsUpdate) -> None:
        super().__init__()
        self.update = update


_UNSEEN = Path("\0unseen")  # a night no folder can be: the first look is always a reset


def ended_at(night: Path) -> float | None:
    """When ``night`` ended: ``finished_at`` of its ``night.json`` as a unix time (None
    while it runs, or when the file does not say)."""
    meta = read_dict(night / NIGHT_FILE) or {}
    stamp = meta.get("finished_at")
    if not isinstance(stamp, str):
        return None
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


@dataclass
class NightFollower:
    """The night shown and the reader of its metrics; safe to call from several threads.

    Every look (:meth:`poll`) runs under a lock and emits inside it, so updates reach the
    screen in the order they were read even when a one-off look races the worker.
    """

    artifacts: Path
    keep: int = 720
    pinned: Path | None = None
    night: Path | None = field(default=_UNSEEN, init=False)
    _tail: JsonlTail | None = field(default=None, init=False)
    _ended: float | None = field(default=None, init=False)  # the shown night's end
    _meta_stamp: tuple[int, int] | None = field(default=None, init=False)  # its night.json
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def poll(self, emit: Emit) -> bool:
        """Read what is new and ``emit`` it; False when nothing changed."""
        with self._lock:
            update = self._read()
            if update is not None:
                emit(update)
            return update is not None

    def pin(self, night: Path | None) -> None:
        """Show ``night`` from now on (None: follow the newest night again)."""
        with self._lock:
            self.pinned = night

    def step(self, delta: int) -> Path | None:
        """Pin the night ``delta`` places from the one shown (oldest first).

        Stepping onto the newest night follows the newest night again.
        """
        with self._lock:
            nights = night_dirs(self.artifacts)
            if not nights:
                return None
            here = nights.index(self.night) if self.night in nights else len(nights) - 1
            there = max(0, min(len(nights) - 1, here + delta))
            self.pinned = None if there == len(nights) - 1 else nights[there]
            return nights[there]

    def _choose(self) -> Path | None:
        if self.pinned is not None and not self.pinned.is_dir():
            self.pinned = None  # the chosen night was removed
        return self.pinned or latest_night(self.artifacts)

    def _read(self) -> MetricsUpdate | None:
        night = self._choose()
        reset = night != self.night
        if reset:
            self.night = night
            self._tail = JsonlTail(night / METRICS_FILE) if night is not None else None
            self._ended, self._meta_stamp = None, None
        ended = self._look_for_end(night) if night is not None else False
        if self._tail is None:
            return self._update([], 0, reset) if reset else None
        window: deque[dict[str, Any]] = deque(maxlen=self.keep)
        count = 0
        while True:
            offset, resets = self._tail.offset, self._tail.resets
            batch = self._tail.read_new(max_bytes=CHUNK_BYTES)
            if self._tail.resets != resets:  # replaced or truncated: start over
                reset, count = True, 0
                window.clear()
            window.extend(batch)
            count += len(batch)
            if self._tail.offset == offset:
                break
        if not reset and not count and not ended:
            return None
        return self._update(list(window), count, reset)

    def _look_for_end(self, night: Path) -> bool:
        """Read the night's end again when its ``night.json`` changed; True when the end
        is news (the night ended since the last look)."""
        try:
            stat = (night / NIGHT_FILE).stat()
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = None
        if stamp == self._meta_stamp:
            return False
        self._meta_stamp = stamp
        before, self._ended = self._ended, ended_at(night) if stamp is not None else None
        return self._ended != before

    def _update(self, records: list[dict[str, Any]], count: int, reset: bool) -> MetricsUpdate:
        skipped = self._tail.skipped if self._tail is not None else 0
        return MetricsUpdate(self.night, records, count, reset, skipped,
                             pinned=self.pinned is not None, ended_at=self._ended)


def watch_target(artifacts: Path) -> Path | None:
    """The folder to watch: the nights folder, else the artifacts folder, else none yet."""
    nights = artifacts / "nights"
    if nights.is_dir():
        return nights
    return artifacts if artifacts.is_dir() else None


def follow(follower: NightFollower, emit: Emit, stop: threading.Event, *, watch: bool = True,
           poll_s: float = POLL_S, rescan_s: float = RESCAN_S,
           timeout_ms: int = WATCH_TIMEOUT_MS,
           cancelled: Callable[[], bool] = lambda: False) -> None:
    """Emit the night's records until ``stop`` is set (the worker's body).

    With ``watch`` the thread sleeps in ``watchfiles`` until something under the nights
    folder changes (the artifacts folder while there is no nights folder, a plain wait
    while there is not even that); a watcher that fails (no inotify, too many watches)
    falls back to polling every ``poll_s`` seconds for good.
    """
    follower.poll(emit)
    while not (stop.is_set() or cancelled()):
        target = watch_target(follower.artifacts) if watch else None
        if target is None:
            if stop.wait(poll_s if not watch else ABSENT_S):
                return
            follower.poll(emit)
            continue
        try:
            _watch(target, follower, emit, stop, rescan_s, timeout_ms, cancelled)
        except (OSError, RuntimeError) as exc:
            log.warning("watching %s failed (%s); polling instead", target, exc)
            watch = False


def _watch(target: Path, follower: NightFollower, emit: Emit, stop: threading.Event,
           rescan_s: float, timeout_ms: int, cancelled: Callable[[], bool]) -> None:
    """Watch ``target`` until ``stop``, or until the folder to watch is another one."""
    nights = str(follower.artifacts / "nights")

    def under_nights(_change: watchfiles.Change, path: str) -> bool:
        return path == nights or path.startswith(nights + os.sep)

    follower.poll(emit)  # what was written while the previous folder was watched
    last_look = float("-inf")  # and again once the watcher runs: the gap before it counts
    for changes in watchfiles.watch(target, watch_filter=under_nights, stop_event=stop,
                                    rust_timeout=timeout_ms, yield_on_timeout=True,
                                    debounce=WATCH_DEBOUNCE_MS, raise_interrupt=False):
        if cancelled():
            return
        now = time.monotonic()
        if changes or now - last_look >= rescan_s:
            follower.poll(emit)
            last_look = now
        if watch_target(follower.artifacts) != target:
            return
