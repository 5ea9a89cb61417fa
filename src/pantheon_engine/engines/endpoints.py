"""The model servers an ``openai`` engine spreads its requests over.

A night can use several OpenAI-compatible servers at once (``--base-url`` repeated, or
``[[engine.endpoints]]`` in ``pantheon.toml``). Each serves some model names: its base
model and, on vLLM, agent versions as LoRA modules named ``agent@N``. The pool keeps, per
server, what it serves, whether it is up, and its numbers, and answers three questions:

* :meth:`EndpointPool.pick`: which server takes a request for a model name: among the
  servers that are up and serve that name, the one with the fewest requests outstanding
  (ties: the one sent fewer so far). A server that does not serve the name is never
  picked: a request for ``doc.frontmatter@2`` never lands on a server of another model;
* :meth:`EndpointPool.failed`: a server stopped answering (refused, reset, timed out,
  HTTP 5xx): it is marked down and a background probe (``GET /models``, with backoff
  from ``probe_s`` doubling up to ``max_probe_s``) brings it back in once it answers;
* :meth:`EndpointPool.trial`: when no server of a name is up, the one that failed longest
  ago, for a retry after the caller's backoff (a request that gets an answer marks it up).

What a server serves is what its entry declares (``model`` plus ``adapters``), else what
its ``GET /models`` lists (asked at the engine's start and by every probe); a server that
has not answered yet and declares nothing may serve any name. The pool does no HTTP itself:
the engine hands it the function that lists a server's models.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field

from pantheon_engine.config import EndpointSettings
from pantheon_engine.engines.base import EndpointStats

__all__ = ["Endpoint", "EndpointPool", "Lister"]


@dataclass(eq=False)
class Endpoint:
    """One server: what it serves, whether it is up, its counters."""

    url: str
    #: the names its config entry declares (None: ask the server)
    declared: tuple[str, ...] | None = None
    #: adapters its entry names without a model: served besides what the server lists
    adapters: tuple[str, ...] = ()
    #: the names it serves, base model first (None: not known yet: it may serve any)
    models: tuple[str, ...] | None = None
    up: bool = True
    in_flight: int = 0
    sent: int = 0
    requests: int = 0
    errors: int = 0
    downs: int = 0
    completion_tokens: int = 0
    failed_at: float = 0.0
    last_error: str | None = None
    done: deque[tuple[float, int]] = field(default_factory=deque)
    probe: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        if self.declared is not None and self.models is None:
            self.models = self.declared

    def serves(self, name: str) -> bool:
        """Whether a request for ``name`` may go here ("" asks for the server's own)."""
        return not name or self.models is None or name in self.models

    @property
    def base(self) -> str | None:
        """The base model it serves (the first name it declares or lists)."""
        return self.models[0] if self.models else None

    def state(self) -> str:
        if self.up:
            return "up"
        return f"down: {self.last_error}" if self.last_error else "down"


#: asks one server what it serves (``GET /models``): the names, base models first; raises
#: when it does not answer
Lister = Callable[[Endpoint], Awaitable[list[str]]]


class EndpointPool:
    """The servers of one engine; see the module's docstring."""

    def __init__(self, endpoints: Iterable[EndpointSettings], *, lister: Lister,
                 probe_s: float = 1.0, max_probe_s: float = 30.0,
                 window_s: float = 10.0) -> None:
        self.endpoints: list[Endpoint] = []
        for entry in endpoints:
            declared = entry.declared()
            self.endpoints.append(Endpoint(
                url=entry.url.rstrip("/"), declared=tuple(declared) if declared else None,
                adapters=() if declared else tuple(entry.adapters)))
        if not self.endpoints:
            raise ValueError("an endpoint pool needs at least one endpoint")
        self.lister = lister
        self.probe_s = probe_s
        self.max_probe_s = max_probe_s
        self.window_s = window_s
        self._closed = False

    # -- routing -------------------------------------------------------------------------

    def serving(self, name: str) -> list[Endpoint]:
        """Every server that serves ``name``, up or down."""
        return [ep for ep in self.endpoints if ep.serves(name)]

    def pick(self, name: str) -> Endpoint | None:
        """The server that is up, serves ``name`` and has the fewest requests outstanding;
        None when no such server is up."""
        best: Endpoint | None = None
        for ep in self.endpoints:
            if ep.up and ep.serves(name) and (
                    best is None or (ep.in_flight, ep.sent) < (best.in_flight, best.sent)):
                best = ep
        return best

    def trial(self, name: str) -> Endpoint | None:
        """A server of ``name`` that is down, the one that failed longest ago (a retry)."""
        down = [ep for ep in self.endpoints if not ep.up and ep.serves(name)]
        return min(down, key=lambda ep: ep.failed_at) if down else None

    @contextlib.contextmanager
    def sending(self, ep: Endpoint) -> Iterator[None]:
        """Count a request outstanding at ``ep`` for the ``with`` body."""
        ep.in_flight += 1
        ep.sent += 1
        try:
            yield
        finally:
            ep.in_flight -= 1

    # -- what happened -------------------------------------------------------------------

    def answered(self, ep: Endpoint) -> None:
        """``ep`` answered a request: it is up."""
        ep.requests += 1
        ep.up = True

    def add_tokens(self, ep: Endpoint, completion_tokens: int) -> None:
        ep.completion_tokens += completion_tokens
        ep.done.append((time.monotonic(), completion_tokens))

    def failed(self, ep: Endpoint, why: str) -> None:
        """``ep`` stopped answering a request: mark it down and probe it back in."""
        ep.errors += 1
        self._down(ep, why)

    def _down(self, ep: Endpoint, why: str) -> None:
        ep.last_error = why
        ep.failed_at = time.monotonic()
        if ep.up:
            ep.up = False
            ep.downs += 1
        if not self._closed and (ep.probe is None or ep.probe.done()):
            ep.probe = asyncio.get_running_loop().create_task(self._probe(ep))

    # -- asking the servers --------------------------------------------------------------

    async def refresh(self, ep: Endpoint) -> bool:
        """Ask ``ep`` what it serves now; True when it answered (it is up then)."""
        try:
            names = await self.lister(ep)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # whatever stops an answer keeps it down; never raises
            why = str(exc).split("\n", 1)[0] or type(exc).__name__
            if ep.up:
                self._down(ep, why)
            else:
                ep.last_error = why
            return False
        if ep.declared is None:
            ep.models = tuple(dict.fromkeys([*names, *ep.adapters]))
        ep.up = True
        return True

    async def refresh_all(self, *, only_down: bool = False) -> None:
        """Ask every server (or every server that is down) at once."""
        chosen = [ep for ep in self.endpoints if not (only_down and ep.up)]
        await asyncio.gather(*(self.refresh(ep) for ep in chosen))

    async def _probe(self, ep: Endpoint) -> None:
        delay = self.probe_s
        while not ep.up and not self._closed:
            await asyncio.sleep(delay * (0.75 + 0.5 * random.random()))
            if ep.up or self._closed or await self.refresh(ep):
                return
            delay = min(self.max_probe_s, delay * 2)

    async def close(self) -> None:
        """Stop every probe."""
        self._closed = True
        probes = [ep.probe for ep in self.endpoints if ep.probe is not None]
        for probe in probes:
            probe.cancel()
        for probe in probes:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await probe

    # -- what to say ---------------------------------------------------------------------

    def base_model(self) -> str | None:
        """The base model of the first server (in the order given) that names one."""
        return next((ep.base for ep in self.endpoints if ep.base), None)

    def missing(self, names: Iterable[str]) -> list[str]:
        """The names no server serves, as far as known: empty while any server that may
        serve them has not said what it serves."""
        return [name for name in dict.fromkeys(names) if name and not any(
            ep.models is None or name in ep.models for ep in self.endpoints)]

    def describe(self, name: str | None = None) -> str:
        """``URL (up), URL (down: why)`` for the servers of ``name`` (None: all), each
        with what it serves when ``name`` is None."""
        chosen = self.endpoints if name is None else self.serving(name)
        parts = []
        for ep in chosen:
            serves = ""
            if name is None:
                serves = "serves " + (", ".join(ep.models) if ep.models else "?") + "; "
            parts.append(f"{ep.url} ({serves}{ep.state()})")
        return ", ".join(parts) or "none"

    def stats(self) -> list[EndpointStats]:
        now = time.monotonic()
        out = []
        for ep in self.endpoints:
            while ep.done and ep.done[0][0] < now - self.window_s:
                ep.done.popleft()
            out.append(EndpointStats(
                url=ep.url, up=ep.up, models=list(ep.models or ()), in_flight=ep.in_flight,
                requests=ep.requests, errors=ep.errors, downs=ep.downs,
                tokens_per_s=sum(n for _, n in ep.done) / self.window_s,
                completion_tokens=ep.completion_tokens, last_error=ep.last_error))
        return out
