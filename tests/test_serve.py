"""``pantheon serve``: the embedded engine over OpenAI's HTTP API, asked by Pantheon's own
``openai`` engine (every field it sends, constraints included), the policy on the bind
address, and one real request to the real small model."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from pantheon_engine.agents.registry import default_registry
from pantheon_engine.config import EngineSettings
from pantheon_engine.engines.base import (
    Completion,
    Engine,
    EngineRequest,
    Message,
    OutputConstraint,
)
from pantheon_engine.engines.openai import OpenAIEngine
from pantheon_engine.engines.routed import RoutedEngine
from pantheon_engine.engines.serve_app import build_app
from pantheon_engine.errors import EngineError, EngineUnavailable, PolicyError
from pantheon_engine.policy import Policy
from pantheon_engine.run.serve import served_models
from pantheon_engine.run.serving import Serving

SCHEMA = {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}


class Scripted(Engine):
    """An engine that records what it was asked and answers ``text``."""

    name = "scripted"
    supports_constraints = True

    def __init__(self, model: str, text: str = "hello", fail: Exception | None = None) -> None:
        self.model = model
        self.text = text
        self.fail = fail
        self.asked: list[EngineRequest] = []

    async def complete(self, request: EngineRequest) -> Completion:
        self.asked.append(request)
        if self.fail is not None:
            raise self.fail
        return Completion(text=self.text, prompt_tokens=4, completion_tokens=2,
                          finish_reason="length" if request.max_tokens == 2 else "stop")


def client_for(app: Any, **kwargs: Any) -> OpenAIEngine:
    kwargs.setdefault("max_attempts", 1)
    return OpenAIEngine("http://serve.test/v1", transport=httpx.ASGITransport(app=app),
                        **kwargs)


def ask(text: str = "hi", **kwargs: Any) -> EngineRequest:
    return EngineRequest(messages=[Message(role="system", content="be brief"),
                                   Message(role="user", content=text)], **kwargs)


async def test_pantheons_openai_engine_is_answered_field_for_field() -> None:
    base, version = Scripted("base", "from base"), Scripted("v", "from version")
    app = build_app({"base": base, "doc.frontmatter@2": version}, default="base",
                    parents={"doc.frontmatter@2": "base"})
    async with client_for(app) as engine:
        assert engine.model == "base"  # the first model listed without a parent
        engine.adapters = {"doc.frontmatter": "doc.frontmatter@2"}
        reply = await engine.complete(ask("x?", max_tokens=7, temperature=0.5, seed=3,
                                          constraint=OutputConstraint(json_schema=SCHEMA)))
        assert (reply.text, reply.prompt_tokens, reply.completion_tokens) == ("from base", 4, 2)
        assert reply.model == "base"
        await engine.complete(ask(constraint=OutputConstraint(regex=r"\d+")))
        await engine.complete(ask(constraint=OutputConstraint(grammar='root ::= "a"')))
        short = await engine.for_agent("doc.frontmatter").complete(ask(max_tokens=2))
        assert short.text == "from version" and short.finish_reason == "length"
        await engine.ping()  # every name the run asks for is served
    first, regex, grammar = base.asked
    assert [m.role for m in first.messages] == ["system", "user"]
    assert first.messages[1].content == "x?"
    assert (first.max_tokens, first.temperature, first.seed) == (7, 0.5, 3)
    assert first.constraint == OutputConstraint(json_schema=SCHEMA)
    assert regex.constraint == OutputConstraint(regex=r"\d+")
    assert grammar.constraint == OutputConstraint(grammar='root ::= "a"')
    assert len(version.asked) == 1


@pytest.mark.parametrize("options", [{"constraint_format": "openai"},
                                     {"legacy_guided_fields": True}])
async def test_the_other_constraint_spellings_are_read(options: dict[str, Any]) -> None:
    base = Scripted("base")
    async with client_for(build_app({"base": base}, default="base"), **options) as engine:
        await engine.complete(ask(constraint=OutputConstraint(json_schema=SCHEMA)))
    assert base.asked[0].constraint == OutputConstraint(json_schema=SCHEMA)


async def test_refusals_are_openai_errors() -> None:
    base = Scripted("base")
    app = build_app({"base": base}, default="base")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://serve.test") as http:
        def chat(**body: Any) -> Any:
            body.setdefault("messages", [{"role": "user", "content": "hi"}])
            return http.post("/v1/chat/completions", json=body)

        cases = {
            "stream": await chat(stream=True),
            "tools": await chat(tools=[{"type": "function", "function": {"name": "f"}}]),
            "two constraints": await chat(guided_regex="a", structured_outputs={"regex": "b"}),
            "no messages": await chat(messages=[]),
            "unknown role": await chat(messages=[{"role": "wizard", "content": "x"}]),
        }
        missing = await chat(model="nope")
        not_json = await http.post("/v1/chat/completions", content=b"{oops")
        parts = await chat(messages=[{"role": "developer", "content": "s"}, {
            "role": "user", "content": [{"type": "text", "text": "a"},
                                        {"type": "text", "text": "b"}]}])
    for what, response in cases.items():
        assert response.status_code == 400, what
        assert response.json()["error"]["message"], what
    assert "streaming" in cases["stream"].json()["error"]["message"]
    assert missing.status_code == 404 and "nope" in missing.json()["error"]["message"]
    assert not_json.status_code == 400
    assert parts.status_code == 200
    assert [(m.role, m.content) for m in base.asked[-1].messages] == [("system", "s"),
                                                                      ("user", "ab")]


async def test_an_engine_that_is_down_answers_503_so_clients_go_elsewhere() -> None:
    down = Scripted("base", fail=EngineUnavailable("engine process lost"))
    broken = Scripted("base", fail=EngineError("the output constraint could not be compiled"))
    async with client_for(build_app({"base": down}, default="base")) as engine:
        with pytest.raises(EngineUnavailable, match="engine process lost"):
            await engine.complete(ask())
        assert not engine.stats().endpoints[0].up  # marked down: 503
    async with client_for(build_app({"base": broken}, default="base")) as engine:
        with pytest.raises(EngineError, match="could not be compiled") as info:
            await engine.complete(ask())
        assert not isinstance(info.value, EngineUnavailable)
        assert engine.stats().endpoints[0].up  # the request's fault, not the server's


def test_each_version_with_its_own_weights_is_served_by_name() -> None:
    base, merged = Scripted("smollm2-135m"), Scripted("merged")
    engine = RoutedEngine({"smollm2-135m": base, "/v/2/model.gguf": merged},
                          {"doc.frontmatter": "/v/2/model.gguf", "review.peer": "smollm2-135m"},
                          default="smollm2-135m")
    plan = Serving(registry=default_registry(),
                   settings=EngineSettings(model="smollm2-135m"),
                   served={"doc.frontmatter": 2, "review.peer": 1},
                   models={"doc.frontmatter": "/v/2/model.gguf", "review.peer": "smollm2-135m"})
    models = served_models(plan, engine)
    assert models.default == "smollm2-135m"
    assert set(models.engines) == {"smollm2-135m", "doc.frontmatter@2"}
    assert models.engines["doc.frontmatter@2"] is merged
    assert models.parents == {"doc.frontmatter@2": "smollm2-135m"}


# --- the bind address and the policy --------------------------------------------------------


def test_night_binds_loopback_or_an_allowed_host_only() -> None:
    night = Policy(mode="night")
    for host in ("127.0.0.1", "::1", "localhost"):
        night.check_bind(host)
    for host in ("0.0.0.0", "10.1.2.3", "::", "gpu-box.lan"):
        with pytest.raises(PolicyError, match="refuses to serve"):
            night.check_bind(host)
    allowed = Policy(mode="night", allowed_hosts=("10.1.2.0/24", "gpu-box.lan"))
    allowed.check_bind("10.1.2.3")
    allowed.check_bind("GPU-box.lan")
    with pytest.raises(PolicyError):
        allowed.check_bind("0.0.0.0")
    Policy(mode="day").check_bind("0.0.0.0")  # by day anything goes


def pantheon(*args: str, cwd: Path, **kwargs: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    return subprocess.Popen([sys.executable, "-m", "pantheon_engine", *args], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kwargs)


def test_serve_refuses_a_non_loopback_address_at_night(tmp_path: Path) -> None:
    proc = pantheon("serve", "--host", "10.1.2.3", "--port", "0", cwd=tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert "10.1.2.3" in err and "allowed_hosts" in err
    assert "serving" not in out


@pytest.mark.model
async def test_serve_answers_the_real_small_model_through_the_openai_engine(
        tmp_path: Path) -> None:
    proc = pantheon("serve", "--port", "0", "--model", "smollm2-135m", cwd=tmp_path,
                    start_new_session=True)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 120)
        found = re.search(r"on (http://\S+/v1)", line)
        assert found, (line, proc.stderr.read() if proc.poll() is not None and proc.stderr
                       else "")
        async with OpenAIEngine(found.group(1)) as engine:
            assert engine.model == "smollm2-135m"
            reply = await engine.complete(EngineRequest(
                messages=[Message(role="user", content="Is the sky blue? Answer yes or no.")],
                constraint=OutputConstraint(regex="(yes|no)"), max_tokens=4))
        assert reply.text in ("yes", "no") and reply.completion_tokens >= 1
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0  # a clean stop: the engine was closed
