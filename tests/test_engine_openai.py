"""The OpenAI-compatible engine against a real HTTP server the test starts on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pantheon_engine.engines.base import EngineRequest, Message, OutputConstraint
from pantheon_engine.engines.openai import OpenAIEngine, parse_prometheus, tool_call_envelope
from pantheon_engine.errors import EngineError, EngineTimeout, EngineUnavailable


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict -> JSON, str/bytes -> raw
    delay: float = 0.0
    content_type: str = "application/json"


def ok(text: str = "hello", *, finish: str = "stop", message: dict | None = None) -> Reply:
    return Reply(
        body={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "served-model",
            "choices": [
                {
                    "index": 0,
                    "message": message or {"role": "assistant", "content": text},
                    "finish_reason": finish,
                }
            ],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
        }
    )


METRICS = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 12.0
vllm:num_requests_running{engine="1",model_name="m"} 4.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="m"} 3.0
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{engine="0",model_name="m"} 1000.0
vllm:prompt_tokens_total{engine="0",model_name="m"} 5000.0
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25
process_cpu_seconds_total 12.5
"""


@dataclass
class FakeServer:
    port: int
    replies: deque[Reply] = field(default_factory=deque)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    metrics: str | None = METRICS
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def bodies(self) -> list[Any]:
        return [body for method, path, body in self.requests if path == "/v1/chat/completions"]


def _handler(state: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _send(self, reply: Reply) -> None:
            if reply.delay:
                time.sleep(reply.delay)
            if isinstance(reply.body, (dict, list)):
                payload = json.dumps(reply.body).encode()
            elif isinstance(reply.body, str):
                payload = reply.body.encode()
            else:
                payload = reply.body or b""
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_GET(self) -> None:
            with state.lock:
                state.requests.append(("GET", self.path, None))
            if self.path == "/metrics" and state.metrics is not None:
                self._send(Reply(body=state.metrics, content_type="text/plain; version=0.0.4"))
            elif self.path == "/v1/models":
                self._send(Reply(body={"object": "list", "data": [{"id": "served-model"}]}))
            else:
                self._send(Reply(status=404, body={"detail": "Not Found"}))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
            with state.lock:
                state.requests.append(("POST", self.path, body))
                reply = state.replies.popleft() if state.replies else ok()
            self._send(reply)

    return Handler


@pytest.fixture
def server() -> Iterator[FakeServer]:
    state = FakeServer(port=0)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = httpd.server_address[1]
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def ask(text: str = "hi", **kwargs: Any) -> EngineRequest:
    return EngineRequest(messages=[Message(role="user", content=text)], **kwargs)


def engine_for(server: FakeServer, **kwargs: Any) -> OpenAIEngine:
    kwargs.setdefault("model", "served-model")
    kwargs.setdefault("backoff_s", 0.01)
    return OpenAIEngine(server.base_url, **kwargs)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- success -------------------------------------------------------------------------


async def test_success_with_usage(server: FakeServer) -> None:
    async with engine_for(server) as engine:
        completion = await engine.complete(ask("hello?", max_tokens=32, temperature=0.2, seed=5))
    assert completion.text == "hello"
    assert completion.prompt_tokens == 11
    assert completion.completion_tokens == 7
    assert completion.finish_reason == "stop"
    assert completion.engine == "openai"
    assert completion.model == "served-model"
    assert completion.total_s >= completion.queued_s >= 0
    (body,) = server.bodies()
    assert body["model"] == "served-model"
    assert body["messages"] == [{"role": "user", "content": "hello?"}]
    assert body["max_tokens"] == 32
    assert body["temperature"] == 0.2
    assert body["seed"] == 5
    assert "structured_outputs" not in body


async def test_model_is_discovered_when_not_given(server: FakeServer) -> None:
    async with OpenAIEngine(server.base_url) as engine:
        assert engine.model == "served-model"
        await engine.complete(ask())
    assert server.bodies()[0]["model"] == "served-model"


async def test_length_finish_reason(server: FakeServer) -> None:
    server.script(ok("cut", finish="length"))
    async with engine_for(server) as engine:
        assert (await engine.complete(ask())).finish_reason == "length"


async def test_tool_role_is_sent_as_user(server: FakeServer) -> None:
    request = EngineRequest(
        messages=[
            Message(role="system", content="s"),
            Message(role="user", content="u"),
            Message(role="assistant", content="a"),
            Message(role="tool", content="result"),
        ]
    )
    async with engine_for(server) as engine:
        await engine.complete(request)
    roles = [m["role"] for m in server.bodies()[0]["messages"]]
    assert roles == ["system", "user", "assistant", "user"]


# --- structured outputs and tools ----------------------------------------------------


SCHEMA = {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}


async def test_constraints_go_to_vllm_structured_outputs(server: FakeServer) -> None:
    async with engine_for(server) as engine:
        await engine.complete(ask(constraint=OutputConstraint(json_schema=SCHEMA)))
        await engine.complete(ask(constraint=OutputConstraint(regex=r"\d+")))
        await engine.complete(ask(constraint=OutputConstraint(grammar='root ::= "a"')))
    schema_body, regex_body, grammar_body = server.bodies()
    assert schema_body["structured_outputs"] == {"json": SCHEMA}
    assert regex_body["structured_outputs"] == {"regex": r"\d+"}
    assert grammar_body["structured_outputs"] == {"grammar": 'root ::= "a"'}
    for body in (schema_body, regex_body, grammar_body):
        assert not any(key.startswith("guided_") for key in body)
        assert "response_format" not in body


async def test_legacy_guided_fields_are_opt_in(server: FakeServer) -> None:
    async with engine_for(server, legacy_guided_fields=True) as engine:
        await engine.complete(ask(constraint=OutputConstraint(json_schema=SCHEMA)))
        await engine.complete(ask(constraint=OutputConstraint(regex="a+")))
    schema_body, regex_body = server.bodies()
    assert schema_body["structured_outputs"] == {"json": SCHEMA}
    assert schema_body["guided_json"] == SCHEMA
    assert regex_body["guided_regex"] == "a+"


async def test_openai_constraint_format_uses_response_format(server: FakeServer) -> None:
    async with engine_for(server, constraint_format="openai") as engine:
        await engine.complete(ask(constraint=OutputConstraint(json_schema=SCHEMA)))
        with pytest.raises(EngineError, match="JSON schemas only"):
            await engine.complete(ask(constraint=OutputConstraint(regex="a")))
    (body,) = server.bodies()
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == SCHEMA
    assert "structured_outputs" not in body


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
        },
    }
]


