"""Suite-wide settings.

Hypothesis explores new random inputs on developers' machines (a found failure is saved in
.hypothesis/ and replayed) but runs derandomized under CI, so a green commit stays green.
"""

import os

import pytest
from hypothesis import settings

# Shared checks written as plain asserts: rewritten so a failure shows the values compared.
pytest.register_assert_rewrite("tests.support.lab_facts")

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
