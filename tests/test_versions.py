"""Agent versions: the registry, hash checks before serving, paired comparisons, the
promotion rule (refused without significance, with the numbers), rollback, and which
``agent@version`` a run serves with which weights."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
import pytest

from pantheon_engine.agents.registry import default_registry
from pantheon_engine.config import EngineSettings
from pantheon_engine.engines.base import EngineRequest, Message
from pantheon_engine.engines.catalogue import resolve_model
from pantheon_engine.engines.openai import OpenAIEngine
from pantheon_engine.engines.replay import RecordedReply
from pantheon_engine.evals.promote import (
    PromotionRefused,
    comparisons_dir,
    decide,
    latest_comparison,
    promote,
    write_comparison,
)
from pantheon_engine.evals.results import EvalResult, SampleResult, TaskResult
from pantheon_engine.evals.runner import run_eval
from pantheon_engine.evals.suite import load_suite
from pantheon_engine.run.serving import plan_night, plan_serving, vllm_lora_args
from pantheon_engine.run.versions import (
    TamperedVersion,
    VersionError,
    VersionStore,
    record_eval,
)

from conftest import git_repo

safetensors_numpy = pytest.importorskip("safetensors.numpy")
pytest.importorskip("gguf")

AGENT = "doc.frontmatter"
DOC = "---\nTitle: {name}\ndraft: true\n---\n# {name}\n\nSome text.\n"
RULES = [{"kind": "renamed", "key": "Title", "to": "title"}, {"kind": "absent", "key": "draft"}]
FINAL = json.dumps({"type": "final", "output": {"summary": "done"}})


def tool(name: str, **args: str) -> str:
    return json.dumps({"type": "tool", "name": name, "args": args})


T = TypeVar("T")
GOOD = [tool("fm_rename", key="Title", new_key="title"), tool("fm_delete", key="draft"), FINAL]


# --- fixtures: a trained-looking folder, a registry with two versions ----------------------


def trainer_folder(folder: Path, *, seed: int) -> Path:
    """What ``pantheon train`` leaves: a PEFT adapter (v_proj of two layers) and its notes."""
    rng = np.random.default_rng(seed)
    tensors = {}
    for layer in (0, 1):
        key = f"base_model.model.model.layers.{layer}.self_attn.v_proj"
        tensors[f"{key}.lora_A.weight"] = rng.standard_normal((8, 576)).astype(np.float32) * .05
        tensors[f"{key}.lora_B.weight"] = rng.standard_normal((192, 8)).astype(np.float32) * .05
    folder.mkdir(parents=True)
    safetensors_numpy.save_file(tensors, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["v_proj"]}))
    base = resolve_model("smollm2-135m", allow_download=True, progress=False)
    (folder / "train_config.json").write_text(json.dumps(
        {"agent": AGENT, "base_gguf": str(base), "rank": 8, "alpha": 16}))
    (folder / "data.json").write_text(json.dumps(
        {"path": "data/x.jsonl", "sha256": f"{seed:064x}", "examples": 120,
         "by_source": {"search": 80, "best_of_k": 40}}))
    (folder / "summary.json").write_text(json.dumps(
        {"agent": AGENT, "steps": 30, "final_loss": 0.42, "wall_s": 310.5,
         "peak_rss_mb": 3700, "losses": [1.0, 0.42]}))
    (folder / "metrics.jsonl").write_text('{"step": 1, "loss": 1.0}\n')
    return folder


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An artifacts folder whose registry holds doc.frontmatter@1 (base), @2 and @3."""
    root = tmp_path_factory.mktemp("registered")
    store = VersionStore(root / "art")
    for seed in (2, 3):
        store.register_training(AGENT, trainer_folder(root / f"train-{seed}", seed=seed),
                                note=f"seed {seed}")
    return root / "art"


@pytest.fixture
def art(registered: Path, tmp_path: Path) -> Path:
    target = tmp_path / "art"
    shutil.copytree(registered, target)
    return target


