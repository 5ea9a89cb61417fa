"""Which ``agent@version`` a run serves, and with which weights.

Every model agent with registered versions runs its current version unless the command
names one (``pantheon eval doc.frontmatter@2``). How a version is served depends on the
engine:

* ``openvino`` (embedded): a version's adapter is merged into its own GGUF, and a pipeline
  serves one model. When every model agent of the run maps to one file (an eval of one
  agent; a flow whose only model agent is that one) one engine serves it, exactly as
  without versions. When the agents need different weights (``doc.frontmatter@2`` and the
  reviewers on the base), the run gets a :class:`~pantheon_engine.engines.routed.RoutedEngine`:
  one pipeline per distinct file, each agent's requests sent to its version's pipeline
  (the pipelines share the CPU; SmolLM2-135M takes about 100 MB each). A version merged
  onto another base than the run's model is not served (the base runs, with a note; named
  on the command line, it is refused). A version is verified by hash before its file is
  served.
* ``openai`` (a vLLM server): a version maps to a LoRA module served by name (start vLLM
  with ``--enable-lora --lora-modules NAME@N=FOLDER``, see :func:`lora_modules`); each
  agent's requests name its module, the base version the server's model.
* ``replay``: no weights; the versions are recorded as asked.

The served registry carries the versions served (``AgentSpec.version``), so ``run.json``'s
``agents`` map, the trace store and ``eval.json`` name the version that actually ran.

:func:`open_serving` is the one way a command gets there: the policy, the engine settings,
the command's own checks, the plan and the engine, opened in that order and closed in
reverse (``pantheon run``, ``eval``, ``harvest`` and ``night`` all go through it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from pantheon_engine.agents.registry import AgentRegistry
from pantheon_engine.config import EngineSettings, Settings, load_settings, merge_engine
from pantheon_engine.engines.base import Engine
from pantheon_engine.errors import ConfigError
from pantheon_engine.policy import Mode, Policy
from pantheon_engine.run.flows import Flow
from pantheon_engine.run.versions import BASE_VERSION, AgentVersion, VersionStore


@dataclass
class Serving:
    """What a run serves: the re-versioned registry, the engine settings, notes to print."""

    registry: AgentRegistry
    settings: EngineSettings
    #: agent -> version number served (agents with registered versions or a pinned one)
    served: dict[str, int] = field(default_factory=dict)
    #: agent -> LoRA module name its requests ask for (openai engine)
    adapters: dict[str, str] = field(default_factory=dict)
    #: agent -> the weights its version needs, when the run's agents need different ones
    #: (embedded engine: one pipeline per file); empty when one model serves every agent
    models: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def configure(self, engine: Engine | None) -> None:
        """Hand the adapter routing to an engine that routes per agent (openai)."""
        if self.adapters and engine is not None and hasattr(engine, "adapters"):
            engine.adapters = dict(self.adapters)

    def make_engine(self, policy: Policy) -> Engine:
        """The engine that serves this plan, ready to ``start()``: the factory's engine
        (configured), or a routed engine with one inner engine per distinct weights file."""
        from pantheon_engine.engines.factory import make_engine

        if not self.models:
            engine = make_engine(self.settings, policy)
            self.configure(engine)
            return engine
        from pantheon_engine.engines.routed import RoutedEngine

        default = self.settings.model
        files = dict.fromkeys([default, *self.models.values()])
        engines = {weights: make_engine(self.settings.model_copy(update={"model": weights}),
                                        policy) for weights in files}
        versions = [f"{name}@{self.served[name]}" for name, weights in sorted(self.models.items())
                    if weights != default and name in self.served]
        return RoutedEngine(engines, self.models, default=default,
                            model=" + ".join([default, *versions]))


def module_name(version: AgentVersion) -> str:
    """The LoRA module name a vLLM server knows ``version`` by: ``agent@N``."""
    return version.ref


def lora_modules(store: VersionStore, agents: Iterable[str] | None = None) -> list[str]:
    """``NAME@N=FOLDER`` for each agent's current adapter version (vLLM ``--lora-modules``)."""
    entries = []
    for agent in sorted(agents if agents is not None else store.agents()):
        version = store.current(agent)
        folder = store.adapter_folder(version)
        if folder is not None:
            entries.append(f"{module_name(version)}={folder.resolve()}")
    return entries


#: the ranks ``vllm serve --max-lora-rank`` accepts
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


