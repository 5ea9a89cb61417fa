"""A night's model and tool calls as OpenTelemetry spans (``pantheon traces export --otlp``).

The spans follow the OpenTelemetry GenAI semantic conventions, so Phoenix, Langfuse or any
OTLP collector reads them: one trace per run, a root span for the run, a child span per node
(``invoke_agent``, with ``gen_ai.agent.name``), and under each node its model calls
(``chat``: ``gen_ai.system`` / ``gen_ai.provider.name``, ``gen_ai.request.model``,
``gen_ai.usage.input_tokens`` / ``output_tokens``) and tool calls (``execute_tool``:
``gen_ai.tool.name``).

The source is each run's folder: ``run.json`` (the run, its nodes in the order they ran, its
start and end), ``<node>/metrics.json`` (how long the node took) and
``<node>/model_calls.jsonl`` / ``tool_calls.jsonl`` (each call and how long it took). The
files keep durations, not start times, so the spans are laid out one after another from the
run's start: a node starts where the one before it ended, a model call where the call before
it ended, and each tool call right after the model call of its step. Ids are derived from the
run id, so exporting the same run twice gives the same trace.

The encoding is OTLP/JSON: the protobuf-JSON form of ``ExportTraceServiceRequest``
(``resourceSpans`` → ``scopeSpans`` → ``spans``; hex ids; times in nanoseconds as strings;
64-bit integers as strings). :func:`build_request` returns it as plain dicts;
:func:`send_request` POSTs it with the standard library; :func:`check_target` applies the
egress policy (at night only a file or a loopback collector).
"""

from __future__ import annotations

import hashlib
import json
import math
import urllib.error
import urllib.request
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pantheon_engine.atomic import iter_jsonl, read_dict
from pantheon_engine.errors import RunFailure, UserError
from pantheon_engine.night.summary_read import considered_runs
from pantheon_engine.policy import Policy, is_loopback_host

__all__ = ["ExportFailed", "ExportRefused", "build_request", "check_target", "count_spans",
           "is_url", "otlp_url", "run_spans", "send_request", "spans_of"]

SCOPE = "pantheon_engine.night.otlp_export"
SERVICE = "pantheon"
#: OTLP span kinds and status codes (``opentelemetry.proto.trace.v1``)
KIND_INTERNAL = 1
KIND_CLIENT = 3
STATUS_ERROR = 2
TRACES_PATH = "/v1/traces"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ExportRefused(UserError):
    """The export target is not allowed (the egress policy) or not usable."""


class ExportFailed(RunFailure):
    """The collector could not be reached or refused the request."""


# --- encoding ------------------------------------------------------------------------------


