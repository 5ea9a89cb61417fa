"""``pantheon specialize AGENT --suite DIR``: harvest to promotion in one command.

Exit status: 0 when every phase ran (whether or not the new version was promoted), 2 for
bad input (an unknown agent, a bad suite, no training data), 3 when the night policy
refuses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from pantheon_engine.cli.options import (
    ArtifactsOption,
    ConfigOption,
    EngineOption,
    err_console,
    fail,
    labelled,
    say,
)
from pantheon_engine.errors import ConfigError, PantheonError


def parse_sizes(text: str) -> list[int]:
    """``50,100,200`` → [50, 100, 200]; a ConfigError names what is wrong."""
    try:
        sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise ConfigError(f"--curve {text!r}: expected example counts such as 50,100,200") \
            from None
    if any(n < 1 for n in sizes):
        raise ConfigError(f"--curve {text!r}: example counts are at least 1")
    return sizes


def specialize_cmd(
    agent: Annotated[str, typer.Argument(help="the agent to specialize")],
    suite: Annotated[Path, typer.Option("--suite", help="suite folder: workspace/ and "
                                        "tasks.jsonl (train is harvested, holdout measures)")],
    own: Annotated[str, typer.Option(
        "--own", help="how the model finds its own green traces: best-of-k | search | "
        "none")] = "best-of-k",
    own_samples: Annotated[int, typer.Option(
        "--own-samples", help="samples per task (best-of-k) or candidates per step "
        "(search)")] = 2,
    own_tasks: Annotated[int | None, typer.Option(
        "--own-tasks", help="train tasks the own harvest tries (default 64; 0: all)")] = 64,
    own_min: Annotated[int, typer.Option(
        "--own-min", help="fewest own examples worth an adapter of their own")] = 8,
    demos: Annotated[bool, typer.Option(
        "--demos/--no-demos", help="add the scripted demonstrator's green conversations")]
    = True,
    import_demos: Annotated[Path | None, typer.Option(
        "--import-demos", help="import demonstrations from this JSONL instead")] = None,
    epochs: Annotated[int, typer.Option("--epochs", help="passes over the data")] = 2,
    max_steps: Annotated[int | None, typer.Option(
        "--max-steps", help="train this many steps instead of --epochs")] = None,
    batch: Annotated[int, typer.Option("--batch", help="examples per step")] = 8,
    lr: Annotated[float, typer.Option("--lr", help="peak learning rate")] = 2e-4,
    rank: Annotated[int, typer.Option("--rank", help="LoRA rank")] = 16,
    lora_alpha: Annotated[float, typer.Option("--lora-alpha", help="LoRA alpha")] = 32,
    curve: Annotated[str, typer.Option(
        "--curve", help="learning-curve sizes N (examples), comma-separated; each point "
        "is one pass over its N examples, the last the end of the first epoch")]
    = "50,100,200,400",
    curve_tasks: Annotated[int | None, typer.Option(
        "--curve-tasks", help="holdout tasks per curve point (default: all)")] = None,
    target: Annotated[float | None, typer.Option(
        "--target", help="pass rate whose N the curve's fit predicts (e.g. 0.3)")] = None,
    control: Annotated[bool, typer.Option(
        "--control/--no-control", help="also train on shuffled replies and show that "
        "the guard refuses it, against the new version and against the base")] = True,
    control_steps: Annotated[int, typer.Option(
        "--control-steps", help="training steps of the control adapter")] = 20,
    alpha: Annotated[float, typer.Option(
        "--alpha", help="significance level the promotion needs")] = 0.05,
    promote: Annotated[bool, typer.Option(
        "--promote/--no-promote", help="promote the new version if it wins")] = True,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", help="runs at once")]
    = 32,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    rounds: Annotated[int, typer.Option(
        "--rounds", help="rounds of self-training from verified work only (harvest with the "
        "current version, train from the base on everything verified so far, paired eval, "
        "promote); 0: the one-shot pipeline with demonstrations, learning curve and control")]
    = 0,
    sources: Annotated[list[str] | None, typer.Option(
        "--source", help="with --rounds: where green work comes from, repeatable "
        "(best-of-k, search, feedback, teacher; default best-of-k)")] = None,
    teacher: Annotated[str | None, typer.Option(
        "--teacher", help="with --rounds: the catalogue model of the teacher source "
        "(best-of-k with it on the same tasks and prompts; only what the check passes is "
        "kept)")] = None,
    holdout_tasks: Annotated[int | None, typer.Option(
        "--holdout-tasks", help="with --rounds: holdout tasks measured each round "
        "(default: all)")] = None,
    search: Annotated[int, typer.Option(
        "--search", help="with --rounds: also measure the holdout with K check-guided "
        "candidates per step (accepted with search, samples and tokens per accepted task)")]
    = 1,
    extra: Annotated[list[Path] | None, typer.Option(
        "--extra", help="with --rounds: more verified examples (JSONL), such as a night's "
        "mined green work; repeatable")] = None,
    engine: EngineOption = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="the base model every phase runs and trains (default: the model "
        "pantheon.toml or $PANTHEON_MODEL names, else smollm2-135m)")] = None,
    artifacts: ArtifactsOption = Path("artifacts"),
    config: ConfigOption = None,
) -> None:
    """Harvest, mine, train, measure the learning curve, evaluate, promote: all of it."""
    from pantheon_engine.policy import Policy
    from pantheon_engine.specialize.pipeline import SpecializeOptions, Specializer
    from pantheon_engine.specialize.rounds import Rounds, RoundsOptions

    try:
        if own not in ("best-of-k", "search", "none"):
            raise ConfigError(f"--own {own!r}: expected best-of-k, search or none")
        Policy(mode="night").preflight()  # local only, like a night
        if not (suite / "tasks.jsonl").is_file():
            raise ConfigError(f"--suite {suite}: no tasks.jsonl there",
                              hint="make one: pantheon suite make docops --tasks 500")
        options = SpecializeOptions(
            agent=agent, suite=suite, artifacts=artifacts, own_mode=own,
            own_samples=own_samples, own_tasks=own_tasks or None, own_min=own_min, demos=demos,
            import_demos=import_demos, epochs=epochs, max_steps=max_steps, batch=batch,
            lr=lr, rank=rank, lora_alpha=lora_alpha, curve=parse_sizes(curve),
            curve_tasks=curve_tasks, target=target, control=control,
            control_steps=control_steps, alpha=alpha, promote=promote,
            concurrency=concurrency, seed=seed, engine=engine, model=model, config=config)
        def bold(text: str) -> None:
            err_console.print(Text(text, style="bold"), highlight=False, soft_wrap=True)

        runner: Specializer
        if rounds:
            runner = Rounds(RoundsOptions(
                agent=agent, suite=suite, rounds=rounds,
                sources=sources or (["search"] if own == "search" else ["best-of-k"]),
                tasks=own_tasks or None, holdout=holdout_tasks, search=search,
                extra=extra or [], teacher=teacher, base=options), say=bold, console=err_console)
            lines = runner.run_rounds().lines()
            out = runner.folder / "rounds.json"
        else:
            runner = Specializer(options, say=bold, console=err_console)
            lines = runner.run().lines()
            out = runner.folder / "report.json"
    except PantheonError as exc:
        fail(exc)
    except ValueError as exc:  # pydantic: an option out of range
        err_console.print(labelled("error:", "bold red", str(exc)), highlight=False,
                          soft_wrap=True)
        raise typer.Exit(2) from None
    for line in lines:
        say(line)
    say(f"report: {out}")
