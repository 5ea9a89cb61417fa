"""The day/night policy.

Every test that could put a packet on a wire runs inside an empty network namespace
(``unshare -rn``) and aims only at documentation addresses (TEST-NET-1/2/3, 2001:db8::/32).
Outside a namespace we only ever talk to 127.0.0.1 / ::1 / Unix sockets.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pantheon_engine import policy as policy_mod
from pantheon_engine.errors import ConfigError, EgressBlocked, PolicyError, UserError
from pantheon_engine.policy import (
    CLOUD_CREDENTIALS,
    NIGHT_ENV,
    Policy,
    block_egress,
    egress_blocked,
    egress_guard,
    find_credentials,
    is_local_endpoint,
    netns_prefix,
    parse_allowed_host,
    scrubbed_env,
    unblock_egress,
)
from pantheon_engine.tools.base import ToolContext

NIGHT = Policy("night")
DAY = Policy("day")

GUARDED_NAMES = {
    "connect": socket.socket,
    "connect_ex": socket.socket,
    "sendto": socket.socket,
    "sendmsg": socket.socket,
    "create_connection": socket,
    "getaddrinfo": socket,
    "gethostbyname": socket,
    "gethostbyname_ex": socket,
}


@pytest.fixture(autouse=True)
def _restore_guard() -> Iterator[None]:
    """Whatever a test does, no guard leaks into the next one."""
    yield
    unblock_egress()


def _unshare_works() -> bool:
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return False
    try:
        done = subprocess.run(
            ["unshare", "-rn", "true"], capture_output=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


UNSHARE_OK = _unshare_works()
needs_unshare = pytest.mark.skipif(not UNSHARE_OK, reason="unshare -rn is not available here")


def _run_in_empty_netns(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a Python snippet in a fresh, empty network namespace (no route anywhere)."""
    return subprocess.run(
        ["unshare", "-rn", "--", sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _last_json(done: subprocess.CompletedProcess[str]) -> dict:
    assert done.returncode == 0, f"snippet failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- credentials -------------------------------------------------------------------------


def test_credential_list_is_maintained() -> None:
    assert len(CLOUD_CREDENTIALS) >= 60
    assert len(set(CLOUD_CREDENTIALS)) == len(CLOUD_CREDENTIALS)
    for name in CLOUD_CREDENTIALS:
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name), name
    for must in (
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
        "AWS_SECRET_ACCESS_KEY",
        "HF_TOKEN",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GITHUB_TOKEN",
    ):
        assert must in CLOUD_CREDENTIALS


@pytest.mark.parametrize("name", CLOUD_CREDENTIALS)
def test_night_refuses_each_credential_and_day_allows_it(name: str) -> None:
    env = {"PATH": "/usr/bin", name: "sk-something"}
    with pytest.raises(PolicyError) as info:
        NIGHT.preflight(env)
    text = str(info.value)
    assert name in text
    assert "unset" in text
    assert "--day" in text
    DAY.preflight(env)  # no error by day


@pytest.mark.parametrize("name", CLOUD_CREDENTIALS)
def test_scrubbed_env_drops_each_credential(name: str) -> None:
    out = scrubbed_env({"PATH": "/usr/bin", name: "sk-something"}, keep=(name,))
    assert name not in out
    assert out["PATH"] == "/usr/bin"


@pytest.mark.parametrize("value", ["", " ", "\t\n"])
def test_blank_credential_does_not_count(value: str) -> None:
    env = {"OPENAI_API_KEY": value, "HF_TOKEN": value}
    assert find_credentials(env) == []
    NIGHT.preflight(env)


def test_preflight_names_every_credential_found() -> None:
    env = {"OPENAI_API_KEY": "a", "HF_TOKEN": "b", "UNRELATED": "c", "GROQ_API_KEY": ""}
    assert find_credentials(env) == ["OPENAI_API_KEY", "HF_TOKEN"]
    with pytest.raises(PolicyError) as info:
        NIGHT.preflight(env)
    assert "OPENAI_API_KEY" in str(info.value)
    assert "HF_TOKEN" in str(info.value)
    assert "GROQ_API_KEY" not in str(info.value)
    assert isinstance(info.value, UserError)
    assert info.value.exit_code == 3


def test_credential_names_are_case_sensitive() -> None:
    assert find_credentials({"openai_api_key": "x"}) == []


def test_preflight_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CLOUD_CREDENTIALS:
        monkeypatch.delenv(name, raising=False)
    NIGHT.preflight()
    monkeypatch.setenv("ANTHROPIC_API_KEY", "x")
    with pytest.raises(PolicyError, match="ANTHROPIC_API_KEY"):
        NIGHT.preflight()
    DAY.preflight()


def test_unknown_mode_is_a_config_error() -> None:
    from pantheon_engine.errors import ConfigError

    with pytest.raises(ConfigError, match="evening"):
        Policy("evening")  # type: ignore[arg-type]


def test_default_mode_is_night() -> None:
    assert Policy().mode == "night"
    assert Policy().is_night
    assert not DAY.is_night


# --- runtime origin ----------------------------------------------------------------------


def test_night_allows_local_runtime() -> None:
    NIGHT.check_runtime("coder", "local")


@pytest.mark.parametrize("origin", ["cloud", "remote", "openai", "Local", "", "local "])
def test_night_refuses_non_local_runtime(origin: str) -> None:
    with pytest.raises(PolicyError) as info:
        NIGHT.check_runtime("coder", origin)
    assert "coder" in str(info.value)
    assert repr(origin) in str(info.value)


@pytest.mark.parametrize("origin", ["cloud", "remote", "local"])
def test_day_allows_any_runtime(origin: str) -> None:
    DAY.check_runtime("coder", origin)


# --- endpoints ---------------------------------------------------------------------------

LOCAL_ENDPOINTS = [
    "http://127.0.0.1:8000/v1",
    "http://127.0.0.2:8000",
    "http://127.255.255.254/",
    "https://localhost:8443/v1",
    "http://LOCALHOST:8000",
    "http://localhost.:8000",
    "http://[::1]:8000/v1",
    "http://[::ffff:127.0.0.1]:8000",
    "ws://127.0.0.1:9000/stream",
    "localhost:8000",
    "127.0.0.1:8000",
    "unix:/run/vllm.sock",
    "unix:///run/vllm.sock",
    "http+unix://%2Frun%2Fvllm.sock/v1",
    "/run/vllm.sock",
    "./vllm.sock",
    "~/vllm.sock",
    "file:///models/smollm2.gguf",
]

REMOTE_ENDPOINTS = [
    "http://10.0.0.5:8000/v1",
    "http://192.168.1.10:8000",
    "http://172.16.0.1",
    "http://169.254.169.254/latest/meta-data",
    "https://api.openai.com/v1",
    "https://example.com",
    "http://127.0.0.1.evil.com/v1",
    "http://localhost.evil.com/",
    "http://evil.localhost/",
    "http://127.0.0.1@evil.com/",
    "http://0.0.0.0:8000",
    "http://[::]:8000",
    "http://127.1:8000",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://[2001:db8::1]:8000",
    "10.0.0.5:8000",
    "http:///v1",
    "http://127.0.0.1:notaport/",
    "file://fileserver/share/model.gguf",
    "",
]


@pytest.mark.parametrize("url", LOCAL_ENDPOINTS)
def test_night_allows_local_endpoint(url: str) -> None:
    assert is_local_endpoint(url)
    NIGHT.check_endpoint(url)
    DAY.check_endpoint(url)


@pytest.mark.parametrize("url", REMOTE_ENDPOINTS)
def test_night_refuses_remote_endpoint(url: str) -> None:
    assert not is_local_endpoint(url)
    with pytest.raises(PolicyError) as info:
        NIGHT.check_endpoint(url)
    assert repr(url) in str(info.value)
    DAY.check_endpoint(url)  # anything goes by day


# --- hosts of the user's own network a night may use --------------------------------------


@pytest.mark.parametrize("entry", ["10.0.0.7", "192.168.1.0/24", "fd00::/8", "[fe80::1]",
                                   "gpu-box.lan", "GPU-Box.LAN."])
def test_allowed_hosts_take_names_and_private_addresses(entry: str) -> None:
    parse_allowed_host(entry)
    Policy("night", allowed_hosts=(entry,))


@pytest.mark.parametrize(("entry", "why"), [
    ("8.8.8.8", "public"), ("2001:4860::/32", "public"), ("0.0.0.0", "every address"),
    ("::", "every address"), ("10.0.0.0/0", "every address"), ("*", "not a host"),
    ("http://10.0.0.7", "not a host"), ("", "empty"),
])
def test_allowed_hosts_refuse_the_internet_and_wildcards(entry: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why) as info:
        Policy("night", allowed_hosts=(entry,))
    assert "allowed_hosts" in str(info.value) and repr(entry) in str(info.value)


def test_night_allows_an_endpoint_on_an_allowed_host_only() -> None:
    policy = Policy("night", allowed_hosts=("10.0.0.0/24", "gpu-box.lan"))
    for url in ("http://10.0.0.5:8000/v1", "http://GPU-box.lan:8000/v1", "10.0.0.9:8000",
                "http://127.0.0.1:8000/v1"):
        policy.check_endpoint(url)
    for url in ("http://10.0.1.5:8000/v1", "https://api.openai.com/v1",
                "http://gpu-box.lan.evil.com/v1", "http://evil.com/gpu-box.lan"):
        with pytest.raises(PolicyError, match=r"gpu-box\.lan"):  # the message names the list
            policy.check_endpoint(url)
    assert policy.describe()["allowed_hosts"] == ["10.0.0.0/24", "gpu-box.lan"]
    assert "allowed_hosts" not in NIGHT.describe()


def test_allowed_hosts_come_from_pantheon_toml(tmp_path: Path) -> None:
    from pantheon_engine.run.serving import EngineOptions

    config = tmp_path / "pantheon.toml"
    config.write_text('[policy]\nallowed_hosts = ["10.0.0.7"]\n')
    policy = EngineOptions(config=config).policy("night")
    assert policy.allowed_hosts == ("10.0.0.7",)
    policy.check_endpoint("http://10.0.0.7:8000/v1")
    config.write_text('[policy]\nallowed_hosts = ["1.1.1.1"]\n')
    with pytest.raises(ConfigError, match=r"1\.1\.1\.1"):
        EngineOptions(config=config).policy("night")


@needs_unshare
def test_the_guard_lets_allowed_hosts_through_inside_empty_netns() -> None:
    done = _run_in_empty_netns(
        _ATTEMPTS
        + """
from pantheon_engine.policy import Policy
with Policy("night", allowed_hosts=("192.0.2.1",)).egress_guard():
    allowed = attempt(lambda: tcp("192.0.2.1"))
    via_httpx = attempt(http)
    other = attempt(lambda: tcp("192.0.2.2"))
after = attempt(lambda: tcp("192.0.2.2"))
print(json.dumps({"allowed": allowed, "httpx": via_httpx, "other": other, "after": after}))
"""
    )
    out = _last_json(done)
    # let through: the empty namespace answers, not the guard
    assert out["allowed"]["errno"] == errno.ENETUNREACH, out["allowed"]
    assert out["httpx"]["type"] == "ConnectError", out["httpx"]
    assert out["other"]["type"] == "EgressBlocked" and "192.0.2.2" in out["other"]["msg"]
    assert out["after"]["errno"] == errno.ENETUNREACH  # the guard is off again


# --- scrubbed environment ----------------------------------------------------------------


def test_scrubbed_env_keeps_the_basics_and_drops_the_rest() -> None:
    env = {
        "PATH": "/usr/bin",
        "HOME": "/home/me",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TERM": "xterm",
        "TMPDIR": "/tmp/x",
        "VIRTUAL_ENV": "/venv",
        "PYTHONPATH": "/src",
        "PYTHONHASHSEED": "0",
        "PYTHONSTARTUP": "/home/me/.pythonrc",
        "PANTHEON_ARTIFACTS": "/art",
        "HTTP_PROXY": "http://proxy:3128",
        "https_proxy": "http://proxy:3128",
        "ALL_PROXY": "socks5://proxy",
        "no_proxy": "internal",
        "MY_SERVICE_API_KEY": "k",
        "SOME_TOKEN": "t",
        "DB_PASSWORD": "p",
        "APP_SECRET": "s",
        "FOO_SECRET_ACCESS_KEY": "s",
        "PYTHON_KEYRING_TOKEN": "t",
        "PANTHEON_SECRET": "s",
        "LC_PASSWORD": "p",
        "RANDOM_THING": "r",
        "SSH_AUTH_SOCK": "/tmp/agent",
    }
    original = dict(env)
    out = scrubbed_env(env)
    assert env == original, "the input must not be mutated"
    for kept in (
        "PATH",
        "HOME",
        "LANG",
        "LC_ALL",
        "TERM",
        "TMPDIR",
        "VIRTUAL_ENV",
        "PYTHONPATH",
        "PYTHONHASHSEED",
        "PANTHEON_ARTIFACTS",
    ):
        assert out[kept] == env[kept], kept
    for dropped in (
        "PYTHONSTARTUP",
        "HTTP_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "MY_SERVICE_API_KEY",
        "SOME_TOKEN",
        "DB_PASSWORD",
        "APP_SECRET",
        "FOO_SECRET_ACCESS_KEY",
        "PYTHON_KEYRING_TOKEN",
        "PANTHEON_SECRET",
        "LC_PASSWORD",
        "RANDOM_THING",
        "SSH_AUTH_SOCK",
    ):
        assert dropped not in out, dropped
    for name, value in NIGHT_ENV.items():
        assert out[name] == value
    assert out["PANTHEON_MODE"] == "night"
    assert out["NO_PROXY"] == "*"
    assert out["no_proxy"] == "*"


def test_scrubbed_env_keep_adds_names_but_never_secrets_or_proxies() -> None:
    env = {
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": "2",
        "MY_API_KEY": "k",
        "HTTPS_PROXY": "x",
    }
    out = scrubbed_env(env, keep=tuple(env))
    assert out["TOKENIZERS_PARALLELISM"] == "false"
    assert out["OMP_NUM_THREADS"] == "2"
    assert "MY_API_KEY" not in out
    assert "HTTPS_PROXY" not in out


def test_scrubbed_env_of_real_environment_has_no_credentials() -> None:
    out = scrubbed_env({**os.environ, "OPENAI_API_KEY": "x", "AWS_SESSION_TOKEN": "y"})
    assert find_credentials(out) == []


# --- tool context ------------------------------------------------------------------------


def test_tool_context_at_night_is_scrubbed_and_sandboxed(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "OPENAI_API_KEY": "x", "HTTP_PROXY": "p"}
    ctx = NIGHT.tool_context(tmp_path, env=env)
    assert isinstance(ctx, ToolContext)
    assert ctx.workspace == tmp_path
    assert ctx.env["PANTHEON_MODE"] == "night"
    assert "OPENAI_API_KEY" not in ctx.env
    assert "HTTP_PROXY" not in ctx.env
    assert ctx.command_prefix == netns_prefix()


def test_tool_context_by_day_is_plain(tmp_path: Path) -> None:
    ctx = DAY.tool_context(tmp_path)
    assert ctx.workspace == tmp_path
    assert ctx.env == dict(os.environ)
    assert ctx.command_prefix == []


def test_night_without_netns_still_scrubs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(policy_mod, "_candidate_prefix", lambda: None)
    policy_mod._probe_netns.cache_clear()
    try:
        assert netns_prefix() == []
        ctx = NIGHT.tool_context(tmp_path, env={"PATH": "/bin", "HF_TOKEN": "x"})
        assert ctx.command_prefix == []
        assert "HF_TOKEN" not in ctx.env
        assert NIGHT.describe()["tool_netns"] is False
    finally:
        policy_mod._probe_netns.cache_clear()


def test_describe() -> None:
    assert DAY.describe() == {
        "mode": "day",
        "egress_guard": False,
        "tool_netns": False,
        "tool_env_scrubbed": False,
    }
    night = NIGHT.describe()
    assert night["mode"] == "night"
    assert night["egress_guard"] is True
    assert night["tool_netns"] is bool(netns_prefix())


# --- the guard: patching and reversibility (no traffic) ----------------------------------


def _current() -> dict[str, object]:
    return {name: getattr(owner, name) for name, owner in GUARDED_NAMES.items()}


def test_guard_is_reversible_and_idempotent() -> None:
    before = _current()
    own_before = set(socket.socket.__dict__)
    assert not egress_blocked()

    block_egress()
    assert egress_blocked()
    patched = _current()
    for name in GUARDED_NAMES:
        assert patched[name] is not before[name], name
    block_egress()  # second call changes nothing
    assert _current() == patched

    unblock_egress()
    assert not egress_blocked()
    assert _current() == before
    assert set(socket.socket.__dict__) == own_before  # inherited methods are inherited again
    unblock_egress()  # a no-op
    assert _current() == before


def test_guard_context_manager_restores_even_on_error() -> None:
    before = _current()
    with pytest.raises(RuntimeError), egress_guard():
        assert egress_blocked()
        raise RuntimeError("boom")
    assert not egress_blocked()
    assert _current() == before


def test_nested_guard_leaves_outer_guard_on() -> None:
    block_egress()
    with egress_guard():
        assert egress_blocked()
    assert egress_blocked()
    unblock_egress()
    assert not egress_blocked()


def test_enforce_night_and_day() -> None:
    with NIGHT.enforce(env={"PATH": "/bin"}):
        assert egress_blocked()
    assert not egress_blocked()
    with DAY.enforce(env={"OPENAI_API_KEY": "x"}):
        assert not egress_blocked()
    with pytest.raises(PolicyError), NIGHT.enforce(env={"OPENAI_API_KEY": "x"}):
        pytest.fail("must not start")  # pragma: no cover
    assert not egress_blocked()


def test_policy_egress_guard_is_on_at_night_only() -> None:
    with NIGHT.egress_guard():
        assert egress_blocked()
    assert not egress_blocked()
    with DAY.egress_guard():
        assert not egress_blocked()


def test_egress_blocked_is_a_policy_error_not_an_oserror() -> None:
    # Client libraries catch OSError to try the next address or a fallback; ours must escape.
    assert issubclass(EgressBlocked, PolicyError)
    assert not issubclass(EgressBlocked, OSError)


# --- the guard: loopback and Unix sockets keep working (local traffic only) --------------


class _EchoServer:
    def __init__(self, family: int, host: str) -> None:
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = conn.recv(1024)
                conn.sendall(data.upper())

    def close(self) -> None:
        self.sock.close()


def _echo(sock: socket.socket, payload: bytes = b"ping") -> bytes:
    with sock:
        sock.sendall(payload)
        return sock.recv(1024)


def test_loopback_works_under_the_guard() -> None:
    server = _EchoServer(socket.AF_INET, "127.0.0.1")
    try:
        with egress_guard():
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(5)
            s.connect(("127.0.0.1", server.port))
            assert _echo(s) == b"PING"

            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(5)
            assert s.connect_ex(("127.0.0.1", server.port)) == 0
            assert _echo(s) == b"PING"

            assert _echo(socket.create_connection(("127.0.0.1", server.port), 5)) == b"PING"
            assert _echo(socket.create_connection(("localhost", server.port), 5)) == b"PING"
            assert socket.getaddrinfo("localhost", server.port)
            assert socket.gethostbyname("127.0.0.1") == "127.0.0.1"
            # IP literals need no lookup, so they resolve even when not loopback.
            assert socket.getaddrinfo("192.0.2.1", 9, type=socket.SOCK_STREAM)

            async def talk() -> bytes:
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writer.write(b"async")
                await writer.drain()
                data = await reader.read(1024)
                writer.close()
                await writer.wait_closed()
                return data

            assert asyncio.run(talk()) == b"ASYNC"
    finally:
        server.close()


def test_loopback_udp_works_under_the_guard() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(5)
        with egress_guard(), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            tx.sendto(b"hello", rx.getsockname())
            assert rx.recvfrom(64)[0] == b"hello"
            tx.sendmsg([b"again"], [], 0, rx.getsockname())
            assert rx.recvfrom(64)[0] == b"again"


def test_ipv6_loopback_works_under_the_guard() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        server = _EchoServer(socket.AF_INET6, "::1")
    except OSError:
        pytest.skip("::1 is not configured here")
    try:
        with egress_guard():
            s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            s.settimeout(5)
            s.connect(("::1", server.port))
            assert _echo(s) == b"PING"
    finally:
        server.close()


def test_unix_sockets_work_under_the_guard(tmp_path: Path) -> None:
    path = str(tmp_path / "engine.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as srv:
        srv.bind(path)
        srv.listen(1)
        with egress_guard(), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as cli:
            cli.connect(path)
            conn, _ = srv.accept()
            with conn:
                cli.sendall(b"x")
                assert conn.recv(1) == b"x"


# --- the guard against real egress attempts: only inside an empty network namespace ------

_ATTEMPTS = """
import asyncio, json, socket, sys

def attempt(fn):
    try:
        fn()
    except Exception as exc:  # report what stopped it
        return {"type": type(exc).__name__, "errno": getattr(exc, "errno", None),
                "msg": str(exc)}
    return {"type": "connected", "errno": None, "msg": ""}

def tcp(host, port=9, family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect((host, port))
    finally:
        s.close()

def tcp_ex():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        rc = s.connect_ex(("198.51.100.7", 9))
    finally:
        s.close()
    if rc:
        raise OSError(rc, "connect_ex")

def udp():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"x", ("203.0.113.9", 9))

def aio():
    async def go():
        await asyncio.wait_for(asyncio.open_connection("192.0.2.1", 9), 3)
    asyncio.run(go())

def http():
    import httpx
    httpx.get("http://192.0.2.1:9/", timeout=3)

def results():
    return {
        "connect": attempt(lambda: tcp("192.0.2.1")),
        "connect_v6": attempt(lambda: tcp("2001:db8::1", family=socket.AF_INET6)),
        "connect_ex": attempt(tcp_ex),
        "create_connection": attempt(lambda: socket.create_connection(("192.0.2.1", 9), 3)),
        "sendto": attempt(udp),
        "asyncio": attempt(aio),
        "httpx": attempt(http),
        "lookup": attempt(lambda: socket.getaddrinfo("pantheon-test.invalid", 80)),
    }
"""


@needs_unshare
def test_guard_blocks_egress_inside_empty_netns() -> None:
    done = _run_in_empty_netns(
        _ATTEMPTS
        + """
from pantheon_engine.policy import block_egress, unblock_egress
unguarded = results()
block_egress()
guarded = results()
unblock_egress()
after = results()
print(json.dumps({"unguarded": unguarded, "guarded": guarded, "after": after}))
"""
    )
    out = _last_json(done)

    # The guard is what stops every attempt: Pantheon's EgressBlocked, naming the target.
    for vector, result in out["guarded"].items():
        assert result["type"] == "EgressBlocked", (vector, result)
        assert "night policy" in result["msg"], (vector, result)
    assert "192.0.2.1" in out["guarded"]["connect"]["msg"]
    assert "pantheon-test.invalid" in out["guarded"]["lookup"]["msg"]

    # Control: without the guard the same namespace answers "Network is unreachable".
    for state in ("unguarded", "after"):
        for vector in ("connect", "connect_ex", "create_connection", "sendto"):
            result = out[state][vector]
            assert result["type"] != "EgressBlocked", (state, vector, result)
            assert result["errno"] == errno.ENETUNREACH, (state, vector, result)
        # With no IPv6 address at all in the namespace the kernel says "cannot assign".
        v6 = out[state]["connect_v6"]
        assert v6["errno"] in (errno.ENETUNREACH, errno.EADDRNOTAVAIL), (state, v6)
        assert out[state]["asyncio"]["type"] != "EgressBlocked"
        assert out[state]["httpx"]["type"] == "ConnectError"
        assert out[state]["lookup"]["type"] == "gaierror"


@needs_unshare
def test_policy_enforce_blocks_egress_inside_empty_netns() -> None:
    done = _run_in_empty_netns(
        """
import json, socket
from pantheon_engine.policy import Policy
try:
    with Policy("night").enforce(env={}):
        socket.create_connection(("192.0.2.1", 9), 3)
except Exception as exc:
    print(json.dumps({"type": type(exc).__name__, "msg": str(exc)}))
"""
    )
    out = _last_json(done)
    assert out["type"] == "EgressBlocked"
    assert "192.0.2.1" in out["msg"]


# --- tool subprocesses in an empty network namespace -------------------------------------

needs_netns = pytest.mark.skipif(
    not netns_prefix(), reason="no empty network namespace can be made here"
)


def test_netns_prefix_shape_and_cache() -> None:
    prefix = netns_prefix()
    if not prefix:
        pytest.skip("no empty network namespace can be made here")
    assert Path(prefix[0]).name == "unshare"
    assert prefix[1:3] == ["-rn", "--"]
    prefix.append("mutated")
    assert netns_prefix()[-1] != "mutated"  # callers get a copy


@needs_netns
def test_netns_prefix_runs_a_real_command_in_its_own_namespace() -> None:
    code = (
        "import os; print(os.readlink('/proc/self/ns/net')); "
        "print(' '.join(l.split(':')[0].strip() for l in open('/proc/self/net/dev')"
        ".read().splitlines()[2:]))"
    )
    done = subprocess.run(
        [*netns_prefix(), sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    ns, interfaces = done.stdout.splitlines()
    assert ns != os.readlink("/proc/self/ns/net")
    assert interfaces.split() == ["lo"]
    # Exit codes and argv pass through the shim untouched.
    done = subprocess.run([*netns_prefix(), "sh", "-c", "exit 7", "x y"], timeout=30, check=False)
    assert done.returncode == 7


@needs_unshare
@needs_netns
def test_tool_subprocess_cannot_reach_the_network(tmp_path: Path) -> None:
    """Outer namespace for safety; the tool's own prefix makes a second, inner one.

    The inner process sees only ``lo`` (up, so local test servers still work), a different
    namespace from its parent, and no route to a TEST-NET address.
    """
    inner = textwrap.dedent(
        """
        import json, os, socket, threading
        out = {"ns": os.readlink("/proc/self/ns/net")}
        out["mode"] = os.environ.get("PANTHEON_MODE")
        out["secret"] = os.environ.get("OPENAI_API_KEY")
        s = socket.socket(); s.settimeout(3)
        try:
            s.connect(("192.0.2.1", 9)); out["remote"] = "connected"
        except OSError as exc:
            out["remote"] = exc.errno
        srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
        def serve():
            c, _ = srv.accept(); c.sendall(c.recv(16).upper()); c.close()
        threading.Thread(target=serve, daemon=True).start()
        c = socket.create_connection(srv.getsockname(), 3); c.sendall(b"lo")
        out["loopback"] = c.recv(16).decode()
        print(json.dumps(out))
        """
    )
    outer = f"""
import json, os, subprocess, sys
from pathlib import Path
from pantheon_engine.policy import Policy
env = {{**os.environ, "OPENAI_API_KEY": "sk-x"}}
ctx = Policy("night").tool_context(Path({str(tmp_path)!r}), env=env)
assert ctx.command_prefix, "no netns prefix inside the outer namespace"
done = subprocess.run([*ctx.command_prefix, sys.executable, "-c", {inner!r}],
                      env=ctx.env, cwd=ctx.workspace, capture_output=True, text=True,
                      timeout=30)
res = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else {{}}
res["outer_ns"] = os.readlink("/proc/self/ns/net")
res["rc"] = done.returncode
res["stderr"] = done.stderr[-2000:]
print(json.dumps(res))
"""
    out = _last_json(_run_in_empty_netns(outer))
    assert out["rc"] == 0, out["stderr"]
    assert out["ns"] != out["outer_ns"]
    assert out["mode"] == "night"
    assert out["secret"] is None
    assert out["remote"] == errno.ENETUNREACH
    assert out["loopback"] == "LO"
