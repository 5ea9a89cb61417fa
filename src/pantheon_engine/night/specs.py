"""Task specs on disk and the road from a spec to a queued job.

A spec is a JSON object in a specs folder (``specs/*.json`` by default); what it must hold
is the input model of the flow's entry agent (for ``spec2code``: title, scope, acceptance
items, files, tests, workspace). The command line (``pantheon queue add``) and the control
room both check and queue inputs through this module, so the rules live in one place.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from pantheon_engine.agents.registry import AgentRegistry, default_registry
from pantheon_engine.atomic import atomic_write_json
from pantheon_engine.errors import SpecError
from pantheon_engine.flows_builtin import BUILTIN_DIR, agent_roots, resolve_flow
from pantheon_engine.night.jobqueue import Job, NewJob, default_queue_path
from pantheon_engine.night.queue_open import Location, open_queue
from pantheon_engine.run.flows import Flow, load_flow_checked
from pantheon_engine.run.input_paths import check_input_paths

__all__ = [
    "FieldProblem",
    "FlowInput",
    "SpecEntry",
    "enqueue",
    "list_flows",
    "list_specs",
    "load_input",
    "pick_flow",
    "read_inputs",
    "save_spec",
    "spec_filename",
]


@dataclass(frozen=True)
class FieldProblem:
    """One field of an input that does not fit: ``field`` is dotted (``acceptance.0``)."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True)
class SpecEntry:
    """A spec file as listed: its title, or why it cannot be read."""

    path: Path
    title: str | None
    error: str | None = None

    @property
    def name(self) -> str:
        return self.path.name


class FlowInput:
    """A flow file with its entry agent: checks inputs and queues them.

    Loading the flow and the registry happens once, so checking on every key press is cheap.
    """

    def __init__(self, flow_file: Path | str, registry: AgentRegistry | None = None) -> None:
        self.flow_file = resolve_flow(flow_file)  # a path, or a built-in flow's name
        self.registry = registry or default_registry(agent_roots(self.flow_file))
        self.flow: Flow = load_flow_checked(self.flow_file, self.registry)
        entries = [n for n in self.flow.nodes if set(n.inputs) & self.flow.entry_names]
        self.entry_agents = [self.registry.get(n.agent) for n in entries]
        self.entry = entries[0].agent

    @property
    def name(self) -> str:
        return self.flow.name

    @property
    def input_model(self) -> type[BaseModel]:
        return self.entry_agents[0].input_model

    def problems(self, data: Any) -> list[FieldProblem]:
        """Every way ``data`` misses the input model of the flow's entry agents (none: fits)."""
        if not isinstance(data, dict):
            return [FieldProblem("(root)", "the input must be a JSON object")]
        found: list[FieldProblem] = []
        for agent in self.entry_agents:
            try:
                agent.input_model.model_validate(data)
            except ValidationError as exc:
                for err in exc.errors():
                    problem = FieldProblem(".".join(map(str, err["loc"])) or "(root)", err["msg"])
                    if problem not in found:
                        found.append(problem)
        return found

    def check(self, data: Any, source: str = "input") -> None:
        """Raise :class:`SpecError` naming every field of ``data`` that does not fit."""
        found = self.problems(data)
        if found:
            raise SpecError(
                f"{source}: input does not fit {self.entry_agents[0].ref} (flow "
                f"{self.name!r}): " + "; ".join(map(str, found)),
                hint=f"see the input model with: pantheon agents show {self.entry_agents[0].name}",
            )

    def check_paths(self, data: dict[str, Any], workspace: Path | str,
                    source: str = "input") -> None:
        """Raise :class:`SpecError` naming every path of ``data`` that does not suit
        ``workspace`` (outside it, missing, the wrong kind of file) and the workspace."""
        check_input_paths([a.input_model for a in self.entry_agents], data, workspace,
                          source=source)

    def job(self, data: dict[str, Any], *, source: Path | None = None,
            priority: int = 0, workspace: Path | None = None) -> NewJob:
        """A checked job: its fields, then every path it names, in its workspace.

        The workspace is the input's ``workspace`` (a relative one is taken from the spec's
        folder, else from the current folder), else ``workspace``; the job records it as an
        absolute path, because the night may run from another folder.
        """
        label = str(source) if source is not None else "input"
        self.check(data, label)
        root = _job_workspace(data, source, workspace, label)
        self.check_paths(data, root, label)
        return NewJob(flow=str(self.flow_file), input={**data, "workspace": str(root)},
                      priority=priority, flow_name=self.name, group_key=self.entry)


