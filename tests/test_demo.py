"""pantheon demo: a repository with work for a night, every job valid for its flow."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pantheon_engine.agents.registry import default_registry
from pantheon_engine.demo import create_demo
from pantheon_engine.errors import ConfigError
from pantheon_engine.jobqueue import JobQueue
from pantheon_engine.orchestrator import Orchestrator
from pantheon_engine.policy import Policy
from pantheon_engine.runner import load_flow_checked
from pantheon_engine.tools.frontmatter import split_front_matter

from conftest import FLOWS


def test_demo_creates_a_repo_and_queues_valid_jobs(tmp_path: Path) -> None:
    made = create_demo(tmp_path / "demo", tmp_path / "art", FLOWS)
    repo = Path(made["workspace"])
    log = subprocess.run(["git", "log", "--oneline"], cwd=repo, capture_output=True,
                         text=True, check=True).stdout
    assert len(log.splitlines()) == 1
    registry = default_registry()
    checker = Orchestrator(registry=registry, engine=None, policy=Policy(mode="day"),
                           artifacts_root=tmp_path / "art")
    with JobQueue.for_artifacts(tmp_path / "art") as queue:
        jobs = queue.list()
    assert len(jobs) == made["queued"] == made["docops"] + made["spec2code"]
    for job in jobs:
        flow = load_flow_checked(Path(job.flow), registry)
        checker.validate_input(flow, job.input)
        if job.flow_name == "docops":  # every rule has something to do in its file
            meta, _ = split_front_matter((repo / job.input["path"]).read_text())
            assert meta is not None and "status" not in meta
            for key in [*job.input.get("rename", {}), *job.input.get("delete", [])]:
                assert key in meta
    with pytest.raises(ConfigError, match="--force"):
        create_demo(tmp_path / "demo", tmp_path / "art", FLOWS)
    again = create_demo(tmp_path / "demo", tmp_path / "art", FLOWS, force=True)
    assert again["depth"] == 2 * made["queued"]
