"""An OpenAI-compatible HTTP face for an engine (``pantheon serve``): an ASGI app.

:func:`build_app` maps model names to engines (the base model, and ``agent@N`` for each
agent version served from its own weights) and answers:

* ``GET /v1/models``: every name, the base model first; a version lists the base model as
  its ``parent`` (as vLLM lists a LoRA module), so a client that takes the first model
  without a parent takes the base;
* ``POST /v1/chat/completions`` (non-streaming): ``model`` (absent: the base model; unknown:
  404), ``messages`` (roles system, user, assistant, tool; ``developer`` reads as system;
  text parts of a list content are joined), ``max_tokens`` or ``max_completion_tokens``,
  ``temperature``, ``seed``, and one output constraint, in any of the spellings Pantheon's
  own ``openai`` engine and other clients send: ``structured_outputs`` (``json``,
  ``regex``, ``grammar``, ``choice``), vLLM's older ``guided_json`` / ``guided_regex`` /
  ``guided_grammar`` / ``guided_choice``, or ``response_format`` (``json_schema``,
  ``json_object``). ``stream: true``, ``n`` above 1, ``tools`` and two different
  constraints are refused with 400 and a message saying so;
* ``GET /health``: 200.

Errors use the OpenAI shape ``{"error": {"message", "type", "code"}}``: a request that is
wrong is 400 (404 for an unknown model); an engine that is down is 503 and one that did not
answer in time 504, so a client spreading requests over several servers marks this one down
and goes elsewhere; any other engine error (a constraint that cannot be compiled, a request
the pipeline refused) is 400, not retried elsewhere, exactly as the embedded engine would
fail it.

The engines are started and closed by the caller; the app only sends them requests, all at
once as they come, so the engine batches them.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pantheon_engine.engines.base import Engine, EngineRequest, Message, OutputConstraint
from pantheon_engine.errors import EngineError, EngineTimeout, EngineUnavailable

__all__ = ["ChatRequest", "build_app", "constraint_of"]

#: new tokens when a request names no ``max_tokens``
DEFAULT_MAX_TOKENS = 256


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[Any] | None = None


class ChatRequest(BaseModel):
    """The fields of ``POST /v1/chat/completions`` the server reads (others are ignored)."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0)
    seed: int | None = None
    stream: bool | None = False
    n: int | None = Field(default=1, ge=1)
    structured_outputs: dict[str, Any] | None = None
    guided_json: dict[str, Any] | str | None = None
    guided_regex: str | None = None
    guided_grammar: str | None = None
    guided_choice: list[str] | None = None
    response_format: dict[str, Any] | None = None
    tools: list[Any] | None = None


