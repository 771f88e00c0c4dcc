"""Pure parts of the capture lifecycle: argv, tcpdump's output, failure words."""

from __future__ import annotations

import asyncio

import pytest

from netdiag.capture.protocol import FILE_PLACEHOLDER, SUPERVISOR, capture_exit, supervisor_argv
from netdiag.capture.tcpdump import (
    CaptureStats,
    classify_failure,
    parse_live_count,
    parse_stats,
    tcpdump_argv,
)


def argv(**kw: object) -> list[str]:
    base: dict[str, object] = {
        "tcpdump": "tcpdump", "iface": "eth1", "duration": 30.0, "snaplen": 512,
        "max_packets": 10000, "max_file_mb": 20, "bpf": "icmp or arp",
    }  # fmt: skip
    base.update(kw)
    return tcpdump_argv(**base)  # type: ignore[arg-type]


def test_capture_argv_is_bounded_and_the_filter_comes_last_as_words() -> None:
    a = argv()
    assert a[:6] == ["timeout", "-s", "INT", "-k", "10", "30"]
    assert a[a.index("-i") + 1] == "eth1"
    for flag, value in (("-s", "512"), ("-c", "10000"), ("-C", "20"), ("-W", "1"), ("-Z", "root")):
        assert a[a.index(flag, 7) + 1] == value
    assert "-U" in a
    assert "--immediate-mode" in a
    assert a[a.index("-w") + 1] == FILE_PLACEHOLDER
    assert a[a.index("--") :] == ["--", "icmp", "or", "arp"]


def test_hostile_names_stay_single_arguments() -> None:
    a = argv(iface="eth0;rm -rf /", bpf="")
    assert "eth0;rm -rf /" in a
    assert a[-1] == "--"
    sup = supervisor_argv(
        capture_dir="/tmp/a b", run_id="R", file_name="x.pcap", heartbeat_s=15, capture=a
    )
    assert sup[:4] == ["sh", "-c", SUPERVISOR, "netdiag-capture"]
    assert sup[4:8] == ["/tmp/a b", "R", "x.pcap", "15"]
    assert "eth0;rm" not in SUPERVISOR
    assert "/tmp/a b" not in SUPERVISOR


def test_final_counts_are_the_last_complete_set() -> None:
    lines = [
        "tcpdump: listening on eth1, link-type EN10MB (Ethernet), snapshot length 512 bytes",
        "tcpdump: 6 packets captured, 12 packets received by filter, 0 packets dropped by kernel",
        "8 packets captured",
        "9 packets received by filter",
        "1 packet dropped by kernel",
        "netdiag: capture exit 0",
    ]
    assert parse_stats(lines) == CaptureStats(8, 9, 1)
    assert parse_stats(lines[:2]) == CaptureStats(6, 12, 0)  # SIGUSR1's one-line form
    assert parse_stats(lines[:1]) is None  # SIGKILL: no counts at all
    assert parse_live_count(lines[1]) == 6
    assert capture_exit(lines) == 0
    assert capture_exit(lines[:5]) is None


@pytest.mark.parametrize(
    ("stderr", "status", "expected", "advice"),
    [
        ("tcpdump: eth9: No such device exists\n(SIOCGIFHWADDR: No such device)", 1,
         "no-interface", "check the interface name"),
        ("tcpdump: eth1: You don't have permission to capture on that device", 1,
         "no-permission", "sudo: true"),
        ("tcpdump: /tmp/x/a.pcap: No space left on device", 1, "disk-full", "free space"),
        ("sh: 1: tcpdump: not found", 127, "no-tcpdump", "install tcpdump"),
        ("tcpdump: can't parse filter expression: syntax error", 1, "bad-filter", "BPF"),
        ("mktemp: failed to create directory via template", 70, "failed", "capture_dir"),
        ("something odd", 3, "failed", "something odd"),
    ],
)  # fmt: skip
def test_failures_are_named_with_what_to_do(
    stderr: str, status: int, expected: str, advice: str
) -> None:
    got, message = classify_failure(stderr + "\nnetdiag: capture exit 1\n", status)
    assert got == expected
    assert advice in message


async def test_cancel_and_wait_cancels_again_a_task_that_swallowed_the_cancel() -> None:
    from netdiag.transport.aio import cancel_and_wait

    swallowed = asyncio.Event()

    async def stubborn() -> None:  # as a loop whose asyncio.wait_for ate the cancel (3.11)
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            swallowed.set()
        await asyncio.sleep(60)

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    assert swallowed.is_set()
    assert task.cancelled()