def _value(value: Any) -> dict[str, Any]:
    """One OTLP ``AnyValue``: bool, int (as a string, int64), double, string or array."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list | tuple):
        return {"arrayValue": {"values": [_value(v) for v in value]}}
    return {"stringValue": str(value)}


def _attributes(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _value(v)} for k, v in values.items() if v is not None]


def _hex_id(seed: str, length: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


def _epoch_ns(value: Any) -> int | None:
    """An ISO time (naive is UTC) in nanoseconds since the epoch, exactly."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def _ns(seconds: Any) -> int:
    """A duration in seconds as whole nanoseconds (0 for anything not a finite number)."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return 0
    if not math.isfinite(seconds) or seconds <= 0:
        return 0
    return round(seconds * 1e9)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _span(trace_id: str, span_id: str, parent: str | None, name: str, kind: int,
          start: int, end: int, attributes: dict[str, Any],
          error: str | None = None) -> dict[str, Any]:
    span: dict[str, Any] = {
        "traceId": trace_id, "spanId": span_id, "name": name, "kind": kind,
        "startTimeUnixNano": str(start), "endTimeUnixNano": str(max(end, start)),
        "attributes": _attributes(attributes),
    }
    if parent is not None:
        span["parentSpanId"] = parent
    if error is not None:
        span["status"] = {"code": STATUS_ERROR, "message": error}
    return span


# --- one run -------------------------------------------------------------------------------


def _node_order(run_dir: Path, meta: dict[str, Any]) -> list[str]:
    """The nodes as ``run.json`` lists them (the order they ran), then any other node
    folder (a run that stopped before writing its nodes)."""
    nodes = meta.get("nodes")
    order = [n for n in nodes if isinstance(n, str)] if isinstance(nodes, dict) else []
    try:
        folders = sorted(p.name for p in run_dir.iterdir() if p.is_dir())
    except OSError:
        folders = []
    return order + [n for n in folders if n not in order]


def _call_spans(trace_id: str, node_span: str, prefix: str, node_dir: Path, start: int,
                common: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """The node's model and tool calls laid out from ``start``; the spans and their end."""
    model_calls = list(iter_jsonl(node_dir / "model_calls.jsonl"))
    tool_calls = list(iter_jsonl(node_dir / "tool_calls.jsonl"))
    spans: list[dict[str, Any]] = []
    cursor = start
    model = common.get("gen_ai.request.model")

    def tool_span(index: int, call: dict[str, Any]) -> None:
        nonlocal cursor
        name = str(call.get("name") or "tool")
        end = cursor + _ns(call.get("ms")) // 1000
        ok = call.get("ok") is not False
        spans.append(_span(
            trace_id, _hex_id(f"{prefix}/tool/{index}", 16), node_span, f"execute_tool {name}",
            KIND_INTERNAL, cursor, end,
            {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name,
             "gen_ai.agent.name": common.get("gen_ai.agent.name"),
             "pantheon.step": _int(call.get("step")),
             "error.type": None if ok else str(call.get("error_kind") or "tool_error")},
            error=None if ok else str(call.get("error") or "tool call failed")))
        cursor = end

    pending = list(enumerate(tool_calls))
    for index, call in enumerate(model_calls):
        end = cursor + _ns(call.get("seconds"))
        error = call.get("error")
        finish = call.get("finish_reason")
        spans.append(_span(
            trace_id, _hex_id(f"{prefix}/chat/{index}", 16), node_span,
            f"chat {model}" if model else "chat", KIND_CLIENT, cursor, end,
            {**common, "gen_ai.operation.name": "chat",
             "gen_ai.usage.input_tokens": _int(call.get("prompt_tokens")),
             "gen_ai.usage.output_tokens": _int(call.get("completion_tokens")),
             "gen_ai.response.finish_reasons": [str(finish)] if finish else None,
             "pantheon.step": _int(call.get("step")),
             "pantheon.attempt": _int(call.get("attempt")) or None,
             "pantheon.outcome": call.get("outcome"),
             "error.type": "model_error" if error else None},
            error=str(error) if error else None))
        cursor = end
        step = call.get("step")
        while pending and pending[0][1].get("step") == step:
            tool_span(*pending.pop(0))
    for item in pending:  # tool calls no model call of their step names
        tool_span(*item)
    return spans, cursor


def run_spans(run_dir: Path, meta: dict[str, Any]) -> list[dict[str, Any]]:
    """One run's spans: the run, its nodes, their model and tool calls (see the module)."""
    run_id = str(meta.get("run_id") or run_dir.name)
    trace_id = _hex_id(f"run/{run_id}", 32)
    root_id = _hex_id(f"run/{run_id}/root", 16)
    started = _epoch_ns(meta.get("started_at")) or 0
    finished = _epoch_ns(meta.get("finished_at"))
    if finished is None:
        finished = started + _ns(meta.get("seconds"))
    system = meta.get("engine")
    model = meta.get("model")
    agents = meta.get("agents")
    agents = agents if isinstance(agents, dict) else {}
    statuses = meta.get("nodes")
    statuses = statuses if isinstance(statuses, dict) else {}
    spans: list[dict[str, Any]] = []
    cursor = started
    for node in _node_order(run_dir, meta):
        node_dir = run_dir / node
        metrics = read_dict(node_dir / "metrics.json") or {}
        agent = str(agents.get(node) or metrics.get("agent") or "unknown")
        node_id = _hex_id(f"run/{run_id}/node/{node}", 16)
        common = {"gen_ai.system": system, "gen_ai.provider.name": system,
                  "gen_ai.request.model": model, "gen_ai.agent.name": agent}
        calls, calls_end = _call_spans(trace_id, node_id, f"run/{run_id}/node/{node}",
                                       node_dir, cursor, common)
        end = max(cursor + _ns(metrics.get("seconds")), calls_end)
        status = statuses.get(node) or metrics.get("status")
        error = metrics.get("error")
        failed = status == "failed"
        spans.append(_span(
            trace_id, node_id, root_id, f"invoke_agent {agent}", KIND_INTERNAL, cursor, end,
            {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent,
             "pantheon.node": node, "pantheon.status": status,
             "gen_ai.usage.input_tokens": _int(metrics.get("prompt_tokens")),
             "gen_ai.usage.output_tokens": _int(metrics.get("completion_tokens")),
             "error.type": (metrics.get("error_kind") or "node_failed") if failed else None},
            error=(str(error) if error else "node failed") if failed else None))
        spans.extend(calls)
        cursor = end
    status = meta.get("status")
    failed = status == "failed"
    spans.insert(0, _span(
        trace_id, root_id, None, f"run {meta.get('flow') or 'flow'}", KIND_INTERNAL, started,
        max(finished, cursor),
        {"pantheon.run_id": run_id, "pantheon.flow": meta.get("flow"),
         "pantheon.night_id": meta.get("night_id"), "pantheon.status": status,
         "pantheon.mode": meta.get("mode"), "gen_ai.system": system,
         "gen_ai.request.model": model,
         "error.type": (meta.get("error_kind") or "run_failed") if failed else None},
        error=f"failed at {meta.get('failed_node') or 'a node'}" if failed else None))
    return spans


