"""Reading a node's checks back from a batch's output (one session for all checks)."""

from __future__ import annotations

from netdiag.transport.batch import batch_output, parse_batch_output

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
    assert parse_batch_output("f00d", noise + lines(out), noise + lines(err)) == RESULTS


def test_an_interrupted_batch_gives_only_the_finished_commands() -> None:
    out, err = batch_output("f00d", RESULTS)
    assert parse_batch_output("f00d", lines(out)[:-3], lines(err)) == RESULTS[:4]
    assert parse_batch_output("beef", lines(out), lines(err)) == []
