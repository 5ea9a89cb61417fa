"""Task suites: a workspace plus ``tasks.jsonl``, split into train and holdout.

A suite is a folder::

    <suite>/workspace/     the repository the tasks work on (a git repository, or a plain
                           folder that runs import)
    <suite>/tasks.jsonl    one task per line:
                           {"id": "train-001", "agent": "doc.frontmatter",
                            "input": {...}, "split": "train", "meta": {...}}
    <suite>/suite.json     optional: {"workspace": "../my-repo", "description": "..."}

A task names either an ``agent`` (run alone, then graded by its check) or a ``flow`` (a
YAML file relative to the suite folder, or a built-in flow name such as ``docops``).
:func:`load_suite` validates everything a run would trip over later (the workspace, every
line's JSON, unknown agents and flows, inputs that do not fit the agent, duplicate ids,
splits) and refuses a bad suite with one :class:`SuiteError` that lists the problems, each
with its file and line. See ``docs/suites.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pantheon_engine.agents.registry import AgentRegistry, default_registry
from pantheon_engine.agents.spec import AgentSpec
from pantheon_engine.errors import FlowError, SpecError, SuiteError, WorkspaceError
from pantheon_engine.flows_builtin import resolve_flow as find_flow
from pantheon_engine.run.flows import Flow, load_flow
from pantheon_engine.tools.workspace import resolve_in_workspace

TASKS_FILE = "tasks.jsonl"
CONFIG_FILE = "suite.json"
WORKSPACE_DIR = "workspace"
SPLITS = ("train", "holdout")
#: problems listed in full in one error; the rest are counted
MAX_SHOWN = 12
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
FORMAT_HINT = "the suite format is described in docs/suites.md"
#: where the tasks of a measurement-only suite come from (a peer's benchmark): a suite
#: whose suite.json names one as its generator, or with a task whose meta.source names
#: one, is a measurement only whatever its "measurement_only" says
MEASUREMENT_SOURCES = ("humaneval",)

_FIELD_HINTS = {
    "id": "an id uses letters, digits, '.', '_' and '-' (at most 100 characters)",
    "split": 'the split is "train" or "holdout"',
    "input": "input is a JSON object: what the agent (or the flow's entry agent) reads",
    "meta": "meta is an optional JSON object of facts about the task",
    "agent": "agent is the name of a registered agent (pantheon agents list)",
    "flow": "flow is a flow file relative to the suite folder, or a built-in name (docops)",
}


class TaskLine(BaseModel):
    """One line of ``tasks.jsonl`` as written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=100, pattern=ID_PATTERN)
    agent: str | None = Field(default=None, min_length=1, max_length=200)
    flow: str | None = Field(default=None, min_length=1, max_length=1000)
    input: dict[str, Any]
    split: Literal["train", "holdout"]
    meta: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _agent_or_flow(self) -> TaskLine:
        if (self.agent is None) == (self.flow is None):
            raise ValueError("a task names exactly one of agent or flow"
                             + (", not both" if self.agent is not None else ""))
        return self


class SuiteTask(TaskLine):
    """A validated task and the line of ``tasks.jsonl`` it came from (1-based)."""

    line: int = Field(ge=1)


class SuiteConfig(BaseModel):
    """The optional ``suite.json``."""

    model_config = ConfigDict(extra="forbid")

    workspace: str = WORKSPACE_DIR
    description: str = ""
    #: a measurement only (a peer's benchmark such as HumanEval): harvesting and mining
    #: refuse it, and mining passes over the runs of its evals, whatever their split
    measurement_only: bool = False
    #: how a generated suite was made (name, seed, options), for the record
    generator: dict[str, Any] | None = None