def build_request(artifacts: Path, night_id: str | None = None,
                  since: datetime | None = None, *, version: str | None = None
                  ) -> dict[str, Any]:
    """The ``ExportTraceServiceRequest`` (OTLP/JSON, as dicts) of the runs of ``night_id``
    (if named) started at or after ``since`` (if given)."""
    spans: list[dict[str, Any]] = []
    for run_dir, meta in considered_runs(artifacts, night_id, since):
        spans.extend(run_spans(run_dir, meta))
    scope: dict[str, Any] = {"name": SCOPE}
    if version:
        scope["version"] = version
    resource = {"service.name": SERVICE, "pantheon.night_id": night_id}
    return {"resourceSpans": [{
        "resource": {"attributes": _attributes(resource)},
        "scopeSpans": [{"scope": scope, "spans": spans}],
    }]}


def count_spans(request: dict[str, Any]) -> dict[str, int]:
    """How many traces (runs) and spans of each operation ``request`` holds."""
    counts = {"runs": 0, "chat": 0, "execute_tool": 0, "invoke_agent": 0}
    for span in spans_of(request):
        if "parentSpanId" not in span:
            counts["runs"] += 1
        for attr in span.get("attributes", []):
            op = attr["value"].get("stringValue")
            if attr["key"] == "gen_ai.operation.name" and op in counts:
                counts[op] += 1
    return counts


# --- where it goes -------------------------------------------------------------------------


def is_url(target: str) -> bool:
    """Whether ``target`` names a collector (``http://`` or ``https://``), not a file."""
    return target.lower().startswith(("http://", "https://"))


def otlp_url(url: str) -> str:
    """``url`` with ``/v1/traces`` appended when it has no path (``http://host:4318``)."""
    parts = urlsplit(url)
    if parts.path in ("", "/"):
        parts = parts._replace(path=TRACES_PATH)
    return urlunsplit(parts)


def check_target(target: str, policy: Policy) -> None:
    """At night only a file or a loopback collector; by day any URL. A refusal is
    :class:`ExportRefused` naming the URL and the rule."""
    if not is_url(target):
        return
    try:
        host = urlsplit(target).hostname
    except ValueError as exc:
        raise ExportRefused(f"--otlp {target}: not a URL ({exc})") from exc
    if not host:
        raise ExportRefused(f"--otlp {target}: the URL names no host")
    if policy.is_night and not is_loopback_host(host):
        raise ExportRefused(
            f"--otlp {target}: night policy refuses to send traces to {host}: only a file "
            "or a loopback collector (127.0.0.1, ::1, localhost) is allowed at night",
            hint="run a collector on 127.0.0.1, write a file (--otlp traces.json), "
                 "or pass --day")


def send_request(url: str, request: dict[str, Any], policy: Policy, *,
                 timeout_s: float = 30.0) -> int:
    """POST ``request`` to ``url`` (``/v1/traces`` appended when it has no path) as
    ``application/json``; the HTTP status. At night under the egress guard."""
    check_target(url, policy)
    body = json.dumps(request, separators=(",", ":")).encode()
    post = urllib.request.Request(otlp_url(url), data=body, method="POST",
                                  headers={"Content-Type": "application/json"})
    # at night a proxy from the environment would carry the traces off the machine
    opener = (urllib.request.build_opener(urllib.request.ProxyHandler({})) if policy.is_night
              else urllib.request.build_opener())
    try:
        with policy.egress_guard(), opener.open(post, timeout=timeout_s) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        raise ExportFailed(f"--otlp {url}: the collector answered {exc.code} {exc.reason}",
                           hint="check the collector's OTLP/HTTP JSON endpoint") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ExportFailed(f"--otlp {url}: cannot reach the collector ({reason})",
                           hint="is the collector running? OTLP/HTTP listens on port 4318"
                           ) from exc


def spans_of(request: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """Every span of ``request``."""
    for resource in request.get("resourceSpans", []):
        for scope in resource.get("scopeSpans", []):
            yield from scope.get("spans", [])
