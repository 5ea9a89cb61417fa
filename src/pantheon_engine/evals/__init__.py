"""Measure: task suites, evals over a split, their statistics, promotion and learning curves."""