async def test_tool_calls_become_the_envelope(server: FakeServer) -> None:
    server.script(
        ok(
            finish="tool_calls",
            message={
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "read_file", "arguments": '{"path": "a.py"}'},
                    }
                ],
            },
        )
    )
    async with engine_for(server, tools=TOOLS) as engine:
        completion = await engine.complete(ask("read a.py"))
    assert json.loads(completion.text) == {
        "type": "tool",
        "name": "read_file",
        "args": {"path": "a.py"},
    }
    assert completion.finish_reason == "stop"
    (body,) = server.bodies()
    assert body["tools"] == TOOLS


async def test_per_call_tools_override(server: FakeServer) -> None:
    async with engine_for(server) as engine:
        await engine.complete(ask(), tools=TOOLS, tool_choice="auto")
        await engine.complete(ask())
    first, second = server.bodies()
    assert first["tools"] == TOOLS and first["tool_choice"] == "auto"
    assert "tools" not in second


def test_tool_call_envelope_keeps_bad_arguments_for_the_loop() -> None:
    text = tool_call_envelope({"function": {"name": "f", "arguments": "{not json"}})
    assert json.loads(text) == {"type": "tool", "name": "f", "args": "{not json"}
    assert (
        json.loads(tool_call_envelope({"function": {"name": "g", "arguments": ""}}))["args"] == {}
    )


# --- errors --------------------------------------------------------------------------


async def test_400_is_an_engine_error_with_the_server_message(server: FakeServer) -> None:
    server.script(
        Reply(
            status=400,
            body={"error": {"message": "max_tokens is too large", "type": "BadRequestError",
                            "code": 400}},
        )
    )  # fmt: skip
    async with engine_for(server) as engine:
        with pytest.raises(EngineError) as info:
            await engine.complete(ask())
    assert not isinstance(info.value, (EngineUnavailable, EngineTimeout))
    assert "400" in str(info.value)
    assert "max_tokens is too large" in str(info.value)
    assert len(server.bodies()) == 1  # a 4xx is not retried


async def test_500_then_success_is_retried(server: FakeServer) -> None:
    server.script(Reply(status=500, body={"error": {"message": "boom"}}), ok("second time"))
    async with engine_for(server) as engine:
        completion = await engine.complete(ask())
    assert completion.text == "second time"
    assert len(server.bodies()) == 2


