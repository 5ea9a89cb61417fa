"""Several model servers behind one ``openai`` engine: each request goes to the least busy
server of its model, a server that dies is marked down (its requests finish elsewhere) and
probed back in, and a model nobody serves fails clearly. The servers are real HTTP servers
on 127.0.0.1, in threads, answering from a script."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from pantheon_engine.agents.registry import default_registry
from pantheon_engine.atomic import iter_jsonl
from pantheon_engine.config import EndpointSettings, Settings, merge_engine
from pantheon_engine.engines.base import EngineRequest, Message
from pantheon_engine.engines.endpoints import EndpointPool
from pantheon_engine.engines.factory import make_engine
from pantheon_engine.engines.openai import OpenAIEngine
from pantheon_engine.errors import ConfigError, EngineUnavailable, PolicyError
from pantheon_engine.night.drain import Night
from pantheon_engine.night.jobqueue import JobQueue, NewJob
from pantheon_engine.night.summary_read import night_stats
from pantheon_engine.policy import Policy

from conftest import FLOWS

Answer = Callable[[dict[str, Any]], str]


def reply(text: str, model: str) -> dict[str, Any]:
    return {"object": "chat.completion", "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}


class FakeEndpoint:
    """A model server on 127.0.0.1 serving ``models``; ``answer(body)`` writes each reply.

    ``hold()`` makes chat requests wait until ``release()``; ``kill()`` stops it at once:
    the listening socket closes and requests in flight get their connection dropped, no
    reply; ``restart()`` listens again on the same port. ``on_request(n)`` runs before
    answering the n-th chat request (1-based), in the handler's thread."""

    def __init__(self, models: list[str], answer: Answer | None = None) -> None:
        self.models = models
        self.answer = answer or (lambda body: "ok")
        self.asked: list[str] = []  # the model each chat request named
        self.lock = threading.Lock()
        self.gate = threading.Event()
        self.gate.set()
        self.dead = threading.Event()
        self.on_request: Callable[[int], None] | None = None
        self.port = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        self.dead.clear()
        httpd = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        httpd.daemon_threads = True
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        self._thread.start()

    def restart(self) -> None:
        self.start()

    def kill(self) -> None:
        self.dead.set()
        self.gate.set()  # held requests wake up, see they are dead, drop the connection
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            threading.Thread(target=lambda: (httpd.shutdown(), httpd.server_close()),
                             daemon=True).start()

    def hold(self) -> None:
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    def close(self) -> None:
        self.kill()

    def chats(self) -> int:
        with self.lock:
            return len(self.asked)


