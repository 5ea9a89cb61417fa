"""Crash points for testing a deployment's crash safety (``PANTHEON_CRASH_AT``).

``PANTHEON_CRASH_AT=after_model_reply`` (or ``after_model_reply:3`` for the third time
that point is reached) makes the process kill itself with SIGKILL there: no cleanup, no
``finally``, exactly like a power cut of the process. Points: ``after_claim``,
``after_model_reply``, ``after_tool``, ``before_rename`` (an artifact written and
fsynced, not yet renamed into place), ``after_done`` (the job marked done). Then
``pantheon night --resume`` must finish every job without running completed nodes again.
Unset (the default), this costs one dictionary lookup per point.
"""

from __future__ import annotations

import os
import signal

_ENV = "PANTHEON_CRASH_AT"
_hits: dict[str, int] = {}


def crash_point(name: str) -> None:
    spec = os.environ.get(_ENV)
    if not spec:
        return
    point, _, nth = spec.partition(":")
    if point != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= (int(nth) if nth.isdigit() else 1):
        os.kill(os.getpid(), signal.SIGKILL)
