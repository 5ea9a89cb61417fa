"""The embedded engine: OpenVINO GenAI's continuous-batching pipeline, in-process.

One scheduler thread owns the pipeline. :meth:`OpenVINOEngine.complete` only puts a job
on a thread-safe inbox and awaits an asyncio future; between two pipeline steps the
thread admits new jobs (``add_request``), steps while there is work, collects the new
tokens of every request and resolves each caller's future on the caller's loop
(``call_soon_threadsafe``). So every agent that awaits ``complete`` at the same time
shares the same batches: keeping many requests in flight is what makes a small model fast
(SmolLM2-135M on 2 CPU cores: ~50-85 tokens/s alone, ~450-650 tokens/s with 32-64 in
flight).

Robustness rules:

* A model that is missing or fails to load raises :class:`EngineUnavailable` naming the
  path, from :meth:`start` (or the first :meth:`complete`).
* An output constraint (JSON schema, regex, EBNF grammar) is compiled by the pipeline
  inside ``step()``; a bad one raises there and leaves the pipeline unusable. So a
  constraint the engine has not yet seen compile is admitted alone (other new
  constraints wait a step or two), and it counts as good once its request produced a
  token. If a step fails, the pipeline is rebuilt and the requests in flight are
  resubmitted from scratch; a constraint on trial that fails twice fails its request
  with :class:`EngineError`, and fails fast from then on.
* Anything else that goes wrong inside the thread fails the affected futures with
  :class:`EngineError`; no caller is left hanging. A cancelled caller (for instance
  under ``asyncio.wait_for``) cancels its pipeline request.

Note: ``ContinuousBatchingPipeline.step()`` keeps the GIL while it runs, so the event
loop gets its turns between steps (a step of 32 sequences of a 135M model is ~70 ms on
2 cores).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import queue
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pantheon_engine.engines.base import (
    Completion,
    Engine,
    EngineRequest,
    EngineStats,
    FinishReason,
    OutputConstraint,
)
from pantheon_engine.errors import EngineError, EngineUnavailable, PantheonError

__all__ = ["OpenVINOEngine", "OpenVINOStats", "constraint_key"]

_IDLE_POLL_S = 0.2
_MAX_RESUBMITS = 1
_CONSTRAINT_STRIKES = 2
_STATS_MAX_AGE_S = 60.0
#: the callers' event loop ticks this often while requests are in flight
_HEARTBEAT_S = 0.005
#: a tick older than this means the loop is starved of the GIL by ``step()``
_STARVED_S = 0.005
#: without finished requests, the scheduler only pauses for a loop this far behind
_VERY_STARVED_S = 0.05
#: the longest the scheduler pauses for a starved loop before stepping again
_MAX_YIELD_S = 0.1


class OpenVINOStats(EngineStats):
    """EngineStats plus what only the embedded engine knows."""

    max_batch_size: int = 0
    waiting: int = 0
    rebuilds: int = 0


def constraint_key(constraint: OutputConstraint | None) -> str | None:
    """A stable key for one constraint (same schema/regex/grammar -> same key)."""
    if constraint is None:
        return None
    if constraint.json_schema is not None:
        return "json:" + json.dumps(constraint.json_schema, sort_keys=True, separators=(",", ":"))
    if constraint.regex is not None:
        return "regex:" + constraint.regex
    return "grammar:" + str(constraint.grammar)


@dataclass(eq=False)
class _Job:
    request: EngineRequest
    future: asyncio.Future[Completion]
    loop: asyncio.AbstractEventLoop
    submitted: float
    key: str | None = None
    prompt: str | None = None
    prompt_tokens: int = 0
    config: Any = None
    handle: Any = None
    rid: int = -1
    ids: list[int] = field(default_factory=list)
    finish: Any = None
    first_token_at: float | None = None
    queued_s: float = 0.0
    resubmits: int = 0
    done: bool = False
    #: delivered (or being delivered) to a caller that has not resumed yet
    awaiting_resume: bool = False


@dataclass(eq=False)
class _Cancel:
    job: _Job


_STOP = object()


def _load_openvino_genai() -> Any:
    try:
        import openvino_genai
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise EngineUnavailable(
            f"openvino-genai is not importable: {exc}",
            hint="pip install openvino-genai",
        ) from exc
    return openvino_genai


def _check_model_path(path: Path) -> None:
    if not path.exists():
        raise EngineUnavailable(
            f"model not found: {path}",
            hint="run `pantheon models pull` for the default model, or pass a .gguf file "
            "or an OpenVINO IR folder",
        )
    if path.is_dir():
        if not (path / "openvino_model.xml").is_file():
            raise EngineUnavailable(
                f"not an OpenVINO IR folder (no openvino_model.xml): {path}",
            )
    elif path.suffix.lower() != ".gguf":
        raise EngineUnavailable(
            f"unsupported model file (expected a .gguf file or an IR folder): {path}"
        )


class OpenVINOEngine(Engine):
    """Continuous batching on CPU (or another OpenVINO device), in this process.

    ``model_path`` is a ``.gguf`` file or an OpenVINO IR folder (``openvino_model.xml``
    plus the converted tokenizer). ``max_num_seqs``, ``cache_size`` (KV cache, GB) and
    ``max_num_batched_tokens`` go to ``openvino_genai.SchedulerConfig``; ``None`` keeps
    the pipeline's default. ``throughput_window_s`` is the busy time over which
    ``tokens_per_s`` is measured.
    """

    name = "openvino"
    supports_constraints = True

    def __init__(
        self,
        model_path: str | Path,
        *,
        device: str = "CPU",
        max_num_seqs: int | None = None,
        cache_size: int | None = None,
        max_num_batched_tokens: int | None = None,
        enable_prefix_caching: bool | None = True,
        throughput_window_s: float = 8.0,
        model_name: str | None = None,
    ) -> None:
        self.model_path = Path(model_path).expanduser()
        self.model = model_name or self.model_path.name
        self.device = device
        self.max_num_seqs = max_num_seqs
        self.cache_size = cache_size
        self.max_num_batched_tokens = max_num_batched_tokens
        self.enable_prefix_caching = enable_prefix_caching
        self.throughput_window_s = throughput_window_s
        self._heartbeat: asyncio.Task[None] | None = None
        self._heartbeat_loop: asyncio.AbstractEventLoop | None = None
        self._tick = 0.0
        self._unresumed = 0

        self._ov: Any = None
        self._pipe: Any = None
        self._tokenizer: Any = None
        self._thread: threading.Thread | None = None
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._start_lock: asyncio.Lock | None = None
        self._started = False
        self._closing = False
        self._fatal: str | None = None
        self._accept_lock = threading.Lock()
        self._accepting = True

        # Owned by the scheduler thread.
        self._waiting: deque[_Job] = deque()
        self._active: dict[int, _Job] = {}
        self._probe: _Job | None = None
        # Optimistic admission: new constraints join the batch at once (our own grammars
        # compile); after a failed step with several untried constraints in flight the
        # engine turns careful and tries them one at a time until they are all settled.
        self._trials: set[int] = set()
        self._careful = False
        self._good_keys: set[str] = set()
        self._bad_keys: dict[str, str] = {}
        self._strikes: dict[str, int] = {}
        self._ids = itertools.count()

        # Shared numbers, under _lock.
        self._lock = threading.Lock()
        self._in_flight = 0
        self._completed = 0
        self._prompt_tokens = 0
        self._completion_tokens = 0
        self._steps = 0
        self._batch = 0
        self._batch_sum = 0
        self._max_batch = 0
        self._rebuilds = 0
        self._window: deque[tuple[float, float, int]] = deque()  # (end, busy_s, tokens)
        self._window_busy = 0.0
        self._window_tokens = 0

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._started:
                return
            if self._closing:
                raise EngineUnavailable("the openvino engine is closed")
            _check_model_path(self.model_path)
            self._ov = _load_openvino_genai()
            self._pipe = await asyncio.to_thread(self._build_pipeline)
            self._tokenizer = self._pipe.get_tokenizer()
            self._thread = threading.Thread(
                target=self._run, name="pantheon-openvino-scheduler", daemon=True
            )
            self._thread.start()
            self._started = True

    def _scheduler_config(self) -> Any:
        config = self._ov.SchedulerConfig()
        if self.max_num_seqs is not None:
            config.max_num_seqs = int(self.max_num_seqs)
        if self.cache_size is not None:
            config.cache_size = max(1, int(self.cache_size))
        if self.max_num_batched_tokens is not None:
            config.max_num_batched_tokens = int(self.max_num_batched_tokens)
        if self.enable_prefix_caching is not None:
            config.enable_prefix_caching = bool(self.enable_prefix_caching)
        return config

    def _build_pipeline(self) -> Any:
        try:
            return self._ov.ContinuousBatchingPipeline(
                str(self.model_path), self._scheduler_config(), self.device
            )
        except Exception as exc:
            raise EngineUnavailable(
                f"could not load {self.model_path} on {self.device}: {_short(exc)}"
            ) from exc

    async def close(self) -> None:
        self._closing = True
        thread = self._thread
        if thread is None:
            return
        self._inbox.put(_STOP)
        await asyncio.to_thread(thread.join, 30.0)
        self._thread = None
        self._pipe = None
        self._tokenizer = None

    # -- the caller's side ---------------------------------------------------------------

    async def complete(self, request: EngineRequest) -> Completion:
        if self._closing:
            raise EngineUnavailable("the openvino engine is closed")
        if not self._started:
            await self.start()
        if self._fatal is not None:
            raise EngineUnavailable(self._fatal)
        loop = asyncio.get_running_loop()
        job = _Job(
            request=request,
            future=loop.create_future(),
            loop=loop,
            submitted=time.monotonic(),
            key=constraint_key(request.constraint),
        )
        self._ensure_heartbeat(loop)
        with self._accept_lock:
            if not self._accepting:
                raise EngineUnavailable(self._fatal or "the openvino engine is closed")
            with self._lock:
                self._in_flight += 1
            self._inbox.put(job)
        try:
            return await job.future
        except asyncio.CancelledError:
            self._inbox.put(_Cancel(job))
            raise
        finally:
            self._resumed(job)

    def _resumed(self, job: _Job) -> None:
        """The caller of ``job`` runs again (or never will): one fewer to wait for."""
        if job.awaiting_resume:
            job.awaiting_resume = False
            with self._lock:
                self._unresumed -= 1

    # -- fairness between the scheduler thread and the callers' event loop ---------------

    def _ensure_heartbeat(self, loop: asyncio.AbstractEventLoop) -> None:
        task = self._heartbeat
        if task is not None and not task.done() and self._heartbeat_loop is loop:
            return
        self._heartbeat_loop = loop
        self._heartbeat = loop.create_task(self._beat(), name="pantheon-openvino-heartbeat")

    async def _beat(self) -> None:
        """Tick while requests are in flight: the scheduler reads how stale the tick is."""
        idle_since: float | None = None
        while not self._closing:
            now = time.monotonic()
            self._tick = now
            if self._in_flight:
                idle_since = None
            elif idle_since is None:
                idle_since = now
            elif now - idle_since > 0.5:
                return
            await asyncio.sleep(_HEARTBEAT_S)

    def _yield_to_callers(self, finished: int) -> None:
        """Let a starved event loop run before the next step.

        ``step()`` keeps the GIL: while it runs, the callers' event loop (and the tools
        the agents run between two model calls) cannot, and agents come back late. When
        requests just finished (their callers have work to do) or the loop's heartbeat
        is very stale, the scheduler sleeps (GIL released) until the loop has ticked
        again or ``_MAX_YIELD_S`` passed.
        """
        if self._heartbeat is None or self._heartbeat.done():
            return
        deadline = time.monotonic() + _MAX_YIELD_S
        if finished > 0:
            # callers of the requests that just finished: let them run to their next
            # request, so it joins the very next step
            while self._unresumed > 0 and time.monotonic() < deadline:
                time.sleep(0.0005)
        tick = self._tick
        stale = time.monotonic() - tick
        if stale <= _STARVED_S or (finished <= 0 and stale <= _VERY_STARVED_S):
            return
        while self._tick == tick and time.monotonic() < deadline:
            time.sleep(0.001)

    def stats(self) -> OpenVINOStats:
        now = time.monotonic()
        with self._lock:
            while self._window and self._window[0][0] < now - _STATS_MAX_AGE_S:
                _, busy, tokens = self._window.popleft()
                self._window_busy -= busy
                self._window_tokens -= tokens
            tps = self._window_tokens / self._window_busy if self._window_busy > 0 else 0.0
            return OpenVINOStats(
                batch_size=float(self._batch),
                avg_batch_size=self._batch_sum / self._steps if self._steps else 0.0,
                tokens_per_s=tps,
                in_flight=self._in_flight,
                completed=self._completed,
                prompt_tokens=self._prompt_tokens,
                completion_tokens=self._completion_tokens,
                steps=self._steps,
                max_batch_size=self._max_batch,
                waiting=len(self._waiting),
                rebuilds=self._rebuilds,
            )

    @property
    def max_batch_size(self) -> int:
        """The largest batch (sequences in one step) seen since start."""
        return self._max_batch

    # -- the scheduler thread ------------------------------------------------------------

    def _run(self) -> None:
        try:
            while self._drain_inbox(block=not self._active and not self._waiting):
                self._admit()
                if self._active:
                    before = len(self._active)
                    self._step_once()
                    self._yield_to_callers(finished=before - len(self._active))
                if not self._active:
                    with self._lock:
                        self._batch = 0
        except BaseException as exc:
            if self._fatal is None:
                self._fatal = f"the openvino scheduler thread crashed: {_short(exc)}"
            self._stop_accepting()
            self._fail_all(EngineError(self._fatal))
            raise
        else:
            self._stop_accepting()
            self._fail_all(EngineUnavailable("the openvino engine was closed"))
        finally:
            with self._lock:
                self._batch = 0

    def _stop_accepting(self) -> None:
        with self._accept_lock:
            self._accepting = False

    def _drain_inbox(self, *, block: bool) -> bool:
        """Move everything from the inbox; False once the stop sentinel arrived."""
        first = True
        while True:
            try:
                if block and first:
                    item = self._inbox.get(timeout=_IDLE_POLL_S)
                else:
                    item = self._inbox.get_nowait()
            except queue.Empty:
                return True
            first = False
            if item is _STOP:
                return False
            if isinstance(item, _Cancel):
                self._cancel(item.job)
                continue
            self._prepare(item)

    def _prepare(self, job: _Job) -> None:
        try:
            messages = [m.model_dump() for m in job.request.messages]
            job.prompt = self._tokenizer.apply_chat_template(messages, add_generation_prompt=True)
            job.prompt_tokens = int(self._tokenizer.encode(job.prompt).input_ids.shape[-1])
            job.config = self._generation_config(job.request)
        except PantheonError as exc:
            self._fail(job, exc)
            return
        except Exception as exc:
            self._fail(job, EngineError(f"could not prepare the request: {_short(exc)}"))
            return
        self._waiting.append(job)

    def _generation_config(self, request: EngineRequest) -> Any:
        config = self._pipe.get_config()
        config.max_new_tokens = request.max_tokens
        if request.temperature > 0:
            config.do_sample = True
            config.temperature = request.temperature
        else:
            config.do_sample = False
        if request.seed is not None:
            config.rng_seed = int(request.seed)
        constraint = request.constraint
        if constraint is not None:
            so = self._ov.StructuredOutputConfig()
            if constraint.json_schema is not None:
                so.json_schema = json.dumps(constraint.json_schema)
            elif constraint.regex is not None:
                so.regex = constraint.regex
            else:
                so.grammar = constraint.grammar
            config.structured_output_config = so
        return config

    def _admit(self) -> None:
        keep: deque[_Job] = deque()
        while self._waiting:
            job = self._waiting.popleft()
            if job.done:
                continue
            key = job.key
            if key is not None and key in self._bad_keys:
                self._fail(job, EngineError(self._bad_keys[key]))
                continue
            if self.max_num_seqs is not None and len(self._active) >= self.max_num_seqs:
                keep.append(job)  # the pipeline does not enforce max_num_seqs; we do
                continue
            trial = key is not None and key not in self._good_keys
            if trial and self._careful and self._probe is not None:
                keep.append(job)  # careful: one constraint on trial at a time
                continue
            rid = next(self._ids)
            try:
                job.handle = self._pipe.add_request(rid, job.prompt, job.config)
            except Exception as exc:
                self._fail(job, EngineError(f"the pipeline refused the request: {_short(exc)}"))
                continue
            job.rid = rid
            self._active[rid] = job
            if trial:
                if self._careful:
                    self._probe = job
                else:
                    self._trials.add(id(job))
        self._waiting = keep
        if self._careful and self._probe is None and not self._waiting:
            self._careful = False

    def _step_once(self) -> None:
        started = time.monotonic()
        try:
            self._pipe.step()
        except Exception as exc:
            self._recover(exc)
            return
        busy = time.monotonic() - started
        try:
            batch = int(self._pipe.get_metrics().scheduled_requests)
        except Exception:  # pragma: no cover - metrics are best effort
            batch = len(self._active)
        tokens = self._collect(started)
        self._record_step(busy, batch, tokens)

    def _collect(self, step_started: float) -> int:
        ov = self._ov
        new_tokens = 0
        for rid, job in list(self._active.items()):
            handle = job.handle
            try:
                if handle.can_read():
                    for out in handle.read().values():
                        ids = list(out.generated_ids)
                        job.ids.extend(ids)
                        new_tokens += len(ids)
                        if out.finish_reason != ov.GenerationFinishReason.NONE:
                            job.finish = out.finish_reason
                status = handle.get_status()
            except Exception as exc:
                del self._active[rid]
                self._fail(job, EngineError(f"could not read the request: {_short(exc)}"))
                continue
            if job.first_token_at is None and job.ids:
                job.first_token_at = time.monotonic()
                job.queued_s = max(0.0, step_started - job.submitted)
                if job is self._probe or id(job) in self._trials:
                    if job.key is not None:
                        self._good_keys.add(job.key)
                    self._trials.discard(id(job))
                    if job is self._probe:
                        self._probe = None
            if status != ov.GenerationStatus.RUNNING:
                del self._active[rid]
                self._finish(job, status)
        return new_tokens

    def _finish(self, job: _Job, status: Any) -> None:
        ov = self._ov
        if job is self._probe:
            self._probe = None
        self._trials.discard(id(job))
        if status == ov.GenerationStatus.IGNORED:
            self._fail(
                job,
                EngineError(
                    f"the pipeline ignored the request (prompt of {job.prompt_tokens} tokens "
                    "does not fit the KV cache?)",
                    hint="raise the KV cache size (cache_size) or shorten the prompt",
                ),
            )
            return
        finish: FinishReason
        if status == ov.GenerationStatus.FINISHED:
            finish = "length" if job.finish == ov.GenerationFinishReason.LENGTH else "stop"
        else:  # CANCEL / STOP
            finish = "cancelled"
        try:
            text = self._tokenizer.decode(job.ids)
        except Exception as exc:
            self._fail(job, EngineError(f"could not decode the reply: {_short(exc)}"))
            return
        now = time.monotonic()
        completion = Completion(
            text=text,
            prompt_tokens=job.prompt_tokens,
            completion_tokens=len(job.ids),
            finish_reason=finish,
            queued_s=job.queued_s,
            total_s=now - job.submitted,
            engine=self.name,
            model=self.model,
        )
        with self._lock:
            self._completed += 1
            self._prompt_tokens += job.prompt_tokens
            self._completion_tokens += len(job.ids)
        self._resolve(job, completion, None)

    def _record_step(self, busy: float, batch: int, tokens: int) -> None:
        now = time.monotonic()
        with self._lock:
            self._steps += 1
            self._batch = batch
            self._batch_sum += batch
            self._max_batch = max(self._max_batch, batch)
            self._window.append((now, busy, tokens))
            self._window_busy += busy
            self._window_tokens += tokens
            while len(self._window) > 1 and self._window_busy - self._window[0][1] >= (
                self.throughput_window_s
            ):
                _, old_busy, old_tokens = self._window.popleft()
                self._window_busy -= old_busy
                self._window_tokens -= old_tokens

    def _cancel(self, job: _Job) -> None:
        if job.done:
            return
        if job.rid in self._active and self._active[job.rid] is job:
            del self._active[job.rid]
            with contextlib.suppress(Exception):
                job.handle.cancel()
        if job is self._probe:
            self._probe = None
        self._trials.discard(id(job))
        with contextlib.suppress(ValueError):
            self._waiting.remove(job)
        self._resolve(job, None, None)

    def _recover(self, exc: BaseException) -> None:
        """A step failed: rebuild the pipeline, then blame the constraint on trial, if any.

        The constraint on trial gets two strikes (a step can fail for another reason);
        requests that merely shared the failed step are resubmitted from scratch. With no
        constraint on trial, each request in flight is resubmitted at most once.
        """
        message = _short(exc)
        suspect = self._probe
        self._probe = None
        if self._trials:
            # several untried constraints shared the failed step: find the culprit slowly
            self._careful = True
            self._trials.clear()
        victims = [job for job in self._active.values() if not job.done]
        self._active.clear()
        with self._lock:
            self._rebuilds += 1
        try:
            self._pipe = self._build_pipeline()
            self._tokenizer = self._pipe.get_tokenizer()
        except EngineUnavailable as load_error:
            self._fatal = f"the pipeline failed ({message}) and could not be rebuilt: {load_error}"
            for job in victims:
                self._fail(job, EngineUnavailable(self._fatal))
            raise
        retry: list[_Job] = []
        if suspect is not None and suspect.key is not None:
            strikes = self._strikes.get(suspect.key, 0) + 1
            self._strikes[suspect.key] = strikes
            if strikes >= _CONSTRAINT_STRIKES:
                reason = f"the output constraint could not be compiled: {message}"
                self._bad_keys[suspect.key] = reason
                self._fail(suspect, EngineError(reason))
            else:
                retry.append(suspect)
        for job in victims:
            if job is suspect:
                continue
            if suspect is None:
                if job.resubmits >= _MAX_RESUBMITS:
                    self._fail(job, EngineError(f"the pipeline step failed: {message}"))
                    continue
                job.resubmits += 1
            retry.append(job)
        for job in retry:
            job.ids = []
            job.finish = None
            job.handle = None
            job.rid = -1
            job.first_token_at = None
        self._waiting.extendleft(reversed(retry))

    # -- resolving futures ---------------------------------------------------------------

    def _fail(self, job: _Job, error: BaseException) -> None:
        self._resolve(job, None, error)

    def _resolve(
        self, job: _Job, completion: Completion | None, error: BaseException | None
    ) -> None:
        if job.done:
            return
        job.done = True
        with self._lock:
            self._in_flight -= 1
        if completion is None and error is None:
            return  # cancelled by the caller: nothing to deliver

        def deliver() -> None:
            if job.future.done():
                self._resumed(job)  # the caller left already
                return
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(completion)  # type: ignore[arg-type]

        with self._lock:
            self._unresumed += 1
        job.awaiting_resume = True
        try:
            job.loop.call_soon_threadsafe(deliver)
        except RuntimeError:  # the caller's loop is gone
            self._resumed(job)

    def _fail_all(self, error: PantheonError) -> None:
        for job in list(self._active.values()):
            with contextlib.suppress(Exception):
                job.handle.cancel()
            self._fail(job, error)
        self._active.clear()
        self._probe = None
        while self._waiting:
            self._fail(self._waiting.popleft(), error)
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Job):
                self._fail(item, error)


_NATIVE_PREFIX = re.compile(r"\[\d\d:\d\d:\d\d\]\s+\S+:\d+:\s*")


def _short(exc: BaseException, limit: int = 400) -> str:
    """One line of an exception, without the C++ source location prefix."""
    text = _NATIVE_PREFIX.sub("", " ".join(str(exc).split())) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
