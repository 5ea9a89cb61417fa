"""An engine for any OpenAI-compatible chat server: vLLM first, also llama.cpp's server,
OpenVINO Model Server, Ollama.

The server does the batching; this engine's job is to keep many requests in flight
(``concurrency`` connections), to map Pantheon's request onto ``POST /chat/completions``
and to turn every failure into one of Pantheon's errors:

* server down (connection refused or reset, connect timeout, HTTP 500/502/503/504) ->
  the server is marked down and the request retried on another server of the same model
  (at once), or, when none is up, on the same one after an exponential backoff; after
  ``max_attempts`` :class:`EngineUnavailable` naming the model and every server of it;
* HTTP 4xx -> :class:`EngineError` with the status and the server's own message
  (429 is retried first);
* a body that is not the expected JSON -> :class:`EngineError` ("malformed response");
* no reply within ``timeout_s`` -> the server is marked down; retried on another server of
  the same model when one is up, else :class:`EngineTimeout`.

Several servers (``endpoints``) share the requests: each goes to the server with the fewest
requests outstanding among those that serve its model name, and a server that stops
answering is probed back in (:mod:`pantheon_engine.engines.endpoints`). A retry never goes
to a server of another model: there is no fallback model, by design.

Output constraints use vLLM's structured outputs (``"structured_outputs": {"json": …}``,
``{"regex": …}``, ``{"grammar": …}``; the request field since vLLM 0.10.2, the only one
since 0.12, which removed ``guided_json``/``guided_regex``/``guided_grammar``). vLLM's
request model accepts unknown fields and ignores them (``extra="allow"``, logged), so
``legacy_guided_fields=True`` may add the old ``guided_*`` fields for a vLLM older than
0.10.2 without harming a newer one. ``constraint_format="openai"`` sends the standard
``response_format`` JSON schema instead (llama.cpp server, OVMS, Ollama; schemas only).

A version of an agent served as a LoRA module (vLLM ``--enable-lora --lora-modules
NAME=FOLDER``) is asked for by name: ``adapters`` maps an agent to its module, and
:meth:`OpenAIEngine.for_agent` gives that agent a view whose requests name it.

Tool definitions (OpenAI ``tools``) can be passed per engine or per call; a reply that
carries ``tool_calls`` is turned into Pantheon's text envelope
``{"type":"tool","name":…,"args":{…}}`` so the tool loop sees one format.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, Literal

import httpx
from pydantic import BaseModel

from pantheon_engine.config import EndpointSettings
from pantheon_engine.engines.base import (
    Completion,
    Engine,
    EngineRequest,
    EngineStats,
    FinishReason,
    OutputConstraint,
)
from pantheon_engine.engines.endpoints import Endpoint, EndpointPool
from pantheon_engine.errors import ConfigError, EngineError, EngineTimeout, EngineUnavailable

__all__ = ["OpenAIEngine", "ServerMetrics", "parse_prometheus", "tool_call_envelope"]

ConstraintFormat = Literal["vllm", "openai"]

#: a server answering these has stopped serving: marked down, the request goes elsewhere
_DOWN_STATUS = {500, 502, 503, 504}
_CONNECTION_ERRORS = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.RemoteProtocolError,
    httpx.ReadError,
    httpx.WriteError,
)


class ServerMetrics(BaseModel):
    """What a vLLM server's Prometheus ``/metrics`` says (fields absent -> None)."""

    available: bool = False
    running: float | None = None
    waiting: float | None = None
    generation_tokens_total: float | None = None
    prompt_tokens_total: float | None = None
    kv_cache_usage: float | None = None
    tokens_per_s: float | None = None  # from two successive samples


def parse_prometheus(text: str) -> dict[str, float]:
    """Sum every sample of each metric over its label sets (``name{…} value``)."""
    totals: dict[str, float] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "{" in line:
            name, _, rest = line.partition("{")
            _, _, rest = rest.rpartition("}")
        else:
            name, _, rest = line.partition(" ")
        fields = rest.split()
        if not fields:
            continue
        try:
            value = float(fields[0])
        except ValueError:
            continue
        if math.isnan(value):
            continue
        name = name.strip()
        totals[name] = totals.get(name, 0.0) + value
    return totals


def tool_call_envelope(tool_call: dict[str, Any]) -> str:
    """One OpenAI ``tool_calls`` item as Pantheon's envelope text."""
    function = tool_call.get("function") or {}
    name = function.get("name")
    if not isinstance(name, str):
        raise ValueError("tool call without a function name")
    arguments = function.get("arguments")
    args: Any
    if isinstance(arguments, dict):
        args = arguments
    elif isinstance(arguments, str):
        try:
            args = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            args = arguments  # left for the loop's schema check to reject
    elif arguments is None:
        args = {}
    else:
        args = arguments
    return json.dumps({"type": "tool", "name": name, "args": args}, ensure_ascii=False)


