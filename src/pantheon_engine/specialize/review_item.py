"""A labelled review item: one change to one suite task, and its right verdict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pantheon_engine.night.reviewing.canary import Canary
from pantheon_engine.night.reviewing.code_canary import CodeCanary

__all__ = ["ReviewItem", "Verdict", "WorkKind"]

Verdict = Literal["pass", "fail"]
WorkKind = Literal["docs", "code"]


@dataclass(frozen=True)
class ReviewItem:
    """One change to one suite task, as a reviewer sees it, and its right verdict."""

    id: str
    task_id: str
    split: str
    kind: WorkKind
    canary: Canary | CodeCanary
    #: a short reason a right reviewer gives (what the check found wrong, for a bad item)
    rationale: str

    @property
    def expected(self) -> Verdict:
        return self.canary.expected

    @property
    def defect(self) -> str | None:
        return self.canary.defect

    def answer(self) -> dict[str, Any]:
        """The item's identity and label, without the texts (for logs and reports)."""
        return {"id": self.id, "task_id": self.task_id, "split": self.split,
                "kind": self.kind, "expected": self.expected, "defect": self.defect}
