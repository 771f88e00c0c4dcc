"""One remote tcpdump, from private directory to fetched file (CAPTURE_RULES 1-12).

Every capture runs under a small ``sh`` supervisor (:data:`SUPERVISOR`), started with the
transport's PID wrapper and stdin kept open:

* with a preflight script (the node's first capture, :mod:`netdiag.capture.preflight`), it
  first runs those checks, answers ``rounds`` clock samples (one ``date`` per stdin line),
  and waits for the line ``arm`` (EOF: the node is not fit, it exits having made nothing):
  preflight, clock and capture share one session, and every session costs a login shell;
* it sweeps what dead runs left (first capture of a node only), then makes a private
  ``mktemp -d`` directory named after the run marker, prints ``dir PATH``, waits for the
  line ``go`` on stdin (EOF instead: it removes the directory and exits), then runs
  ``timeout -s INT -k 10 DURATION tcpdump ... -w DIR/IFACE.pcap -- FILTER`` in the
  background: ``timeout`` is the hard remote bound (tcpdump has no time limit of its own);
* SIGINT to the supervisor is forwarded to the capture (tcpdump flushes and prints its counts),
  SIGUSR1 asks tcpdump for its counts mid-run (live progress);
* a watchdog reads the client's heartbeat bytes (``.``) on stdin. The client ends with ``x``
  (fetched: remove everything now). When the heartbeats stop for ``heartbeat_s``, or stdin
  reaches EOF without ``x`` (netdiag was killed, the link or sshd died, or a fetch failed), it
  stops the capture and the supervisor *keeps* the directory for ``grace_s`` seconds so that
  ``netdiag capture --recover`` can still fetch it, then removes it and exits;
* after tcpdump has exited it reports the free space of the directory's file system
  (``netdiag: df ...``): tcpdump itself says nothing when the disk fills (CAPTURE_RULES 14).

Nothing user-controlled is spliced into the script: paths, interface and filter are arguments.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "FILE_PLACEHOLDER",
    "HEARTBEAT",
    "MARKER_PREFIX",
    "RELEASE",
    "SUPERVISOR",
    "CaptureStats",
    "classify_failure",
    "free_bytes_of",
    "parse_live_count",
    "parse_stats",
    "supervisor_argv",
    "tcpdump_argv",
]

MARKER_PREFIX = "netdiag-cap-"  # remote dirs are <capture_dir>/netdiag-cap-<run_id>.XXXXXX
FILE_PLACEHOLDER = "@NETDIAG_FILE@"  # replaced remotely by DIR/<file> once mktemp has run
EXIT_LINE = re.compile(r"^netdiag: capture exit (\d+)$")
# tcpdump listens, or it already ended (the supervisor's exit line): either ends a start
STARTED = re.compile(r"listening on |^netdiag: capture exit \d+$")

SUPERVISOR = r"""trap '' PIPE HUP
capdir=$1 run=$2 fname=$3 hb=$4 sweep=$5 pre=$6 rounds=$7 grace=$8
shift 8
if [ -n "$pre" ]; then
  sh -c "$pre" </dev/null
  n=$rounds
  while [ "$n" -gt 0 ] && IFS= read -r _; do date +%s%N; n=$((n-1)); done
  IFS= read -r arm || exit 0
fi
if [ -n "$sweep" ]; then sh -c "$sweep" netdiag-sweep "$capdir" "" "$run" >&2; fi
d=$(mktemp -d "$capdir/netdiag-cap-$run.XXXXXX") || exit 70
echo $$ >"$d/supervisor.pid"
echo "dir $d"
IFS= read -r go || { rm -rf -- "$d"; echo "removed $d"; exit 0; }
for a; do
  shift
  if [ "$a" = @NETDIAG_FILE@ ]; then set -- "$@" "$d/$fname"; else set -- "$@" "$a"; fi
done
exec 3<&0
"$@" </dev/null 3<&- &
c=$!
trap 'kill -INT "$c" 2>/dev/null' INT TERM
trap 'pkill -USR1 -P "$c" 2>/dev/null; echo "netdiag: df $(df -P -k "$d" | tail -n 1)" >&2' USR1
{ while b=$(timeout "$hb" head -c 1 <&3) && [ "$b" = . ]; do :; done
  [ "$b" = x ] || : >"$d/.keep"
  [ -e "$d/.exited" ] || kill -INT "$c" 2>/dev/null; } &
w=$!
exec 3<&-
while :; do
  wait "$c"; r=$?
  if [ "$r" -gt 128 ] && kill -0 "$c" 2>/dev/null; then continue; fi
  break
done
: >"$d/.exited"
trap : INT TERM USR1
echo "netdiag: df $(df -P -k "$d" 2>/dev/null | tail -n 1)" >&2
echo "netdiag: capture exit $r" >&2
if [ -n "${SUDO_UID:-}" ]; then chown -R "$SUDO_UID" "$d"; fi
while :; do wait "$w"; if kill -0 "$w" 2>/dev/null; then continue; fi; break; done
if [ -e "$d/.keep" ] && [ "$grace" != 0 ]; then
  echo "netdiag: keeping $d for $grace s" >&2
  sleep "$grace"
fi
rm -rf -- "$d"
echo "removed $d"
"""
# what the client writes on the supervisor's stdin
HEARTBEAT = b"."
RELEASE = b"x"  # fetched: remove the directory now (EOF without it keeps it for grace_s)
DF_LINE = re.compile(r"^netdiag: df .*\s(\d+)\s+(\d+)\s+(\d+)\s+\d+%\s")


@dataclass(frozen=True)
class CaptureStats:
    """tcpdump's own counts, printed on a clean exit (INT/TERM) or on SIGUSR1."""

    captured: int
    received: int
    dropped: int

    def to_json(self) -> dict[str, int]:
        return {"captured": self.captured, "received": self.received, "dropped": self.dropped}


