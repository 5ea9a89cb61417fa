"""Run settings from the command line and an optional ``pantheon.toml``.

``pantheon.toml`` (in the current folder, or the file named by ``--config`` /
``PANTHEON_CONFIG``) may hold an ``[engine]`` table::

    [engine]
    name = "openvino"        # openvino | openai | replay
    model = "qwen2.5-coder-1.5b"   # catalogue name, GGUF file, OpenVINO IR folder
    base_url = "http://127.0.0.1:8000/v1"   # openai engine
    concurrency = 32
    isolate = true           # openvino: run the pipeline in a child process

A ``[queue]`` table names the night queue (``url = "postgresql://pantheon@10.0.0.5/pantheon"``,
read by ``pantheon night``, ``pantheon queue …`` and ``pantheon report``; ``--queue`` wins).
Command-line options win over the file; the file wins over ``$PANTHEON_MODEL`` (the model
when neither names one), which wins over the defaults. The ``[tui]``
table belongs to the control room (``pantheon_tui.context``), which checks it with
:func:`validate_table`. An unknown table or key is an error naming its line and the closest
known name (``pantheon.toml:2: unknown key 'enigne' (did you mean 'engine'?)``).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pantheon_engine import file_problems
from pantheon_engine.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

EngineName = Literal["openvino", "openai", "replay"]
#: the model of every command that names none: the one that did the most accepted work per
#: hour in the demo night on a 2-core CPU (README, "Which model does the night's work")
DEFAULT_MODEL = "qwen2.5-coder-1.5b"
#: the smallest real model: the base specialisation trains by default (LoRA on two CPU cores
#: is affordable at 135M parameters) and what the tests that need any real model load
SMALL_MODEL = "smollm2-135m"
MODEL_ENV = "PANTHEON_MODEL"


def env_model() -> str | None:
    """``$PANTHEON_MODEL``; None when it is unset or blank."""
    return os.environ.get(MODEL_ENV, "").strip() or None


def env_default_model() -> str:
    """``$PANTHEON_MODEL`` when set, else :data:`DEFAULT_MODEL`."""
    return env_model() or DEFAULT_MODEL


class EngineSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: EngineName = "openvino"
    model: str = Field(default_factory=env_default_model)
    base_url: str | None = None
    replay: str | None = Field(default=None, description="run folder or replies JSONL")
    concurrency: int = Field(default=32, ge=1, le=1024)
    api_key: str | None = None
    isolate: bool = Field(default=True, description="run the embedded engine in a child "
                          "process (its steps hold the GIL)")


class QueueSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, description="the night queue: a PostgreSQL URL "
                            "(postgresql://user@host:5432/db) that workers on several machines "
                            "share, or an SQLite file; default <artifacts>/queue.sqlite")


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    engine: EngineSettings = Field(default_factory=EngineSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    tui: dict[str, Any] = Field(default_factory=dict,
                                description="the control room's table (checked by the room)")


def read_toml(path: Path) -> tuple[str, dict[str, Any]]:
    """The text of a TOML file and what it holds; a :class:`ConfigError` naming the line
    when it cannot be read or parsed."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ConfigError(f"{path}: cannot read the config file: {why}") from exc
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(file_problems.toml_syntax_problem(exc, str(path)))) from None


def validate_table(model: type[M], data: Any, *, path: Path, text: str,
                   table: str | None = None) -> M:
    """``data`` (the whole file, or its ``table``) as ``model``: every problem, unknown keys
    included, in one :class:`ConfigError`, each with its line."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = file_problems.validation_problems(
            exc, file=str(path), data=data, lines=file_problems.toml_lines(text),
            schema=file_problems.schema_of(model), prefix=(table,) if table else ())
        raise ConfigError(file_problems.problems_text(problems)) from None


def config_path(path: Path | None = None) -> Path:
    """The file named (``--config``), else ``$PANTHEON_CONFIG``, else ./pantheon.toml."""
    if path is not None:
        return path
    named = os.environ.get("PANTHEON_CONFIG")
    return Path(named) if named else Path("pantheon.toml")


def load_settings(path: Path | None = None) -> Settings:
    candidate = config_path(path)
    if not candidate.exists():
        if path is not None:
            raise ConfigError(f"{path}: config file not found")
        return Settings()
    text, data = read_toml(candidate)
    return validate_table(Settings, data, path=candidate, text=text)


def configured_model(settings: Settings) -> str | None:
    """The model ``pantheon.toml`` or ``$PANTHEON_MODEL`` names; None when neither does (a
    command with its own default, such as specialisation's small base, then uses that)."""
    if "model" in settings.engine.model_fields_set:
        return settings.engine.model
    return env_model()


def merge_engine(settings: Settings, *, name: str | None, model: str | None,
                 base_url: str | None, replay: str | None,
                 concurrency: int | None = None) -> EngineSettings:
    data = settings.engine.model_dump()
    for key, value in (("name", name), ("model", model), ("base_url", base_url),
                       ("replay", replay), ("concurrency", concurrency)):
        if value is not None:
            data[key] = value
    if replay is not None and name is None:
        data["name"] = "replay"
    try:
        return EngineSettings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"--{err['loc'][0]}: {err['msg']}") from exc
