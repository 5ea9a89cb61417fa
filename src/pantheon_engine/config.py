"""Run settings from the command line and an optional ``pantheon.toml``.

``pantheon.toml`` (in the current folder, or the file named by ``--config`` /
``PANTHEON_CONFIG``) may hold an ``[engine]`` table::

    [engine]
    name = "openvino"        # openvino | openai | replay
    model = "qwen2.5-coder-1.5b"   # catalogue name, GGUF file, OpenVINO IR folder
    base_url = "http://127.0.0.1:8000/v1"   # openai engine
    concurrency = 32
    isolate = true           # openvino: run the pipeline in a child process

    [[engine.endpoints]]     # openai engine: one more server (any number of these)
    url = "http://127.0.0.1:8001/v1"
    model = "Qwen/Qwen2.5-1.5B-Instruct"   # what it serves (absent: ask GET /v1/models)
    adapters = ["doc.frontmatter@2"]       # agent versions it serves (vLLM LoRA modules)

    [policy]
    allowed_hosts = ["10.0.0.7"]   # hosts night mode allows besides loopback

A ``[queue]`` table names the night queue (``url = "postgresql://pantheon@10.0.0.5/pantheon"``,
read by ``pantheon night``, ``pantheon queue …`` and ``pantheon report``; ``--queue`` wins).
Command-line options win over the file; the file wins over ``$PANTHEON_MODEL`` (the model
when neither names one), which wins over the defaults. A ``[learn]`` table names the suite
of each agent ``pantheon night --learn`` trains (see :class:`LearnSettings`). The ``[tui]``
table belongs to the control room (``pantheon_tui.context``), which checks it with
:func:`validate_table`. An unknown table or key is an error naming its line and the closest
known name (``pantheon.toml:2: unknown key 'enigne' (did you mean 'engine'?)``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Sequence
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


class EndpointSettings(BaseModel):
    """One OpenAI-compatible server of the ``openai`` engine and what it serves."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, description="the server's API root, e.g. "
                     "http://127.0.0.1:8000/v1")
    model: str | None = Field(default=None, description="the base model it serves "
                              "(None: ask the server, GET /v1/models)")
    adapters: list[str] = Field(default_factory=list, description="agent versions it "
                                "serves by name (agent@N: vLLM LoRA modules)")

    def declared(self) -> list[str] | None:
        """The model names this entry says the server serves; None: ask the server."""
        if self.model is None:
            return None
        return [self.model, *self.adapters]


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
    endpoints: list[EndpointSettings] = Field(
        default_factory=list, description="openai engine: the servers requests are spread "
        "over (each with what it serves)")

    def endpoint_list(self) -> list[EndpointSettings]:
        """Every server of the ``openai`` engine: ``base_url`` first (when set), then
        ``endpoints``; one URL listed twice is one server."""
        found: dict[str, EndpointSettings] = {}
        if self.base_url:
            found[self.base_url.rstrip("/")] = EndpointSettings(url=self.base_url)
        for entry in self.endpoints:
            found[entry.url.rstrip("/")] = entry  # the entry names what it serves
        return list(found.values())


class PolicySettings(BaseModel):
    """The ``[policy]`` table: what the night policy allows besides loopback."""

    model_config = ConfigDict(extra="forbid")

    allowed_hosts: list[str] = Field(
        default_factory=list, description="hosts (names, private addresses or networks) "
        "night mode allows as model endpoints, `pantheon serve` binds and connections")


class LearnSettings(BaseModel):
    """``[learn]``: what ``pantheon night --learn`` does when the night is over."""

    model_config = ConfigDict(extra="forbid")

    suites: dict[str, Path] = Field(default_factory=dict, description="agent -> suite folder "
                                    "(its train split is harvested, its holdout measures)")
    sources: list[str] = Field(default_factory=lambda: ["best-of-k"])
    tasks: int | None = Field(default=64, ge=1, description="train tasks harvested per round")
    holdout: int | None = Field(default=None, ge=1, description="holdout tasks measured")
    max_steps: int | None = Field(default=None, ge=1, description="training steps (default: "
                                  "two epochs)")


class QueueSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, description="the night queue: a PostgreSQL URL "
                            "(postgresql://user@host:5432/db) that workers on several machines "
                            "share, or an SQLite file; default <artifacts>/queue.sqlite")


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    engine: EngineSettings = Field(default_factory=EngineSettings)
    learn: LearnSettings = Field(default_factory=LearnSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
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
                 base_url: str | Sequence[str] | None, replay: str | None,
                 concurrency: int | None = None) -> EngineSettings:
    """The file's ``[engine]`` table with the command line's options over it.

    ``base_url``: one URL or several (``--base-url`` repeated). Given, they are the
    servers: the file's ``base_url`` and ``endpoints`` step aside, except that an entry of
    ``endpoints`` with the same URL still says what that server serves.
    """
    data = settings.engine.model_dump()
    for key, value in (("name", name), ("model", model), ("replay", replay),
                       ("concurrency", concurrency)):
        if value is not None:
            data[key] = value
    urls = [base_url] if isinstance(base_url, str) else list(base_url or [])
    if urls:
        known = {e.url.rstrip("/"): e for e in settings.engine.endpoints}
        data["base_url"] = None
        data["endpoints"] = [
            (known.get(url.rstrip("/")) or EndpointSettings(url=url)).model_copy(
                update={"url": url}).model_dump()
            for url in dict.fromkeys(urls)]
    if replay is not None and name is None:
        data["name"] = "replay"
    try:
        return EngineSettings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"--{err['loc'][0]}: {err['msg']}") from exc
