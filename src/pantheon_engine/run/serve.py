"""``pantheon serve``: the embedded engine and the agents' versions over HTTP.

The engine is opened exactly as a run opens it (:func:`~pantheon_engine.run.serving.open_serving`,
so the policy, ``pantheon.toml`` and the version plan apply): every model agent of the
registry at its current version, a version whose adapter is merged onto the served model
from its own weights (one pipeline per distinct file), the others on the base model. The
app (:mod:`pantheon_engine.engines.serve_app`) then answers for the base model by its name
(``smollm2-135m``) and for each such version by ``agent@N``, the name a vLLM server gives
its LoRA module, so a night elsewhere points ``--base-url`` here and each agent's requests
name its own version, exactly as with vLLM.

At night (the default) the bind address must be loopback or a host of ``[policy]
allowed_hosts``; it is checked before any model loads, and the server runs under the
egress guard.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from pantheon_engine.agents.registry import AgentRegistry, default_registry
from pantheon_engine.config import load_settings
from pantheon_engine.engines.base import Engine
from pantheon_engine.errors import ConfigError
from pantheon_engine.policy import Mode
from pantheon_engine.run.serving import (
    EngineOptions,
    Served,
    Serving,
    ServingScope,
    open_serving,
)
from pantheon_engine.run.versions import BASE_VERSION

__all__ = ["ServedModels", "serve", "served_models"]


@dataclass
class ServedModels:
    """What the server answers for: name -> engine, the base model's name, each version's
    base (its ``parent`` in ``/v1/models``)."""

    engines: dict[str, Engine]
    default: str
    parents: dict[str, str] = field(default_factory=dict)


def served_models(plan: Serving, engine: Engine) -> ServedModels:
    """The base model and, for each agent whose version has its own weights, ``agent@N``."""
    base = plan.settings.model
    out = ServedModels(engines={base: engine}, default=base)
    for agent, number in sorted(plan.served.items()):
        weights = plan.models.get(agent)
        if number == BASE_VERSION or weights is None or weights == base:
            continue
        name = f"{agent}@{number}"
        out.engines[name] = engine.for_agent(agent)
        out.parents[name] = base
    return out


class _Server(uvicorn.Server):
    """uvicorn's server, stopped by SIGINT/SIGTERM through the event loop. (Its own
    handlers raise the signal again once it has shut down, which would cancel the engine's
    close on the way out; here the signal only asks it to stop.)"""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._stop, sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
                continue
            installed.append(sig)
        try:
            yield
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    def _stop(self, sig: int) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: do not wait for requests in flight
        self.should_exit = True


def _model_agents(registry: AgentRegistry) -> list[str]:
    return sorted(spec.name for spec in registry if spec.uses_model)


async def serve(mode: Mode, options: EngineOptions, *, host: str, port: int,
                artifacts: Path, log_level: str = "warning",
                on_ready: Callable[[str, ServedModels, Served[None]], None] | None = None,
                on_note: Callable[[str], None] | None = None) -> None:
    """Serve until interrupted (SIGINT/SIGTERM). ``on_ready(url, models, served)`` is called
    once the socket listens (``port`` 0: a free port, named in ``url``)."""
    from pantheon_engine.engines.serve_app import build_app

    if not 0 <= port < 65536:
        raise ConfigError(f"--port {port}: not a port number")
    policy = options.policy(mode, load_settings(options.config))
    policy.preflight()
    policy.check_bind(host)  # before any model loads

    def scope() -> ServingScope[None]:
        settings = options.settings()
        if settings.name != "openvino":
            raise ConfigError(f"pantheon serve serves the embedded engine (openvino), "
                              f"not --engine {settings.name}",
                              hint="drop --engine, or point clients at that server directly")
        registry = default_registry()
        return ServingScope(registry, agents=_model_agents(registry), prepared=None)

    def notes(served: Served[None]) -> None:
        for note in served.plan.notes:
            if on_note is not None:
                on_note(note)

    async with open_serving(mode, options, artifacts=artifacts, scope=scope,
                            ready=notes) as served:
        assert served.engine is not None
        models = served_models(served.plan, served.engine)
        app = build_app(models.engines, default=models.default, parents=models.parents)
        server = _Server(uvicorn.Config(app, host=host, port=port, log_level=log_level,
                                               lifespan="off", access_log=False))

        async def announce() -> None:
            while not server.started:
                await asyncio.sleep(0.05)
            bound = server.servers[0].sockets[0].getsockname() if server.servers else None
            actual = bound[1] if bound else port
            shown = f"[{host}]" if ":" in host else host
            if on_ready is not None:
                on_ready(f"http://{shown}:{actual}/v1", models, served)

        waiter = asyncio.create_task(announce())
        try:
            with served.policy.egress_guard():
                await server.serve()
        finally:
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
