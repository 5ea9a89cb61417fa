"""Several versions in one run on the embedded engine: one engine per weights file, each
agent's requests answered by the engine of its own version, the numbers added up."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from pantheon_engine.agents.registry import default_registry
from pantheon_engine.config import EngineSettings
from pantheon_engine.engines.base import Completion, Engine, EngineRequest, EngineStats, Message
from pantheon_engine.engines.replay import RecordedReply, ReplayEngine
from pantheon_engine.engines.routed import RoutedEngine, merge_stats
from pantheon_engine.errors import ConfigError, EngineUnavailable
from pantheon_engine.night.drain import Night
from pantheon_engine.night.jobqueue import JobQueue
from pantheon_engine.policy import Policy
from pantheon_engine.run.serving import plan_night, plan_serving
from pantheon_engine.run.versions import TamperedVersion, VersionStore
from test_versions import AGENT, GOOD, RULES, trainer_folder

from conftest import FLOWS

PEER = "review.peer"
PASS = '{"type":"final","output":{"verdict":"pass","rationale":"ok"}}'
HELLO = EngineRequest(messages=[Message(role="user", content="hi")])


class Tracked(ReplayEngine):
    """A replay engine that remembers whether it was started and closed."""

    def __init__(self, replies: list[RecordedReply], *, fail_start: bool = False) -> None:
        super().__init__(replies)
        self.started = self.closed = False
        self.fail_start = fail_start

    async def start(self) -> None:
        if self.fail_start:
            raise EngineUnavailable("could not load the weights")
        self.started = True

    async def close(self) -> None:
        self.closed = True


def said(text: str, n: int = 1, tokens: int = 0) -> list[RecordedReply]:
    return [RecordedReply(text=text, completion_tokens=tokens)] * n


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An artifacts folder where doc.frontmatter@2 (an adapter) is the current version."""
    root = tmp_path_factory.mktemp("routed")
    store = VersionStore(root / "art")
    store.register_training(AGENT, trainer_folder(root / "train", seed=2))
    store.set_current(AGENT, 2, action="promote", why="test")
    return root / "art"


# --- the routed engine --------------------------------------------------------------------


async def test_each_agent_is_answered_by_the_engine_of_its_weights() -> None:
    base, tuned = Tracked(said("from the base", 2, 5)), Tracked(said("from @2", 1, 7))
    engine = RoutedEngine({"base.gguf": base, "v2.gguf": tuned},
                          {AGENT: "v2.gguf", PEER: "base.gguf"}, default="base.gguf")
    await engine.start()
    assert base.started and tuned.started
    assert (await engine.for_agent(AGENT).complete(HELLO)).text == "from @2"
    assert (await engine.for_agent(PEER).complete(HELLO)).text == "from the base"
    # an agent nobody planned for, and a request made without an agent: the default
    assert (await engine.for_agent("plan.validate").complete(HELLO)).text == "from the base"
    stats = engine.stats()
    assert (stats.completed, stats.completion_tokens) == (3, 17)
    await engine.close()
    assert base.closed and tuned.closed


async def test_the_default_engine_starts_only_when_a_request_needs_it() -> None:
    base, one, two = Tracked(said("base")), Tracked(said("one")), Tracked(said("two"))
    engine = RoutedEngine({"base": base, "a": one, "b": two}, {AGENT: "a", PEER: "b"},
                          default="base")
    await engine.start()
    assert one.started and two.started and not base.started
    assert (await engine.complete(HELLO)).text == "base"  # a replay starts on demand
    await engine.close()
    assert base.closed and one.closed and two.closed


async def test_an_engine_that_fails_to_start_closes_the_others() -> None:
    good, bad = Tracked(said("x")), Tracked(said("y"), fail_start=True)
    engine = RoutedEngine({"base": good, "v2": bad}, {PEER: "base", AGENT: "v2"},
                          default="base")
    with pytest.raises(EngineUnavailable, match="could not load"):
        await engine.start()
    assert good.closed


