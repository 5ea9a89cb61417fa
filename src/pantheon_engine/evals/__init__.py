"""Measuring agents: task suites, evals over a suite split, and the statistics they report."""
