"""Run a flow: flow files and their checks, the orchestrator, the runner, serving versions."""
