"""Pantheon's one exception tree.

``PantheonError`` is the root. Two branches sit under it:

* ``UserError``: something the user handed us is wrong (a flow file, a spec, an argument,
  a path that leaves the workspace, a credential present at night). The CLI prints the
  message and exits with ``exit_code`` (2 unless a subclass says otherwise). Nothing ran.
* ``RunFailure``: the run itself could not finish (a model engine went away, a tool timed
  out, a node spent its budget). The orchestrator records it as an error artifact.
"""

from __future__ import annotations


class PantheonError(Exception):
    """Root of every error Pantheon raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


# --- user errors -------------------------------------------------------------------------


class UserError(PantheonError):
    """The input is wrong; fix it and run again."""

    exit_code = 2


class ConfigError(UserError):
    """A command-line option or config file value is invalid."""


class FlowError(UserError):
    """A flow file is malformed: names the file and, where known, the node."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        node: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = ""
        if file:
            where += f"{file}"
        if node:
            where += f" (node '{node}')" if where else f"node '{node}'"
        super().__init__(f"{where}: {message}" if where else message, hint=hint)
        self.file = file
        self.node = node


class SpecError(UserError):
    """A task input or agent spec does not validate."""


class SuiteError(SpecError):
    """A task suite is malformed: names the file, the line, what is wrong and a hint."""


class WorkspaceError(UserError):
    """A path refers to something outside the workspace (or is otherwise unsafe)."""


class ToolArgsError(UserError):
    """Arguments given to a tool do not validate against its schema."""


class UnknownToolError(UserError):
    """No tool with that name exists."""


class PolicyError(UserError):
    """The night policy refuses to start or to perform an action."""

    exit_code = 3


class EgressBlocked(PolicyError):
    """An outbound connection was attempted while the night policy is active."""


# --- run failures ------------------------------------------------------------------------


class RunFailure(PantheonError):
    """The run could not finish; the orchestrator turns this into an error artifact."""

    kind: str = "run_failure"


class EngineError(RunFailure):
    """The model engine could not produce a completion."""

    kind = "engine_error"


class EngineUnavailable(EngineError):
    """The engine (or its server) is not reachable or could not load."""

    kind = "engine_unavailable"


class EngineTimeout(EngineError):
    """The engine did not answer in time."""

    kind = "engine_timeout"


class ReplayExhausted(EngineError):
    """A replay engine ran out of recorded replies."""

    kind = "replay_exhausted"


class ToolFailure(RunFailure):
    """A tool ran but could not complete its job."""

    kind = "tool_error"


class ToolTimeout(ToolFailure):
    """A tool ran past its timeout and was killed."""

    kind = "timeout"


class NodeFailed(RunFailure):
    """A flow node ended in FAIL; ``kind`` says why (budget, check_failed, …)."""

    def __init__(self, message: str, *, kind: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.kind = kind
