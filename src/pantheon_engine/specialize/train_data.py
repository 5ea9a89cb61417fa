"""Training data for a per-agent adapter: read, validate and tokenize mined examples.

One JSONL line is one example in TRL's conversational format::

    {"messages": [{"role": "system", "content": "..."}, ..., {"role": "assistant", ...}],
     "tools": [...], "meta": {"source": "best_of_k", "kind": "tool", ...}}

The last message is the assistant reply to learn; every earlier message is context.

Tokenization follows the serving side exactly: the embedded engine renders a request with
the GGUF's chat template (``apply_chat_template(messages, add_generation_prompt=True)``, the
messages as ``{role, content}`` only, no tools) and the model then generates the reply and
its end-of-turn token. So an example is ``prompt ids + reply ids + eos``, the prompt and
the reply tokenized separately (as the model sees a prompt and then produces tokens), and
only the reply and the eos carry a label; everything else is ``IGNORE`` (-100).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from pantheon_engine.errors import SpecError
from pantheon_engine.specialize.benchmark_text import humaneval_text

__all__ = [
    "IGNORE",
    "ChatMessage",
    "Encoded",
    "Example",
    "ExampleMeta",
    "TrainData",
    "TrainDataError",
    "encode_example",
    "file_sha256",
    "load_examples",
    "render_prompt",
]

IGNORE = -100
"""The label of a token that carries no loss (PyTorch's ``cross_entropy`` ignore index)."""


class TrainDataError(SpecError):
    """A training data file is missing, empty or has a bad line (named by its number)."""


class ChatMessage(BaseModel):
    """One chat message. Extra keys (``tool_calls``, ``name``…) are kept but not rendered:
    the embedded engine sends only role and content."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool"]
    content: str


class ExampleMeta(BaseModel):
    """Where an example came from. ``source`` (``best_of_k``, ``search``, ``demo``…) is
    required: results are reported per source."""

    model_config = ConfigDict(extra="allow")

    source: str = Field(min_length=1)
    kind: Literal["tool", "final"] | None = None


class Example(BaseModel):
    messages: list[ChatMessage] = Field(min_length=2)
    tools: list[dict[str, Any]] = Field(default_factory=list)
    meta: ExampleMeta

    @field_validator("messages")
    @classmethod
    def _ends_with_a_reply(cls, messages: list[ChatMessage]) -> list[ChatMessage]:
        last = messages[-1]
        if last.role != "assistant":
            raise ValueError(f"the last message must be the assistant reply to learn, "
                             f"not a {last.role!r} message")
        if not last.content.strip():
            raise ValueError("the assistant reply to learn is empty")
        if all(m.role == "assistant" for m in messages[:-1]):
            raise ValueError("the reply has no context: no system or user message before it")
        return messages

    @property
    def context(self) -> list[dict[str, str]]:
        """The conversation the engine sends, as it sends it (role and content only)."""
        return [{"role": m.role, "content": m.content} for m in self.messages[:-1]]

    @property
    def reply(self) -> str:
        return self.messages[-1].content

    @property
    def group(self) -> str | None:
        """The task this example belongs to (``meta.task_id``), so that the held-out share
        holds whole tasks rather than single steps of tasks seen in training."""
        task = (self.meta.model_extra or {}).get("task_id")
        return None if task is None else str(task)


class TrainData(BaseModel):
    path: str
    sha256: str
    examples: list[Example]

    def counts(self, key: str) -> dict[str, int]:
        """Examples per value of a ``meta`` field (``source``, ``kind``)."""
        values = (e.meta.model_dump().get(key) for e in self.examples)
        return dict(sorted(Counter(str(v) for v in values).items()))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _where(error: ErrorDetails) -> str:
    loc = ".".join(str(part) for part in error.get("loc", ()))
    return f"{loc}: {error['msg']}" if loc else str(error["msg"])


def _refuse_benchmark_text(source: Path, number: int, example: Example) -> None:
    """A line that holds HumanEval prompt text refuses the file: a benchmark measures, it
    is never learned from (mining drops such examples; this catches a file made by hand)."""
    benchmark = humaneval_text()
    found = benchmark.leak(m.content for m in example.messages)
    if found is not None:
        raise TrainDataError(
            f"{source} line {number}: holds {benchmark.name} prompt text ({found!r})",
            hint=f"{benchmark.name} is a measurement, never training data: leave the line "
                 "out (pantheon traces mine drops such examples)")


def load_examples(path: Path | str) -> TrainData:
    """Read and validate a JSONL file; a bad line refuses the whole file, naming the line
    (a line holding HumanEval prompt text included)."""
    source = Path(path)
    if not source.is_file():
        raise TrainDataError(f"training data not found: {source}",
                             hint="mine some first: pantheon traces mine AGENT --out FILE")
    examples: list[Example] = []
    with source.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise TrainDataError(f"{source} line {number}: not a JSON object: {exc}") \
                    from None
            if not isinstance(data, dict):
                raise TrainDataError(f"{source} line {number}: expected a JSON object, got "
                                     f"{type(data).__name__}")
            try:
                example = Example.model_validate(data)
            except ValidationError as exc:
                errors = exc.errors()
                more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
                raise TrainDataError(
                    f"{source} line {number}: {_where(errors[0])}{more}",
                    hint='each line: {"messages": [..., {"role": "assistant", "content": '
                         '...}], "tools": [...], "meta": {"source": ...}}') from None
            _refuse_benchmark_text(source, number, example)
            if (example.meta.model_extra or {}).get("split") == "holdout":
                raise TrainDataError(
                    f"{source} line {number}: an example of the holdout split",
                    hint="holdout items measure (pantheon reviewers measure); build "
                         "training items from the train split")
            examples.append(example)
    if not examples:
        raise TrainDataError(f"{source}: no examples (the file is empty)")
    return TrainData(path=str(source), sha256=file_sha256(source), examples=examples)


class ChatTokenizer(Protocol):
    """What :func:`encode_example` needs of a Hugging Face tokenizer."""

    eos_token_id: int | None

    def apply_chat_template(self, conversation: Any, **kwargs: Any) -> Any: ...

    def __call__(self, text: str, **kwargs: Any) -> Any: ...


class Encoded(BaseModel):
    input_ids: list[int]
    labels: list[int]

    @property
    def answer_tokens(self) -> int:
        return sum(label != IGNORE for label in self.labels)


def render_prompt(tokenizer: ChatTokenizer, context: Sequence[dict[str, str]]) -> str:
    """The prompt text the engine builds for ``context`` (the chat template, generation
    prompt appended)."""
    return str(tokenizer.apply_chat_template(list(context), add_generation_prompt=True,
                                             tokenize=False))


def encode_example(tokenizer: ChatTokenizer, example: Example) -> Encoded:
    """Prompt and reply ids with labels on the reply tokens and the eos only."""
    if tokenizer.eos_token_id is None:
        raise TrainDataError("the tokenizer has no end-of-sequence token")
    prompt = render_prompt(tokenizer, example.context)
    prompt_ids = list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    reply_ids = [*tokenizer(example.reply, add_special_tokens=False)["input_ids"],
                 int(tokenizer.eos_token_id)]
    return Encoded(input_ids=prompt_ids + reply_ids,
                   labels=[IGNORE] * len(prompt_ids) + reply_ids)