def eval_of(ref: str, passes: list[bool], *, split: str = "holdout",
            eval_id: str | None = None, work: list[bool | None] | None = None,
            suite: str = "suites/docops-7") -> EvalResult:
    """An eval of ``ref`` on tasks t0, t1, …; ``work``: each task's ``needs_work``."""
    work = work if work is not None else [None] * len(passes)
    tasks = [TaskResult(id=f"t{i}", split=split, samples=1, passed=int(ok),
                        results=[SampleResult(sample=0, passed=ok)], needs_work=w)
             for i, (ok, w) in enumerate(zip(passes, work, strict=True))]
    return EvalResult.build(eval_id=eval_id or f"eval-{ref}", agent=ref, engine="openvino",
                            model="m", suite=suite, split=split, samples=1,
                            temperature=None, seed=0, seconds=1.0, tasks=tasks)


def paired(store: VersionStore, new: int, old: int, *, wins: int, losses: int, both: int = 2,
           neither: int = 10, split: str = "holdout", idle_wins: int = 0) -> None:
    """Write a comparison of AGENT@new against AGENT@old with these paired outcomes on
    tasks that need work, and ``idle_wins`` more wins on tasks that need none."""
    a = [True] * wins + [False] * losses + [True] * both + [False] * neither
    b = [False] * wins + [True] * losses + [True] * both + [False] * neither
    work: list[bool | None] = [True] * len(a) + [False] * idle_wins
    write_comparison(store, eval_of(f"{AGENT}@{new}", a + [True] * idle_wins, split=split,
                                    work=work),
                     eval_of(f"{AGENT}@{old}", b + [False] * idle_wins, split=split,
                             work=work))


# --- the registry ----------------------------------------------------------------------------


def test_a_registered_version_round_trips_with_its_files_data_and_metrics(art: Path) -> None:
    store = VersionStore(art)
    assert [v.ref for v in store.versions(AGENT)] == [f"{AGENT}@1", f"{AGENT}@2", f"{AGENT}@3"]
    assert store.current(AGENT).number == 1  # registering never makes a version current
    base, two = store.get(AGENT, 1), store.get(AGENT, 2)
    assert base.is_base and base.files == {} and base.gguf is None

    assert (two.parent, two.base_model, two.note) == (1, "smollm2-135m", "seed 2")
    assert two.data.model_dump() == {"hash": f"{2:064x}", "examples": 120, "path": "data/x.jsonl",
                                     "sources": {"search": 80, "best_of_k": 40}}
    assert two.metrics["final_loss"] == 0.42 and two.metrics["wall_s"] == 310.5
    assert "losses" not in two.metrics  # curves stay in their files
    assert two.metrics["merge"]["touched"] == 2 and two.metrics["merge"]["scale"] == 2.0
    folder = store.folder(AGENT, 2)
    assert set(two.files) == {"adapter/adapter_config.json", "adapter/adapter_model.safetensors",
                              "model.gguf", "train_config.json", "data.json", "summary.json",
                              "metrics.jsonl"}
    for name, digest in two.files.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    on_disk = json.loads((folder / "version.json").read_text())
    assert on_disk == json.loads(two.model_dump_json())
    # a fresh reader of the registry file sees the same records
    assert VersionStore(art).get(AGENT, 2) == two
    store.verify(two)  # intact


def test_a_tampered_or_missing_file_is_refused_before_serving(art: Path) -> None:
    store = VersionStore(art)
    two = store.get(AGENT, 2)
    merged = store.folder(AGENT, 2) / "model.gguf"
    data = bytearray(merged.read_bytes())
    data[-1] ^= 0xFF
    merged.write_bytes(bytes(data))
    with pytest.raises(TamperedVersion, match=r"doc\.frontmatter@2: .*model\.gguf changed after "
                       "it was registered.*refusing to serve it"):
        store.verify(two)
    settings = EngineSettings(name="openvino")
    with pytest.raises(TamperedVersion):
        plan_serving(default_registry(), settings, store, agents=[AGENT], pinned={AGENT: 2})

    (store.folder(AGENT, 3) / "adapter" / "adapter_config.json").unlink()
    with pytest.raises(TamperedVersion, match=r"adapter_config\.json is missing"):
        store.verify(store.get(AGENT, 3))


