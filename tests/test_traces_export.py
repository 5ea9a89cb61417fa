"""``pantheon traces export --otlp`` (issue 17, point 14): a night's model and tool calls as
OpenTelemetry spans with the GenAI semantic conventions, in OTLP/JSON, to a file or a
collector; at night only a file or a loopback collector.

A real night on the replay engine gives the artifacts: two docops jobs, each reply with its
own token counts, so the spans' counts can be checked against ``model_calls.jsonl``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from pantheon_engine.agents.registry import default_registry
from pantheon_engine.atomic import iter_jsonl
from pantheon_engine.cli.main import app
from pantheon_engine.engines.replay import RecordedReply, ReplayEngine
from pantheon_engine.night.drain import Night
from pantheon_engine.night.otlp_export import otlp_url, spans_of
from pantheon_engine.policy import Policy
from test_night import doc_replies, queue_jobs

JOBS = 2


def _with_tokens(engine: ReplayEngine) -> ReplayEngine:
    """The same replies, each with its own prompt and completion token counts."""
    replies = [RecordedReply(key=r.key, text=r.text, prompt_tokens=100 + i,
                             completion_tokens=10 + i)
               for i, r in enumerate(_replies(engine))]
    return ReplayEngine(replies)


def _replies(engine: ReplayEngine) -> list[RecordedReply]:
    return [reply for queue in engine._queues.values() for reply in queue]


@pytest.fixture
def night(docops_repo: Path, tmp_path: Path) -> tuple[Path, str]:
    """The artifacts folder of one replayed night and the night's id."""
    art = tmp_path / "artifacts"
    queue = queue_jobs(art, docops_repo, JOBS)
    runner = Night(queue=queue, registry=default_registry(),
                   engine=_with_tokens(doc_replies(JOBS)), policy=Policy(mode="night"),
                   artifacts=art, concurrency=1, sample_s=0.05)
    result = asyncio.run(runner.run())
    queue.close()
    assert (result.done, result.failed) == (JOBS, 0)
    return art, result.night_id


