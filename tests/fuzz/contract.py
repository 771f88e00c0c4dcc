"""How a netdiag command may end, whatever it was given.

Either it succeeds (exit 0), saying on stderr nothing but ``netdiag: warning:`` lines; or it
fails with exactly one ``netdiag: error:`` line (after any warnings) and a non-zero exit. Never
a traceback, a signal, a time-out, an "out of memory" within the fuzz suite's small inputs, or
an "internal error" (netdiag's own one-line report of a bug).

One exception, kept visible: a bug that is known and being fixed elsewhere (in another branch)
may be listed here by the one line it produces, with a reproducer in ``test_known_bugs.py``
marked as an expected failure (strict): when the fix lands the reproducer passes, the strict
mark turns that into a failure, and both the mark and the signature here are removed.
"""

from __future__ import annotations

import re

from hypothesis import currently_in_test_context, target
from hypothesis import event as hypothesis_event

from tests.fuzz.forkserver import Outcome

#: name -> pattern of the one-line internal error a known bug produces. Empty while none is
#: known; an entry goes with a strict-xfail reproducer in ``test_known_bugs.py``.
KNOWN_BUGS: dict[str, re.Pattern[str]] = {}


def event(label: str) -> None:
    """Count ``label`` in hypothesis' statistics (when run by hypothesis)."""
    if currently_in_test_context():
        hypothesis_event(label)


def known_bug(line: str) -> str | None:
    for name, pattern in KNOWN_BUGS.items():
        if pattern.search(line):
            return name
    return None


def check(outcome: Outcome) -> None:
    """Assert that ``outcome`` keeps the contract (see the module docstring)."""
    why = outcome.describe()
    if currently_in_test_context():  # steer the search towards inputs that take more memory
        target(float(outcome.maxrss_kib), label="max RSS of a command (KiB)")
    assert not outcome.timed_out, why
    assert outcome.signal is None, why
    assert "Traceback" not in outcome.stderr, why
    lines = outcome.stderr.splitlines()
    if outcome.exit_code == 0:
        assert all(line.startswith("netdiag: warning: ") for line in lines), why
        event("exit 0 with warnings" if lines else "exit 0")
        return
    *warnings, line = lines or [""]
    assert all(w.startswith("netdiag: warning: ") for w in warnings), why
    assert line.startswith("netdiag: error: "), why
    if "internal error" in line:
        bug = known_bug(line)
        assert bug is not None, why
        event(f"known bug: {bug}")
        return
    assert "out of memory" not in line, why
    assert outcome.exit_code in (1, 2), why
    event(f"exit {outcome.exit_code}: {_kind(line)}")


def _kind(line: str) -> str:
    """A short label of an error line for hypothesis' statistics (paths and numbers removed)."""
    text = re.sub(r"/\S+|\d+", "", line[len("netdiag: error: ") :])
    return " ".join(text.split())[:60]