def test_an_unknown_version_names_the_known_ones(art: Path) -> None:
    with pytest.raises(VersionError, match=r"doc\.frontmatter@9 is not a registered version "
                       r"\(known: doc\.frontmatter@1, doc\.frontmatter@2, doc\.frontmatter@3\)"):
        VersionStore(art).get(AGENT, 9)


# --- promotion and rollback ---------------------------------------------------------------


def test_promotion_without_a_comparison_says_which_eval_to_run(art: Path) -> None:
    with pytest.raises(PromotionRefused) as info:
        promote(VersionStore(art), AGENT, 2)
    assert "no paired comparison of doc.frontmatter@2 against the current doc.frontmatter@1" \
        in info.value.message
    assert f"pantheon eval {AGENT}@2 --against {AGENT}@1" in (info.value.hint or "")


def test_promotion_is_refused_without_significance_and_says_why(art: Path) -> None:
    store = VersionStore(art)
    paired(store, 2, 1, wins=4, losses=1)  # better on 5 discordant tasks, p = 0.375
    with pytest.raises(PromotionRefused) as info:
        promote(store, AGENT, 2)
    message = info.value.message
    assert "not significantly better: p = 0.375 is not below alpha = 0.05" in message
    assert "won 4, lost 1" in message and "on 17 paired tasks" in message
    assert "doc.frontmatter@2 pass@1 0.353 [0.173, 0.587] (6/17)" in message
    assert "doc.frontmatter@1 pass@1 0.176 [0.062, 0.410] (3/17)" in message
    assert info.value.exit_code == 1
    assert store.current(AGENT).number == 1 and store.history(AGENT) == []

    paired(store, 2, 1, wins=1, losses=9)  # the latest comparison counts: now it is worse
    with pytest.raises(PromotionRefused, match=r"is not better: .* won 1, lost 9"):
        promote(store, AGENT, 2)

    paired(store, 2, 1, wins=12, losses=0, split="train")  # training tasks do not count
    with pytest.raises(PromotionRefused, match="ran on the train split"):
        promote(store, AGENT, 2)


def test_promotion_with_significance_is_recorded_and_rollback_restores(art: Path) -> None:
    store = VersionStore(art)
    paired(store, 2, 1, wins=9, losses=0)  # p = 2/2^9 = 0.0039
    with pytest.raises(PromotionRefused, match=r"not below alpha = 0\.001"):
        promote(store, AGENT, 2, alpha=0.001)  # alpha is the user's

    change, decision = promote(store, AGENT, 2, by="night-ops", why="nightly lift")
    assert decision.accepted and store.current(AGENT).number == 2
    assert (change.action, change.from_version, change.to_version, change.by, change.why) == \
        ("promote", 1, 2, "night-ops", "nightly lift")
    assert change.evidence["wins"] == 9 and change.evidence["losses"] == 0
    assert change.evidence["p_value"] == pytest.approx(2 / 2**9)
    assert change.evidence["comparison"] == latest_comparison(art, AGENT, 2, 1).id
    with pytest.raises(PromotionRefused, match="already current"):
        promote(store, AGENT, 2)

    paired(store, 3, 2, wins=10, losses=1)  # @3 must beat the current @2, not the base
    promote(store, AGENT, 3)
    assert store.current(AGENT).number == 3
    assert store.rollback(AGENT).to_version == 2
    assert store.rollback(AGENT).to_version == 1
    with pytest.raises(VersionError, match="nothing to roll back"):
        store.rollback(AGENT)
    assert [(h.action, h.from_version, h.to_version) for h in VersionStore(art).history(AGENT)] \
        == [("promote", 1, 2), ("promote", 2, 3), ("rollback", 3, 2), ("rollback", 2, 1)]


