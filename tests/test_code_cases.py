"""The spec2code canary cases carry the verdict an independent check gives them.

Every case passes its spec's own tests (as every real change that reaches review does);
the spec's hidden assertions and the scope check then tell the good from the bad.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pantheon_engine.night.demo_code import PACKAGE, SPECS
from pantheon_engine.night.reviewing.code_cases import (
    CASES,
    HIDDEN_TESTS,
    CodeCase,
    scope_problems,
)


def _workspace(tmp_path: Path, case: CodeCase) -> Path:
    for rel, text in PACKAGE.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    for rel, text in case.change.items():
        if text is None:
            (tmp_path / rel).unlink()
        else:
            (tmp_path / rel).write_text(text)
    return tmp_path


def _pytest(folder: Path, target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           target], cwd=folder, capture_output=True, text=True, timeout=120)


def _hidden_passes(folder: Path, case: CodeCase) -> bool:
    (folder / "hidden_test.py").write_text(HIDDEN_TESTS[case.spec])
    return _pytest(folder, "hidden_test.py").returncode == 0


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case_passes_its_spec_tests_and_carries_the_right_verdict(
        tmp_path: Path, case: CodeCase) -> None:
    folder = _workspace(tmp_path, case)
    visible = _pytest(folder, SPECS[case.spec]["tests"])
    assert visible.returncode == 0, visible.stdout[-800:]
    hidden = _hidden_passes(folder, case)
    scope = scope_problems(case)
    if case.expected == "pass":
        assert hidden and not scope, (hidden, scope)
    elif case.defect == "out_of_scope":
        assert scope
    else:
        assert not hidden


def test_cases_cover_every_spec_with_good_and_bad_changes() -> None:
    for index in range(len(SPECS)):
        verdicts = {c.expected for c in CASES if c.spec == index}
        assert verdicts == {"pass", "fail"}, SPECS[index]["title"]
    bad = [c for c in CASES if c.expected == "fail"]
    assert {c.defect for c in bad} == {"untested_break", "hard_coded", "out_of_scope"}
    assert len(bad) * 2 == len(CASES)
    assert len({c.id for c in CASES}) == len(CASES)