def vllm_lora_args(store: VersionStore, agents: Iterable[str] | None = None) -> list[str]:
    """``vllm serve`` arguments that serve every agent's current adapter by name."""
    from pantheon_engine.run.merge_gguf import read_lora_config

    modules = lora_modules(store, agents)
    if not modules:
        return []
    rank = max(read_lora_config(Path(m.split("=", 1)[1])).r for m in modules)
    allowed = next((r for r in VLLM_LORA_RANKS if r >= rank), rank)
    return ["--enable-lora", "--max-lora-rank", str(allowed), "--lora-modules", *modules]


def model_agents(flows: Iterable[Flow], registry: AgentRegistry) -> set[str]:
    """The model agents (those that call the engine) the flows run."""
    return {node.agent for flow in flows for node in flow.nodes
            if node.agent in registry and registry.get(node.agent).uses_model}


def _same_model(a: str, b: str) -> bool:
    if a == b:
        return True
    from pantheon_engine.engines.catalogue import CATALOGUE, model_path

    def where(name: str) -> Path:
        return model_path(name) if name in CATALOGUE else Path(name).expanduser()

    try:
        return where(a).resolve() == where(b).resolve()
    except (OSError, ConfigError):
        return False


def plan_serving(registry: AgentRegistry, settings: EngineSettings, store: VersionStore, *,
                 agents: Iterable[str], pinned: dict[str, int] | None = None) -> Serving:
    """Decide the version and the weights each model agent of a run gets.

    ``agents``: the run's model agents. ``pinned``: versions named on the command line
    (agent -> N); the others get their current version. Raises :class:`ConfigError` when a
    pinned version cannot be served as asked, and the store's ``TamperedVersion`` when a
    version to be served fails its hash check.
    """
    pinned = dict(pinned or {})
    in_use = set(agents) | set(pinned)
    known = set(store.agents())
    wanted: dict[str, AgentVersion] = {}
    for name in sorted(in_use):
        spec = registry.get(name)
        if name in pinned and name not in known:
            if str(pinned[name]) != spec.version:  # no registered versions: only its own
                store.get(name, pinned[name])  # raises: names the known versions
            continue
        if name in known:
            wanted[name] = store.get(name, pinned[name]) if name in pinned \
                else store.current(name)
    serving = Serving(registry=registry, settings=settings.model_copy())
    served = {name: version.number for name, version in wanted.items()}
    adapted = {name: v for name, v in wanted.items() if not v.is_base}
    if settings.name == "openai":
        for name, version in adapted.items():
            store.verify(version)
            serving.adapters[name] = module_name(version)
    elif settings.name == "openvino" and adapted:
        weights = dict.fromkeys(sorted(in_use), settings.model)
        for name, version in adapted.items():
            why = _why_not_merged(version, settings.model)
            if why is None:
                path = store.model_file(version)
                assert path is not None  # a version with an adapter has its merged file
                weights[name] = str(path.resolve())
            elif name in pinned:
                raise ConfigError(f"cannot serve {version.ref}: {why}",
                                  hint=f"run it with --model {version.base_model}")
            else:
                serving.notes.append(f"{version.ref} not served, version {BASE_VERSION} "
                                     f"(the base) runs instead: {why}")
                served[name] = BASE_VERSION
        files = set(weights.values())
        if len(files) == 1:  # one model serves every agent: one engine, as without versions
            serving.settings.model = files.pop()
        else:
            serving.models = weights
    serving.served = served
    serving.registry = AgentRegistry(
        dataclasses.replace(spec, version=str(served[spec.name]))
        if spec.name in served else spec for spec in registry)
    return serving


def _why_not_merged(version: AgentVersion, model: str) -> str | None:
    """Why the embedded engine cannot serve the merged GGUF of ``version`` (None: it can)."""
    if not _same_model(model, version.base_model):
        return f"{version.ref} was merged onto {version.base_model}, this run serves {model}"
    return None


def queued_agents(queue: Any, registry: AgentRegistry) -> set[str]:
    """The model agents of every queued or running job's flow (what a night serves)."""
    from pantheon_engine.errors import PantheonError
    from pantheon_engine.run.flows import load_flow_checked

    flows = []
    for path in sorted({job.flow for job in queue.list(states=["queued", "running"],
                                                       limit=None)}):
        try:
            flows.append(load_flow_checked(Path(path), registry))
        except PantheonError:
            continue  # the night reports that job's bad flow when it claims it
    return model_agents(flows, registry)


