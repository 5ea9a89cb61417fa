"""spec2code canaries: known-answer code changes, reviewed exactly as real changes are.

A code canary is one of the :data:`~pantheon_engine.night.reviewing.code_cases.CASES` on
the demo's package and specs. When it is reviewed, its change is made for real in a fresh
git repository in the canary's folder, and the same tools a real run uses produce what the
reviewers see: ``compute_diff`` gives the diff (with git's index line and hunk headers) and
``run_tests`` runs the spec's tests in the night's sandbox. Every case passes its tests, as
every real change that reaches review does, so a canary differs from real work only in
whether it is right; a case whose tests do not pass here is not used (an error, not a
verdict). The same holds for a case that writes a file outside the spec's ``files``, which
the check refuses.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from pantheon_engine.agents.builtins import outside_scope
from pantheon_engine.agents.io import CodePatch, TestReport
from pantheon_engine.errors import RunFailure
from pantheon_engine.gitops import git
from pantheon_engine.night.demo_code import PACKAGE, SPECS
from pantheon_engine.night.reviewing.code_cases import CASES, CodeCase
from pantheon_engine.tools.base import ToolContext
from pantheon_engine.tools.dev import compute_diff, run_tests

__all__ = ["CodeCanary", "CodeCanaryInvalid", "code_canaries"]


class CodeCanaryInvalid(RunFailure):
    """A code canary that cannot be reviewed here (its tests do not pass, git failed)."""

    kind = "canary_invalid"


class CodeCanary(BaseModel):
    """One code case as a review item: the spec, the change, the right verdict."""

    id: str
    spec: dict[str, Any]
    base: dict[str, str]
    change: dict[str, str | None]
    summary: str
    expected: Literal["pass", "fail"]
    defect: str | None = None
    source: str = "demo specs"
    kind: Literal["code"] = "code"

    @property
    def run_input(self) -> dict[str, Any]:
        """The spec, as the reviewer's prompt reads it from a real spec2code run."""
        return dict(self.spec)

    def answer(self) -> dict[str, Any]:
        return {"id": self.id, "spec": self.spec.get("title"), "expected": self.expected,
                "defect": self.defect, "source": self.source}

    async def review_inputs(self, folder: Path, tool_ctx: ToolContext
                            ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Make the change in ``folder`` (a new git repository) and return what the codegen
        node and the test node of a real run would hand the reviewers: (patch, report)."""
        await asyncio.to_thread(self._materialize, folder)
        diff = await compute_diff.invoke(tool_ctx, {})
        stray = outside_scope(diff.paths, [str(f) for f in self.spec.get("files") or []])
        if stray:
            raise CodeCanaryInvalid(f"canary {self.id}: writes {', '.join(stray)}, outside "
                                    "the spec's files (the check refuses it)")
        tests = await run_tests.invoke(tool_ctx, {"target": self.spec.get("tests", "tests")})
        if not tests.passed:
            raise CodeCanaryInvalid(f"canary {self.id}: the spec's tests do not pass here "
                                    f"({tests.summary})")
        patch = CodePatch(diff=diff.diff, files_changed=diff.files,
                          lines_added=diff.lines_added, lines_removed=diff.lines_removed,
                          summary=self.summary)
        report = TestReport(passed=tests.passed, test_summary=tests.summary,
                            counts=dict(tests.counts))
        return patch.model_dump(mode="json"), report.model_dump(mode="json")

    def _materialize(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for rel, text in self.base.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(text, encoding="utf-8")
        git(folder, "init", "-q", "-b", "main")
        git(folder, "add", "-A")
        git(folder, "commit", "-q", "-m", "workspace")
        for rel, new in self.change.items():
            target = folder / rel
            if new is None:
                target.unlink(missing_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(new, encoding="utf-8")


def _canary(case: CodeCase) -> CodeCanary:
    return CodeCanary(id=f"code-{case.id}", spec=dict(SPECS[case.spec]), base=dict(PACKAGE),
                      change=dict(case.change), summary=case.summary, expected=case.expected,
                      defect=f"{case.defect}: {case.why}" if case.defect else None)


def code_canaries(seed: int = 0) -> list[CodeCanary]:
    """Every code case as a canary, shuffled by ``seed`` (half of them bad)."""
    pool = [_canary(case) for case in CASES]
    random.Random(seed).shuffle(pool)
    return pool