async def test_persistent_500_gives_up_with_engine_error(server: FakeServer) -> None:
    server.script(*[Reply(status=503, body="overloaded", content_type="text/plain")] * 3)
    async with engine_for(server, max_attempts=3) as engine:
        with pytest.raises(EngineError, match="503") as info:
            await engine.complete(ask())
    assert "overloaded" in str(info.value)
    assert len(server.bodies()) == 3


async def test_malformed_json_body(server: FakeServer) -> None:
    server.script(Reply(body="this is {not json"))
    async with engine_for(server) as engine:
        with pytest.raises(EngineError, match="malformed response"):
            await engine.complete(ask())


async def test_json_without_choices_is_malformed(server: FakeServer) -> None:
    server.script(Reply(body={"object": "chat.completion", "choices": []}))
    async with engine_for(server) as engine:
        with pytest.raises(EngineError, match="malformed response"):
            await engine.complete(ask())


async def test_slow_reply_is_an_engine_timeout(server: FakeServer) -> None:
    server.script(Reply(body=ok().body, delay=1.5))
    async with engine_for(server, timeout_s=0.3) as engine:
        started = time.monotonic()
        with pytest.raises(EngineTimeout, match="did not answer"):
            await engine.complete(ask())
        assert time.monotonic() - started < 1.4
    assert len(server.bodies()) == 1  # a timeout is not retried


async def test_server_down_is_engine_unavailable_naming_the_url() -> None:
    port = closed_port()
    url = f"http://127.0.0.1:{port}/v1"
    async with OpenAIEngine(url, model="m", max_attempts=3, backoff_s=0.01) as engine:
        with pytest.raises(EngineUnavailable) as info:
            await engine.complete(ask())
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "3 attempts" in str(info.value)


async def test_server_down_at_start_when_discovering_the_model() -> None:
    engine = OpenAIEngine(f"http://127.0.0.1:{closed_port()}/v1", max_attempts=1)
    with pytest.raises(EngineUnavailable):
        await engine.start()
    await engine.close()


# --- concurrency and numbers ---------------------------------------------------------


async def test_concurrency_bound_and_stats(server: FakeServer) -> None:
    server.script(*[Reply(body=ok().body, delay=0.2) for _ in range(6)])
    async with engine_for(server, concurrency=3) as engine:
        results = await asyncio.gather(*(engine.complete(ask()) for _ in range(6)))
        stats = engine.stats()
    assert stats.completed == 6
    assert stats.in_flight == 0
    assert stats.prompt_tokens == 66 and stats.completion_tokens == 42
    assert stats.tokens_per_s > 0
    # Three ran at once; the other three waited for a slot.
    assert sum(r.queued_s > 0.15 for r in results) == 3


async def test_fetch_server_metrics(server: FakeServer) -> None:
    async with engine_for(server) as engine:
        metrics = await engine.fetch_server_metrics()
        assert metrics.available
        assert metrics.running == 16.0
        assert metrics.waiting == 3.0
        assert metrics.generation_tokens_total == 1000.0
        assert metrics.prompt_tokens_total == 5000.0
        assert metrics.kv_cache_usage == 0.25
        assert metrics.tokens_per_s is None  # needs two samples
        server.metrics = METRICS.replace("} 1000.0", "} 1600.0")
        await asyncio.sleep(0.05)
        again = await engine.fetch_server_metrics()
        assert again.tokens_per_s is not None and again.tokens_per_s > 0
        stats = engine.stats()
        assert stats.batch_size == 16.0
        assert stats.avg_batch_size == 16.0
        assert stats.tokens_per_s == again.tokens_per_s
    assert ("GET", "/metrics", None) in server.requests


async def test_metrics_absent_is_tolerated(server: FakeServer) -> None:
    server.metrics = None
    async with engine_for(server) as engine:
        metrics = await engine.fetch_server_metrics()
        assert metrics.available is False
        assert engine.stats().batch_size == 0.0
    server.metrics = "# nothing vllm here\nother_metric 1\n"
    async with engine_for(server) as engine:
        metrics = await engine.fetch_server_metrics()
        assert metrics.available and metrics.running is None and metrics.waiting is None


def test_parse_prometheus_sums_label_sets() -> None:
    values = parse_prometheus(METRICS + 'weird{a="x y"} NaN\nbroken{ 1\n')
    assert values["vllm:num_requests_running"] == 16.0
    assert values["process_cpu_seconds_total"] == 12.5
    assert "weird" not in values


def test_server_root_strips_v1() -> None:
    assert OpenAIEngine("http://127.0.0.1:8000/v1/").server_root == "http://127.0.0.1:8000"
    assert OpenAIEngine("http://127.0.0.1:8080").server_root == "http://127.0.0.1:8080"
