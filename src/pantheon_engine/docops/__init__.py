"""Docops: house rules for Markdown front matter, their independent check, a scripted
solver, and a generator of task suites."""
