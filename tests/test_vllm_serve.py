"""The `vllm serve` command line Pantheon builds."""

from __future__ import annotations

import pytest

from pantheon_engine.engines import vllm_serve
from pantheon_engine.engines.vllm_serve import build_vllm_command, is_loopback_host, serve_vllm
from pantheon_engine.errors import ConfigError


def test_minimal_command_binds_loopback() -> None:
    assert build_vllm_command("Qwen/Qwen2.5-0.5B-Instruct") == [
        "vllm", "serve", "Qwen/Qwen2.5-0.5B-Instruct", "--host", "127.0.0.1", "--port", "8000",
    ]  # fmt: skip


def test_all_options() -> None:
    command = build_vllm_command(
        "/models/m",
        host="::1",
        port=8123,
        max_num_seqs=128,
        gpu_memory_utilization=0.85,
        dtype="bfloat16",
        served_model_name="pantheon",
        max_model_len=4096,
        extra=["--enable-prefix-caching"],
    )
    assert command == [
        "vllm", "serve", "/models/m", "--host", "::1", "--port", "8123",
        "--max-num-seqs", "128", "--gpu-memory-utilization", "0.85", "--dtype", "bfloat16",
        "--served-model-name", "pantheon", "--max-model-len", "4096",
        "--enable-prefix-caching",
    ]  # fmt: skip


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])
def test_non_loopback_host_is_refused(host: str) -> None:
    with pytest.raises(ConfigError, match="loopback"):
        build_vllm_command("m", host=host)
    assert build_vllm_command("m", host=host, allow_remote=True)[4] == host


def test_host_cannot_sneak_in_through_extra() -> None:
    with pytest.raises(ConfigError):
        build_vllm_command("m", extra=["--host", "0.0.0.0"])
    with pytest.raises(ConfigError):
        build_vllm_command("m", extra=["--host=0.0.0.0"])


@pytest.mark.parametrize(
    "kwargs",
    [{"port": 0}, {"port": 70000}, {"gpu_memory_utilization": 1.5}, {"max_num_seqs": 0}],
)
def test_invalid_values(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        build_vllm_command("m", **kwargs)


def test_loopback_names() -> None:
    assert is_loopback_host("localhost")
    assert is_loopback_host("127.0.0.1")
    assert is_loopback_host("127.1.2.3")
    assert is_loopback_host("[::1]")
    assert not is_loopback_host("0.0.0.0")


def test_dry_run_returns_the_command() -> None:
    assert serve_vllm("m", port=9000, dry_run=True)[:3] == ["vllm", "serve", "m"]


def test_missing_vllm_is_a_clear_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vllm_serve.shutil, "which", lambda name: None)
    monkeypatch.setattr(vllm_serve.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="not installed") as info:
        serve_vllm("m")
    assert "pantheon[vllm]" in str(info.value)


def test_python_module_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vllm_serve.shutil, "which", lambda name: None)
    monkeypatch.setattr(vllm_serve.importlib.util, "find_spec", lambda name: object())
    executable = vllm_serve.vllm_executable()
    assert executable[1:] == ["-m", "vllm.entrypoints.cli.main"]