def _first(metrics: dict[str, float], *names: str) -> float | None:
    for name in names:
        if name in metrics:
            return metrics[name]
    return None


class OpenAIEngine(Engine):
    """Client for OpenAI-compatible ``/chat/completions`` servers.

    ``base_url`` includes the API prefix (``http://127.0.0.1:8000/v1``); ``endpoints``
    (URLs, or entries that also say what each serves) replaces it with several servers.
    ``model`` is the served model name; ``None`` takes the first endpoint's declared model,
    else asks ``GET /models`` at :meth:`start` and takes the first base model listed.
    ``concurrency`` bounds requests in flight over all servers (and the connection pool);
    callers beyond it wait, and that wait is reported as ``queued_s``. HTTP proxies from
    the environment are never used (``trust_env=False``): the servers are local.
    """

    name = "openai"
    supports_constraints = True

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000/v1",
        model: str | None = None,
        *,
        concurrency: int = 64,
        timeout_s: float = 300.0,
        connect_timeout_s: float = 5.0,
        max_attempts: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        api_key: str | None = None,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        constraint_format: ConstraintFormat = "vllm",
        legacy_guided_fields: bool = False,
        tool_role_as_user: bool = True,
        extra_body: dict[str, Any] | None = None,
        throughput_window_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        adapters: dict[str, str] | None = None,
        endpoints: Sequence[EndpointSettings | str] | None = None,
        probe_s: float = 1.0,
        max_probe_s: float = 30.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        entries = [EndpointSettings(url=e) if isinstance(e, str) else e
                   for e in endpoints or ()] or [EndpointSettings(url=base_url)]
        self.pool = EndpointPool(entries, lister=self._list_models, probe_s=probe_s,
                                 max_probe_s=max_probe_s, window_s=throughput_window_s)
        self.base_url = self.pool.endpoints[0].url
        self.model = model or next((e.model for e in entries if e.model), None) or ""
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.api_key = api_key
        self.tools = tools
        self.tool_choice = tool_choice
        self.constraint_format = constraint_format
        self.legacy_guided_fields = legacy_guided_fields
        self.tool_role_as_user = tool_role_as_user
        self.extra_body = dict(extra_body or {})
        self.throughput_window_s = throughput_window_s
        self._transport = transport
        #: agent name -> the served model its requests name (a vLLM LoRA module, ``agent@N``)
        self.adapters = dict(adapters or {})
        self._client: httpx.AsyncClient | None = None
        self._semaphore: asyncio.Semaphore | None = None

        self._in_flight = 0
        self._completed = 0
        self._prompt_tokens = 0
        self._completion_tokens = 0
        self._done_window: deque[tuple[float, int]] = deque()
        self._server: ServerMetrics | None = None
        self._server_at: float | None = None
        self._running_samples = 0
        self._running_sum = 0.0

    # -- urls ----------------------------------------------------------------------------

    @property
    def server_root(self) -> str:
        """The first server's root (``base_url`` without a trailing ``/v1``): where
        /metrics is."""
        return _root(self.base_url)

    @property
    def urls(self) -> list[str]:
        """Every server's URL, in the order given."""
        return [ep.url for ep in self.pool.endpoints]

    @property
    def chat_url(self) -> str:
        return f"{self.base_url}/chat/completions"

    # -- lifecycle -----------------------------------------------------------------------

    def _ensure_client(self) -> httpx.AsyncClient:
        if self._client is None:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s, pool=None),
                limits=httpx.Limits(
                    max_connections=self.concurrency,
                    max_keepalive_connections=self.concurrency,
                ),
                headers=headers,
                trust_env=False,
                transport=self._transport,
            )
            self._semaphore = asyncio.Semaphore(self.concurrency)
        return self._client

    async def start(self) -> None:
        """Ask every server what it serves (a server that does not answer is marked down
        and probed); without a model name, wait (``max_attempts``, with backoff) until one
        says which model it serves."""
        self._ensure_client()
        await self.pool.refresh_all()
        attempt = 1
        while not self.model:
            found = self.pool.base_model()
            if found:
                self.model = found
                break
            if attempt >= self.max_attempts:
                raise EngineUnavailable(
                    f"no model server told its model (GET /models): "
                    f"{self.pool.describe()} (after {attempt} attempts)",
                    hint=self._hint())
            await asyncio.sleep(self._backoff(attempt))
            attempt += 1
            await self.pool.refresh_all(only_down=True)

    async def close(self) -> None:
        await self.pool.close()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def ping(self) -> None:
        """A night's preflight: some server answers (``GET /models``), and every model name
        the run asks for (its model, each agent's LoRA module) is served by some server."""
        self._ensure_client()
        await self.pool.refresh_all()
        if not any(ep.up for ep in self.pool.endpoints):
            raise EngineUnavailable(f"no model server answers: {self.pool.describe()}",
                                    hint=self._hint())
        missing = self.pool.missing([self.model, *self.adapters.values()])
        if missing:
            raise ConfigError(
                f"no model server serves {', '.join(missing)}: {self.pool.describe()}",
                hint="serve each agent version as a LoRA module (pantheon serve vllm "
                "--adapters), or name it under its server's adapters in [[engine.endpoints]]")

    async def _list_models(self, ep: Endpoint) -> list[str]:
        """What ``ep`` serves (``GET /models``): base models first, then adapters (vLLM
        lists a LoRA module with its base model as ``parent``)."""
        client = self._ensure_client()
        url = f"{ep.url}/models"
        try:
            response = await client.get(url, timeout=httpx.Timeout(
                min(self.timeout_s, 30.0), connect=self.connect_timeout_s))
        except httpx.HTTPError as exc:
            raise EngineUnavailable(f"cannot reach {url}: {type(exc).__name__}: "
                                    f"{exc}".rstrip(": ")) from exc
        if response.status_code >= 400:
            raise EngineUnavailable(f"{url} answered HTTP {response.status_code}: "
                                    f"{_server_message(response)}")
        try:
            entries = response.json()["data"]
            names = [(str(e["id"]), bool(e.get("parent"))) for e in entries]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise EngineError(f"malformed response from {url}: no model listed") from exc
        if not names:
            raise EngineError(f"malformed response from {url}: no model listed")
        return [name for name, _ in sorted(names, key=lambda item: item[1])]

    def _hint(self) -> str:
        return ("is the server running? start one with `pantheon serve` (the embedded "
                "model) or `pantheon serve vllm`, or check --base-url "
                f"({', '.join(self.urls)})")

    # -- requests ------------------------------------------------------------------------

    def for_agent(self, agent: str) -> Engine:
        """The same server, asking for the agent's LoRA module when it has one."""
        served = self.adapters.get(agent)
        return self if served is None else _ServedModel(self, served)

    def build_body(
        self,
        request: EngineRequest,
        *,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        model: str | None = None,
    ) -> dict[str, Any]:
        """The JSON body for ``/chat/completions`` (public for tests and traces)."""
        messages = []
        for message in request.messages:
            role = message.role
            if role == "tool" and self.tool_role_as_user:
                role = "user"  # Pantheon's messages carry no tool_call_id
            messages.append({"role": role, "content": message.content})
        body: dict[str, Any] = {
            "messages": messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": False,
        }
        if model or self.model:
            body["model"] = model or self.model
        if request.seed is not None:
            body["seed"] = request.seed
        if request.constraint is not None:
            body.update(self._constraint_fields(request.constraint))
        tools = tools if tools is not None else self.tools
        if tools:
            body["tools"] = tools
            choice = tool_choice if tool_choice is not None else self.tool_choice
            if choice is not None:
                body["tool_choice"] = choice
        body.update(self.extra_body)
        return body

    def _constraint_fields(self, constraint: OutputConstraint) -> dict[str, Any]:
        if self.constraint_format == "openai":
            if constraint.json_schema is None:
                raise EngineError(
                    "constraint_format 'openai' (response_format) carries JSON schemas only; "
                    "regex and grammar constraints need a vLLM server (constraint_format 'vllm')"
                )
            return {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "output", "schema": constraint.json_schema},
                }
            }
        fields: dict[str, Any] = {}
        legacy: dict[str, Any]
        if constraint.json_schema is not None:
            fields["structured_outputs"] = {"json": constraint.json_schema}
            legacy = {"guided_json": constraint.json_schema}
        elif constraint.regex is not None:
            fields["structured_outputs"] = {"regex": constraint.regex}
            legacy = {"guided_regex": constraint.regex}
        else:
            fields["structured_outputs"] = {"grammar": constraint.grammar}
            legacy = {"guided_grammar": constraint.grammar}
        if self.legacy_guided_fields:
            fields.update(legacy)
        return fields

    async def complete(
        self,
        request: EngineRequest,
        *,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        model: str | None = None,
    ) -> Completion:
        client_started = time.monotonic()
        self._ensure_client()
        assert self._semaphore is not None
        body = self.build_body(request, tools=tools, tool_choice=tool_choice, model=model)
        self._in_flight += 1
        try:
            async with self._semaphore:
                queued = time.monotonic() - client_started
                response, endpoint = await self._send(str(body.get("model") or ""), body)
            completion = self._parse(response, queued, client_started)
        finally:
            self._in_flight -= 1
        self.pool.add_tokens(endpoint, completion.completion_tokens)
        self._completed += 1
        self._prompt_tokens += completion.prompt_tokens
        self._completion_tokens += completion.completion_tokens
        self._done_window.append((time.monotonic(), completion.completion_tokens))
        return completion

    async def _send(self, name: str, body: dict[str, Any]) -> tuple[httpx.Response, Endpoint]:
        """POST ``body`` to a server of model ``name``: the least busy one that is up; on a
        server that stops answering, the next one of the same model (see the module)."""
        client = self._ensure_client()
        what = repr(name) if name else "the server's model"
        for attempt in range(1, self.max_attempts + 1):
            endpoint = self.pool.pick(name)
            if endpoint is None:
                if not self.pool.serving(name):
                    raise EngineError(f"no model server serves {what}: "
                                      f"{self.pool.describe()}", hint=self._hint())
                if attempt > 1:  # none up: wait, then try again where it failed longest ago
                    await asyncio.sleep(self._backoff(attempt - 1))
                endpoint = self.pool.pick(name) or self.pool.trial(name)
                if endpoint is None:
                    continue
            url = f"{endpoint.url}/chat/completions"
            why: str
            with self.pool.sending(endpoint):
                try:
                    response = await client.post(url, json=body)
                except httpx.TimeoutException as exc:
                    if not isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
                        self.pool.failed(endpoint, f"no reply within {self.timeout_s:g} s")
                        if attempt == self.max_attempts or self.pool.pick(name) is None:
                            raise EngineTimeout(
                                f"{url} did not answer within {self.timeout_s:g} s") from exc
                        continue
                    why = "connect timeout"
                except _CONNECTION_ERRORS as exc:
                    why = f"{type(exc).__name__}: {exc}".rstrip(": ")
                except httpx.HTTPError as exc:
                    raise EngineError(
                        f"request to {url} failed: {type(exc).__name__}: {exc}") from exc
                else:
                    status = response.status_code
                    if status < 400:
                        self.pool.answered(endpoint)
                        return response, endpoint
                    why = f"HTTP {status}: {_server_message(response)}"
                    if status != 429 and status not in _DOWN_STATUS:
                        raise EngineError(f"{url} answered {why}")
            if why.startswith("HTTP 429"):  # busy, not down: wait, ask the least busy again
                endpoint.last_error = why
                if attempt == self.max_attempts:
                    raise EngineError(f"{url} answered {why} (after {attempt} attempts)")
                await asyncio.sleep(self._backoff(attempt))
                continue
            self.pool.failed(endpoint, why)
        raise EngineUnavailable(
            f"no model server of {what} answered: {self.pool.describe(name)} "
            f"(after {self.max_attempts} attempts)", hint=self._hint())

    def _backoff(self, attempt: int) -> float:
        delay: float = min(self.max_backoff_s, self.backoff_s * (2 ** (attempt - 1)))
        return delay * (0.75 + 0.5 * random.random())

    def _parse(self, response: httpx.Response, queued: float, started: float) -> Completion:
        url = str(response.request.url)
        try:
            data = response.json()
            choice = data["choices"][0]
            message = choice["message"]
            if not isinstance(message, dict):
                raise TypeError("message is not an object")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            snippet = response.text[:200].replace("\n", " ")
            raise EngineError(f"malformed response from {url}: {snippet!r}") from exc
        tool_calls = message.get("tool_calls") or []
        try:
            if tool_calls:
                text = tool_call_envelope(tool_calls[0])
            else:
                content = message.get("content")
                text = content if isinstance(content, str) else ""
        except (ValueError, TypeError, AttributeError) as exc:
            raise EngineError(f"malformed response from {url}: bad tool call ({exc})") from exc
        usage = data.get("usage") or {}
        finish_raw = choice.get("finish_reason")
        finish: FinishReason = "length" if finish_raw == "length" else "stop"
        return Completion(
            text=text,
            prompt_tokens=_int(usage.get("prompt_tokens")),
            completion_tokens=_int(usage.get("completion_tokens")),
            finish_reason=finish,
            queued_s=queued,
            total_s=time.monotonic() - started,
            engine=self.name,
            model=str(data.get("model") or self.model),
        )

    # -- numbers -------------------------------------------------------------------------

    def stats(self) -> EngineStats:
        now = time.monotonic()
        while self._done_window and self._done_window[0][0] < now - self.throughput_window_s:
            self._done_window.popleft()
        local_tps = sum(n for _, n in self._done_window) / self.throughput_window_s
        server = self._server
        batch = 0.0
        tps = local_tps
        if server is not None and server.available:
            if server.running is not None:
                batch = server.running
            if server.tokens_per_s is not None:
                tps = server.tokens_per_s
        return EngineStats(
            batch_size=batch,
            avg_batch_size=self._running_sum / self._running_samples
            if self._running_samples
            else 0.0,
            tokens_per_s=tps,
            in_flight=self._in_flight,
            completed=self._completed,
            prompt_tokens=self._prompt_tokens,
            completion_tokens=self._completion_tokens,
            steps=0,
            endpoints=self.pool.stats(),
        )

    async def fetch_server_metrics(self) -> ServerMetrics:
        """Read vLLM's Prometheus ``/metrics`` of every server, summed; ``available=False``
        when none has them.

        Batch size = ``vllm:num_requests_running``. Server tokens/s comes from the
        ``vllm:generation_tokens_total`` counter between two successive calls.
        """
        client = self._ensure_client()
        found: list[ServerMetrics] = []
        for endpoint in self.pool.endpoints:
            try:
                response = await client.get(f"{_root(endpoint.url)}/metrics")
            except httpx.HTTPError:
                continue
            if response.status_code != 200:
                continue
            values = parse_prometheus(response.text)
            found.append(ServerMetrics(
                available=True,
                running=_first(values, "vllm:num_requests_running"),
                waiting=_first(values, "vllm:num_requests_waiting"),
                generation_tokens_total=_first(
                    values, "vllm:generation_tokens_total", "vllm:generation_tokens"),
                prompt_tokens_total=_first(values, "vllm:prompt_tokens_total",
                                           "vllm:prompt_tokens"),
                kv_cache_usage=_first(values, "vllm:kv_cache_usage_perc",
                                      "vllm:gpu_cache_usage_perc"),
            ))
        if not found:
            return ServerMetrics(available=False)
        now = time.monotonic()
        metrics = ServerMetrics(
            available=True,
            running=_sum(m.running for m in found),
            waiting=_sum(m.waiting for m in found),
            generation_tokens_total=_sum(m.generation_tokens_total for m in found),
            prompt_tokens_total=_sum(m.prompt_tokens_total for m in found),
            kv_cache_usage=max((m.kv_cache_usage for m in found
                                if m.kv_cache_usage is not None), default=None),
        )
        previous, previous_at = self._server, self._server_at
        if (
            previous is not None
            and previous_at is not None
            and previous.generation_tokens_total is not None
            and metrics.generation_tokens_total is not None
            and now > previous_at
        ):
            delta = metrics.generation_tokens_total - previous.generation_tokens_total
            if delta >= 0:
                metrics.tokens_per_s = delta / (now - previous_at)
        if metrics.running is not None and metrics.running > 0:
            self._running_samples += 1
            self._running_sum += metrics.running
        self._server, self._server_at = metrics, now
        return metrics


