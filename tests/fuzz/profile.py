"""The fuzz suite's two profiles.

The short one runs with the normal suite (``make test``): a few examples per command,
derandomized under CI like every property test here. The long one is ``make fuzz``
(``NETDIAG_FUZZ=long``, or ``HYPOTHESIS_PROFILE=fuzz-long``): ``LONG_FACTOR`` times the examples,
a fresh random seed each run. ``NETDIAG_FUZZ_EXAMPLES=N`` sets the examples per test of either.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

LONG = os.environ.get("NETDIAG_FUZZ") == "long" or (
    os.environ.get("HYPOTHESIS_PROFILE") == "fuzz-long"
)
_EXAMPLES = int(os.environ.get("NETDIAG_FUZZ_EXAMPLES") or 0)
LONG_FACTOR = 200


def fuzz_settings(short: int, long: int | None = None) -> settings:
    """``short`` examples in the normal suite; in the long run ``long``, by default
    ``LONG_FACTOR`` times ``short``."""
    return settings(
        max_examples=_EXAMPLES or ((long or short * LONG_FACTOR) if LONG else short),
        deadline=None,
        derandomize=False if LONG else settings().derandomize,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
        print_blob=True,
        # no "explain" phase: it re-runs a failure hundreds of times to find the lines it ran
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    )