def _job_workspace(data: dict[str, Any], source: Path | None, default: Path | None,
                   label: str) -> Path:
    """The absolute workspace of a job's input (see :meth:`FlowInput.job`)."""
    named = data.get("workspace")
    if isinstance(named, str) and named:
        base = source.parent if source is not None else Path.cwd()
        candidate = (base / named).resolve()
        if not candidate.is_dir():
            raise SpecError(f"{label}: workspace {named!r} is not a folder (looked at "
                            f"{candidate})", hint="a relative workspace is taken from the "
                            "folder of the input file")
        return candidate
    if default is None:
        raise SpecError(f"{label}: the input names no workspace",
                        hint='add "workspace": the folder the job works on (relative to '
                             "the input file)")
    return default.resolve()


def enqueue(artifacts: Path | str, flow: FlowInput,
            inputs: Iterable[tuple[Path | None, dict[str, Any]]], *,
            priority: int = 0, workspace: Path | None = None,
            queue: Location | None = None) -> list[Job]:
    """Check every input first (its fields and every path it names, in its workspace;
    ``workspace`` serves inputs that name none), then queue them all in one transaction
    (all or nothing) on ``queue`` (default: the artifacts folder's)."""
    jobs = [flow.job(data, source=source, priority=priority, workspace=workspace)
            for source, data in inputs]
    if not jobs:
        raise SpecError("nothing to queue: no inputs given")
    with open_queue(queue if queue is not None else default_queue_path(artifacts)) as opened:
        return opened.add_many(jobs)


# --------------------------------------------------------------------------- files


def load_input(path: Path) -> dict[str, Any]:
    """One JSON object from ``path``, or :class:`SpecError` with the line and column."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SpecError(f"{path}: input file not found") from exc
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise SpecError(f"{path}: the input must be a JSON object")
    return data


def read_inputs(path: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Inputs from one JSON file, a JSONL file (one per line) or a folder of JSON files."""
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise SpecError(f"{path}: no *.json inputs in this folder")
        return [(file, load_input(file)) for file in files]
    if path.suffix == ".jsonl":
        items = []
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError as exc:
            raise SpecError(f"{path}: input file not found") from exc
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SpecError(f"{path}:{number}: not valid JSON: {exc.msg}") from exc
            if not isinstance(data, dict):
                raise SpecError(f"{path}:{number}: each line must be a JSON object")
            items.append((path, data))
        return items
    return [(path, load_input(path))]


def list_specs(folder: Path | str) -> list[SpecEntry]:
    """The ``*.json`` specs of a folder by name; an unreadable one is listed with its error."""
    root = Path(folder)
    if not root.is_dir():
        return []
    entries = []
    for path in sorted(root.glob("*.json")):
        try:
            data = load_input(path)
        except SpecError as exc:
            entries.append(SpecEntry(path, None, exc.message))
            continue
        title = data.get("title")
        entries.append(SpecEntry(path, title if isinstance(title, str) else None))
    return entries


def spec_filename(folder: Path | str, title: str) -> Path:
    """A new file name for a spec titled ``title``: a slug, numbered when taken."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:48] or "spec"
    root = Path(folder)
    candidate = root / f"{slug}.json"
    number = 2
    while candidate.exists():
        candidate = root / f"{slug}-{number}.json"
        number += 1
    return candidate


def save_spec(path: Path | str, data: dict[str, Any]) -> Path:
    """Write a spec atomically (the folder is created); the old file stays whole on a crash."""
    target = Path(path)
    if target.suffix != ".json":
        raise SpecError(f"{target}: a spec file must end in .json")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(target, data)
    except OSError as exc:
        raise SpecError(f"{target}: cannot write the spec: {exc.strerror or exc}") from exc
    return target


def _flow_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [*folder.glob("*.yaml"), *folder.glob("*.yml")]


def list_flows(folder: Path | str, *, builtins: bool = True) -> list[Path]:
    """Flow files (``*.yaml``, ``*.yml``) of a folder, by name; with ``builtins``, also the
    built-in flows the folder has no file of the same name for (so any folder can queue)."""
    own = _flow_files(Path(folder))
    names = {p.stem for p in own}
    shipped = [p for p in _flow_files(BUILTIN_DIR) if p.stem not in names] if builtins else []
    return sorted([*own, *shipped], key=lambda p: (p.name, str(p)))


DEFAULT_FLOW = "spec2code.yaml"


def pick_flow(folder: Path | str, preferred: Path | str | None = None, *,
              builtins: bool = True) -> Path | None:
    """The flow new specs go to: ``preferred`` when it is a file, else ``spec2code.yaml``
    of ``folder`` (or the built-in one), else the first flow (``None``: no flow at all)."""
    if preferred is not None and Path(preferred).is_file():
        return Path(preferred)
    flows = list_flows(folder, builtins=builtins)
    named = [f for f in flows if f.name == DEFAULT_FLOW]
    candidates = named or flows
    return candidates[0] if candidates else None