class BadRequest(Exception):
    """A request the server will not serve (400 unless ``status`` says otherwise)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


_ROLES = {"system": "system", "developer": "system", "user": "user",
          "assistant": "assistant", "tool": "tool"}


def _text(content: str | list[Any] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    parts = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == "text" \
                and isinstance(part.get("text"), str):
            parts.append(part["text"])
        else:
            raise BadRequest("only text message parts are supported")
    return "".join(parts)


def _schema(value: Any, field: str) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"{field}: not a JSON schema ({exc.msg})") from exc
    if not isinstance(value, dict):
        raise BadRequest(f"{field}: a JSON schema must be an object")
    return value


def _choice_regex(choices: Any, field: str) -> str:
    if not isinstance(choices, list) or not choices \
            or not all(isinstance(c, str) for c in choices):
        raise BadRequest(f"{field}: a list of strings")
    return "(" + "|".join(re.escape(c) for c in choices) + ")"


def constraint_of(chat: ChatRequest) -> OutputConstraint | None:
    """The one output constraint a request asks for, in whichever field it uses."""
    found: list[tuple[str, OutputConstraint]] = []
    so = chat.structured_outputs or {}
    for key, value in so.items():
        if value is None:
            continue
        field = f"structured_outputs.{key}"
        if key == "json":
            found.append((field, OutputConstraint(json_schema=_schema(value, field))))
        elif key == "regex" and isinstance(value, str):
            found.append((field, OutputConstraint(regex=value)))
        elif key == "grammar" and isinstance(value, str):
            found.append((field, OutputConstraint(grammar=value)))
        elif key == "choice":
            found.append((field, OutputConstraint(regex=_choice_regex(value, field))))
        else:
            raise BadRequest(f"{field} is not supported (json, regex, grammar, choice are)")
    if chat.guided_json is not None:
        found.append(("guided_json",
                      OutputConstraint(json_schema=_schema(chat.guided_json, "guided_json"))))
    if chat.guided_regex is not None:
        found.append(("guided_regex", OutputConstraint(regex=chat.guided_regex)))
    if chat.guided_grammar is not None:
        found.append(("guided_grammar", OutputConstraint(grammar=chat.guided_grammar)))
    if chat.guided_choice is not None:
        found.append(("guided_choice", OutputConstraint(
            regex=_choice_regex(chat.guided_choice, "guided_choice"))))
    rf = chat.response_format or {}
    kind = rf.get("type")
    if kind == "json_schema":
        spec = rf.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        found.append(("response_format", OutputConstraint(
            json_schema=_schema(schema, "response_format.json_schema.schema"))))
    elif kind == "json_object":
        found.append(("response_format", OutputConstraint(json_schema={"type": "object"})))
    elif kind not in (None, "text"):
        raise BadRequest(f"response_format type {kind!r} is not supported")
    distinct = {c.model_dump_json() for _, c in found}
    if len(distinct) > 1:
        raise BadRequest("two different output constraints: "
                         + ", ".join(field for field, _ in found))
    return found[0][1] if found else None


def engine_request(chat: ChatRequest, supports_constraints: bool) -> EngineRequest:
    """The engine's request for a chat request; :class:`BadRequest` for what it cannot do."""
    if chat.stream:
        raise BadRequest("streaming is not supported: send \"stream\": false")
    if chat.n not in (None, 1):
        raise BadRequest("n above 1 is not supported: send one request per completion")
    if chat.tools:
        raise BadRequest("tools are not supported: ask for a JSON schema "
                         "(structured_outputs.json) instead")
    messages = []
    for message in chat.messages:
        role = _ROLES.get(message.role)
        if role is None:
            raise BadRequest(f"unknown message role {message.role!r}")
        messages.append(Message.model_validate({"role": role,
                                                "content": _text(message.content)}))
    constraint = constraint_of(chat)
    if constraint is not None and not supports_constraints:
        raise BadRequest("this engine does not support output constraints")
    return EngineRequest(
        messages=messages, constraint=constraint,
        max_tokens=chat.max_tokens or chat.max_completion_tokens or DEFAULT_MAX_TOKENS,
        temperature=chat.temperature or 0.0, seed=chat.seed)


def _error(status: int, message: str) -> JSONResponse:
    kinds = {400: "BadRequestError", 404: "NotFoundError", 503: "ServiceUnavailableError",
             504: "TimeoutError"}
    return JSONResponse({"error": {"message": message,
                                   "type": kinds.get(status, "InternalServerError"),
                                   "param": None, "code": status}}, status_code=status)


def build_app(models: Mapping[str, Engine], *, default: str,
              parents: Mapping[str, str] | None = None) -> Starlette:
    """The ASGI app serving ``models`` (name -> engine); ``default`` answers requests that
    name no model. ``parents``: name -> the base model it derives from (listed as
    ``parent``); the others are listed as base models."""
    if default not in models:
        raise ValueError(f"the default model {default!r} is not served")
    names = [default, *(name for name in models if name != default)]
    parents = dict(parents or {})
    created = int(time.time())

    async def list_models(_request: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [
            {"id": name, "object": "model", "created": created, "owned_by": "pantheon",
             "root": parents.get(name, name), "parent": parents.get(name)}
            for name in names]})

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def chat_completions(request: Request) -> JSONResponse:
        try:
            raw = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "the body is not JSON")
        try:
            chat = ChatRequest.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            return _error(400, f"{where}: {first['msg']}")
        name = chat.model or default
        engine = models.get(name)
        if engine is None:
            return _error(404, f"The model `{name}` does not exist "
                          f"(served: {', '.join(names)}).")
        try:
            completion = await engine.complete(
                engine_request(chat, engine.supports_constraints))
        except BadRequest as exc:
            return _error(exc.status, exc.message)
        except EngineUnavailable as exc:
            return _error(503, exc.message)
        except EngineTimeout as exc:
            return _error(504, exc.message)
        except EngineError as exc:
            return _error(400, exc.message)
        finish = completion.finish_reason if completion.finish_reason == "length" else "stop"
        return JSONResponse({
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
            "created": int(time.time()), "model": name,
            "choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", "content": completion.text}}],
            "usage": {"prompt_tokens": completion.prompt_tokens,
                      "completion_tokens": completion.completion_tokens,
                      "total_tokens": completion.prompt_tokens + completion.completion_tokens},
        })

    return Starlette(routes=[
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
    ])
