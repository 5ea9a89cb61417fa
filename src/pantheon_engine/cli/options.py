"""Command-line options that several commands share: the policy, the engine and the files.

One declaration each, so ``pantheon eval``, ``pantheon harvest`` and the like spell, default
and explain them the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

NightOption = Annotated[bool, typer.Option("--night/--day", help="policy (night by default)")]
EngineOption = Annotated[str | None, typer.Option("--engine",
                                                  help="openvino | openai | replay")]
ModelOption = Annotated[str | None, typer.Option("--model",
                                                 help="catalogue name, GGUF or IR path")]
BaseUrlOption = Annotated[str | None, typer.Option("--base-url",
                                                   help="OpenAI-compatible server")]
ReplayOption = Annotated[str | None, typer.Option("--replay",
                                                  help="run folder or replies JSONL")]
ArtifactsOption = Annotated[Path, typer.Option("--artifacts", help="artifacts folder")]
ConfigOption = Annotated[Path | None, typer.Option("--config", help="pantheon.toml to read")]
