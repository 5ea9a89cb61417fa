"""Run an in-process engine in a child process, so its steps never hold our GIL.

OpenVINO GenAI's ``step()`` keeps the GIL while it computes. In the same process that
stalls the agents' event loop (validation, tools, artifacts) for the length of every step,
and the engine in turn idles while the agents catch up. In a child process the two run
side by side: the child steps, the parent's loop does the agents' work.

Protocol over one duplex pipe (pickled tuples):

* parent → child: ``("complete", id, request_dict)``, ``("cancel", id)``, ``("close",)``;
* child → parent: ``("ready", model)``, ``("done", id, completion_dict)``,
  ``("fail", id, error_class_name, message)``, ``("stats", stats_dict)``,
  ``("fatal", error_class_name, message)``.

Pickling happens on both sides' event loops; requests and replies are a few kilobytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from pantheon_engine import errors
from pantheon_engine.engines.base import Completion, Engine, EngineRequest, EngineStats
from pantheon_engine.errors import EngineError, EngineUnavailable, PantheonError

STATS_INTERVAL_S = 0.25
START_TIMEOUT_S = 300.0


def _error(name: str, message: str) -> PantheonError:
    """Rebuild an engine error sent by the child (unknown names become EngineError)."""
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, PantheonError) and cls is not errors.NodeFailed:
        return cls(message)
    return EngineError(message)


class IsolatedEngine(Engine):
    """Proxy for an engine built by ``factory(**kwargs)`` inside a spawned child process.

    ``factory`` must be importable (a module-level callable), e.g. ``OpenVINOEngine``.
    """

    def __init__(self, factory: Callable[..., Engine], *, name: str, model: str,
                 supports_constraints: bool, **kwargs: Any) -> None:
        self.name = name
        self.model = model
        self.supports_constraints = supports_constraints
        self._factory = factory
        self._kwargs = kwargs
        self._conn: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: dict[int, asyncio.Future[Completion]] = {}
        self._ids = itertools.count(1)
        self._ready: asyncio.Future[None] | None = None
        self._stats = EngineStats()
        self._fatal: str | None = None
        self._start_lock: asyncio.Lock | None = None

    async def start(self) -> None:
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._process is not None:
                if self._fatal:
                    raise EngineUnavailable(self._fatal)
                return
            ctx = multiprocessing.get_context("spawn")
            parent, child = ctx.Pipe(duplex=True)
            self._process = ctx.Process(
                target=_child_main, args=(child, self._factory, self._kwargs),
                name=f"pantheon-{self.name}-engine", daemon=True,
            )
            self._process.start()
            child.close()
            self._conn = parent
            self._loop = asyncio.get_running_loop()
            self._ready = self._loop.create_future()
            self._loop.add_reader(parent.fileno(), self._on_readable)
            try:
                await asyncio.wait_for(asyncio.shield(self._ready), START_TIMEOUT_S)
            except TimeoutError as exc:
                await self.close()
                raise EngineUnavailable(
                    f"the {self.name} engine did not start within {START_TIMEOUT_S:.0f}s"
                ) from exc
            except PantheonError:
                await self.close()
                raise

    def _on_readable(self) -> None:
        conn = self._conn
        assert conn is not None
        try:
            while conn.poll():
                self._handle(conn.recv())
        except (EOFError, OSError):
            self._lost("the engine process exited")

    def _handle(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "done":
            future = self._pending.pop(message[1], None)
            if future is not None and not future.done():
                future.set_result(Completion.model_validate(message[2]))
        elif kind == "fail":
            future = self._pending.pop(message[1], None)
            if future is not None and not future.done():
                future.set_exception(_error(message[2], message[3]))
        elif kind == "stats":
            self._stats = EngineStats.model_validate(message[1])
        elif kind == "ready":
            self.model = message[1] or self.model
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
        elif kind == "fatal":
            error = _error(message[1], message[2])
            if self._ready is not None and not self._ready.done():
                self._ready.set_exception(error)
            self._lost(str(error))

    def _lost(self, why: str) -> None:
        """The child is gone: fail every caller instead of leaving it waiting."""
        self._fatal = self._fatal or why
        if self._loop is not None and self._conn is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._conn.fileno())
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(EngineUnavailable(self._fatal))
        for future in self._pending.values():
            if not future.done():
                future.set_exception(EngineUnavailable(self._fatal))
        self._pending.clear()

    def _send(self, message: tuple[Any, ...]) -> None:
        if self._conn is None or self._fatal:
            raise EngineUnavailable(self._fatal or f"the {self.name} engine is not running")
        try:
            self._conn.send(message)
        except (OSError, ValueError) as exc:
            self._lost(f"the engine process is unreachable: {exc}")
            raise EngineUnavailable(self._fatal or "engine process lost") from exc

    async def complete(self, request: EngineRequest) -> Completion:
        if self._process is None:
            await self.start()
        if self._fatal:
            raise EngineUnavailable(self._fatal)
        assert self._loop is not None
        rid = next(self._ids)
        future: asyncio.Future[Completion] = self._loop.create_future()
        self._pending[rid] = future
        self._send(("complete", rid, request.model_dump(mode="json")))
        try:
            return await future
        except asyncio.CancelledError:
            self._pending.pop(rid, None)
            with contextlib.suppress(EngineUnavailable):
                self._send(("cancel", rid))
            raise

    def stats(self) -> EngineStats:
        stats = self._stats.model_copy()
        stats.in_flight = len(self._pending)
        return stats

    async def close(self) -> None:
        process, conn = self._process, self._conn
        if process is None:
            return
        if conn is not None and not self._fatal:
            with contextlib.suppress(OSError, ValueError):
                conn.send(("close",))
        await asyncio.to_thread(process.join, 30.0)
        if process.is_alive():
            process.kill()
            await asyncio.to_thread(process.join, 5.0)
        self._lost(f"the {self.name} engine was closed")
        if conn is not None:
            conn.close()
        self._conn = None


# --- the child process ------------------------------------------------------------------


def _child_main(conn: Connection, factory: Callable[..., Engine], kwargs: dict[str, Any]) -> None:
    with contextlib.suppress(KeyboardInterrupt):  # the parent decides when we stop
        asyncio.run(_serve(conn, factory, kwargs))


async def _serve(conn: Connection, factory: Callable[..., Engine], kwargs: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    try:
        engine = factory(**kwargs)
        await engine.start()
    except PantheonError as exc:
        conn.send(("fatal", type(exc).__name__, exc.message))
        return
    except Exception as exc:  # a broken install, say: still a clear message upstream
        conn.send(("fatal", "EngineUnavailable", f"the engine could not start: {exc}"))
        return
    conn.send(("ready", engine.model))
    inbox: asyncio.Queue[tuple[Any, ...] | None] = asyncio.Queue()
    tasks: dict[int, asyncio.Task[None]] = {}

    def readable() -> None:
        try:
            while conn.poll():
                inbox.put_nowait(conn.recv())
        except (EOFError, OSError):
            inbox.put_nowait(None)  # the parent is gone

    async def run(rid: int, request: EngineRequest) -> None:
        try:
            completion = await engine.complete(request)
        except asyncio.CancelledError:
            return
        except PantheonError as exc:
            conn.send(("fail", rid, type(exc).__name__, exc.message))
        except Exception as exc:
            conn.send(("fail", rid, "EngineError", f"engine failure: {exc}"))
        else:
            conn.send(("done", rid, completion.model_dump(mode="json")))
        finally:
            tasks.pop(rid, None)

    async def report_stats() -> None:
        while True:
            await asyncio.sleep(STATS_INTERVAL_S)
            conn.send(("stats", engine.stats().model_dump(mode="json")))

    loop.add_reader(conn.fileno(), readable)
    reporter = loop.create_task(report_stats())
    try:
        while True:
            message = await inbox.get()
            if message is None or message[0] == "close":
                break
            if message[0] == "complete":
                request = EngineRequest.model_validate(message[2])
                tasks[message[1]] = loop.create_task(run(message[1], request))
            elif message[0] == "cancel":
                task = tasks.pop(message[1], None)
                if task is not None:
                    task.cancel()
    finally:
        reporter.cancel()
        for task in list(tasks.values()):
            task.cancel()
        loop.remove_reader(conn.fileno())
        await engine.close()
