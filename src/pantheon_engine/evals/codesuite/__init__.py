"""The generated code suite: small-function tasks with hidden tests, to learn codegen on.

Families of tasks (:mod:`.train_families`, :mod:`.holdout_families`) each draw a function
to write, with its reference implementation and the inputs to test it on;
:mod:`.verify` runs the reference to compute the expected values and checks the rendered
tests against it; :mod:`.make` writes the suite. See ``docs/suites.md``.
"""