def test_routes_to_weights_without_an_engine_are_refused() -> None:
    with pytest.raises(ValueError, match="without an engine: v3"):
        RoutedEngine({"base": Tracked([])}, {AGENT: "v3"}, default="base")


def test_numbers_of_engines_side_by_side_add_up() -> None:
    a = EngineStats(batch_size=4, avg_batch_size=6.0, tokens_per_s=300.0, in_flight=5,
                    completed=10, prompt_tokens=1000, completion_tokens=200, steps=30)
    b = EngineStats(batch_size=2, avg_batch_size=2.0, tokens_per_s=100.0, in_flight=1,
                    completed=4, prompt_tokens=400, completion_tokens=50, steps=10)
    merged = merge_stats([a, b])
    assert (merged.batch_size, merged.tokens_per_s, merged.in_flight) == (6, 400.0, 6)
    assert (merged.completed, merged.prompt_tokens, merged.completion_tokens) == (14, 1400, 250)
    assert merged.steps == 40 and merged.avg_batch_size == pytest.approx((6 * 30 + 2 * 10) / 40)
    assert merge_stats([EngineStats(), EngineStats()]) == EngineStats()


# --- the plan -----------------------------------------------------------------------------


def test_a_flow_of_two_model_agents_gets_a_routed_engine(registered: Path) -> None:
    store = VersionStore(registered)
    merged = str(store.model_file(store.current(AGENT)).resolve())  # type: ignore[union-attr]
    serving = plan_serving(default_registry(), EngineSettings(name="openvino"), store,
                           agents=[AGENT, PEER])
    assert serving.served == {AGENT: 2} and serving.notes == []
    assert serving.models == {AGENT: merged, PEER: "smollm2-135m"}
    assert serving.registry.get(AGENT).ref == f"{AGENT}@2"
    assert serving.registry.get(PEER).ref == f"{PEER}@1"

    engine = serving.make_engine(Policy(mode="day"))  # built, not started: nothing loads
    assert isinstance(engine, RoutedEngine)
    assert engine.for_agent(AGENT).model == merged
    assert engine.for_agent(PEER).model == "smollm2-135m"
    assert engine.name == "openvino" and engine.supports_constraints
    assert engine.model == f"smollm2-135m + {AGENT}@2"

    # one agent alone: one engine on the merged file, no routing
    alone = plan_serving(default_registry(), EngineSettings(name="openvino"), store,
                         agents=[AGENT])
    assert alone.models == {} and alone.settings.model == merged
    assert not isinstance(alone.make_engine(Policy(mode="day")), RoutedEngine)


def test_a_version_is_verified_before_a_routed_engine_serves_it(registered: Path,
                                                                tmp_path: Path) -> None:
    import shutil

    art = tmp_path / "art"
    shutil.copytree(registered, art)
    store = VersionStore(art)
    gguf = store.model_file(store.current(AGENT))
    assert gguf is not None
    with gguf.open("r+b") as handle:  # one byte of the merged file changed
        handle.seek(-1, 2)
        last = handle.read(1)
        handle.seek(-1, 2)
        handle.write(bytes([last[0] ^ 1]))
    with pytest.raises(TamperedVersion, match="changed after it was registered"):
        plan_serving(default_registry(), EngineSettings(name="openvino"), store,
                     agents=[AGENT, PEER])


def test_a_version_merged_onto_another_base_is_refused_when_named(registered: Path) -> None:
    settings = EngineSettings(name="openvino", model="/x/other.gguf")
    with pytest.raises(ConfigError, match=r"doc\.frontmatter@2 was merged onto smollm2-135m"):
        plan_serving(default_registry(), settings, VersionStore(registered),
                     agents=[AGENT, PEER], pinned={AGENT: 2})


