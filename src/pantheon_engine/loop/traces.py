"""The trace store: every model request and reply, parsed outcome and tool call, in SQLite.

One file (``<artifacts>/traces.sqlite`` by default) collects what the tool loops do, keyed
by night, run, node, agent (``name@version``) and attempt, for the specialisation work
(which agents fail how, which replies to keep as training data).

Writes are cheap: ``record_model_call`` / ``record_tool_call`` (and the callbacks of
:meth:`TraceStore.sinks`) serialise the row and append it to an in-memory buffer; nothing
touches SQLite on the caller's thread. A background thread writes the buffer in one
``BEGIN IMMEDIATE`` transaction every ``flush_interval_s`` (0.5 s) or as soon as
``flush_rows`` rows wait; :meth:`TraceStore.flush` and :meth:`TraceStore.close` write it at
once. The file is in WAL mode with ``synchronous = NORMAL`` (a power cut may lose the last
traces, never corrupt the file), so several processes (each with its own ``TraceStore``)
can write and read it at once. The schema version lives in ``PRAGMA user_version``.

The loop's records carry no request messages. To store them, wrap the node's engine in a
:class:`RequestTap` and pass it to :meth:`TraceStore.sinks`; or pass ``messages`` and
``constraint`` to :meth:`TraceStore.record_model_call` yourself.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from pantheon_engine.engines.base import (
    Completion,
    Engine,
    EngineRequest,
    EngineStats,
    OutputConstraint,
)
from pantheon_engine.errors import RunFailure, UserError
from pantheon_engine.loop.tool_loop import LoopSinks, ModelCallRecord, ToolCallRecord
from pantheon_engine.sqlite_files import apply_schema, is_busy, open_wal

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
TRACES_FILENAME = "traces.sqlite"
BUSY_TIMEOUT_MS = 30_000
#: A tool result whose compact JSON is longer than this (UTF-8 bytes) is stored truncated.
RESULT_LIMIT = 16 * 1024
FLUSH_ROWS = 256
FLUSH_INTERVAL_S = 0.5
#: Rows kept in memory while the file cannot be written; older ones are dropped beyond it.
MAX_PENDING = 50_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS model_calls (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    night_id          TEXT,
    run_id            TEXT    NOT NULL,
    node_id           TEXT    NOT NULL,
    agent             TEXT    NOT NULL,
    attempt           INTEGER NOT NULL DEFAULT 1,
    step              INTEGER NOT NULL,
    t                 REAL    NOT NULL,
    messages_json     TEXT,
    "constraint"      TEXT,
    reply             TEXT    NOT NULL,
    outcome           TEXT    NOT NULL,
    finish_reason     TEXT    NOT NULL,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    seconds           REAL    NOT NULL DEFAULT 0,
    error             TEXT
);
CREATE INDEX IF NOT EXISTS model_calls_run ON model_calls (run_id, node_id);
CREATE INDEX IF NOT EXISTS model_calls_agent ON model_calls (agent);
CREATE TABLE IF NOT EXISTS tool_calls (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    night_id    TEXT,
    run_id      TEXT    NOT NULL,
    node_id     TEXT    NOT NULL,
    agent       TEXT    NOT NULL,
    attempt     INTEGER NOT NULL DEFAULT 1,
    step        INTEGER NOT NULL,
    t           REAL    NOT NULL,
    name        TEXT    NOT NULL,
    args_json   TEXT    NOT NULL,
    ok          INTEGER NOT NULL,
    result_json TEXT,
    error       TEXT,
    error_kind  TEXT,
    ms          REAL    NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS tool_calls_run ON tool_calls (run_id, node_id);
CREATE INDEX IF NOT EXISTS tool_calls_agent ON tool_calls (agent);
"""

