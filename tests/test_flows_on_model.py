"""Both shipped flows end to end on the real embedded model (SmolLM2-135M, CPU).

The tiny model rarely gets a task right; these tests assert what a user relies on
whatever the model says: the run finishes within its budgets, every node that ran left its
artifacts, failures are named in FAILED.json, the bundle is sealed and nothing is torn.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pantheon_engine.artifacts import verify_manifest
from pantheon_engine.run.runner import run_once

from conftest import EXAMPLES, FLOWS

pytestmark = pytest.mark.model


def check_bundle(run_dir: Path, model_nodes: set[str]) -> dict:
    run = json.loads((run_dir / "run.json").read_text())
    assert run["engine"] == "openvino" and run["mode"] == "night"
    assert run["status"] in {"ok", "failed"}
    for node, status in run["nodes"].items():
        folder = run_dir / node
        if status in {"ok", "failed"}:
            assert (folder / "input.json").exists() and (folder / "metrics.json").exists()
            assert (folder / ("output.json" if status == "ok" else "error.json")).exists()
        if node in model_nodes and status in {"ok", "failed"}:
            calls = [json.loads(x) for x in (folder / "model_calls.jsonl").read_text()
                     .splitlines()]
            assert calls, node
            assert all(c["completion_tokens"] > 0 for c in calls)
            assert (folder / "prompt.txt").read_text().startswith("## system")
    if run["status"] == "failed":
        failed = json.loads((run_dir / "FAILED.json").read_text())
        assert failed["node"] == run["failed_node"] and failed["error_kind"]
    for path in run_dir.rglob("*.json*"):
        for line in path.read_text().splitlines() if path.suffix == ".jsonl" else [None]:
            json.loads(line) if line is not None else json.loads(path.read_text())
    assert verify_manifest(run_dir) == []
    return run


async def test_docops_on_the_embedded_model(docops_repo: Path, tmp_path: Path) -> None:
    data = json.loads((EXAMPLES / "docops" / "input.json").read_text())
    result = await run_once(FLOWS / "docops.yaml", data, mode="night", workspace=docops_repo,
                            artifacts=tmp_path / "art", seed=7)
    run = check_bundle(Path(result.dir), {"frontmatter", "reviewA", "reviewB"})
    front = result.nodes[0]
    assert front.steps >= 1 and front.completion_tokens > 0
    # constrained decoding: the model's replies always parse as envelopes
    assert front.failures.get("parse", 0) == 0
    if run["status"] == "ok":
        assert result.branch and result.branch.startswith("pantheon/")


async def test_spec2code_on_the_embedded_model(spec_repo: Path, tmp_path: Path) -> None:
    data = json.loads((EXAMPLES / "spec2code" / "input.json").read_text())
    result = await run_once(FLOWS / "spec2code.yaml", data, mode="night", workspace=spec_repo,
                            artifacts=tmp_path / "art", seed=7)
    check_bundle(Path(result.dir), {"codegen", "reviewA", "reviewB"})
    statuses = {n.id: n.status for n in result.nodes}
    assert statuses["plan"] == "ok"
    assert statuses["codegen"] in {"ok", "failed"}
    assert result.nodes[1].failures.get("parse", 0) == 0


async def test_a_scaffolded_flow_runs_on_the_embedded_model(tmp_path: Path) -> None:
    from pantheon_engine.agents.scaffold import scaffold_flow

    project = tmp_path / "project"
    (project / "flows").mkdir(parents=True)
    scaffold_flow("notes.summary", project / "flows")
    (project / "README.md").write_text("# Notes\nA tiny project.\n")
    from conftest import git_repo

    git_repo(project)
    data = json.loads((project / "examples" / "notes.summary" / "input.json").read_text())
    result = await run_once(project / "flows" / "notes.summary.yaml", data, mode="night",
                            workspace=project, artifacts=tmp_path / "art", seed=7)
    check_bundle(Path(result.dir), {"work"})
    assert result.nodes[0].agent == "notes.summary@1"
    assert result.nodes[0].steps >= 1