def _handler(state: FakeEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _json(self, status: int, data: Any) -> None:
            payload = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _drop(self) -> None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

        def do_GET(self) -> None:
            if state.dead.is_set():
                return self._drop()
            if self.path == "/v1/models":
                self._json(200, {"object": "list", "data": [
                    {"id": m, "object": "model", "parent": None if i == 0 else state.models[0]}
                    for i, m in enumerate(state.models)]})
            else:
                self._json(404, {"detail": "Not Found"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            with state.lock:
                state.asked.append(body.get("model"))
                n = len(state.asked)
            if state.on_request is not None:
                state.on_request(n)
            state.gate.wait(10)
            if state.dead.is_set():
                return self._drop()
            if body.get("model") not in state.models:
                return self._json(404, {"error": {"message": "no such model"}})
            self._json(200, reply(state.answer(body), body["model"]))

    return Handler


@pytest.fixture
def servers() -> Iterator[Callable[..., FakeEndpoint]]:
    made: list[FakeEndpoint] = []

    def make(models: list[str], answer: Answer | None = None) -> FakeEndpoint:
        made.append(FakeEndpoint(models, answer))
        return made[-1]

    yield make
    for server in made:
        server.close()


def ask(text: str = "hi") -> EngineRequest:
    return EngineRequest(messages=[Message(role="user", content=text)])


def engine_over(*endpoints: FakeEndpoint, **kwargs: Any) -> OpenAIEngine:
    kwargs.setdefault("backoff_s", 0.01)
    kwargs.setdefault("probe_s", 0.05)
    kwargs.setdefault("max_probe_s", 0.2)
    return OpenAIEngine(endpoints=[e.url for e in endpoints], **kwargs)


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


# --- routing ----------------------------------------------------------------------------


async def test_requests_go_to_the_server_with_fewest_outstanding(servers: Any) -> None:
    a, b = servers(["m"]), servers(["m"])
    async with engine_over(a, b) as engine:
        assert engine.model == "m"
        a.hold()
        slow = asyncio.create_task(engine.complete(ask()))  # ties go to the first: a
        await wait_for(lambda: a.chats() == 1)
        for _ in range(5):  # a has one outstanding, b none: every one goes to b
            await engine.complete(ask())
        assert (a.chats(), b.chats()) == (1, 5)
        a.release()
        await slow
        # both idle again: the one sent fewer requests takes the next ones
        await asyncio.gather(*(engine.complete(ask()) for _ in range(4)))
        assert a.chats() + b.chats() == 10 and a.chats() >= 3
        stats = {s.url: s for s in engine.stats().endpoints}
    assert stats[a.url].requests == a.chats() and stats[b.url].requests == b.chats()
    assert all(s.up and s.errors == 0 and s.models == ["m"] for s in stats.values())


async def test_never_routed_to_a_server_of_another_model(servers: Any) -> None:
    mine, other = servers(["m"]), servers(["other"])
    async with engine_over(mine, other, max_attempts=2) as engine:
        assert engine.model == "m"  # the first server's model
        mine.hold()
        waiting = [asyncio.create_task(engine.complete(ask())) for _ in range(3)]
        await wait_for(lambda: mine.chats() == 3)  # all wait on the busy one
        mine.release()
        await asyncio.gather(*waiting)
        mine.kill()  # the only server of "m" dies: no retry on the other model
        with pytest.raises(EngineUnavailable) as info:
            await engine.complete(ask())
    assert other.chats() == 0
    assert "'m'" in info.value.message and mine.url in info.value.message
    assert other.url not in info.value.message  # (the hint lists every server)


def test_the_pool_picks_the_least_busy_server_of_the_model() -> None:
    async def never(_: Any) -> list[str]:
        raise AssertionError("not asked")

    pool = EndpointPool([EndpointSettings(url="http://a/v1", model="m", adapters=["x@2"]),
                         EndpointSettings(url="http://b/v1", model="m"),
                         EndpointSettings(url="http://c/v1", model="n")], lister=never)
    a, b, c = pool.endpoints
    assert pool.pick("m") is a  # a tie: the first
    with pool.sending(a):
        assert pool.pick("m") is b
        assert pool.pick("x@2") is a  # only a serves the version, busy or not
        with pool.sending(b), pool.sending(b):
            assert pool.pick("m") is a
    assert pool.pick("m") is a  # idle again: a was sent fewer (1 against 2)
    assert pool.pick("n") is c and pool.pick("zzz") is None
    assert pool.missing(["m", "x@2", "zzz"]) == ["zzz"]


# --- servers dying, coming back -----------------------------------------------------------


async def test_a_killed_servers_request_finishes_on_another_of_the_same_model(
        servers: Any) -> None:
    a, b, c = servers(["m"]), servers(["m"]), servers(["other"])
    async with engine_over(a, b, c) as engine:
        a.hold()
        in_flight = asyncio.create_task(engine.complete(ask("first")))
        await wait_for(lambda: a.chats() == 1)
        a.kill()  # mid-request: the connection drops without a reply
        completion = await in_flight
        assert completion.text == "ok" and b.chats() == 1 and c.chats() == 0
        await asyncio.gather(*(engine.complete(ask()) for _ in range(4)))
        stats = {s.url: s for s in engine.stats().endpoints}
    assert b.chats() == 5 and a.chats() == 1  # nothing more went to the dead one
    assert not stats[a.url].up and stats[a.url].errors == 1 and stats[a.url].downs == 1
    assert stats[a.url].last_error and stats[b.url].up


async def test_a_down_server_is_probed_back_in(servers: Any) -> None:
    a, b = servers(["m"]), servers(["m"])
    async with engine_over(a, b) as engine:
        a.kill()
        await asyncio.gather(*(engine.complete(ask()) for _ in range(3)))
        assert not engine.pool.endpoints[0].up
        asked_before = a.chats()
        a.restart()  # same port: the probe (GET /models) finds it and marks it up
        await wait_for(lambda: engine.pool.endpoints[0].up)
        await asyncio.gather(*(engine.complete(ask()) for _ in range(4)))
        stats = engine.stats().endpoints
    assert a.chats() > asked_before  # it takes requests again
    assert stats[0].up and stats[0].downs == 1


async def test_a_lone_server_that_blips_is_retried_after_a_backoff(servers: Any) -> None:
    a = servers(["m"])
    async with engine_over(a, max_attempts=6, backoff_s=0.05) as engine:
        a.kill()
        threading.Timer(0.1, a.restart).start()
        completion = await engine.complete(ask())
    assert completion.text == "ok"


async def test_busy_is_not_down_but_a_5xx_is() -> None:
    """429: wait and ask again, the server stays up; 503: down, the other server answers."""
    script = {"http://a/v1": [429, 200, 503], "http://b/v1": [200]}
    seen: list[tuple[str, int]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        base = str(request.url).rsplit("/", 2)[0]
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "m"}]})
        status = script[base].pop(0) if script[base] else 200
        seen.append((base, status))
        if status != 200:
            return httpx.Response(status, json={"error": {"message": f"status {status}"}})
        return httpx.Response(200, json=reply("ok", "m"))

    async with OpenAIEngine(endpoints=["http://a/v1", "http://b/v1"], backoff_s=0.01,
                            probe_s=60, transport=httpx.MockTransport(answer)) as engine:
        engine.pool.endpoints[1].sent = 99  # b looks busier: a is asked first
        await engine.complete(ask())
        assert seen == [("http://a/v1", 429), ("http://a/v1", 200)]
        assert engine.pool.endpoints[0].up and engine.pool.endpoints[0].errors == 0
        await engine.complete(ask())
        assert seen[2:] == [("http://a/v1", 503), ("http://b/v1", 200)]
        a = engine.stats().endpoints[0]
    assert not a.up and a.errors == 1 and a.last_error == "HTTP 503: status 503"