class Suite(BaseModel):
    """A loaded suite: its folder, the workspace its tasks run on, and the tasks in order."""

    folder: Path
    workspace: Path
    tasks: list[SuiteTask]
    description: str = ""
    #: see :attr:`SuiteConfig.measurement_only` and :data:`MEASUREMENT_SOURCES`
    measurement_only: bool = False
    #: what makes it one, for the refusal's message (None when it is not one)
    measured_because: str | None = None
    #: the name of the generator that wrote the suite (``docops``, ``humaneval``), if any
    generator: str | None = None

    def refuse_training(self, what: str) -> None:
        """Raise :class:`SuiteError` when the suite is a measurement only.

        ``what`` names the refused use (``harvesting``, ``mining``) for the message.
        """
        if self.measurement_only:
            because = self.measured_because or 'suite.json: "measurement_only": true'
            raise SuiteError(
                f"{what} {self.folder} is refused: the suite is a measurement only "
                f"({because}); its tasks never become training data",
                hint="measure with pantheon eval; harvest and mine a train suite")

    def split(self, name: str | None = None) -> list[SuiteTask]:
        """The tasks of one split, in file order (``None`` or ``"all"``: every task)."""
        if name is None or name == "all":
            return list(self.tasks)
        if name not in SPLITS:
            raise SuiteError(f"{self.folder}: unknown split {name!r}",
                             hint="use train, holdout or all")
        return [t for t in self.tasks if t.split == name]

    def flow_file(self, task: SuiteTask) -> Path | None:
        """The flow file a flow task runs (``None`` for an agent task)."""
        return resolve_flow(task.flow, self.folder) if task.flow is not None else None


@dataclass(frozen=True)
class SuiteProblem:
    file: Path
    line: int | None
    what: str
    hint: str | None = None

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        return f"{where}: {self.what}" + (f"\n      hint: {self.hint}" if self.hint else "")


def resolve_flow(name_or_path: str, base: Path) -> Path:
    """The flow file a task names: a path relative to ``base`` if it exists, else a
    built-in flow (``docops``). :class:`SuiteError` if neither."""
    try:
        return find_flow(name_or_path, Path(base))
    except SpecError as exc:
        raise SuiteError(f"unknown flow {name_or_path!r}: no such file in {base}, and no "
                         "built-in flow has this name", hint=exc.hint) from None


