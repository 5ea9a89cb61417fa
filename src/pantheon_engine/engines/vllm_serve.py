"""Start a local vLLM server (the ``[vllm]`` extra) for the ``openai`` engine.

``vllm serve MODEL --host 127.0.0.1 --port 8000 [--max-num-seqs N]
[--gpu-memory-utilization F] [--dtype D] [--served-model-name NAME]
[--max-model-len N] …`` — the flags of vLLM's OpenAI-compatible server. vLLM binds
``0.0.0.0`` by default; Pantheon always passes ``--host`` and refuses a non-loopback
address unless ``allow_remote=True``: the server is meant for this machine only.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Sequence

from pantheon_engine.errors import ConfigError
from pantheon_engine.policy import is_loopback_host

__all__ = ["build_vllm_command", "is_loopback_host", "serve_vllm", "vllm_executable"]

_HOST_FLAGS = ("--host",)


def vllm_executable() -> list[str]:
    """The command that runs vLLM's CLI: the ``vllm`` script, else ``python -m``."""
    script = shutil.which("vllm")
    if script:
        return [script]
    if importlib.util.find_spec("vllm") is not None:
        return [sys.executable, "-m", "vllm.entrypoints.cli.main"]
    raise ConfigError(
        "vLLM is not installed",
        hint="install the extra: pip install 'pantheon[vllm]' (needs a CUDA GPU), or point "
        "--base-url at a server you run yourself",
    )


def build_vllm_command(
    model: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_num_seqs: int | None = None,
    gpu_memory_utilization: float | None = None,
    dtype: str | None = None,
    served_model_name: str | None = None,
    max_model_len: int | None = None,
    extra: Sequence[str] = (),
    allow_remote: bool = False,
    executable: Sequence[str] = ("vllm",),
) -> list[str]:
    """The argv of ``vllm serve`` for ``model`` (a HF id, a local folder or a .gguf)."""
    if not model:
        raise ConfigError("vllm serve needs a model")
    if not allow_remote and not is_loopback_host(host):
        raise ConfigError(
            f"refusing to serve on {host}: Pantheon's vLLM server binds loopback only",
            hint="use --host 127.0.0.1, or pass allow_remote=True if you really mean it",
        )
    if not 0 < port < 65536:
        raise ConfigError(f"invalid port: {port}")
    for item in extra:
        flag = item.split("=", 1)[0]
        if flag in _HOST_FLAGS:
            raise ConfigError("set the host with the host option, not in the extra arguments")
    if gpu_memory_utilization is not None and not 0 < gpu_memory_utilization <= 1:
        raise ConfigError(f"gpu_memory_utilization must be in (0, 1]: {gpu_memory_utilization}")
    if max_num_seqs is not None and max_num_seqs < 1:
        raise ConfigError(f"max_num_seqs must be at least 1: {max_num_seqs}")

    command = [*executable, "serve", model, "--host", host, "--port", str(port)]
    if max_num_seqs is not None:
        command += ["--max-num-seqs", str(max_num_seqs)]
    if gpu_memory_utilization is not None:
        command += ["--gpu-memory-utilization", f"{gpu_memory_utilization:g}"]
    if dtype is not None:
        command += ["--dtype", dtype]
    if served_model_name is not None:
        command += ["--served-model-name", served_model_name]
    if max_model_len is not None:
        command += ["--max-model-len", str(max_model_len)]
    command += list(extra)
    return command


def serve_vllm(
    model: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_num_seqs: int | None = None,
    gpu_memory_utilization: float | None = None,
    dtype: str | None = None,
    served_model_name: str | None = None,
    max_model_len: int | None = None,
    extra: Sequence[str] = (),
    allow_remote: bool = False,
    dry_run: bool = False,
) -> list[str]:
    """Replace this process with ``vllm serve …`` (``dry_run`` returns the argv instead).

    The OpenAI-compatible API is then at ``http://HOST:PORT/v1`` and Prometheus metrics
    at ``http://HOST:PORT/metrics`` (read by ``OpenAIEngine.fetch_server_metrics``).
    """
    command = build_vllm_command(
        model,
        host=host,
        port=port,
        max_num_seqs=max_num_seqs,
        gpu_memory_utilization=gpu_memory_utilization,
        dtype=dtype,
        served_model_name=served_model_name,
        max_model_len=max_model_len,
        extra=extra,
        allow_remote=allow_remote,
        executable=("vllm",) if dry_run else tuple(vllm_executable()),
    )
    if dry_run:
        return command
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)
    raise AssertionError("unreachable")  # pragma: no cover