_MODEL_COLUMNS = (
    "night_id",
    "run_id",
    "node_id",
    "agent",
    "attempt",
    "step",
    "t",
    "messages_json",
    '"constraint"',
    "reply",
    "outcome",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "seconds",
    "error",
)
_TOOL_COLUMNS = (
    "night_id",
    "run_id",
    "node_id",
    "agent",
    "attempt",
    "step",
    "t",
    "name",
    "args_json",
    "ok",
    "result_json",
    "error",
    "error_kind",
    "ms",
)
_INSERT_MODEL = (
    f"INSERT INTO model_calls ({', '.join(_MODEL_COLUMNS)})"
    f" VALUES ({', '.join('?' for _ in _MODEL_COLUMNS)})"
)
_INSERT_TOOL = (
    f"INSERT INTO tool_calls ({', '.join(_TOOL_COLUMNS)})"
    f" VALUES ({', '.join('?' for _ in _TOOL_COLUMNS)})"
)


class TraceStoreError(UserError):
    """The trace file is unusable (not SQLite, newer schema, no WAL) or the store is closed."""


class TraceBusy(RunFailure):
    """The trace file stayed locked by another process past the busy timeout."""

    kind = "trace_busy"


class TraceKey(BaseModel):
    """Who produced a trace row: night, run, node, agent (``name@version``), attempt."""

    model_config = ConfigDict(frozen=True)

    night_id: str | None = None
    run_id: str
    node_id: str
    agent: str
    attempt: int = 1


def default_traces_path(artifacts_root: Path | str) -> Path:
    """Where traces live: ``<artifacts>/traces.sqlite``."""
    return Path(artifacts_root) / TRACES_FILENAME


def _dumps(value: Any) -> str:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def truncate_result(text: str, limit: int = RESULT_LIMIT) -> str:
    """``text`` when it fits in ``limit`` UTF-8 bytes; else a JSON object that says so.

    The truncated form is still JSON: ``{"_truncated":true,"bytes":N,"head":"..."}`` with
    the first bytes of the original text, and is itself no longer than ``limit`` bytes.
    """
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    head_bytes = max(limit - 256, 0)
    while True:
        head = raw[:head_bytes].decode("utf-8", errors="ignore")
        out = _dumps({"_truncated": True, "bytes": len(raw), "head": head})
        if len(out.encode("utf-8")) <= limit or head_bytes == 0:
            return out
        # escaping made it longer than the raw head (quotes, control characters): cut more
        head_bytes = max(head_bytes - (len(out.encode("utf-8")) - limit) - 16, 0)


def _constraint_text(constraint: OutputConstraint | str | None) -> str | None:
    if constraint is None or isinstance(constraint, str):
        return constraint
    if constraint.regex is not None:
        return constraint.regex
    if constraint.grammar is not None:
        return constraint.grammar
    return _dumps(constraint.json_schema)


class RequestTap(Engine):
    """Wraps an engine for ONE tool loop and remembers the last request it forwarded.

    The loop calls its sinks right after each completion, before it sends the next request,
    so ``last`` is the request of the record being reported. Use one tap per loop: the
    wrapped engine may be shared, the tap must not be. ``start``/``close`` do nothing (the
    owner of the wrapped engine manages it).
    """

    def __init__(self, engine: Engine) -> None:
        self.inner = engine
        self.name = engine.name
        self.model = engine.model
        self.supports_constraints = engine.supports_constraints
        self.last: EngineRequest | None = None

    async def complete(self, request: EngineRequest) -> Completion:
        self.last = request
        return await self.inner.complete(request)

    def stats(self) -> EngineStats:
        return self.inner.stats()


