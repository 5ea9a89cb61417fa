"""The service behind ``pantheon train``: :func:`~pantheon_engine.specialize.train.train_lora`
with a live bar (steps, loss, eval loss) on the console the caller passes.

``pantheon specialize`` trains through it too, so both show the same bar.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from pantheon_engine.specialize.mine import render_sources
from pantheon_engine.specialize.train import TrainEvent, TrainResult, train_lora
from pantheon_engine.specialize.train_data import load_examples


def quiet_libraries() -> None:
    """The bar says what happens; the libraries' own bars and deprecation notices would
    only interleave with it."""
    warnings.filterwarnings("ignore", category=FutureWarning)
    with contextlib.suppress(ImportError):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()


def train_with_progress(agent: str, data: Path, folder: Path, *, gguf: Path,
                        console: Console, **options: Any) -> TrainResult:
    """Train ``agent``'s adapter on ``data`` into ``folder`` from the base ``gguf``.

    ``options``: the keyword arguments of :func:`train_lora` (rank, lr, epochs, …). A line
    on ``console`` says what trains on what; on a terminal a bar follows the steps.
    """
    quiet_libraries()

    progress = Progress(
        TextColumn(f"[bold]train {agent}[/]"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console, transient=True, disable=not console.is_terminal)
    bar = progress.add_task("steps", total=None, info="loading the base")
    shown: dict[str, float | None] = {"loss": None, "eval": None}

    def info() -> str:
        parts = []
        if shown["loss"] is not None:
            parts.append(f"loss {shown['loss']:.3f}")
        if shown["eval"] is not None:
            parts.append(f"eval {shown['eval']:.3f}")
        return "  ".join(parts)

    def on_event(event: TrainEvent) -> None:
        if event.phase == "load":
            progress.update(bar, info=event.message)
            return
        if event.eval_loss is not None:
            shown["eval"] = event.eval_loss
        if event.loss is not None:
            shown["loss"] = event.loss
        text = info() if event.phase != "save" else "saving the adapter"
        if event.phase == "eval" and event.step == 0:
            text = f"eval loss before training {event.eval_loss:.3f}"
        progress.update(bar, total=event.total, completed=event.step, info=text)

    console.print(f"train {agent}: {data} on {gguf.name} -> {folder}", highlight=False,
                  soft_wrap=True, markup=False)
    console.print(f"examples by source: {render_sources(load_examples(data).counts('source'))}",
                  highlight=False, soft_wrap=True, markup=False)
    with progress:
        return train_lora(agent, data, folder, base_gguf=gguf, progress=on_event, **options)