def _root(url: str) -> str:
    """A server's root: its API URL without a trailing ``/v1`` (where /metrics is)."""
    return url[: -len("/v1")] if url.endswith("/v1") else url


def _sum(values: Any) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


class _ServedModel(Engine):
    """One agent's view of an :class:`OpenAIEngine`: its requests name ``model`` (the LoRA
    module of the agent's version); connections, limits and numbers stay the engine's."""

    name = "openai"
    supports_constraints = True

    def __init__(self, engine: OpenAIEngine, model: str) -> None:
        self.inner = engine
        self.model = model

    async def complete(self, request: EngineRequest, **kwargs: Any) -> Completion:
        return await self.inner.complete(request, model=self.model, **kwargs)

    def stats(self) -> EngineStats:
        return self.inner.stats()


def _server_message(response: httpx.Response) -> str:
    """The server's own error message: OpenAI/vLLM ``{"error": {"message"}}`` or text."""
    try:
        data = response.json()
    except ValueError:
        text = response.text.strip().replace("\n", " ")
        return text[:300] or response.reason_phrase
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:500]
        if isinstance(error, str):
            return error[:500]
        if data.get("message"):
            return str(data["message"])[:500]
        if data.get("detail"):
            return str(data["detail"])[:500]
    return json.dumps(data)[:300]


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
