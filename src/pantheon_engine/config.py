"""Run settings from the command line and an optional ``pantheon.toml``.

``pantheon.toml`` (in the current folder, or the file named by ``--config`` /
``PANTHEON_CONFIG``) may hold an ``[engine]`` table::

    [engine]
    name = "openvino"        # openvino | openai | replay
    model = "smollm2-135m"   # catalogue name, GGUF file, OpenVINO IR folder
    base_url = "http://127.0.0.1:8000/v1"   # openai engine
    concurrency = 32
    isolate = true           # openvino: run the pipeline in a child process

Command-line options win over the file; the file wins over the defaults.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from pantheon_engine.errors import ConfigError

EngineName = Literal["openvino", "openai", "replay"]
DEFAULT_MODEL = "smollm2-135m"


class EngineSettings(BaseModel):
    name: EngineName = "openvino"
    model: str = DEFAULT_MODEL
    base_url: str | None = None
    replay: str | None = Field(default=None, description="run folder or replies JSONL")
    concurrency: int = Field(default=32, ge=1, le=1024)
    api_key: str | None = None
    isolate: bool = Field(default=True, description="run the embedded engine in a child "
                          "process (its steps hold the GIL)")


class Settings(BaseModel):
    engine: EngineSettings = Field(default_factory=EngineSettings)


def load_settings(path: Path | None = None) -> Settings:
    candidate = path or (Path(os.environ["PANTHEON_CONFIG"]) if os.environ.get(
        "PANTHEON_CONFIG") else Path("pantheon.toml"))
    if not candidate.exists():
        if path is not None:
            raise ConfigError(f"{path}: config file not found")
        return Settings()
    try:
        data = tomllib.loads(candidate.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{candidate}: not valid TOML: {exc}") from exc
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(
            f"{candidate}: {'.'.join(map(str, err['loc']))}: {err['msg']}") from exc


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
