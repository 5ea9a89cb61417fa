"""The budgets one tool loop runs under, and the signal that a final answer failed its checks.

They belong to the loop, not to the agent: an agent spec carries a ``Limits`` and a finish
hook may raise ``CheckFailed``, but only the loop acts on them.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Limits(BaseModel):
    max_steps: int = Field(default=8, ge=1)
    max_failures: int = Field(default=4, ge=0)
    tool_timeout_s: float = Field(default=60.0, gt=0)
    max_tokens: int = Field(default=256, ge=1)
    temperature: float = Field(default=0.0, ge=0)
    retry_temperature: float | None = Field(
        default=None, ge=0,
        description="temperature of a step after a failed one (None: temperature); at "
        "T = 0 a model shown its error often writes the same reply again")
    node_timeout_s: float = Field(default=900.0, gt=0)
    history: int = Field(default=3, ge=0, description="past exchanges kept in the prompt")
    grammar_max_string: int | None = Field(
        default=128, ge=1,
        description="longest string the constrained grammar admits (None: unbounded; "
        "bounds above 128 make XGrammar compile slowly)")


class CheckFailed(Exception):
    """Raised by a ``finish`` hook when the final answer does not pass the agent's checks.

    Inside the loop the message goes back to the model (kind ``check``) while budget remains.
    """
