"""Reading a node's checks out of the capture supervisor's session (the one-session start)."""

from __future__ import annotations

import pytest

from netdiag.capture.remote import _batch_results
from netdiag.errors import CommandError
from netdiag.transport.batch import batch_output

RESULTS = [
    (0, "0\n", ""),
    (127, "", "sh: 1: tcpdump: not found\n"),
    (0, '[{"ifname": "lo"},\n {"ifname": "eth0"}]', ""),  # no final newline, several lines
    (1, "\n\nblank lines\n\n", "no newline at the end"),
    (0, "", ""),
]


def lines(text: str) -> list[str]:
    return text.split("\n")[:-1]


def test_checks_come_back_exactly_as_the_batch_printed_them() -> None:
    out, err = batch_output("f00d", RESULTS)
    noise = ["Welcome to node1 (printed by a login shell)"]
    assert _batch_results("f00d", len(RESULTS), noise + lines(out), lines(err)) == RESULTS


def test_an_interrupted_batch_is_an_error_not_a_guess() -> None:
    out, err = batch_output("f00d", RESULTS)
    with pytest.raises(CommandError, match="check the node's shell"):
        _batch_results("f00d", len(RESULTS), lines(out)[:-3], lines(err))
    with pytest.raises(CommandError):
        _batch_results("beef", len(RESULTS), lines(out), lines(err))
