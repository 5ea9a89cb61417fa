"""Every catalogue model loads on this machine and answers (``make test`` pulls them all).

The unit tests that need any real model run the small one; these prove that the default
and every other catalogue entry still load through OpenVINO GenAI, write text, follow a
JSON schema, and, for the code models, write a function that works.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from pantheon_engine.config import DEFAULT_MODEL, SMALL_MODEL
from pantheon_engine.engines.base import EngineRequest, Message, OutputConstraint
from pantheon_engine.engines.catalogue import CATALOGUE, resolve_model
from pantheon_engine.engines.openvino import OpenVINOEngine

CODE_MODELS = [name for name in CATALOGUE if name != SMALL_MODEL]
SUM_SCHEMA = {"type": "object", "properties": {"sum": {"type": "integer"}},
              "required": ["sum"], "additionalProperties": False}


def _code_of(text: str) -> str:
    """The first fenced block of a reply, else the reply itself."""
    fenced = re.search(r"```(?:python)?\n(.*?)```", text, re.S)
    return fenced.group(1) if fenced else text


async def _answers(name: str) -> tuple[str, str]:
    """What model ``name`` replies to a coding request and to a schema-bound question."""
    path = await asyncio.to_thread(resolve_model, name, allow_download=True)
    engine = OpenVINOEngine(path, model_name=name)
    await engine.start()
    try:
        code = await engine.complete(EngineRequest(messages=[Message(
            role="user", content="Write a Python function `add(a, b)` that returns the sum "
            "of a and b. Reply with the code only.")], max_tokens=96))
        data = await engine.complete(EngineRequest(
            messages=[Message(role="user", content="What is 17 + 25? Reply in JSON.")],
            constraint=OutputConstraint(json_schema=SUM_SCHEMA), max_tokens=24))
    finally:
        await engine.close()
    assert code.model == data.model == name
    return code.text, data.text


def test_the_default_is_a_code_model() -> None:
    assert DEFAULT_MODEL in CODE_MODELS


@pytest.mark.model
@pytest.mark.parametrize("name", CODE_MODELS)
def test_code_model_loads_and_writes_a_working_function(name: str) -> None:
    code, data = asyncio.run(_answers(name))
    namespace: dict[str, object] = {}
    exec(compile(_code_of(code), f"<{name}>", "exec"), namespace)  # the model's code, on purpose
    add = namespace["add"]
    assert callable(add) and add(2, 3) == 5 and add(-1, 1) == 0
    assert json.loads(data) == {"sum": 42}


@pytest.mark.model
def test_small_model_loads_and_answers_in_the_schema() -> None:
    code, data = asyncio.run(_answers(SMALL_MODEL))
    assert code.strip()
    assert isinstance(json.loads(data)["sum"], int)  # the form holds; the sum may not
