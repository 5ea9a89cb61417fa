"""``pantheon promote``, ``pantheon rollback``, ``pantheon agents register`` and the
versions table of ``pantheon agents list``.

Exit status: 0 when the change is made, 1 when a promotion is refused (the evidence does
not support it: the message says why, with the numbers), 2 for bad input (an unknown
version, nothing to roll back, a tampered version).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from pantheon_engine.agents.ref import AgentRef
from pantheon_engine.cli.options import ArtifactsOption, err_console, fail, say
from pantheon_engine.config import SMALL_MODEL
from pantheon_engine.errors import ConfigError, PantheonError
from pantheon_engine.evals.promote import DEFAULT_ALPHA
from pantheon_engine.run.versions import AgentVersion, VersionStore


def promote_cmd(
    ref: Annotated[str, typer.Argument(help="the version to make current: NAME@N")],
    alpha: Annotated[float, typer.Option(
        "--alpha", help="significance level of the exact McNemar test")] = DEFAULT_ALPHA,
    why: Annotated[str | None, typer.Option("--why", help="a note for the history")] = None,
    by: Annotated[str | None, typer.Option("--by", help="who promotes (default: you)")]
    = None,
    artifacts: ArtifactsOption = Path("artifacts"),
) -> None:
    """Make NAME@N current, only if it beat the current version on the paired holdout
    tasks of its latest comparison (pantheon eval NAME@N --against NAME@CURRENT)."""
    from pantheon_engine.evals.promote import promote

    try:
        wanted = AgentRef.parse(ref)
        agent, number = wanted.name, wanted.version
        if number is None:
            raise ConfigError(f"{ref!r} names no version", hint=f"e.g. {AgentRef(agent, 2)}")
        change, decision = promote(VersionStore(artifacts), agent, number, alpha=alpha,
                                   by=by, why=why or "")
    except PantheonError as exc:
        fail(exc)
    say(f"promoted {agent}@{change.to_version} (was @{change.from_version}): "
        f"{decision.reason}")


def rollback_cmd(
    agent: Annotated[str, typer.Argument(help="the agent whose last promotion to undo")],
    why: Annotated[str | None, typer.Option("--why", help="a note for the history")] = None,
    by: Annotated[str | None, typer.Option("--by", help="who rolls back (default: you)")]
    = None,
    artifacts: ArtifactsOption = Path("artifacts"),
) -> None:
    """Restore the version that was current before the last promotion."""
    try:
        name = AgentRef.parse(agent).name
        change = VersionStore(artifacts).rollback(name, why=why or "", by=by)
    except PantheonError as exc:
        fail(exc)
    say(f"rolled back {name}: @{change.from_version} -> @{change.to_version} is current")


def register_cmd(
    agent: Annotated[str, typer.Argument(help="the agent the adapter was trained for")],
    adapter: Annotated[Path, typer.Option(
        "--adapter", help="a `pantheon train` output folder, or any PEFT adapter folder "
        "(adapter_config.json, adapter_model.safetensors)")],
    base: Annotated[str | None, typer.Option(
        "--base", help="the base model it was trained on (default: what the training "
        "folder records, else smollm2-135m)")] = None,
    note: Annotated[str, typer.Option("--note", help="what this version is")] = "",
    artifacts: ArtifactsOption = Path("artifacts"),
) -> None:
    """Register an adapter as the next version of AGENT: merged into the base GGUF, every
    file hashed. It serves only when named (AGENT@N) until it is promoted."""
    from pantheon_engine.agents.registry import default_registry

    store = VersionStore(artifacts)
    progress = Progress(TextColumn("[bold]merge[/]"), BarColumn(), MofNCompleteColumn(),
                        console=err_console, transient=True, disable=not err_console.is_terminal)
    bar = progress.add_task("tensors", total=None)

    def on_progress(done: int, total: int) -> None:
        progress.update(bar, completed=done, total=total)

    try:
        name = AgentRef.parse(agent).name
        if not default_registry().get(name).uses_model:
            raise ConfigError(f"{name} does not use a model: an adapter cannot change it")
        with progress:
            if base is None and (adapter / "train_config.json").is_file():
                version = store.register_training(name, adapter, note=note,
                                                  progress=on_progress)
            else:
                version = store.register_version(name, adapter_dir=adapter,
                                                 base_model=base or SMALL_MODEL,
                                                 note=note, progress=on_progress)
    except PantheonError as exc:
        fail(exc)
    merge = version.metrics.get("merge", {})
    say(f"registered {version.ref} (parent @{version.parent}, base {version.base_model}): "
        f"{merge.get('touched', 0)} tensors merged into "
        f"{store.folder(name, version.number) / (version.gguf or '')}")
    say(f"measure it: pantheon eval {version.ref} --against {store.current(name).ref} "
        "--suite SUITE_DIR --split holdout")


def _pass_rate(version: AgentVersion) -> str:
    info = version.eval
    if info is None:
        return "-"
    lo, hi = info.interval
    return f"{info.pass_at_1:.3f} [{lo:.3f}, {hi:.3f}] {info.passed}/{info.total}"


def _data(version: AgentVersion) -> str:
    if version.is_base:
        return "-"
    from pantheon_engine.specialize.mine import render_sources

    sources = render_sources(dict(sorted(version.data.sources.items())))
    return f"{version.data.examples}" + (f" ({sources})" if version.data.sources else "")


def versions_table(store: VersionStore) -> Table | None:
    """Every registered version: current marked, holdout pass@1 with its interval, data."""
    agents = store.agents()
    if not agents:
        return None
    table = Table(title=f"versions ({store.path}; ● current)", title_justify="left")
    for col in ("agent", "current", "parent", "weights", "data", "holdout pass@1",
                "suite", "created"):
        table.add_column(col)
    for agent in agents:
        current = store.current(agent).number
        for version in store.versions(agent):
            table.add_row(
                version.ref, "●" if version.number == current else "",
                f"@{version.parent}" if version.parent else "-",
                "base" if version.is_base else "adapter", _data(version),
                _pass_rate(version), Path(version.eval.suite).name if version.eval else "-",
                version.created_at[:10])
    return table


def current_ref(store: VersionStore, name: str, default: str) -> str:
    """``name@N`` of the current version when the agent has registered versions."""
    return store.current(name).ref if name in store.agents() else default
