"""``pantheon serve``: model servers on this host.

``pantheon serve`` alone serves the embedded engine (the model and each agent's current
version) as an OpenAI-compatible endpoint; ``pantheon serve vllm`` starts a vLLM server
(GPU hosts). Exit status: 0 after a clean stop (Ctrl-C, SIGTERM), 2 for bad input, 3 when
the night policy refuses (a non-loopback address not in ``[policy] allowed_hosts``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pantheon_engine.cli.options import (
    ArtifactsOption,
    ConfigOption,
    ModelOption,
    NightOption,
    err_console,
    examples,
    fail,
    labelled,
    say,
    say_err,
)
from pantheon_engine.errors import ConfigError, PantheonError

if TYPE_CHECKING:
    from pantheon_engine.run.serve import ServedModels
    from pantheon_engine.run.serving import Served

serve_app = typer.Typer(
    invoke_without_command=True,
    epilog=examples(
        "pantheon serve                        # the embedded model on 127.0.0.1:8000",
        "pantheon serve --port 8001 --model qwen2.5-coder-0.5b",
        "pantheon night --engine openai --base-url http://127.0.0.1:8000/v1 "
        "--base-url http://127.0.0.1:8001/v1",
        "pantheon serve vllm --model Qwen/Qwen2.5-1.5B-Instruct --port 8002",
    ))


@serve_app.callback()
def serve_cmd(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(
        "--host", help="address to listen on (at night: loopback, or a host of "
        "[policy] allowed_hosts)")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="port (0: any free port)")] = 8000,
    model: ModelOption = None,
    concurrency: Annotated[int | None, typer.Option(
        "--concurrency", "-c", min=1,
        help="requests the engine batches at once [default: pantheon.toml, else 32]")] = None,
    night: NightOption = True,
    artifacts: ArtifactsOption = Path("artifacts"),
    config: ConfigOption = None,
) -> None:
    """Serve the embedded engine as an OpenAI-compatible endpoint (the model by its name,
    each agent's current version as agent@N); `pantheon serve vllm` starts vLLM instead."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        from pantheon_engine.run.serve import serve
    except ModuleNotFoundError as exc:  # starlette / uvicorn: the serve extra
        fail(ConfigError(f"pantheon serve needs {exc.name}, which is not installed",
                         hint="pip install 'pantheon[serve]'"))
    from pantheon_engine.run.serving import EngineOptions

    def ready(url: str, models: ServedModels, served: Served[None]) -> None:
        versions = [name for name in models.engines if name != models.default]
        say(f"serving {models.default}"
            + (f" and {', '.join(versions)}" if versions else "")
            + f" on {url} ({served.policy.mode}; Ctrl-C stops)")

    def note(text: str) -> None:
        err_console.print(labelled("note:", "yellow", text), highlight=False, soft_wrap=True)

    options = EngineOptions(name="openvino", model=model, config=config,
                            concurrency=concurrency)
    try:
        asyncio.run(serve("night" if night else "day", options, host=host, port=port,
                          artifacts=artifacts, on_ready=ready, on_note=note))
    except PantheonError as exc:
        fail(exc)
    say_err("stopped")


@serve_app.command("vllm")
def serve_vllm_cmd(
    model: Annotated[str, typer.Option("--model")],
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    max_num_seqs: Annotated[int | None, typer.Option("--max-num-seqs")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the command only")] = False,
    adapters: Annotated[bool, typer.Option(
        "--adapters", help="serve each agent's current version as a LoRA module "
        "(NAME@N, from --artifacts)")] = False,
    artifacts: Annotated[Path, typer.Option("--artifacts")] = Path("artifacts"),
) -> None:
    """Start a vLLM OpenAI-compatible server on this host (GPU hosts, `[vllm]` extra)."""
    from pantheon_engine.engines.vllm_serve import build_vllm_command, serve_vllm
    from pantheon_engine.run.serving import vllm_lora_args
    from pantheon_engine.run.versions import VersionStore

    try:
        extra = vllm_lora_args(VersionStore(artifacts)) if adapters else []
        argv = build_vllm_command(model, host=host, port=port, max_num_seqs=max_num_seqs,
                                  extra=extra)
        if dry_run:
            print(" ".join(argv))
            return
        serve_vllm(model, host=host, port=port, max_num_seqs=max_num_seqs, extra=extra)
    except PantheonError as exc:
        fail(exc)
