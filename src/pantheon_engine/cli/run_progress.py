"""What ``pantheon run`` shows while it works, and what to do after a failure.

:class:`RunProgress` takes the run's events (see :mod:`pantheon_engine.run.runner`): each
node that ends gets a line (``✓ frontmatter · 3 steps · 1,204 tokens · 4.2s``), and on a
terminal a Rich live line on stderr says which node works, its step and its tokens, and
how long it has been at it, refreshed as each model call ends. When stderr is not a
terminal (a pipe, a log, CI) nothing moves: only the node lines are printed.

:func:`next_steps` is what a failed run prints last: the command that fixes a document by
hand (docops runs) and the room's report screen.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from rich.console import Console, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

__all__ = ["NodeProgress", "RunProgress", "next_steps"]

DEFAULT_ARTIFACTS = Path("artifacts")


@dataclass
class NodeProgress:
    """One node that runs: its model calls so far."""

    node: str
    started: float
    max_steps: int | None = None
    step: int = 0  # model calls ended in the current attempt
    attempt: int = 1
    calls: int = 0  # model calls ended, every attempt
    tokens: int = 0  # prompt and completion tokens, every attempt

    def text(self, now: float) -> str:
        parts = [self.node]
        if self.max_steps is not None:
            step = min(self.step + 1, self.max_steps)  # the step the model works on now
            parts.append(f"step {step}/{self.max_steps}")
        if self.attempt > 1:
            parts.append(f"attempt {self.attempt}")
        if self.calls:
            parts.append(f"{self.tokens:,} tokens")
        parts.append(f"{now - self.started:.0f}s")
        return " · ".join(parts)


class RunProgress:
    """The node lines and (on a terminal) the live line of one ``pantheon run``.

    Use it as a context manager around the run and pass :meth:`on_event` to the runner;
    ``live`` forces the live line on or off (default: on when ``console`` is a terminal).
    """

    def __init__(self, console: Console, *, live: bool | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console
        self.live = console.is_terminal if live is None else live
        self.clock = clock
        self.started = clock()
        self.nodes: dict[str, NodeProgress] = {}
        self.finished = 0  # nodes that ended
        self._lock = threading.Lock()  # events come from the run, renders from Live's thread
        self._live: Live | None = None

    def __enter__(self) -> RunProgress:
        if self.live:
            self._live = Live(self, console=self.console, transient=True,
                              refresh_per_second=8, redirect_stdout=False)
            self._live.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    # --- events ----------------------------------------------------------------------

    def on_event(self, event: str, data: dict[str, Any]) -> None:
        """One event of the run (the orchestrator's names and fields)."""
        node = str(data.get("node", ""))
        finished: Text | None = None
        with self._lock:
            if event == "node_started":
                max_steps = data.get("max_steps")
                self.nodes[node] = NodeProgress(
                    node, self.clock(), max_steps if isinstance(max_steps, int) else None)
            elif event == "model_call" and node in self.nodes:
                state = self.nodes[node]
                state.attempt = int(data.get("attempt") or state.attempt)
                state.step = int(data.get("step") or 0)
                state.calls += 1
                state.tokens += int(data.get("prompt_tokens") or 0) \
                    + int(data.get("completion_tokens") or 0)
            elif event == "node_attempt_failed" and node in self.nodes:
                state = self.nodes[node]
                state.attempt, state.step = int(data.get("attempt") or 1) + 1, 0
            elif event == "node_finished":
                finished = self.finished_line(node, data)
                self.nodes.pop(node, None)
                self.finished += 1
        if finished is not None:  # outside the lock: printing redraws the live line
            self.console.print(finished, highlight=False, soft_wrap=True)

    def finished_line(self, node: str, data: dict[str, Any]) -> Text:
        """``  ✓ node · 3 steps · 1,204 tokens · 4.2s`` (``✗`` and the error kind: failed)."""
        ok = data.get("status") == "ok"
        line = Text("  ")
        line.append("✓" if ok else "✗", style="green" if ok else "red")
        line.append(f" {node}")
        if data.get("kind"):
            line.append(f" ({data['kind']})", style="red")
        state = self.nodes.get(node)
        if state is not None:
            facts = []
            if state.calls:
                facts += [f"{state.calls} step{'s' if state.calls != 1 else ''}",
                          f"{state.tokens:,} tokens"]
            facts.append(f"{self.clock() - state.started:.1f}s")
            line.append(" · " + " · ".join(facts), style="dim")
        return line

    # --- the live line ---------------------------------------------------------------

    def line(self) -> Text:
        """What the live line says now: every node that runs, or that the run starts."""
        now = self.clock()
        with self._lock:
            running = [state.text(now) for state in self.nodes.values()]
            finished = self.finished
        if not running:
            what = f"{finished} node{'s' if finished != 1 else ''} done" if finished \
                else "starting"
            return Text(f"{what} · {now - self.started:.0f}s", style="dim", no_wrap=True,
                        overflow="ellipsis")
        return Text("  │  ".join(running), no_wrap=True, overflow="ellipsis")

    def __rich__(self) -> RenderableType:
        return Spinner("dots", self.line(), style="cyan")


def next_steps(run_id: str, artifacts: Path, *, fixable: bool) -> list[str]:
    """The commands to run after a failed run: fix its document by hand (when it ran a
    document agent), and the room's report screen."""
    where = "" if Path(artifacts) == DEFAULT_ARTIFACTS else f" --artifacts {artifacts}"
    steps = []
    if fixable:
        steps.append(f"pantheon fix {run_id}{where}    # fix the document by hand; a fix "
                     "that passes its check becomes training data")
    steps.append(f"pantheon tui --screen report{where}    # the failure, its error and "
                 "its files")
    return steps