def test_a_comparison_of_other_files_does_not_promote(art: Path) -> None:
    store = VersionStore(art)
    paired(store, 2, 1, wins=9, losses=0)
    # the version's files are re-recorded (as if registered again under the same number)
    data = json.loads(store.path.read_text())
    two = data["agents"][AGENT]["versions"][1]
    (store.folder(AGENT, 2) / "note.txt").write_text("x")
    two["files"]["note.txt"] = hashlib.sha256(b"x").hexdigest()
    store.path.write_text(json.dumps(data))
    with pytest.raises(PromotionRefused, match="measured other files"):
        promote(store, AGENT, 2)


# --- stopping at once is not a win -----------------------------------------------------------


def test_a_control_whose_only_wins_are_compliant_documents_is_refused_against_the_base(
        art: Path) -> None:
    """The shuffled-reply control as measured: it learns to answer final at once, so it wins
    the 11 holdout documents that already comply (the base fiddles with them) and nothing
    else. Overall that is 11 won, 0 lost, p = 0.001: the first rule alone would promote."""
    store = VersionStore(art)
    paired(store, 3, 1, wins=0, losses=0, both=3, neither=17, idle_wins=11)
    record = latest_comparison(art, AGENT, 3, 1)
    assert record is not None and record.strata is not None
    assert (record.wins, record.losses) == (11, 0) and record.paired.p_value < 0.001
    assert (record.strata.no_work.tasks, record.strata.no_work.wins) == (11, 11)
    assert (record.strata.needs_work.tasks, record.strata.needs_work.wins,
            record.strata.needs_work.losses) == (20, 0, 0)
    with pytest.raises(PromotionRefused) as info:
        promote(store, AGENT, 3)
    message = info.value.message
    assert "not significantly better on the 20 tasks that need work: won 0, lost 0, p = 1" \
        in message
    assert "won 11, lost 0" in message  # the overall numbers
    assert "needs work: 20 tasks, won 0, lost 0, both 3, neither 17, exact McNemar p = 1; " \
        "no work: 11 tasks, won 11, lost 0, both 0, neither 0, exact McNemar p = 0.0009766" \
        in message
    assert store.current(AGENT).number == 1 and store.history(AGENT) == []


def test_a_win_on_the_tasks_that_need_work_must_be_significant_on_its_own(art: Path) -> None:
    store = VersionStore(art)
    # 3 wins where work was asked (p = 0.25) and 8 more on compliant documents: 11-0 overall
    paired(store, 2, 1, wins=3, losses=0, idle_wins=8)
    with pytest.raises(PromotionRefused, match=r"on the 15 tasks that need work: won 3, lost "
                       r"0, p = 0\.25 \(alpha = 0\.05\)"):
        promote(store, AGENT, 2)
    # significant where work was asked: promoted, the strata in the evidence
    paired(store, 2, 1, wins=9, losses=1, idle_wins=2)
    change, decision = promote(store, AGENT, 2)
    assert decision.accepted and "needs work: 22 tasks, won 9, lost 1" in decision.reason
    assert change.evidence["strata"]["needs_work"]["wins"] == 9
    assert change.evidence["strata"]["no_work"] == {
        "tasks": 2, "both": 0, "wins": 2, "losses": 0, "neither": 0, "p_value": 0.5,
        "assumed": 0}