def _attrs(span: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr in span["attributes"]:
        value = attr["value"]
        if "intValue" in value:
            out[attr["key"]] = int(value["intValue"])
        elif "stringValue" in value:
            out[attr["key"]] = value["stringValue"]
        else:
            out[attr["key"]] = value
    return out


def _export(*args: str) -> Any:
    return CliRunner().invoke(app, ["traces", "export", *args])


def test_a_night_exports_as_genai_spans(night: tuple[Path, str], tmp_path: Path) -> None:
    art, night_id = night
    out = tmp_path / "traces.json"
    result = _export("--otlp", str(out), "--night", night_id, "--artifacts", str(art))
    assert result.exit_code == 0, result.output
    request = json.loads(out.read_text())
    scope = request["resourceSpans"][0]["scopeSpans"][0]
    assert scope["scope"]["name"] == "pantheon_engine.night.otlp_export"
    spans = scope["spans"]
    by_id = {s["spanId"]: s for s in spans}
    assert len(by_id) == len(spans)
    for span in spans:
        assert len(span["traceId"]) == 32 and len(span["spanId"]) == 16
        int(span["traceId"], 16), int(span["spanId"], 16)
        assert isinstance(span["startTimeUnixNano"], str)
        assert int(span["startTimeUnixNano"]) <= int(span["endTimeUnixNano"])
    roots = [s for s in spans if "parentSpanId" not in s]
    runs = sorted(p for p in (art / "runs").iterdir())
    assert len(roots) == len(runs) == JOBS  # one trace per run
    assert len({s["traceId"] for s in roots}) == JOBS
    for root in roots:
        run_id = _attrs(root)["pantheon.run_id"]
        run_dir = art / "runs" / run_id
        nodes = [s for s in spans if s.get("parentSpanId") == root["spanId"]]
        assert {_attrs(n)["pantheon.node"] for n in nodes} == {
            p.name for p in run_dir.iterdir() if p.is_dir()}
        for node in nodes:
            attrs = _attrs(node)
            assert node["traceId"] == root["traceId"]
            assert attrs["gen_ai.operation.name"] == "invoke_agent"
            children = [s for s in spans if s.get("parentSpanId") == node["spanId"]]
            chats = [_attrs(s) for s in children
                     if _attrs(s)["gen_ai.operation.name"] == "chat"]
            tools = [_attrs(s) for s in children
                     if _attrs(s)["gen_ai.operation.name"] == "execute_tool"]
            assert len(chats) + len(tools) == len(children)
            node_dir = run_dir / attrs["pantheon.node"]
            calls = list(iter_jsonl(node_dir / "model_calls.jsonl"))
            assert [(c["gen_ai.usage.input_tokens"], c["gen_ai.usage.output_tokens"])
                    for c in chats] == [(c["prompt_tokens"], c["completion_tokens"])
                                        for c in calls]
            assert [t["gen_ai.tool.name"] for t in tools] == [
                c["name"] for c in iter_jsonl(node_dir / "tool_calls.jsonl")]
            for chat in chats:
                assert chat["gen_ai.system"] == chat["gen_ai.provider.name"] == "replay"
                assert chat["gen_ai.request.model"] == "replay:memory"
                assert chat["gen_ai.agent.name"] == attrs["gen_ai.agent.name"]
            for tool in tools:
                assert tool["gen_ai.agent.name"] == attrs["gen_ai.agent.name"]
    frontmatter = [_attrs(s) for s in spans if _attrs(s).get("pantheon.node") == "frontmatter"]
    assert {a["gen_ai.agent.name"] for a in frontmatter} == {"doc.frontmatter@1"}
    tokens = sum(_attrs(s).get("gen_ai.usage.input_tokens", 0) for s in spans
                 if _attrs(s).get("gen_ai.operation.name") == "chat")
    assert tokens > 0
    assert "2 runs" in result.output


class _Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Any:
    _Collector.received = []
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_loopback_collector_gets_the_request_at_night(night: tuple[Path, str],
                                                        collector: HTTPServer) -> None:
    art, night_id = night
    url = f"http://127.0.0.1:{collector.server_address[1]}"
    result = _export("--otlp", url, "--night", night_id, "--artifacts", str(art))
    assert result.exit_code == 0, result.output
    assert len(_Collector.received) == 1
    path, content_type, body = _Collector.received[0]
    assert path == "/v1/traces" and content_type == "application/json"
    request = json.loads(body)
    assert len([s for s in spans_of(request) if "parentSpanId" not in s]) == JOBS
    assert "HTTP 200" in result.output


def test_a_remote_collector_is_refused_at_night(night: tuple[Path, str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    art, night_id = night
    sent: list[Any] = []
    monkeypatch.setattr("urllib.request.OpenerDirector.open",
                        lambda *a, **k: sent.append(a))
    result = _export("--otlp", "https://collector.example.com:4318", "--night", night_id,
                     "--artifacts", str(art))
    assert result.exit_code == 2
    assert ("--otlp https://collector.example.com:4318: night policy refuses to send traces "
            "to collector.example.com: only a file or a loopback collector (127.0.0.1, ::1, "
            "localhost) is allowed at night") in " ".join(result.output.split())
    assert sent == []


def test_by_day_any_url_is_allowed(night: tuple[Path, str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    art, night_id = night
    sent: list[str] = []

    class _Reply:
        status = 202

        def __enter__(self) -> _Reply:
            return self

        def __exit__(self, *args: Any) -> None:
            pass

    def fake_open(self: Any, request: Any, timeout: float = 0) -> _Reply:
        sent.append(request.full_url)
        return _Reply()

    monkeypatch.setattr("urllib.request.OpenerDirector.open", fake_open)
    result = _export("--otlp", "https://collector.example.com/otlp/v1/traces", "--day",
                     "--night", night_id, "--artifacts", str(art))
    assert result.exit_code == 0, result.output
    assert sent == ["https://collector.example.com/otlp/v1/traces"]


def test_stdout_and_missing_inputs(night: tuple[Path, str], tmp_path: Path) -> None:
    art, night_id = night
    result = _export("--otlp", "-", "--night", night_id, "--artifacts", str(art))
    assert result.exit_code == 0
    assert '"resourceSpans"' in result.stdout
    unknown = _export("--otlp", "-", "--night", "nope", "--artifacts", str(art))
    assert unknown.exit_code == 2
    assert f"nights there: {night_id}" in " ".join(unknown.output.split())
    missing = _export("--otlp", "-", "--artifacts", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2
    assert "no artifacts folder" in missing.output


def test_otlp_url_appends_the_traces_path() -> None:
    assert otlp_url("http://127.0.0.1:4318") == "http://127.0.0.1:4318/v1/traces"
    assert otlp_url("http://127.0.0.1:4318/") == "http://127.0.0.1:4318/v1/traces"
    assert otlp_url("http://h:6006/v1/traces") == "http://h:6006/v1/traces"