def plan_night(queue: Any, registry: AgentRegistry, settings: EngineSettings,
               store: VersionStore) -> Serving:
    """:func:`plan_serving` for a night: the model agents of every queued or running job."""
    return plan_serving(registry, settings, store, agents=queued_agents(queue, registry))


# --- opening and closing what a run serves -----------------------------------------------


@dataclass(frozen=True)
class EngineOptions:
    """The engine a command asked for (``--engine``, ``--model``, ``--base-url`` (one or
    more), ``--replay``, ``--config``; None: what ``pantheon.toml`` says)."""

    name: str | None = None
    model: str | None = None
    base_url: str | Sequence[str] | None = None
    replay: str | None = None
    config: Path | None = None
    concurrency: int | None = None

    def settings(self, loaded: Settings | None = None) -> EngineSettings:
        """These options over ``pantheon.toml`` (``loaded``: the file, already read); a
        ConfigError for a bad file or value."""
        return merge_engine(loaded or load_settings(self.config), name=self.name,
                            model=self.model, base_url=self.base_url or None,
                            replay=self.replay, concurrency=self.concurrency)

    def policy(self, mode: Mode, loaded: Settings | None = None) -> Policy:
        """The policy in ``mode`` with the file's ``[policy]`` table (its allowed hosts)."""
        file = loaded or load_settings(self.config)
        return Policy(mode=mode, allowed_hosts=tuple(file.policy.allowed_hosts))


T = TypeVar("T")


@dataclass(frozen=True)
class ServingScope(Generic[T]):
    """What a command runs, decided by its own checks before any model loads.

    ``agents``: the model agents the run calls; ``pinned``: versions named on the command
    line (agent -> N); ``engine``: False when no agent of the run calls a model (no engine
    is made); ``record_only``: nothing will be served at all, so the plan is the replay
    engine's (versions are recorded, and a pinned version merged onto another base is not
    refused); ``prepared``: what the command found on the way (its flow, its tasks), handed
    back on :class:`Served`.
    """

    registry: AgentRegistry
    agents: Collection[str]
    prepared: T
    pinned: Mapping[str, int] | None = None
    engine: bool = True
    record_only: bool = False


@dataclass(frozen=True)
class Served(Generic[T]):
    """An open serving set-up: the policy in force, the served registry (every agent at the
    version it runs), the settings, the plan, and the engine (started; None when nothing
    calls a model)."""

    policy: Policy
    registry: AgentRegistry
    settings: EngineSettings
    plan: Serving
    engine: Engine | None
    prepared: T


@asynccontextmanager
async def open_serving(
    mode: Mode, options: EngineOptions, *, artifacts: Path,
    scope: Callable[[], ServingScope[T]],
    planned: Callable[[Serving], None] | None = None,
    ready: Callable[[Served[T]], None] | None = None,
) -> AsyncIterator[Served[T]]:
    """Open what a run serves, one step after another, and close it in reverse.

    1. the policy: at night a cloud credential stops everything here, before anything else;
    2. ``pantheon.toml``: the engine settings (``options`` over the file) and the policy's
       allowed hosts;
    3. ``scope()``: the command's own checks (its agents, suite, flow or queue), so that bad
       input fails before a model loads;
    4. the serving plan: each model agent's version and weights, verified by hash;
       ``planned(plan)`` sees it before the engine is made;
    5. the engine: made, shown to ``ready(served)``, then started (the model loads here).

    On the way out the engine is closed; one whose ``start()`` failed is not.
    """
    Policy(mode=mode).preflight()
    loaded = load_settings(options.config)
    policy = options.policy(mode, loaded)
    settings = options.settings(loaded)
    wanted = scope()
    if wanted.record_only:
        settings = settings.model_copy(update={"name": "replay"})
    plan = plan_serving(wanted.registry, settings, VersionStore(artifacts),
                        agents=wanted.agents,
                        pinned=dict(wanted.pinned) if wanted.pinned is not None else None)
    if planned is not None:
        planned(plan)
    engine = plan.make_engine(policy) if wanted.engine else None
    served = Served(policy=policy, registry=plan.registry, settings=plan.settings, plan=plan,
                    engine=engine, prepared=wanted.prepared)
    if ready is not None:
        ready(served)
    if engine is None:
        yield served
        return
    await engine.start()
    try:
        yield served
    finally:
        await engine.close()