def test_a_comparison_written_before_strata_loads_and_is_measured_again(art: Path) -> None:
    store = VersionStore(art)
    paired(store, 2, 1, wins=9, losses=0)
    path = next(comparisons_dir(art).glob("*.json"))
    data = json.loads(path.read_text())
    del data["strata"]
    path.write_text(json.dumps(data))
    record = latest_comparison(art, AGENT, 2, 1)
    assert record is not None and record.strata is None  # it still loads
    assert "strata: not recorded" in record.render_text()
    assert not decide(record).accepted and "which tasks needed work" in decide(record).reason
    with pytest.raises(PromotionRefused) as info:
        promote(store, AGENT, 2)
    assert "does not say which tasks needed work" in info.value.message
    assert f"measure again: pantheon eval {AGENT}@2 --against {AGENT}@1" in \
        (info.value.hint or "")


def test_evals_that_do_not_place_their_tasks_are_placed_from_the_suite(art: Path,
                                                                       tmp_path: Path) -> None:
    """Evals written before tasks recorded it: the suite's tasks.jsonl says (docops
    ``meta.edits``); a task it does not place counts as needing work, and the output says so."""
    suite = tmp_path / "suite"
    suite.mkdir()
    metas = [{"edits": 0}, {"edits": 0}, {"edits": 2}, {}]
    (suite / "tasks.jsonl").write_text("".join(json.dumps(
        {"id": f"t{i}", "agent": AGENT, "split": "holdout", "input": {}, "meta": meta}) + "\n"
        for i, meta in enumerate(metas)))
    store = VersionStore(art)
    record, _ = write_comparison(
        store, eval_of(f"{AGENT}@2", [True, True, True, False], suite=str(suite)),
        eval_of(f"{AGENT}@1", [False, False, False, False], suite=str(suite)))
    assert record.strata is not None
    assert (record.strata.no_work.tasks, record.strata.no_work.wins) == (2, 2)
    assert (record.strata.needs_work.tasks, record.strata.needs_work.wins,
            record.strata.needs_work.assumed) == (2, 1, 1)
    assert "(1 task(s) counted as needing work: the suite does not say" in record.render_text()


def test_evals_that_place_a_task_differently_are_not_compared(art: Path) -> None:
    with pytest.raises(VersionError, match="the suite changed between the two evals"):
        write_comparison(VersionStore(art),
                         eval_of(f"{AGENT}@2", [True], work=[False]),
                         eval_of(f"{AGENT}@1", [False], work=[True]))


def test_the_pipeline_compares_its_control_with_the_base_and_the_new_version(
        art: Path, tmp_path: Path) -> None:
    """``pantheon specialize``'s control step on measured numbers: @2 is the new version
    (not promoted), @3 the control that only learnt to stop. Both comparisons are in the
    report; the promotion tried against the base (still current) is refused."""
    from pantheon_engine.specialize.pipeline import SpecializeOptions, Specializer

    work: list[bool | None] = [True] * 20 + [False] * 11
    base = eval_of(f"{AGENT}@1", [True] * 3 + [False] * 28, work=work)
    new = eval_of(f"{AGENT}@2", [True] * 12 + [False] * 19, work=work)
    control = eval_of(f"{AGENT}@3", [True] * 3 + [False] * 17 + [True] * 11, work=work)
    specializer = Specializer(SpecializeOptions(agent=AGENT, suite=tmp_path, artifacts=art),
                              say=lambda _: None)
    specializer.compare_control(control, new, base)
    report = specializer.report
    assert report.control is not None and report.control_base is not None
    assert report.control.against.version == f"{AGENT}@2"
    assert (report.control.wins, report.control.losses) == (11, 9)
    assert report.control.promoted is None and report.control.accepted is False
    against_base = report.control_base
    assert against_base.against.version == f"{AGENT}@1"
    assert (against_base.wins, against_base.losses, against_base.promoted) == (11, 0, False)
    assert "not significantly better on the 20 tasks that need work" in \
        (against_base.decision or "")
    assert VersionStore(art).current(AGENT).number == 1
    lines = "\n".join(report.lines())
    assert "control (shuffled replies) vs the new version: " in lines
    assert "control (shuffled replies) vs the base: " in lines
    assert "no work: 11 tasks, won 11, lost 0" in lines and "not promoted: " in lines
    assert "the guard refuses: " in lines