def load_suite(folder: Path, registry: AgentRegistry | None = None) -> Suite:
    """Read and validate a suite folder; a :class:`SuiteError` lists every problem found."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SuiteError(f"{folder}: not a suite folder (it does not exist or is a file)",
                         hint=f"a suite is a folder with {WORKSPACE_DIR}/ and {TASKS_FILE}")
    problems: list[SuiteProblem] = []
    config = _read_config(folder, problems)
    workspace = _workspace(folder, config, problems)
    registry = registry if registry is not None else default_registry([folder])
    tasks = _read_tasks(folder, problems)
    checked = _Resolver(folder, workspace, registry, problems)
    seen: dict[str, int] = {}
    for task in tasks:
        if task.id in seen:
            problems.append(SuiteProblem(
                folder / TASKS_FILE, task.line, f"duplicate id {task.id!r}",
                f"line {seen[task.id]} has it already; ids are unique in a suite"))
        else:
            seen[task.id] = task.line
        checked.task(task)
    if problems:
        raise _suite_error(folder, problems)
    assert workspace is not None  # no problem means the workspace was found
    because = _measured_because(config, tasks)
    return Suite(folder=folder.resolve(), workspace=workspace, tasks=tasks,
                 description=config.description if config else "",
                 measurement_only=because is not None, measured_because=because,
                 generator=generator_name(config.generator if config else None))


def generator_name(generator: Any) -> str | None:
    """The ``name`` of a suite.json ``generator`` record, or None."""
    name = generator.get("name") if isinstance(generator, dict) else None
    return name if isinstance(name, str) and name else None


def _measured_because(config: SuiteConfig | None, tasks: list[SuiteTask]) -> str | None:
    """Why a suite is a measurement only: its ``suite.json`` says so, or the tasks come
    from a peer's benchmark (the generator it names, or a task's ``meta.source``)."""
    if config is not None and config.measurement_only:
        return 'suite.json: "measurement_only": true'
    generator = (config.generator or {}).get("name") if config is not None else None
    if generator in MEASUREMENT_SOURCES:
        return f'suite.json: imported from {generator} ("generator": {{"name": ' \
               f'"{generator}"}})'
    for task in tasks:
        source = task.meta.get("source")
        if source in MEASUREMENT_SOURCES:
            return f'{TASKS_FILE} line {task.line}: task {task.id} comes from {source} ' \
                   f'("meta": {{"source": "{source}"}})'
    return None


def _suite_error(folder: Path, problems: list[SuiteProblem]) -> SuiteError:
    problems = sorted(problems, key=lambda p: (p.file.name == TASKS_FILE, p.line or 0))
    if len(problems) == 1:
        only = problems[0]
        where = f"{only.file}:{only.line}" if only.line else str(only.file)
        return SuiteError(f"{where}: {only.what}", hint=only.hint or FORMAT_HINT)
    shown = [f"  {p.render()}" for p in problems[:MAX_SHOWN]]
    if len(problems) > MAX_SHOWN:
        shown.append(f"  … and {len(problems) - MAX_SHOWN} more")
    return SuiteError(f"suite {folder} has {len(problems)} problems:\n" + "\n".join(shown),
                      hint=FORMAT_HINT)


def _read_config(folder: Path, problems: list[SuiteProblem]) -> SuiteConfig | None:
    path = folder / CONFIG_FILE
    if not path.exists():
        return SuiteConfig()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return SuiteConfig.model_validate(data)
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(SuiteProblem(path, None, f"cannot read it: {exc}"))
    except json.JSONDecodeError as exc:
        problems.append(SuiteProblem(path, exc.lineno, f"not valid JSON: {exc.msg}",
                                     '{"workspace": "path/to/repo"}'))
    except ValidationError as exc:
        for error in exc.errors()[:3]:
            loc = ".".join(map(str, error["loc"])) or "(root)"
            problems.append(SuiteProblem(path, None, f"{loc}: {error['msg']}",
                                         'suite.json holds {"workspace": ..., '
                                         '"description": ...}'))
    return None


def _workspace(folder: Path, config: SuiteConfig | None,
               problems: list[SuiteProblem]) -> Path | None:
    named = config.workspace if config is not None else WORKSPACE_DIR
    path = Path(named).expanduser()
    if not path.is_absolute():
        path = folder / path
    source = folder / CONFIG_FILE if (folder / CONFIG_FILE).exists() else folder
    if not path.exists():
        problems.append(SuiteProblem(
            source, None, f"no workspace: {path} does not exist",
            f"create {folder / WORKSPACE_DIR}/ (a git repository), or point suite.json's "
            '"workspace" at an existing repository'))
        return None
    if not path.is_dir():
        problems.append(SuiteProblem(source, None, f"the workspace {path} is not a folder",
                                     "the workspace is the repository the tasks work on"))
        return None
    return path.resolve()


def _read_tasks(folder: Path, problems: list[SuiteProblem]) -> list[SuiteTask]:
    path = folder / TASKS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(SuiteProblem(path, None, f"no {TASKS_FILE}",
                                     "write one task per line: "
                                     '{"id": ..., "agent": ..., "input": {...}, '
                                     '"split": "train"}'))
        return []
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(SuiteProblem(path, None, f"cannot read it: {exc}"))
        return []
    tasks: list[SuiteTask] = []
    lines = text.splitlines()
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        task = _parse_line(path, number, raw, problems)
        if task is not None:
            tasks.append(task)
    if not any(raw.strip() for raw in lines):
        problems.append(SuiteProblem(path, None, f"{TASKS_FILE} is empty",
                                     "a suite needs at least one task"))
    return tasks


def _parse_line(path: Path, number: int, raw: str,
                problems: list[SuiteProblem]) -> SuiteTask | None:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        problems.append(SuiteProblem(path, number,
                                     f"not valid JSON: {exc.msg} (column {exc.colno})",
                                     "each line is one complete JSON object"))
        return None
    if not isinstance(data, dict):
        problems.append(SuiteProblem(path, number,
                                     f"a task is a JSON object, not {type(data).__name__}",
                                     "each line is one JSON object"))
        return None
    try:
        line = TaskLine.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors()[:4]:
            field = str(error["loc"][0]) if error["loc"] else ""
            msg = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                what = f"unknown field {field!r}"
                hint = f"the fields are: {', '.join(TaskLine.model_fields)}"
            elif field == "split" and error["type"] != "missing":
                what = f"bad split {data.get('split')!r}"
                hint = _FIELD_HINTS["split"]
            else:
                what = f"{'.'.join(map(str, error['loc']))}: {msg}" if field else msg
                hint = _FIELD_HINTS.get(field, FORMAT_HINT)
            problems.append(SuiteProblem(path, number, what, hint))
        return None
    return SuiteTask(**line.model_dump(), line=number)


class _Resolver:
    """Checks tasks against the registry, flows and workspace (flows loaded once each)."""

    def __init__(self, folder: Path, workspace: Path | None, registry: AgentRegistry,
                 problems: list[SuiteProblem]) -> None:
        self.folder = folder
        self.file = folder / TASKS_FILE
        self.workspace = workspace
        self.registry = registry
        self.problems = problems
        self._flows: dict[str, Flow | SuiteError | FlowError] = {}

    def _problem(self, task: SuiteTask, what: str, hint: str | None = None) -> None:
        self.problems.append(SuiteProblem(self.file, task.line, what, hint))

    def task(self, task: SuiteTask) -> None:
        if task.agent is not None:
            if task.agent not in self.registry:
                self._problem(task, f"unknown agent {task.agent!r}",
                              self.registry.hint(task.agent))
                return
            self._input(task, self.registry.get(task.agent), None)
            return
        assert task.flow is not None
        flow = self._flow(task.flow)
        if isinstance(flow, SuiteError | FlowError):
            self._problem(task, flow.message.splitlines()[0], flow.hint)
            return
        for node in flow.nodes:
            if any(i in flow.entry_names for i in node.inputs):
                self._input(task, self.registry.get(node.agent), node.id)

    def _flow(self, name: str) -> Flow | SuiteError | FlowError:
        if name not in self._flows:
            try:
                path = resolve_flow(name, self.folder)
                self._flows[name] = load_flow(path, known_agents=lambda a: a in self.registry,
                                              agent_hint=self.registry.hint)
            except (SuiteError, FlowError) as exc:
                self._flows[name] = exc
        return self._flows[name]

    def _input(self, task: SuiteTask, agent: AgentSpec, node: str | None) -> None:
        fits = f"{agent.ref}" + (f" (node {node!r})" if node else "")
        try:
            agent.input_model.model_validate(task.input)
        except ValidationError as exc:
            errors = exc.errors()
            parts = [f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}"
                     for e in errors[:3]]
            more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
            self._problem(task, f"input does not fit {fits}: " + "; ".join(parts) + more,
                          f"see the input model: pantheon agents show {agent.name}")
            return
        path = task.input.get("path")
        if (self.workspace is not None and isinstance(path, str)
                and "path" in agent.input_model.model_fields):
            try:
                target = resolve_in_workspace(self.workspace, path)
            except WorkspaceError as exc:
                self._problem(task, f"input.path {path!r}: {exc.message}",
                              "paths are relative to the workspace")
                return
            if not target.is_file():
                self._problem(task, f"input.path {path!r} is not a file in the workspace "
                              f"{self.workspace}", "add the file to the workspace, or fix the "
                              "path (relative to the workspace)")