async def test_a_night_of_docops_serves_the_promoted_version_next_to_the_reviewers(
        registered: Path, docops_repo: Path, tmp_path: Path) -> None:
    """The night's engine is routed: the frontmatter node reaches only @2's engine, the
    reviewers only the base's (a request sent to the wrong one finds no reply there)."""
    art = tmp_path / "night"
    queue = JobQueue.for_artifacts(art)
    for _ in range(2):
        queue.add(FLOWS / "docops.yaml", {"path": "docs/guide.md", "rules": RULES,
                                          "workspace": str(docops_repo)})
    serving = plan_night(queue, default_registry(), EngineSettings(name="openvino"),
                         VersionStore(registered))
    assert serving.served == {AGENT: 2} and set(serving.models) == {AGENT, PEER}
    tuned = ReplayEngine([RecordedReply(key="frontmatter", text=t) for t in GOOD * 2])
    base = ReplayEngine([RecordedReply(key=node, text=PASS)
                         for node in ("reviewA", "reviewB")] * 2)
    engine = RoutedEngine({serving.models[AGENT]: tuned, serving.models[PEER]: base},
                          serving.models, default=serving.settings.model)
    night = Night(queue=queue, registry=serving.registry, engine=engine,
                  policy=Policy(mode="night"), artifacts=art, concurrency=1, sample_s=0.05)
    result = await night.run()
    assert (result.done, result.failed) == (2, 0)
    for job in queue.list(states=["done"]):
        run = json.loads((art / "runs" / job.run_id / "run.json").read_text())
        assert run["agents"]["frontmatter"] == f"{AGENT}@2"
        assert run["agents"]["reviewA"] == run["agents"]["reviewB"] == f"{PEER}@1"
    assert tuned.remaining("frontmatter") == 0 and base.remaining("reviewA") == 0
    assert (tuned.stats().completed, base.stats().completed) == (6, 4)
    assert engine.stats().completed == 10
    queue.close()


# --- the real embedded model --------------------------------------------------------------


@pytest.mark.model
def test_one_run_serves_two_versions_each_from_its_own_weights(tmp_path: Path) -> None:
    """doc.frontmatter@2 (a strong adapter) and review.peer@2 (a zero adapter: the base's
    weights) served together: each agent's greedy reply comes from its own file."""
    from pantheon_engine.engines.catalogue import resolve_model
    from test_merge_gguf import write_adapter

    base_gguf = resolve_model("smollm2-135m", allow_download=True, progress=False)
    attention = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                 "self_attn.o_proj"]
    write_adapter(tmp_path / "strong", dict.fromkeys(range(30), attention), scale=0.08)
    write_adapter(tmp_path / "zero", {0: ["self_attn.v_proj"]}, scale=0.0)
    store = VersionStore(tmp_path / "art")
    for agent, adapter in ((AGENT, "strong"), (PEER, "zero")):
        store.register_version(agent, adapter_dir=tmp_path / adapter, base_path=base_gguf)
        store.set_current(agent, 2, action="promote", why="test")
    serving = plan_serving(default_registry(), EngineSettings(name="openvino", concurrency=2),
                           store, agents=[AGENT, PEER])
    assert serving.served == {AGENT: 2, PEER: 2}
    assert len(set(serving.models.values())) == 2  # the base itself is not needed

    request = EngineRequest(messages=[Message(role="user", content="Name three colours.")],
                            max_tokens=16, temperature=0.0)

    async def replies() -> tuple[Completion, Completion, Completion, EngineStats]:
        engine: Engine = serving.make_engine(Policy(mode="day"))
        await engine.start()
        try:
            tuned, peer = await asyncio.gather(engine.for_agent(AGENT).complete(request),
                                               engine.for_agent(PEER).complete(request))
            base = await engine.complete(request)  # no agent: the base model, started now
            await asyncio.sleep(0.6)  # each engine process reports its numbers every 0.25 s
            return tuned, peer, base, engine.stats()
        finally:
            await engine.close()

    tuned, peer, base, stats = asyncio.run(replies())
    assert base.text.strip()
    assert peer.text == base.text  # the zero adapter's file: the base's weights
    assert tuned.text != base.text  # the strong adapter's file
    assert tuned.model.endswith(f"{AGENT}/2/model.gguf")
    assert peer.model.endswith(f"{PEER}/2/model.gguf")
    assert stats.completed == 3 and stats.completion_tokens > 0
