"""Run a night: the queue, draining it, specs and fan-out, reviewers, the morning report."""
