"""``pantheon traces export --otlp FILE|URL``: a night's calls as OpenTelemetry spans."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from pantheon_engine.cli.options import ArtifactsOption, examples, fail, say_err
from pantheon_engine.errors import ConfigError, PantheonError

EXPORT_EXAMPLES = examples(
    "pantheon traces export --otlp traces.json --night NIGHT_ID",
    "pantheon traces export --otlp http://127.0.0.1:4318   # a local collector (Phoenix, …)",
    "pantheon traces export --otlp - --since 7d | jq '.resourceSpans[0].scopeSpans[0].spans'",
    "pantheon traces export --otlp https://collector.example --day",
)


def traces_export_cmd(
    otlp: Annotated[str, typer.Option(
        "--otlp", help="a file to write the OTLP/JSON to (- for stdout), or a collector URL "
        "to POST it to (/v1/traces is appended when the URL has no path)")],
    night_id: Annotated[str | None, typer.Option("--night", help="one night's runs")] = None,
    since: Annotated[str | None, typer.Option(
        "--since", help="24h, 90m, 7d or a date (default: 24h; with --night: the whole "
        "night)")] = None,
    day: Annotated[bool, typer.Option(
        "--day", help="day policy: any collector URL (at night, the default, only a file "
        "or a loopback collector)")] = False,
    artifacts: ArtifactsOption = Path("artifacts"),
) -> None:
    """Export model and tool calls as OpenTelemetry spans (GenAI semantic conventions,
    OTLP/JSON): one trace per run, a span per node, a span per model and tool call.

    At night (the default policy) only a file or a loopback collector is allowed; a
    refused URL, a missing --artifacts folder or an unknown --night is an error (exit 2)."""
    from importlib.metadata import PackageNotFoundError, version

    from pantheon_engine.cli.report import _since
    from pantheon_engine.night.lookup import require_artifacts, require_night
    from pantheon_engine.night.otlp_export import (
        build_request,
        check_target,
        count_spans,
        is_url,
        otlp_url,
        send_request,
    )
    from pantheon_engine.policy import Policy

    policy = Policy(mode="day" if day else "night")
    try:
        check_target(otlp, policy)  # refuse before reading anything
        root = require_artifacts(artifacts)
        if night_id is not None:
            require_night(root, night_id)
        if since is None and night_id is None:
            since = "24h"
        try:
            number: str | None = version("pantheon")
        except PackageNotFoundError:  # pragma: no cover - run from a source tree
            number = None
        request = build_request(root, night_id, _since(since) if since is not None else None,
                                version=number)
        counts = count_spans(request)
        what = (f"{counts['runs']} runs: {counts['invoke_agent']} nodes, {counts['chat']} "
                f"model calls, {counts['execute_tool']} tool calls")
        if is_url(otlp):
            status = send_request(otlp, request, policy)
            say_err(f"sent {what} to {otlp_url(otlp)} (HTTP {status})")
        elif otlp == "-":
            sys.stdout.write(json.dumps(request, indent=2, ensure_ascii=False) + "\n")
            say_err(f"wrote {what}")
        else:
            from pantheon_engine.atomic import atomic_write_json

            try:
                atomic_write_json(Path(otlp), request)
            except OSError as exc:
                raise ConfigError(f"--otlp {otlp}: cannot write the file ({exc})") from exc
            say_err(f"wrote {what} to {otlp}")
    except PantheonError as exc:
        fail(exc)
