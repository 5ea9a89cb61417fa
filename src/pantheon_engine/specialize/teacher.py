"""A teacher by day: a stronger model answers the agent's own prompts; the checks decide.

``pantheon harvest --teacher MODEL`` (a catalogue model served on this machine) or
``--teacher-base-url URL`` (any OpenAI-compatible endpoint) runs the same tasks as the
agent's own harvest (best-of-k, search or feedback) with the teacher's engine in place of
the agent's. The loop, the agent's prompt, tools and grammar are the agent's, so what is
stored is exactly what the student is sent; only the replies are the teacher's, and only
what the task's check passes is kept (source ``teacher``, the teacher's model in each
example's ``meta.teacher``). An endpoint is a day tool: a night refuses it outright, even
on loopback, because the night's data must come from what the machine itself serves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pantheon_engine.engines.base import Engine
from pantheon_engine.errors import ConfigError, PolicyError
from pantheon_engine.policy import Mode, Policy
from pantheon_engine.run.serving import EngineOptions

#: the harvest modes a teacher can run
TEACHER_MODES: tuple[str, ...] = ("best-of-k", "search", "feedback")


def check_teacher(*, policy_mode: Mode, mode: str, queue: bool, teacher: str | None,
                  base_url: str | None) -> None:
    """Refuse a teacher where it cannot run: an endpoint at night (:class:`PolicyError`),
    a mode that calls no model, queued night jobs (:class:`ConfigError`)."""
    if teacher is None and base_url is None:
        return
    flag = "--teacher-base-url" if base_url is not None else "--teacher"
    if base_url is not None and policy_mode == "night":
        raise PolicyError(f"night mode refuses {flag} {base_url}: a teacher endpoint is used "
                          "by day only", hint="run the harvest with --day, or at night use "
                          "a model of this machine's catalogue with --teacher MODEL")
    if mode not in TEACHER_MODES:
        raise ConfigError(f"{flag} runs {', '.join(TEACHER_MODES)}; --mode {mode} calls no "
                          "model", hint="use --mode best-of-k, search or feedback")
    if queue:
        raise ConfigError(f"{flag} runs now: queued night jobs run the agent's own model",
                          hint="leave out --queue")


def teacher_options(options: EngineOptions, teacher: str | None,
                    base_url: str | None) -> EngineOptions:
    """The engine settings of the teacher: an OpenAI-compatible engine on ``base_url``
    (``teacher`` the model id there, or the server's own), else the embedded engine on the
    catalogue model ``teacher``."""
    if base_url is not None:
        return EngineOptions(name="openai", model=teacher, base_url=base_url,
                             config=options.config, concurrency=options.concurrency)
    return EngineOptions(name="openvino", model=teacher, config=options.config,
                         concurrency=options.concurrency)


@asynccontextmanager
async def serve_teacher(options: EngineOptions, policy: Policy, *, teacher: str | None,
                        base_url: str | None) -> AsyncIterator[tuple[Engine, str]]:
    """The teacher's engine, started, and the name its examples record (the model, else
    the endpoint); closed on the way out."""
    from pantheon_engine.engines.factory import make_engine

    if base_url is not None and policy.mode == "night":  # whatever the caller checked
        raise PolicyError(f"night mode refuses the teacher endpoint {base_url}",
                          hint="run the harvest with --day")
    settings = teacher_options(options, teacher, base_url).settings()
    engine = make_engine(settings, policy)
    await engine.start()
    try:
        yield engine, teacher or engine.model or str(base_url)
    finally:
        await engine.close()


__all__ = ["TEACHER_MODES", "check_teacher", "serve_teacher", "teacher_options"]