def tcpdump_argv(
    *,
    tcpdump: str,
    iface: str,
    duration: float,
    snaplen: int,
    max_packets: int,
    max_file_mb: int,
    bpf: str,
) -> list[str]:
    """The capture command; ``-w`` names :data:`FILE_PLACEHOLDER` (the supervisor fills it in).

    ``-U --immediate-mode``: packets reach the file as they arrive (CAPTURE_RULES 5);
    ``-C MB -W 1``: one file that never grows past the cap (7); ``-Z root``: Debian's tcpdump
    would otherwise drop to user tcpdump, which cannot write our 0700 directory (8).
    The filter goes after ``--`` as separate words: no shell ever parses it.
    """
    return [
        "timeout",
        "-s",
        "INT",
        "-k",
        "10",
        f"{duration:g}",
        tcpdump,
        "-i",
        iface,
        "-U",
        "--immediate-mode",
        "-s",
        str(snaplen),
        "-c",
        str(max_packets),
        "-C",
        str(max_file_mb),
        "-W",
        "1",
        "-Z",
        "root",
        "-w",
        FILE_PLACEHOLDER,
        "--",
        *bpf.split(),
    ]


def supervisor_argv(
    *,
    capture_dir: str,
    run_id: str,
    file_name: str,
    heartbeat_s: float,
    capture: Sequence[str],
    sweep: str = "",
    preflight: str = "",
    clock_rounds: int = 0,
    grace_s: float = 0,
) -> list[str]:
    """``sh -c SUPERVISOR netdiag-capture CAPDIR RUN FILE HB SWEEP PRE ROUNDS GRACE CAPTURE...``.

    ``sweep`` (a script, :data:`netdiag.capture.sweep.SWEEP`) first removes what dead runs left
    in capture_dir, and ``preflight`` (a batch script) checks the node first, in this same
    session: every session costs the node a login shell.
    """
    return [
        "sh",
        "-c",
        SUPERVISOR,
        "netdiag-capture",
        capture_dir,
        run_id,
        file_name,
        f"{heartbeat_s:g}",
        sweep,
        preflight,
        str(clock_rounds),
        f"{grace_s:g}",
        *capture,
    ]


_STAT_RX = {
    "captured": re.compile(r"(\d+) packets? captured"),
    "received": re.compile(r"(\d+) packets? received by filter"),
    "dropped": re.compile(r"(\d+) packets? dropped by kernel"),
}


def parse_stats(lines: Sequence[str]) -> CaptureStats | None:
    """The last complete set of counts in tcpdump's stderr, or None (SIGKILL prints none)."""
    found: dict[str, int] = {}
    best: CaptureStats | None = None
    for line in lines:
        for key, rx in _STAT_RX.items():
            m = rx.search(line)
            if m:
                found[key] = int(m.group(1))
        if len(found) == 3:
            best = CaptureStats(found["captured"], found["received"], found["dropped"])
            found = {}
    return best


def parse_live_count(line: str) -> int | None:
    """Packets captured so far from one SIGUSR1 line (``tcpdump: 6 packets captured, ...``)."""
    m = _STAT_RX["captured"].search(line)
    return int(m.group(1)) if m else None


def free_bytes_of(lines: Sequence[str]) -> int | None:
    """Free bytes in the capture directory's file system, as the supervisor last reported."""
    for line in reversed(lines):
        m = DF_LINE.match(line + " ")
        if m:
            return int(m.group(3)) * 1024
    return None


def exit_status_of(lines: Sequence[str]) -> int | None:
    """The capture's exit status as the supervisor reported it, or None if it did not."""
    for line in reversed(lines):
        m = EXIT_LINE.match(line)
        if m:
            return int(m.group(1))
    return None


# (status, what it means, what to do) keyed by a piece of tcpdump / shell error output.
_FAILURES: tuple[tuple[str, str, str], ...] = (
    ("No such device", "no-interface", "check the interface name (ip link) or the plan"),
    ("doesn't exist", "no-interface", "check the interface name (ip link) or the plan"),
    ("You don't have permission", "no-permission", "log in as root or set sudo: true"),
    ("Operation not permitted", "no-permission", "log in as root or set sudo: true"),
    ("Permission denied", "no-permission", "make capture_dir writable or log in as root"),
    ("No space left on device", "disk-full", "free space in capture_dir or lower max_file_mb"),
    ("Disk quota exceeded", "disk-full", "free space in capture_dir or lower max_file_mb"),
    ("not found", "no-tcpdump", "install tcpdump or set tcpdump: PATH in the inventory"),
    ("syntax error", "bad-filter", "fix capture.filter in the plan (BPF syntax, man pcap-filter)"),
    ("can't parse filter", "bad-filter", "fix capture.filter in the plan (man pcap-filter)"),
)


def classify_failure(stderr: str, exit_status: int | None) -> tuple[str, str]:
    """A capture that failed -> (status, one-line message saying what to do)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("netdiag: ")]  # the supervisor's own
    tail = lines[-1] if lines else f"exit status {exit_status}"
    for needle, status, todo in _FAILURES:
        if any(needle in ln for ln in lines):
            detail = next(ln for ln in lines if needle in ln)
            return status, f"{detail}; {todo}"
    if exit_status == 127:
        return "no-tcpdump", f"{tail}; install tcpdump or set tcpdump: PATH in the inventory"
    if exit_status == 70:
        return "failed", f"{tail}; cannot create a directory in capture_dir: check it exists"
    return "failed", f"{tail}; see the capture's stderr in the manifest"
