"""One engine per weights file, each agent's requests sent to the one serving its version.

The embedded engine serves one model per pipeline, and openvino-genai cannot switch LoRA
adapters per request on a GGUF pipeline, so a version is served from its own merged GGUF
(see :mod:`pantheon_engine.run.serving`). When a run's model agents need different
weights (``doc.frontmatter@2`` next to the reviewers on the base), a :class:`RoutedEngine`
holds one inner engine per distinct file and hands each agent the engine of its version
through :meth:`Engine.for_agent`, the hook the tool loop already asks (the OpenAI engine
uses it to name an agent's LoRA module). The route is chosen once per tool loop, so a
request pays nothing for it.

The inner engines share the machine: two pipelines of SmolLM2-135M take about 100 MB each
and share the CPU cores, each batching the requests of its own agents. Numbers add up
(``tokens_per_s``, ``batch_size``, counters), the average batch is weighted by steps.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

from pantheon_engine.engines.base import Completion, Engine, EngineRequest, EngineStats


class RoutedEngine(Engine):
    """Serves each agent from ``engines[routes[agent]]``; others from ``engines[default]``.

    ``engines``: weights (a model name or file) -> an engine not yet started that serves
    them. ``routes``: agent -> the weights its version needs. :meth:`start` starts every
    engine a route points to; the default engine, when no route needs it, starts on its
    first request (an agent nobody planned for, a request made without an agent).
    """

    def __init__(self, engines: Mapping[str, Engine], routes: Mapping[str, str], *,
                 default: str, model: str | None = None) -> None:
        if default not in engines:
            raise ValueError(f"the default weights {default!r} have no engine")
        unknown = sorted(set(routes.values()) - set(engines))
        if unknown:
            raise ValueError(f"routes to weights without an engine: {', '.join(unknown)}")
        self.engines = dict(engines)
        self.routes = dict(routes)
        self.default = default
        first = self.engines[default]
        self.name = first.name
        self.model = model or " + ".join(dict.fromkeys(e.model for e in self.engines.values()))
        self.supports_constraints = all(e.supports_constraints for e in self.engines.values())

    def engine_for(self, agent: str) -> Engine:
        """The inner engine that serves ``agent``."""
        return self.engines[self.routes.get(agent, self.default)]

    def for_agent(self, agent: str) -> Engine:
        return self.engine_for(agent).for_agent(agent)

    async def start(self) -> None:
        """Start every routed engine together; if one fails, close them all and raise."""
        needed = [self.engines[w] for w in dict.fromkeys(self.routes.values())]
        results = await asyncio.gather(*(e.start() for e in needed), return_exceptions=True)
        failure = next((r for r in results if isinstance(r, BaseException)), None)
        if failure is not None:
            with contextlib.suppress(Exception):  # the start failure is what to report
                await self.close()
            raise failure

    async def complete(self, request: EngineRequest) -> Completion:
        """A request made without an agent (not through :meth:`for_agent`): the default."""
        return await self.engines[self.default].complete(request)

    def stats(self) -> EngineStats:
        return merge_stats([e.stats() for e in self.engines.values()])

    async def close(self) -> None:
        """Close every engine, then raise the first failure (if one failed to close)."""
        results = await asyncio.gather(*(e.close() for e in self.engines.values()),
                                       return_exceptions=True)
        failure = next((r for r in results if isinstance(r, BaseException)), None)
        if failure is not None:
            raise failure


def merge_stats(parts: list[EngineStats]) -> EngineStats:
    """The numbers of engines serving side by side, as one engine's."""
    steps = sum(s.steps for s in parts)
    if steps:
        average = sum(s.avg_batch_size * s.steps for s in parts) / steps
    else:
        busy = [s.avg_batch_size for s in parts if s.avg_batch_size]
        average = sum(busy) / len(busy) if busy else 0.0
    return EngineStats(
        batch_size=sum(s.batch_size for s in parts),
        avg_batch_size=average,
        tokens_per_s=sum(s.tokens_per_s for s in parts),
        in_flight=sum(s.in_flight for s in parts),
        completed=sum(s.completed for s in parts),
        prompt_tokens=sum(s.prompt_tokens for s in parts),
        completion_tokens=sum(s.completion_tokens for s in parts),
        steps=steps,
        endpoints=[e for s in parts for e in s.endpoints],
    )
