"""Model engines: openvino (embedded), openai (any OpenAI-compatible server), replay."""

from pantheon_engine.engines.base import (
    Completion,
    Engine,
    EngineRequest,
    EngineStats,
    Message,
    OutputConstraint,
)

__all__ = ["Completion", "Engine", "EngineRequest", "EngineStats", "Message", "OutputConstraint"]
