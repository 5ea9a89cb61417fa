"""Shared fixtures: temporary git workspaces and the replay engine helpers."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pantheon_engine.flows_builtin import BUILTIN_DIR

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FLOWS = BUILTIN_DIR  # the built-in flows (docops, spec2code) ship inside the package


def git_repo(folder: Path) -> Path:
    """Turn ``folder`` into a git repository with one commit of its content."""
    ident = ["-c", "user.name=test", "-c", "user.email=test@localhost",
             "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=folder, check=True)
    subprocess.run(["git", "add", "-A"], cwd=folder, check=True)
    subprocess.run(["git", *ident, "commit", "-q", "--allow-empty", "-m", "init"],
                   cwd=folder, check=True)
    return folder


@pytest.fixture
def docops_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "docs-repo"
    shutil.copytree(EXAMPLES / "docops" / "workspace", repo)
    return git_repo(repo)


@pytest.fixture
def spec_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "code-repo"
    shutil.copytree(EXAMPLES / "spec2code" / "workspace", repo)
    return git_repo(repo)


@pytest.fixture(autouse=True)
def _small_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that needs a real model runs the small one unless it names another: the
    default (1.5B) loads in 11 s and writes 16 tokens/s on two cores."""
    from pantheon_engine.config import MODEL_ENV, SMALL_MODEL

    monkeypatch.setenv(MODEL_ENV, SMALL_MODEL)


@pytest.fixture(autouse=True)
def _no_cloud_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Night-mode tests must not trip over credentials of the machine running them."""
    from pantheon_engine.policy import CLOUD_CREDENTIALS

    for name in CLOUD_CREDENTIALS:
        monkeypatch.delenv(name, raising=False)


#: a review.reference reviewer's reference for the example spec's shout()
SHOUT_REFERENCE = ('def expected(text):\n    return text.upper() + "!"\n\n'
                   'INPUTS = ["hello", "Ready, set", "", " a b "]\n')


def reference_review(function: str = "shout", reference: str = SHOUT_REFERENCE) -> list[str]:
    """The replies of a review.reference node: one comparison, then final."""
    import json

    return [json.dumps({"type": "tool", "name": "compare_reference",
                        "args": {"function": function, "reference": reference}}),
            json.dumps({"type": "final", "output": {"summary": f"compared {function}"}})]


# --- PostgreSQL: one throwaway server for the session, a new database per test ------------


def _postgres_unavailable(why: str) -> None:
    """Skip a PostgreSQL test, except under CI=true, where the missing server fails it."""
    import os

    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"the PostgreSQL tests need a server (CI=true, so this is a failure, not "
                    f"a skip): {why}", pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="session")
def pg_server():
    """A throwaway PostgreSQL cluster from the installed binaries, on a free loopback port
    (as root it runs as the ``postgres`` user); skipped when it cannot start."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _postgres_unavailable("psycopg is not installed (pip install 'pantheon[postgres]')")
    from pantheon_engine.night.pg_server import PgServerError, start_server

    try:
        server = start_server()
    except PgServerError as exc:
        _postgres_unavailable(f"cannot start a PostgreSQL server: {exc}")
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server) -> str:
    """The URL of a new, empty database on the session's server."""
    import uuid

    return pg_server.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=["sqlite", "postgresql"])
def queue_location(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where a queue test's queue lives: once an SQLite file, once a PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "artifacts" / "queue.sqlite"
    return request.getfixturevalue("pg_url")
