"""The SQLite trace store: rows from a real tool loop, buffering, concurrency, schema."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from pydantic import BaseModel

from pantheon_engine.agents.spec import Limits
from pantheon_engine.engines.base import Message, OutputConstraint
from pantheon_engine.engines.replay import RecordedReply, ReplayEngine
from pantheon_engine.loop.tool_loop import LoopSinks, ModelCallRecord, ToolCallRecord, ToolLoop
from pantheon_engine.loop.traces import (
    RESULT_LIMIT,
    SCHEMA_VERSION,
    RequestTap,
    TraceKey,
    TraceStore,
    TraceStoreError,
    default_traces_path,
    truncate_result,
)
from pantheon_engine.tools.base import ToolContext
from pantheon_engine.tools.registry import get_tool

KEY = TraceKey(night_id="n1", run_id="r1", node_id="scan", agent="doc.reader@1", attempt=2)


class Final(BaseModel):
    summary: str


def make_loop(workspace: Path, replies: list[str], *, tap: bool = False) -> ToolLoop:
    engine = ReplayEngine([RecordedReply(text=t) for t in replies])
    (workspace / "notes.txt").write_text("hello\n")
    return ToolLoop(
        engine=RequestTap(engine) if tap else engine,
        tools=[get_tool("read_file"), get_tool("list_dir")],
        tool_ctx=ToolContext(workspace=workspace),
        system_prompt="sys",
        task_prompt="task",
        final_model=Final,
        limits=Limits(max_steps=6, max_failures=3),
        key="scan",
        attempt=2,
    )


REPLIES = [
    '{"type":"tool","name":"read_file","args":{"path":"notes.txt"}}',
    "not json at all",
    '{"type":"tool","name":"read_file","args":{"path":"missing.txt"}}',
    '{"type":"final","output":{"summary":"done"}}',
]


def model_record(step: int, outcome: str = "tool") -> ModelCallRecord:
    return ModelCallRecord(
        step=step,
        key="k",
        reply=f"reply {step}",
        outcome=outcome,
        finish_reason="stop",
        prompt_tokens=10,
        completion_tokens=5,
    )


def tool_record(step: int, result: object = None, ok: bool = True) -> ToolCallRecord:
    return ToolCallRecord(
        step=step, name="read_file", args={"path": "a"}, ok=ok, result=result, ms=1.5
    )


async def test_a_real_loop_is_traced_with_keys_steps_and_outcomes(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    loop = make_loop(ws, REPLIES, tap=True)
    with TraceStore(tmp_path / "traces.sqlite", flush_interval_s=None) as store:
        assert isinstance(loop.engine, RequestTap)
        loop.sinks = store.sinks(KEY, tap=loop.engine)
        result = await loop.run()
        assert result.status == "ok" and result.steps == 4
        assert store.flush() == 6  # 4 model calls + 2 tool calls
        models = store.model_calls(run_id="r1")
        tools = store.tool_calls(run_id="r1")

    assert [m["step"] for m in models] == [1, 2, 3, 4]
    assert [m["outcome"] for m in models] == ["tool", "parse", "tool_error", "final"]
    for m in models:
        assert (m["night_id"], m["run_id"], m["node_id"], m["agent"], m["attempt"]) == (
            "n1",
            "r1",
            "scan",
            "doc.reader@1",
            2,
        )
        assert m["finish_reason"] == "stop" and m["t"] > 0
    assert [m["reply"] for m in models] == REPLIES
    assert models[1]["error"] and models[0]["error"] is None
    # the request messages of each call, as the engine saw them
    first = json.loads(models[0]["messages_json"])
    assert first == [{"role": "system", "content": "sys"}, {"role": "user", "content": "task"}]
    second = json.loads(models[1]["messages_json"])
    assert second[2] == {"role": "assistant", "content": REPLIES[0]}
    assert second[3]["content"].startswith("RESULT read_file")
    # the replay engine takes no constraint
    assert all(m["constraint"] is None for m in models)

    assert [(t["step"], t["name"], t["ok"]) for t in tools] == [
        (1, "read_file", True),
        (3, "read_file", False),
    ]
    assert json.loads(tools[0]["args_json"]) == {"path": "notes.txt"}
    assert "hello" in tools[0]["result_json"]
    assert tools[1]["error_kind"] == "tool_error" and tools[1]["result_json"] is None
    assert all(t["attempt"] == 2 and t["agent"] == "doc.reader@1" for t in tools)


async def test_sinks_chain_to_other_sinks_and_work_without_a_tap(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    loop = make_loop(ws, REPLIES)
    seen_models: list[ModelCallRecord] = []
    seen_tools: list[ToolCallRecord] = []
    other = LoopSinks(on_model_call=seen_models.append, on_tool_call=seen_tools.append)
    with TraceStore(tmp_path / "t.sqlite") as store:
        loop.sinks = store.sinks(KEY, then=other)
        await loop.run()
        assert len(seen_models) == 4 and len(seen_tools) == 2
        models = store.model_calls()
        assert len(models) == 4 and all(m["messages_json"] is None for m in models)
        assert store.agents() == ["doc.reader@1"]
        assert store.counts() == {
            "model_calls": 4,
            "tool_calls": 2,
            "tool_errors": 1,
            "runs": 1,
            "agents": 1,
            "dropped": 0,
        }


def test_constraint_and_explicit_messages(tmp_path: Path) -> None:
    with TraceStore(tmp_path / "t.sqlite") as store:
        store.record_model_call(
            KEY,
            model_record(1),
            messages=[{"role": "user", "content": "x"}],
            constraint='\\{"type":.*',
        )
        store.record_model_call(
            KEY,
            model_record(2),
            messages=[Message(role="system", content="s")],
            constraint=OutputConstraint(regex="a+"),
        )
        rows = store.model_calls()
    assert json.loads(rows[0]["messages_json"]) == [{"role": "user", "content": "x"}]
    assert rows[0]["constraint"] == '\\{"type":.*'
    assert json.loads(rows[1]["messages_json"]) == [{"role": "system", "content": "s"}]
    assert rows[1]["constraint"] == "a+"


def test_rows_wait_in_the_buffer_until_flush(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    store = TraceStore(path, flush_interval_s=None, flush_rows=100)
    reader = TraceStore(path, flush_interval_s=None)
    try:
        for step in range(1, 4):
            store.record_model_call(KEY, model_record(step))
        store.record_tool_call(KEY, tool_record(1, {"text": "hi"}))
        assert store.pending == 4
        assert reader.counts()["model_calls"] == 0  # another connection sees nothing yet
        assert store.flush() == 4
        assert store.pending == 0
        assert reader.counts()["model_calls"] == 3
        assert reader.counts()["tool_calls"] == 1
        assert store.flush() == 0
    finally:
        store.close()
        reader.close()


def test_flush_every_n_rows(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    with (
        TraceStore(path, flush_interval_s=None, flush_rows=5) as store,
        TraceStore(path, flush_interval_s=None) as reader,
    ):
        for step in range(1, 5):
            store.record_model_call(KEY, model_record(step))
        assert reader.counts()["model_calls"] == 0
        store.record_model_call(KEY, model_record(5))  # the 5th row triggers the write
        assert store.pending == 0
        assert reader.counts()["model_calls"] == 5


def test_background_flush_on_interval(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    with (
        TraceStore(path, flush_interval_s=0.05) as store,
        TraceStore(path, flush_interval_s=None) as reader,
    ):
        store.record_model_call(KEY, model_record(1))
        deadline = time.monotonic() + 5
        while reader.counts()["model_calls"] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert reader.counts()["model_calls"] == 1
        assert store.pending == 0


def test_nothing_is_lost_on_close(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    store = TraceStore(path, flush_rows=10_000, flush_interval_s=60)
    for step in range(1, 301):
        store.record_model_call(KEY, model_record(step))
        store.record_tool_call(KEY, tool_record(step, {"n": step}))
    store.close()
    store.close()  # idempotent
    with pytest.raises(TraceStoreError, match="closed"):
        store.record_model_call(KEY, model_record(1))
    with TraceStore(path) as again:
        assert again.counts()["model_calls"] == 300
        assert [r["step"] for r in again.tool_calls()] == list(range(1, 301))


def test_a_forgotten_store_is_flushed_when_collected(tmp_path: Path) -> None:
    import gc

    path = tmp_path / "t.sqlite"
    store = TraceStore(path, flush_rows=10_000, flush_interval_s=60)
    store.record_model_call(KEY, model_record(1))
    del store
    gc.collect()
    with TraceStore(path) as again:
        assert again.counts()["model_calls"] == 1


def test_two_stores_write_concurrently(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    a = TraceStore(path, flush_rows=7, flush_interval_s=0.01)
    b = TraceStore(path, flush_rows=11, flush_interval_s=None)
    n = 400
    errors: list[BaseException] = []

    def write(store: TraceStore, run_id: str) -> None:
        key = KEY.model_copy(update={"run_id": run_id})
        try:
            for step in range(1, n + 1):
                store.record_model_call(key, model_record(step))
                if step % 2:
                    store.record_tool_call(key, tool_record(step, {"step": step}))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(a, "ra")),
        threading.Thread(target=write, args=(a, "ra2")),
        threading.Thread(target=write, args=(b, "rb")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a.close()
    b.close()
    assert not errors
    with TraceStore(path) as store:
        counts = store.counts()
        assert counts["model_calls"] == 3 * n and counts["tool_calls"] == 3 * n // 2
        assert counts["runs"] == 3
        for run in ("ra", "ra2", "rb"):
            assert [r["step"] for r in store.model_calls(run_id=run)] == list(range(1, n + 1))
        assert store.integrity_check() == "ok"


def test_wal_mode_and_schema(tmp_path: Path) -> None:
    path = default_traces_path(tmp_path / "artifacts")
    assert path == tmp_path / "artifacts" / "traces.sqlite"
    with TraceStore.for_artifacts(tmp_path / "artifacts") as store:
        assert store.journal_mode() == "wal"
        assert store.schema_version() == SCHEMA_VERSION
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    indexes = {
        r[0]: r[1]
        for r in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL"
        )
    }
    conn.close()
    assert {"model_calls", "tool_calls"} <= tables
    assert "(run_id, node_id)" in indexes["model_calls_run"]
    assert "(agent)" in indexes["tool_calls_agent"]


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    TraceStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(TraceStoreError, match="schema version"):
        TraceStore(path)


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(TraceStoreError, match="not a usable SQLite"):
        TraceStore(path)


def test_large_tool_results_are_truncated(tmp_path: Path) -> None:
    big = {"text": "é" * 40_000}
    with TraceStore(tmp_path / "t.sqlite") as store:
        store.record_tool_call(KEY, tool_record(1, big))
        store.record_tool_call(KEY, tool_record(2, {"text": "small"}))
        rows = store.tool_calls(limit=5)
    stored = rows[0]["result_json"]
    assert len(stored.encode("utf-8")) <= RESULT_LIMIT
    decoded = json.loads(stored)
    assert decoded["_truncated"] is True
    assert decoded["bytes"] == len(
        json.dumps(big, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    )
    assert decoded["head"].startswith('{"text":"éé')
    assert json.loads(rows[1]["result_json"]) == {"text": "small"}


@pytest.mark.parametrize("text", ['"' * 50_000, "\x01" * 50_000, "a" * RESULT_LIMIT])
def test_truncate_result_stays_within_the_limit(text: str) -> None:
    out = truncate_result(text)
    assert len(out.encode("utf-8")) <= RESULT_LIMIT
    if len(text.encode()) <= RESULT_LIMIT:
        assert out == text
    else:
        assert json.loads(out)["_truncated"] is True


def test_queries_filter_by_run_agent_and_limit(tmp_path: Path) -> None:
    other = TraceKey(run_id="r2", node_id="fix", agent="code.fixer@3")
    with TraceStore(tmp_path / "t.sqlite") as store:
        for step in range(1, 4):
            store.record_model_call(KEY, model_record(step))
            store.record_model_call(other, model_record(step, "final"))
        store.record_tool_call(other, tool_record(1, ok=False))
        assert len(store.model_calls()) == 6
        assert [r["run_id"] for r in store.model_calls(agent="code.fixer@3")] == ["r2"] * 3
        assert len(store.model_calls(run_id="r1", limit=2)) == 2
        assert store.model_calls(run_id="r1", agent="code.fixer@3") == []
        assert store.model_calls(node_id="fix")[0]["night_id"] is None
        assert store.tool_calls(agent="code.fixer@3")[0]["ok"] is False
        assert store.tool_calls(run_id="r1") == []
        assert store.agents() == ["code.fixer@3", "doc.reader@1"]


def test_a_locked_file_keeps_the_rows_for_later(tmp_path: Path) -> None:
    from pantheon_engine.loop.traces import TraceBusy

    path = tmp_path / "t.sqlite"
    with TraceStore(path, flush_interval_s=None, busy_timeout_ms=50) as store:
        store.record_model_call(KEY, model_record(1))
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            with pytest.raises(TraceBusy):
                store.flush()
            assert store.pending == 1 and store.dropped == 0
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert store.flush() == 1
        assert store.counts()["model_calls"] == 1


def test_the_pending_buffer_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    with TraceStore(path, flush_interval_s=None, busy_timeout_ms=20, max_pending=3) as store:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            for step in range(1, 6):
                store.record_model_call(KEY, model_record(step))
            with pytest.raises(Exception, match="locked"):
                store.flush()
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert store.pending == 3 and store.dropped == 2
        assert [r["step"] for r in store.model_calls()] == [3, 4, 5]  # the newest are kept