# --- the configuration --------------------------------------------------------------------


def test_base_url_repeated_replaces_the_files_servers_but_keeps_what_they_serve() -> None:
    file = Settings.model_validate({"engine": {
        "name": "openai", "base_url": "http://127.0.0.1:9000/v1",
        "endpoints": [{"url": "http://127.0.0.1:8001/v1", "model": "m",
                       "adapters": ["doc.frontmatter@2"]}]}})
    assert [e.url for e in file.engine.endpoint_list()] == [
        "http://127.0.0.1:9000/v1", "http://127.0.0.1:8001/v1"]
    merged = merge_engine(file, name=None, model=None, replay=None, base_url=[
        "http://127.0.0.1:8001/v1", "http://127.0.0.1:8002/v1"])
    first, second = merged.endpoint_list()
    assert first.declared() == ["m", "doc.frontmatter@2"]
    assert second.url == "http://127.0.0.1:8002/v1" and second.declared() is None


def test_night_refuses_a_remote_server_among_several_unless_allowed() -> None:
    settings = merge_engine(Settings(), name="openai", model="m", replay=None,
                            base_url=["http://127.0.0.1:8001/v1", "http://10.0.0.7:8000/v1"])
    with pytest.raises(PolicyError, match=r"10\.0\.0\.7"):
        make_engine(settings, Policy(mode="night"))
    engine = make_engine(settings, Policy(mode="night", allowed_hosts=("10.0.0.0/24",)))
    assert isinstance(engine, OpenAIEngine) and len(engine.urls) == 2


async def test_the_preflight_names_a_version_no_server_serves(servers: Any) -> None:
    a = servers(["m", "doc.frontmatter@2"])
    async with engine_over(a) as engine:
        engine.adapters = {"doc.frontmatter": "doc.frontmatter@2", "review.peer": "review.peer@3"}
        with pytest.raises(ConfigError, match=r"review\.peer@3"):
            await engine.ping()
        engine.adapters = {"doc.frontmatter": "doc.frontmatter@2"}
        await engine.ping()


# --- a night on several servers -------------------------------------------------------------

TASK = {"path": "docs/guide.md", "rename": {"Title": "title"}, "delete": ["draft"],
        "set": {"status": "published"}}
CALLS = [
    {"type": "tool", "name": "fm_rename", "args": {"key": "Title", "new_key": "title"}},
    {"type": "tool", "name": "fm_delete", "args": {"key": "draft"}},
    {"type": "tool", "name": "fm_set", "args": {"key": "status", "value": "published"}},
    {"type": "final", "output": {"summary": "done"}},
]
VERDICT = {"type": "final", "output": {"verdict": "pass", "rationale": "ok"}}