class _Writer:
    """The connection, the buffer and the flusher thread (kept apart from TraceStore so a
    forgotten store is still flushed when it is collected or the interpreter exits)."""

    def __init__(
        self,
        path: Path,
        busy_timeout_ms: int,
        flush_rows: int,
        flush_interval_s: float | None,
        max_pending: int,
    ) -> None:
        self.path = path
        self.flush_rows = max(1, int(flush_rows))
        self.flush_interval_s = flush_interval_s
        self.max_pending = max_pending
        self.db_lock = threading.RLock()  # the connection (and the order of flushes)
        self.buf_lock = threading.Lock()  # the buffer only: never held during I/O
        self.models: list[tuple[Any, ...]] = []
        self.tools: list[tuple[Any, ...]] = []
        self.dropped = 0
        self.closed = False
        self.wake = threading.Event()
        self.conn = self._open(busy_timeout_ms)
        self.thread: threading.Thread | None = None
        if flush_interval_s is not None:
            self.thread = threading.Thread(
                target=self._run, name=f"traces-flush:{path.name}", daemon=True
            )
            self.thread.start()

    # --- opening -----------------------------------------------------------------------

    def _open(self, busy_timeout_ms: int) -> sqlite3.Connection:
        return open_wal(self.path, busy_timeout_ms=busy_timeout_ms, synchronous="NORMAL",
                        what="trace file", error=TraceStoreError, busy_error=TraceBusy,
                        fs_hint="keep the artifacts folder on a local filesystem",
                        bad_hint="move the file away; a new trace file is created in its place",
                        prepare=self._migrate)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        with self._tx(conn):
            apply_schema(conn, _SCHEMA, SCHEMA_VERSION, what="trace file", path=self.path,
                         error=TraceStoreError,
                         hint="upgrade Pantheon, or point it at another artifacts folder")

    @contextmanager
    def _tx(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        with self.db_lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if is_busy(exc):
                    raise TraceBusy(f"trace file {self.path} is locked: {exc}") from exc
                raise
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    # --- buffering ---------------------------------------------------------------------

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        with self.buf_lock:
            if self.closed:
                raise TraceStoreError(f"trace store {self.path} is closed")
            (self.models if table == "model_calls" else self.tools).append(row)
            full = len(self.models) + len(self.tools) >= self.flush_rows
        if full:
            if self.thread is not None:
                self.wake.set()
            else:
                self.flush()

    def pending(self) -> int:
        with self.buf_lock:
            return len(self.models) + len(self.tools)

    def flush(self) -> int:
        """Write every buffered row in one transaction; return how many were written.

        When the file is locked or cannot be written the rows go back to the front of the
        buffer (up to ``max_pending``); any other failure drops them (counted in
        ``dropped``). Either way the error propagates (``TraceBusy`` when it was a lock).
        """
        with self.db_lock:
            with self.buf_lock:
                models, self.models = self.models, []
                tools, self.tools = self.tools, []
            if not models and not tools:
                return 0
            try:
                with self._tx(self.conn) as conn:
                    if models:
                        conn.executemany(_INSERT_MODEL, models)
                    if tools:
                        conn.executemany(_INSERT_TOOL, tools)
            except BaseException as exc:
                if isinstance(exc, sqlite3.OperationalError | TraceBusy):
                    self._put_back(models, tools)  # locked or I/O trouble: try again later
                else:  # rows the file refuses would fail forever: drop them
                    with self.buf_lock:
                        self.dropped += len(models) + len(tools)
                if isinstance(exc, sqlite3.Error) and is_busy(exc):
                    raise TraceBusy(f"trace file {self.path} is locked: {exc}") from exc
                raise
            return len(models) + len(tools)

    def _put_back(self, models: list[tuple[Any, ...]], tools: list[tuple[Any, ...]]) -> None:
        with self.buf_lock:
            self.models[:0] = models
            self.tools[:0] = tools
            excess = len(self.models) + len(self.tools) - self.max_pending
            if excess > 0:
                cut = min(excess, len(self.models))
                del self.models[:cut]
                del self.tools[: excess - cut]
                self.dropped += excess
                log.warning("trace store %s: dropped %d rows it could not write", self.path, excess)

    def _run(self) -> None:
        assert self.flush_interval_s is not None
        while True:
            self.wake.wait(self.flush_interval_s)
            self.wake.clear()
            if self.closed:
                return
            try:
                self.flush()
            except Exception as exc:  # keep the rows, try again next tick
                log.warning("trace store %s: flush failed: %s", self.path, exc)

    def close(self) -> None:
        with self.buf_lock:
            if self.closed:
                return
            self.closed = True
        self.wake.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join()
        try:
            self.flush()
        finally:
            with self.db_lock:
                self.conn.close()


class TraceStore:
    """A handle on the trace file: one connection, a write buffer, safe from any thread.

    ``flush_rows``: write as soon as that many rows wait. ``flush_interval_s``: write what
    waits this often from a background thread (``None``: no thread; rows are written when
    ``flush_rows`` is reached, on ``flush()`` and on ``close()``). Queries flush first, so
    a store always reads its own writes.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        flush_rows: int = FLUSH_ROWS,
        flush_interval_s: float | None = FLUSH_INTERVAL_S,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        max_pending: int = MAX_PENDING,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.clock = clock
        self._writer = _Writer(
            self.path, busy_timeout_ms, flush_rows, flush_interval_s, max_pending
        )
        # a store that is never closed is still flushed when collected or at exit
        self._finalizer = weakref.finalize(self, _close_quietly, self._writer)

    @classmethod
    def for_artifacts(cls, artifacts_root: Path | str, **kwargs: Any) -> TraceStore:
        """Open the default trace file of an artifacts folder (``<artifacts>/traces.sqlite``)."""
        return cls(default_traces_path(artifacts_root), **kwargs)

    # --- writing -----------------------------------------------------------------------

    def record_model_call(
        self,
        key: TraceKey,
        record: ModelCallRecord,
        messages: Sequence[Any] | None = None,
        constraint: OutputConstraint | str | None = None,
    ) -> None:
        """Buffer one model call: the request ``messages`` (dicts or ``Message``), its
        ``constraint`` (regex text or an ``OutputConstraint``), and the loop's record."""
        if messages is None:
            messages = getattr(record, "messages", None)
        if constraint is None:
            constraint = getattr(record, "constraint", None)
        row = (
            key.night_id,
            key.run_id,
            key.node_id,
            key.agent,
            key.attempt,
            record.step,
            self.clock(),
            _dumps([_dumps_message(m) for m in messages]) if messages is not None else None,
            _constraint_text(constraint),
            record.reply,
            record.outcome,
            record.finish_reason,
            record.prompt_tokens,
            record.completion_tokens,
            record.seconds,
            record.error,
        )
        self._writer.add("model_calls", row)

    def record_tool_call(self, key: TraceKey, record: ToolCallRecord) -> None:
        """Buffer one tool call; a result longer than 16 kB is stored truncated."""
        result = None
        if record.result is not None:
            result = truncate_result(_dumps(record.result))
        row = (
            key.night_id,
            key.run_id,
            key.node_id,
            key.agent,
            key.attempt,
            record.step,
            self.clock(),
            record.name,
            _dumps(record.args),
            int(record.ok),
            result,
            record.error,
            record.error_kind,
            record.ms,
        )
        self._writer.add("tool_calls", row)

    def sinks(
        self, key: TraceKey, tap: RequestTap | None = None, then: LoopSinks | None = None
    ) -> LoopSinks:
        """Loop callbacks that record into this store under ``key``.

        ``tap``: the :class:`RequestTap` the loop's engine is wrapped in, to store each
        call's request messages and constraint. ``then``: other sinks (the node's artifact
        files) called after the trace is buffered.
        """

        def on_model_call(record: ModelCallRecord) -> None:
            request = tap.last if tap is not None else None
            self.record_model_call(
                key,
                record,
                messages=request.messages if request is not None else None,
                constraint=request.constraint if request is not None else None,
            )
            if then is not None and then.on_model_call is not None:
                then.on_model_call(record)

        def on_tool_call(record: ToolCallRecord) -> None:
            self.record_tool_call(key, record)
            if then is not None and then.on_tool_call is not None:
                then.on_tool_call(record)

        return LoopSinks(on_model_call=on_model_call, on_tool_call=on_tool_call)

    def flush(self) -> int:
        """Write the buffered rows now (one transaction); return how many were written."""
        return self._writer.flush()

    @property
    def pending(self) -> int:
        """Rows buffered and not yet written."""
        return self._writer.pending()

    @property
    def dropped(self) -> int:
        """Rows lost because the file could not be written for too long."""
        return self._writer.dropped

    def close(self) -> None:
        """Stop the flusher, write what is left and close the file (idempotent)."""
        self._finalizer.detach()
        self._writer.close()

    def __enter__(self) -> TraceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reading -----------------------------------------------------------------------

    def _select(self, table: str, filters: dict[str, Any], limit: int | None) -> list[dict]:
        self.flush()
        where = [f"{column} = ?" for column, value in filters.items() if value is not None]
        params: list[Any] = [value for value in filters.values() if value is not None]
        sql = f"SELECT * FROM {table}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        with self._writer.db_lock:
            rows = self._writer.conn.execute(sql, params).fetchall()
        return [dict(row) for row in rows]

    def model_calls(
        self,
        run_id: str | None = None,
        agent: str | None = None,
        limit: int | None = None,
        *,
        node_id: str | None = None,
        night_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Model-call rows (column -> value), oldest first. JSON columns stay text."""
        return self._select(
            "model_calls",
            {"run_id": run_id, "agent": agent, "node_id": node_id, "night_id": night_id},
            limit,
        )

    def tool_calls(
        self,
        run_id: str | None = None,
        agent: str | None = None,
        limit: int | None = None,
        *,
        node_id: str | None = None,
        night_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Tool-call rows (column -> value, ``ok`` as bool), oldest first."""
        rows = self._select(
            "tool_calls",
            {"run_id": run_id, "agent": agent, "node_id": node_id, "night_id": night_id},
            limit,
        )
        for row in rows:
            row["ok"] = bool(row["ok"])
        return rows

    def counts(self) -> dict[str, int]:
        """Totals: model_calls, tool_calls, tool_errors, runs, agents, dropped."""
        self.flush()
        with self._writer.db_lock:
            conn = self._writer.conn
            model = conn.execute("SELECT COUNT(*) FROM model_calls").fetchone()[0]
            tool, errors = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(ok = 0), 0) FROM tool_calls"
            ).fetchone()
            runs = conn.execute(
                "SELECT COUNT(*) FROM (SELECT run_id FROM model_calls"
                " UNION SELECT run_id FROM tool_calls)"
            ).fetchone()[0]
        return {
            "model_calls": int(model),
            "tool_calls": int(tool),
            "tool_errors": int(errors),
            "runs": int(runs),
            "agents": len(self.agents()),
            "dropped": self.dropped,
        }

    def agents(self) -> list[str]:
        """Every agent (``name@version``) with at least one row, sorted."""
        self.flush()
        with self._writer.db_lock:
            rows = self._writer.conn.execute(
                "SELECT agent FROM model_calls UNION SELECT agent FROM tool_calls ORDER BY agent"
            ).fetchall()
        return [row[0] for row in rows]

    def journal_mode(self) -> str:
        with self._writer.db_lock:
            return str(self._writer.conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: ``"ok"`` when the file is sound."""
        with self._writer.db_lock:
            rows = self._writer.conn.execute("PRAGMA integrity_check").fetchall()
        return "\n".join(str(r[0]) for r in rows)

    def schema_version(self) -> int:
        with self._writer.db_lock:
            return int(self._writer.conn.execute("PRAGMA user_version").fetchone()[0])


def _dumps_message(message: Any) -> Any:
    if isinstance(message, BaseModel):
        return message.model_dump(mode="json")
    return message


def _close_quietly(writer: _Writer) -> None:
    try:
        writer.close()
    except Exception as exc:
        log.warning("trace store %s: final flush failed: %s", writer.path, exc)
