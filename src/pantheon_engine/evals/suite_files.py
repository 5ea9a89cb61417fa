"""Writing a suite folder: an ``--out`` made ready, a workspace committed reproducibly, and
the pytest harness files of the code suites (HumanEval, the generated code suite).

The workspace of a written suite is one commit with a fixed author, committer and date, so
the same content gives the same commit id: a suite written twice from the same data or
seed is the same suite, to the commit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from pantheon_engine.errors import ConfigError
from pantheon_engine.gitops import GIT_IDENTITY

__all__ = ["COMMIT_DATE", "PYTEST_INI", "commit_workspace", "prepare_out", "time_limit_conftest"]

COMMIT_DATE = "2024-01-01T00:00:00+0000"

PYTEST_INI = """\
[pytest]
# the workspace root is the rootdir: its conftest.py applies to every check
addopts = -p no:cacheprovider
"""


def time_limit_conftest(what: str, limit_s: int) -> str:
    """A ``conftest.py`` that stops every test of the workspace after ``limit_s`` seconds.

    ``what`` names the tests in its docstring (``Every HumanEval test``). SIGALRM raises in
    the test; should the code swallow that, faulthandler ends the process ``limit_s``
    seconds later (and the test tool's own timeout is the last resort).
    """
    return f'''\
"""{what} stops after {limit_s} s: a completion that never returns fails.

SIGALRM raises in the test; should the code swallow that, faulthandler ends the process
{limit_s} s later (and the test tool's own timeout is the last resort).
"""

import faulthandler
import signal

import pytest

LIMIT_S = {limit_s}


def _expired(signum, frame):
    raise TimeoutError(f"the test ran past {{LIMIT_S}} s")


@pytest.fixture(autouse=True)
def _time_limit():
    previous = signal.signal(signal.SIGALRM, _expired)
    signal.alarm(LIMIT_S)
    faulthandler.dump_traceback_later(2 * LIMIT_S, exit=True)
    try:
        yield
    finally:
        signal.alarm(0)
        faulthandler.cancel_dump_traceback_later()
        signal.signal(signal.SIGALRM, previous)
'''


def codegen_flow_yaml(name: str, description: str) -> str:
    """The flow of a code suite: one task through the codegen agent, graded by test.pytest
    on the task's check folder. ``description``: its folded lines, as they are written."""
    lines = "".join(f"  {line}\n" for line in description.splitlines())
    return (f"name: {name}\ndescription: >-\n{lines}input: input\nnodes:\n"
            "  - id: codegen\n    agent: codegen\n    inputs: [input]\n"
            "  - id: check\n    agent: test.pytest\n    inputs: [codegen]\noutput: check\n")


def prepare_out(out: Path, force: bool, own: Sequence[str]) -> None:
    """Make ``out`` ready for a suite: refuse a file, and a non-empty folder unless ``force``
    (which removes only the suite's ``own`` entries there, leaving anything else alone)."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder", hint="choose another --out")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise ConfigError(f"--out {out} exists and is not empty",
                              hint="choose another --out, or --force to replace the suite "
                              "there")
        for name in own:
            path = out / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot create it: {exc.strerror or exc}") from None


def _git(workspace: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_AUTHOR_DATE=COMMIT_DATE, GIT_COMMITTER_DATE=COMMIT_DATE)
    proc = subprocess.run(["git", *GIT_IDENTITY, *args], cwd=workspace, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise ConfigError(f"git {' '.join(args)} failed in {workspace}: {proc.stderr.strip()}")


def commit_workspace(workspace: Path, message: str) -> None:
    """Make ``workspace`` a new git repository (``main``) holding its files in one commit."""
    _git(workspace, "init", "-q", "-b", "main")
    _git(workspace, "add", "-A")
    _git(workspace, "commit", "-q", "-m", message)
