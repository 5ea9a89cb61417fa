"""Builds the engine a run asked for, under the run's policy."""

from __future__ import annotations

import sys

from pantheon_engine.config import EngineSettings
from pantheon_engine.engines.base import Engine
from pantheon_engine.errors import ConfigError
from pantheon_engine.policy import Policy


def make_engine(settings: EngineSettings, policy: Policy) -> Engine:
    """An engine ready to ``start()``. Night mode checks endpoints before anything connects."""
    if settings.name == "replay":
        from pantheon_engine.engines.replay import ReplayEngine

        if not settings.replay:
            raise ConfigError("--engine replay needs --replay RUN_DIR_OR_JSONL")
        return ReplayEngine.from_path(settings.replay)
    if settings.name == "openai":
        from pantheon_engine.engines.catalogue import CATALOGUE
        from pantheon_engine.engines.openai import OpenAIEngine

        endpoints = settings.endpoint_list()
        if not endpoints:
            raise ConfigError("--engine openai needs --base-url (e.g. http://127.0.0.1:8000/v1)"
                              ", or [[engine.endpoints]] in pantheon.toml")
        for endpoint in endpoints:
            policy.check_endpoint(endpoint.url)
        # a catalogue name is a file in this machine's cache, not a model id a server knows:
        # ask the server what it serves
        model = None if settings.model in CATALOGUE else settings.model
        return OpenAIEngine(endpoints[0].url, model=model, endpoints=endpoints,
                            concurrency=settings.concurrency,
                            api_key=settings.api_key if policy.mode == "day" else None)
    from pantheon_engine.engines.catalogue import resolve_model
    from pantheon_engine.engines.openvino import OpenVINOEngine

    path = resolve_model(settings.model, allow_download=True, night=policy.mode == "night",
                         progress=sys.stderr.isatty())
    max_num_seqs = max(settings.concurrency, 1)
    if not settings.isolate:
        return OpenVINOEngine(path, max_num_seqs=max_num_seqs, model_name=settings.model)
    from pantheon_engine.engines.isolated import IsolatedEngine

    # the pipeline's steps hold the GIL: in a child process they never stall the agents
    return IsolatedEngine(OpenVINOEngine, name="openvino", model=settings.model,
                          supports_constraints=True, model_path=str(path),
                          max_num_seqs=max_num_seqs, model_name=settings.model)