# --- serving -------------------------------------------------------------------------------


def test_serving_a_version_with_the_embedded_engine(art: Path) -> None:
    store, registry = VersionStore(art), default_registry()
    settings = EngineSettings(name="openvino")
    one = plan_serving(registry, settings, store, agents=[AGENT], pinned={AGENT: 2})
    assert one.settings.model == str((store.folder(AGENT, 2) / "model.gguf").resolve())
    assert one.registry.get(AGENT).ref == f"{AGENT}@2" and one.served == {AGENT: 2}
    assert settings.model == "smollm2-135m"  # the caller's settings are left alone

    # two model agents that need different weights: one engine per file, routed by agent
    both = [AGENT, "review.peer"]
    pinned = plan_serving(registry, settings, store, agents=both, pinned={AGENT: 2})
    assert pinned.served == {AGENT: 2} and pinned.notes == []
    assert pinned.models == {AGENT: one.settings.model, "review.peer": "smollm2-135m"}
    assert pinned.settings.model == "smollm2-135m"  # the default: agents nobody planned for
    store.set_current(AGENT, 2, action="promote", why="test")
    night = plan_serving(registry, settings, store, agents=both)
    assert night.served == {AGENT: 2} and night.models == pinned.models
    assert night.registry.get(AGENT).ref == f"{AGENT}@2"
    alone = plan_serving(registry, settings, store, agents=[AGENT])
    assert alone.served == {AGENT: 2} and alone.settings.model.endswith("2/model.gguf")
    other_base = plan_serving(registry, settings.model_copy(update={"model": "/x/other.gguf"}),
                              store, agents=[AGENT])
    assert other_base.served == {AGENT: 1} and "merged onto smollm2-135m" in other_base.notes[0]

    # agents without registered versions keep their own
    assert plan_serving(registry, settings, store, agents=["review.peer"]).served == {}


def test_a_night_serves_the_current_version_of_every_agent(art: Path,
                                                           tmp_path: Path) -> None:
    from pantheon_engine.flows_builtin import resolve_flow
    from pantheon_engine.night.jobqueue import JobQueue

    store = VersionStore(art)
    store.set_current(AGENT, 3, action="promote", why="test")
    alone = tmp_path / "frontmatter.yaml"  # the agent and its check: one model agent
    alone.write_text("name: fm\nnodes:\n  - {id: frontmatter, agent: doc.frontmatter, "
                     "inputs: [input]}\n  - {id: check, agent: check.rules, inputs: "
                     "[frontmatter]}\noutput: check\n")
    settings = EngineSettings(name="openvino")
    with JobQueue.for_artifacts(tmp_path / "night") as queue:
        queue.add(alone, {"path": "a.md", "rules": RULES, "workspace": str(tmp_path)})
        night = plan_night(queue, default_registry(), settings, store)
        assert night.served == {AGENT: 3} and night.settings.model.endswith("3/model.gguf")
        assert night.registry.get(AGENT).ref == f"{AGENT}@3" and night.notes == []
        # docops also runs the reviewers on the model: each agent gets its own weights
        queue.add(resolve_flow("docops"), {"path": "a.md", "rules": RULES,
                                           "workspace": str(tmp_path)})
        night = plan_night(queue, default_registry(), settings, store)
        assert night.served == {AGENT: 3} and night.notes == []
        assert night.models[AGENT].endswith("3/model.gguf")
        assert night.models["review.peer"] == night.settings.model == "smollm2-135m"
        assert night.registry.get(AGENT).ref == f"{AGENT}@3"


