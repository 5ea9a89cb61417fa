"""``pantheon train AGENT --data FILE``: train a LoRA adapter for one agent.

Exit status: 0 when the adapter is saved, 2 for bad input (unknown agent, bad data file,
a base that is not a GGUF, an output folder in use, the trainer not installed).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from pantheon_engine.agents.ref import AgentRef
from pantheon_engine.cli.options import ArtifactsOption, ConfigOption, err_console, fail, say
from pantheon_engine.errors import ConfigError, PantheonError


def default_out(artifacts: Path, agent: str, now: datetime | None = None) -> Path:
    """``<artifacts>/agents/<agent>/train-<YYYYmmdd-HHMMSS>``."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return artifacts / "agents" / agent / f"train-{stamp}"


def _agent_name(ref: str) -> str:
    """The registered agent named by ``ref`` (``name`` or ``name@version``: an adapter is
    trained for the agent, whatever version is current)."""
    from pantheon_engine.agents.registry import default_registry

    name = AgentRef.parse(ref).name
    spec = default_registry().get(name)
    if not spec.uses_model:
        raise ConfigError(f"{name} does not use a model: there is nothing to train")
    return spec.name


def train_cmd(
    agent: Annotated[str, typer.Argument(help="the agent to specialize")],
    data: Annotated[Path, typer.Option("--data", help="mined examples (JSONL)")],
    out: Annotated[Path | None, typer.Option(
        "--out", help="adapter folder (default: <artifacts>/agents/AGENT/train-<time>)")]
    = None,
    rank: Annotated[int, typer.Option("--rank", help="LoRA rank r")] = 16,
    alpha: Annotated[float, typer.Option("--alpha", help="LoRA alpha (scale alpha/r)")] = 32,
    dropout: Annotated[float, typer.Option("--dropout", help="LoRA dropout")] = 0.05,
    lr: Annotated[float, typer.Option("--lr", help="peak learning rate (cosine)")] = 2e-4,
    epochs: Annotated[int, typer.Option("--epochs", help="passes over the data")] = 3,
    batch: Annotated[int, typer.Option("--batch", help="examples per step")] = 8,
    micro_batch: Annotated[int, typer.Option(
        "--micro-batch", help="examples per forward pass (less memory, same step)")] = 4,
    max_steps: Annotated[int | None, typer.Option(
        "--max-steps", help="train this many steps instead of --epochs")] = None,
    eval_share: Annotated[float, typer.Option(
        "--eval-share", help="share of the examples held out for the eval loss")] = 0.1,
    eval_every: Annotated[int, typer.Option("--eval-every", help="steps between evals")]
    = 50,
    target: Annotated[str, typer.Option(
        "--target", help="comma-separated projections to adapt")]
    = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    checkpoints: Annotated[str, typer.Option(
        "--checkpoints", help="comma-separated steps after which the adapter is also saved "
        "(checkpoints/step-S/)")] = "",
    base: Annotated[str | None, typer.Option(
        "--base", help="base GGUF: catalogue name or path (default: the model pantheon.toml "
        "or $PANTHEON_MODEL names, else smollm2-135m)")]
    = None,
    artifacts: ArtifactsOption = Path("artifacts"),
    register: Annotated[bool, typer.Option(
        "--register/--no-register", help="register the adapter as the agent's next version")]
    = True,
    config: ConfigOption = None,
) -> None:
    """Train a LoRA adapter for AGENT on mined examples (loss on the replies only)."""
    from pantheon_engine.engines.catalogue import base_gguf
    from pantheon_engine.specialize.train_service import train_with_progress

    try:
        from pantheon_engine.specialize.train_data import load_examples

        name = _agent_name(agent)
        load_examples(data)  # a bad line is reported before anything heavy loads
        gguf = base_gguf(base, config)
        folder = out or default_out(artifacts, name)
        targets = tuple(t.strip() for t in target.split(",") if t.strip())
        if not targets:
            raise ConfigError("--target names no projection")
        try:
            steps = sorted({int(c) for c in checkpoints.split(",") if c.strip()})
        except ValueError:
            raise ConfigError(f"--checkpoints {checkpoints!r}: expected steps such as "
                              "13,25,50") from None
        result = train_with_progress(name, data, folder, gguf=gguf, console=err_console, rank=rank,
                                     alpha=alpha, dropout=dropout, lr=lr, epochs=epochs,
                                     batch=batch, micro_batch=micro_batch,
                                     max_steps=max_steps, eval_share=eval_share,
                                     eval_every=eval_every, target=targets, seed=seed,
                                     checkpoints=steps)
    except PantheonError as exc:
        fail(exc)
    from pantheon_engine.specialize.train import summary_lines

    for line in summary_lines(result):
        say(line)
    if register:  # the adapter becomes the next version (never current until promoted)
        from pantheon_engine.run.versions import VersionStore

        try:
            version = VersionStore(artifacts).register_training(name, folder)
        except PantheonError as exc:
            fail(exc)
        say(f"registered {version.ref} (not current: evaluate it with pantheon eval "
            f"{version.ref} --against {name} …, then pantheon promote)")