def docops_answer(body: dict[str, Any]) -> str:
    """The scripted model of the docops flow: the editor makes the next edit the front
    matter it is shown still needs, then replies final; the reviewers pass."""
    messages = body["messages"]
    if messages[0]["content"].startswith("You are review"):
        return json.dumps(VERDICT)
    text = messages[-1]["content"]
    front = text.split("FRONT MATTER NOW:", 1)[1].split("BODY STARTS:", 1)[0]
    fields = dict(line.split(":", 1) for line in front.splitlines() if ":" in line)
    if "Title" in fields:
        return json.dumps(CALLS[0])
    if "draft" in fields:
        return json.dumps(CALLS[1])
    if fields.get("status", "").strip().strip('"') != "published":
        return json.dumps(CALLS[2])
    return json.dumps(CALLS[3])


def queue_jobs(art: Path, repo: Path, n: int) -> JobQueue:
    queue = JobQueue.for_artifacts(art)
    queue.add_many([NewJob(flow=str(FLOWS / "docops.yaml"), flow_name="docops",
                           input={**TASK, "workspace": str(repo)}) for _ in range(n)])
    return queue


async def test_a_night_finishes_every_job_when_a_server_dies_mid_night(
        servers: Any, docops_repo: Path, tmp_path: Path) -> None:
    a, b = servers(["m"], docops_answer), servers(["m"], docops_answer)
    a.on_request = lambda n: a.kill() if n == 5 else None  # dies answering its 5th
    art = tmp_path / "art"
    queue = queue_jobs(art, docops_repo, 4)
    policy = Policy(mode="night", allowed_hosts=("10.0.0.0/24",))  # recorded, not used
    async with engine_over(a, b, probe_s=5.0) as engine:
        night = Night(queue=queue, registry=default_registry(), engine=engine,
                      policy=policy, artifacts=art, concurrency=2, sample_s=0.05)
        result = await night.run()
    assert (result.done, result.failed) == (4, 0)
    assert json.loads((Path(result.dir) / "night.json").read_text())["allowed_hosts"] == [
        "10.0.0.0/24"]
    job = queue.list(states=["done"])[0]
    run = json.loads((art / "runs" / job.run_id / "run.json").read_text())
    assert run["allowed_hosts"] == ["10.0.0.0/24"]
    last = list(iter_jsonl(Path(result.dir) / "metrics.jsonl"))[-1]
    rows = {row["url"]: row for row in last["endpoints"]}
    # a dropped its 5th request (and any other in flight, or sent before it was marked
    # down): b answered those
    assert a.chats() == 5 and rows[a.url]["errors"] >= 1 and rows[a.url]["up"] is False
    assert rows[a.url]["requests"] <= 4
    assert b.chats() == 4 * 6 - rows[a.url]["requests"]  # 6 model calls a job
    assert rows[b.url]["up"] is True and rows[b.url]["requests"] == b.chats()
    stats = night_stats(art, night.night_id)
    assert [row.url for row in stats.endpoints] == [a.url, b.url]
    report = (Path(result.dir) / "report.md").read_text()
    assert "### Model servers" in report and a.url in report and "down (" in report
    assert "<h3>Model servers</h3>" in (Path(result.dir) / "report.html").read_text()


async def test_jobs_fail_clearly_when_the_only_server_of_their_version_dies(
        servers: Any, docops_repo: Path, tmp_path: Path) -> None:
    base = servers(["m"], docops_answer)
    version = servers(["m", "doc.frontmatter@2"], docops_answer)
    art = tmp_path / "art"
    queue = queue_jobs(art, docops_repo, 2)
    async with engine_over(base, version, max_attempts=2) as engine:
        engine.adapters = {"doc.frontmatter": "doc.frontmatter@2"}
        version.kill()
        night = Night(queue=queue, registry=default_registry(), engine=engine,
                      policy=Policy(mode="night"), artifacts=art, concurrency=2,
                      sample_s=0.05)
        result = await night.run()
    assert (result.done, result.failed) == (0, 2)
    assert "doc.frontmatter@2" not in base.asked  # never sent to the other server
    for job in queue.list(states=["failed"]):
        assert job.error_kind == "engine_unavailable"
        error = json.loads((art / "runs" / job.run_id / "frontmatter" / "error.json")
                           .read_text())
        assert error["error_kind"] == "engine_unavailable"
        assert "doc.frontmatter@2" in error["error"] and version.url in error["error"]
        assert base.url not in error["error"]