def test_a_run_records_the_version_that_served(art: Path, docops_repo: Path,
                                              tmp_path: Path) -> None:
    from pantheon_engine.flows_builtin import resolve_flow
    from pantheon_engine.run.runner import run_once

    VersionStore(art).set_current(AGENT, 2, action="promote", why="test")
    replies = tmp_path / "replies.jsonl"
    replies.write_text(RecordedReply(key="frontmatter", text=FINAL).model_dump_json() + "\n")
    result = asyncio_run(run_once(
        resolve_flow("docops"), {"path": "docs/guide.md", "rules": RULES}, mode="day",
        workspace=docops_repo, artifacts=art, replay=str(replies)))
    run = json.loads((Path(result.dir) / "run.json").read_text())
    assert run["agents"]["frontmatter"] == f"{AGENT}@2"
    assert run["agents"]["reviewA"] == "review.peer@1"


def test_a_version_served_by_name_on_an_openai_server(art: Path, tmp_path: Path) -> None:
    """With vLLM a version is a LoRA module: each agent's requests name its own."""
    store = VersionStore(art)
    suite_dir = write_suite(tmp_path / "suite")
    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content).get("model"))
        return httpx.Response(200, json={"model": seen[-1], "choices": [
            {"message": {"role": "assistant", "content": FINAL}, "finish_reason": "stop"}]})

    settings = EngineSettings(name="openai", base_url="http://127.0.0.1:9/v1")
    serving = plan_serving(default_registry(), settings, store, agents=[AGENT],
                           pinned={AGENT: 3})
    engine = OpenAIEngine(settings.base_url or "", model="base-model",
                          transport=httpx.MockTransport(answer))
    serving.configure(engine)
    result = asyncio_run(run_eval(load_suite(suite_dir, serving.registry), agent=f"{AGENT}@3",
                                  split="holdout", engine=engine, registry=serving.registry,
                                  artifacts=tmp_path / "out", concurrency=1))
    assert result.agent == f"{AGENT}@3" and seen == [f"{AGENT}@3"] * 2
    run_id = result.tasks[0].results[0].run_id or ""
    run = json.loads((Path(result.dir or "") / "runs" / run_id / "run.json").read_text())
    assert run["agents"] == {"frontmatter": f"{AGENT}@3", "check": "check.rules@1"}
    # an agent without an adapter asks for the server's own model
    other = engine.for_agent("review.peer")
    asyncio_run(other.complete(EngineRequest(messages=[Message(role="user", content="hi")])))
    assert seen[-1] == "base-model"
    asyncio_run(engine.close())


def asyncio_run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


# --- the command line -----------------------------------------------------------------------


def write_suite(folder: Path, *, compliant: bool = False) -> Path:
    """t1 and t2 need two edits each; ``compliant``: also t3, a document that complies."""
    workspace = folder / "workspace"
    (workspace / "docs").mkdir(parents=True)
    lines = []
    for tid in ("t1", "t2", "t3") if compliant else ("t1", "t2"):
        text = DOC.format(name=tid.upper())
        if tid == "t3":
            text = "---\ntitle: T3\n---\n# T3\n\nSome text.\n"
        (workspace / "docs" / f"{tid}.md").write_text(text)
        lines.append(json.dumps({"id": tid, "agent": AGENT, "split": "holdout",
                                 "input": {"path": f"docs/{tid}.md", "rules": RULES},
                                 "meta": {"edits": 0 if tid == "t3" else 2}}))
    git_repo(workspace)
    (folder / "tasks.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def pantheon(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pantheon_engine", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "200"})


def test_eval_against_then_promote_and_list_from_the_command_line(art: Path,
                                                                   tmp_path: Path) -> None:
    suite_dir = write_suite(tmp_path / "suite", compliant=True)
    # t1 passes, t2 replies final at once and fails, t3 (it complies) passes by doing that
    replies = tmp_path / "replies.jsonl"
    replies.write_text("".join(RecordedReply(key="frontmatter", text=t).model_dump_json() + "\n"
                               for t in [*GOOD, FINAL, FINAL]))
    common = ["--suite", str(suite_dir), "--replay", str(replies), "--concurrency", "1",
              "--artifacts", str(art)]
    proc = pantheon("eval", f"{AGENT}@2", "--against", f"{AGENT}@1", *common, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "pass@1 = 0.667 [0.208, 0.939] 2/3" in proc.stdout
    assert f"{AGENT}@2 pass@1 0.667 [0.208, 0.939] (2/3)" in proc.stdout
    assert "both 2, only doc.frontmatter@2 0, only doc.frontmatter@1 0, neither 1; exact " \
        "McNemar p = 1" in proc.stdout
    assert "  needs work: 2 tasks, won 0, lost 0, both 1, neither 1, exact McNemar p = 1\n" \
        "  no work: 1 task, won 0, lost 0, both 1, neither 0, exact McNemar p = 1" in proc.stdout
    record = latest_comparison(art, AGENT, 2, 1)
    assert record is not None and f"comparison: {art / 'evals' / 'comparisons'}" in proc.stdout
    new_eval = EvalResult.load(record.new.dir or "")
    assert new_eval.agent == f"{AGENT}@2" and EvalResult.load(record.against.dir or "").agent \
        == f"{AGENT}@1"
    run_id = new_eval.tasks[0].results[0].run_id or ""
    run = json.loads((Path(new_eval.dir or "") / "runs" / run_id / "run.json").read_text())
    assert run["agents"]["frontmatter"] == f"{AGENT}@2"  # run.json names the version served
    assert VersionStore(art).get(AGENT, 2).eval.eval_id == new_eval.eval_id

    proc = pantheon("promote", f"{AGENT}@2", "--artifacts", str(art), cwd=tmp_path)
    assert proc.returncode == 1
    assert "promotion of doc.frontmatter@2 refused: doc.frontmatter@2 is not better" in proc.stderr
    assert "won 0, lost 0; exact McNemar p = 1" in proc.stderr

    proc = pantheon("agents", "list", "--artifacts", str(art), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if "doc.frontmatter@" in line]
    assert any("doc.frontmatter@1" in line and "●" in line and "0.667 [0.208, 0.939] 2/3" in line
               for line in lines), proc.stdout
    assert any("doc.frontmatter@2" in line and "●" not in line and "120 (best_of_k 40, search "
               in line for line in lines), proc.stdout

    proc = pantheon("rollback", AGENT, "--artifacts", str(art), cwd=tmp_path)
    assert proc.returncode == 2 and "nothing to roll back" in proc.stderr


def test_record_eval_keeps_holdout_evals_of_known_versions(art: Path) -> None:
    store = VersionStore(art)
    assert record_eval(store, eval_of(f"{AGENT}@2", [True, False, False, False]))
    info = store.get(AGENT, 2).eval
    assert info is not None and (info.passed, info.total) == (1, 4)
    assert info.interval == pytest.approx((0.0456, 0.6994), abs=1e-4)
    assert not record_eval(store, eval_of(f"{AGENT}@2", [True], split="train"))
    assert not record_eval(store, eval_of(f"{AGENT}@7", [True]))
    assert store.get(AGENT, 2).eval == info


def test_vllm_serves_each_current_adapter_as_a_named_module(art: Path, tmp_path: Path) -> None:
    store = VersionStore(art)
    assert vllm_lora_args(store) == []  # nothing promoted: the base serves
    store.set_current(AGENT, 2, action="promote", why="test")
    adapter = (store.folder(AGENT, 2) / "adapter").resolve()
    expected = ["--enable-lora", "--max-lora-rank", "8", "--lora-modules",
                f"{AGENT}@2={adapter}"]
    assert vllm_lora_args(store) == expected
    proc = pantheon("serve", "vllm", "--model", "HuggingFaceTB/SmolLM2-135M-Instruct",
                    "--adapters", "--artifacts", str(art), "--dry-run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-5:] == expected
