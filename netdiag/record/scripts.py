"""The remote side of a recorder: ``sh`` scripts and the argv lists that run them (pure).

One recorder = one directory per capture point (and per continuous probe) on each node::

    <capture_dir>/netdiag-rec-<NAME>.cap-<POINT>/     meta, supervisor.pid, timeout.pid,
                                                     tcpdump.err, ring.pcap0 .. ring.pcapN-1
    <capture_dir>/netdiag-rec-<NAME>.probe-<PROBE>/  meta, supervisor.pid, probe.log[.1]

The directory is the marker: ``status``, ``list``, ``snapshot`` and ``stop`` find recorders by
it, from any machine, without local state. Each directory has one :data:`SUPERVISOR`, started
by ``setsid -f`` (new session, no controlling tty, stdin /dev/null, HUP and PIPE ignored), so
neither netdiag's exit nor a lost SSH session stops it. It runs the command under
``timeout -s INT -k 10 LEASE`` — the hard lease, kept by a process of its own even when no one
ever comes back — and removes its directory once the command has ended (lease over, or
``stop`` sent it SIGINT). Processes are signalled by the PIDs the supervisor wrote, after
checking that the PID's command line still names the directory (PID reuse); never by name.

Nothing user-controlled is spliced into a script: paths, names, interfaces, filters and probe
commands are positional arguments.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence

from netdiag.record.ring import RingSpec

__all__ = [
    "DIALOG",
    "FILE_PLACEHOLDER",
    "LIST",
    "PROBE_LOOP",
    "STOP",
    "SUPERVISOR",
    "capture_argv",
    "dialog_argv",
    "launch_argv",
    "list_argv",
    "probe_argv",
    "recorder_dir",
    "stop_argv",
]

FILE_PLACEHOLDER = "@NETDIAG_RING@"
DIR_PREFIX = "netdiag-rec-"
PROBE_LOG_MAX = 1_000_000  # bytes before probe.log rotates to probe.log.1 (2 files kept)

# $1 dir  $2 meta (key=value lines)  $3 ready: a stderr text to wait for ("" = none)
# $4 seconds to wait for it  $5 lease seconds  $6 seconds between tcpdump's counts (0: none);
# then the command (timeout ... tcpdump ...).
# Prints one line on stdout, "ok PID" / "exists DIR" / "failed WHY", then detaches from it.
# Every $6 seconds it appends "netdiag-counts NS" (the node's time) to tcpdump.err and asks
# tcpdump for its counts (SIGUSR1: one line, appended after it): a snapshot takes the kernel's
# drops inside its window from the samples around it. tcpdump.err is cut to its last 32 KiB
# when it passes 64 KiB (hours of samples). A stop (INT/TERM) ends the sampling at once.
SUPERVISOR = r"""trap '' HUP PIPE
d=$1 meta=$2 ready=$3 wait=$4 lease=$5 every=$6
shift 6
umask 077
if ! mkdir -- "$d" 2>/dev/null; then
  if [ -e "$d" ]; then echo "exists $d"; else echo "failed cannot create $d: check capture_dir"; fi
  exit 0
fi
echo $$ >"$d/supervisor.pid"
now=$(date +%s)
printf '%s\nstarted=%s\nexpires=%s\n' "$meta" "$now" "$((now + lease))" >"$d/meta"
for a; do
  shift
  if [ "$a" = @NETDIAG_RING@ ]; then set -- "$@" "$d/ring.pcap"; else set -- "$@" "$a"; fi
done
"$@" </dev/null >/dev/null 2>>"$d/tcpdump.err" &
c=$!
echo "$c" >"$d/timeout.pid"
stopping=
trap 'stopping=1; kill -INT "$c" 2>/dev/null' INT TERM
n=0
while :; do
  if [ -z "$ready" ] || grep -qF -- "$ready" "$d/tcpdump.err" 2>/dev/null; then
    echo "ok $$"; break
  fi
  if ! kill -0 "$c" 2>/dev/null || [ "$n" -ge "$((wait * 10))" ]; then
    echo "failed $(grep -v '^netdiag' "$d/tcpdump.err" 2>/dev/null | tail -n 3 | tr '\n' ' ')"
    kill -INT "$c" 2>/dev/null
    break
  fi
  sleep 0.1
  n=$((n + 1))
done
exec >/dev/null 2>&1
t=
if [ "$every" -gt 0 ] && [ -z "$stopping" ]; then t=$(pgrep -P "$c" | head -n 1); fi
while [ -n "$t" ] && [ -z "$stopping" ] && grep -qaF -- "$d/" "/proc/$t/cmdline"; do
  sleep "$every" &
  s=$!
  wait "$s"
  kill "$s" 2>/dev/null
  if [ -n "$stopping" ] || ! grep -qaF -- "$d/" "/proc/$t/cmdline"; then break; fi
  if [ "$(wc -c <"$d/tcpdump.err")" -gt 65536 ]; then
    tail -c 32768 "$d/tcpdump.err" >"$d/err.tmp" && cat "$d/err.tmp" >"$d/tcpdump.err"
    rm -f -- "$d/err.tmp"
  fi
  printf 'netdiag-counts %s\n' "$(date +%s%N)" >>"$d/tcpdump.err"
  kill -USR1 "$t"
done
while :; do
  wait "$c"; r=$?
  if [ "$r" -gt 128 ] && kill -0 "$c" 2>/dev/null; then continue; fi
  break
done
rm -rf -- "$d"
"""

# The launcher: `setsid -f` detaches the supervisor; `| cat` waits for its one stdout line
# (the supervisor then points stdout at /dev/null and cat sees the end).
LAUNCH = 'setsid -f "$@" | cat'

# $1 log  $2 seconds between probes  $3 max log bytes; then the probe command.
# One line per probe: start_ns end_ns exit_status output (newlines folded, 300 chars).
PROBE_LOOP = r"""log=$1 every=$2 max=$3
shift 3
while :; do
  s=$(date +%s%N)
  out=$("$@" 2>&1 </dev/null)
  r=$?
  e=$(date +%s%N)
  printf '%s %s %s %s\n' "$s" "$e" "$r" "$(printf '%s' "$out" | tr '\n\r' '  ' | cut -c1-300)" \
    >>"$log"
  if [ "$(wc -c <"$log")" -gt "$max" ]; then mv -f -- "$log" "$log.1"; fi
  sleep "$every"
done
"""

# Shared by LIST and STOP: is $s (a PID) the supervisor of directory $d?
_OURS = r"""ours() {
  [ -n "$2" ] && kill -0 "$2" 2>/dev/null && grep -qaF -- "$1" "/proc/$2/cmdline" 2>/dev/null
}
pids_of() {
  grep -lsaF -- "$1" /proc/[0-9]*/cmdline | sed -n 's,^/proc/\([0-9]*\)/cmdline$,\1,p' \
    | grep -vx "$$"
}
reap() {
  p=$(pids_of "$1")
  if [ -n "$p" ]; then
    kill -INT $p 2>/dev/null
    n=0; while [ $n -lt 20 ] && kill -0 $p 2>/dev/null; do sleep 0.1; n=$((n+1)); done
    kill -KILL $p 2>/dev/null
  fi
  rm -rf -- "$1"
}
"""

# listing: with $capdir, $name ("" = every recorder) and $usr1 ("usr1": ask each tcpdump for its
# counts, SIGUSR1, and wait for them; "": don't). Per directory: "@rec ALIVE DIR", "@meta K=V",
# "@fstat SIZE MTIME PATH" per ring file, "@heads HEX" (`head -v -c 40` of its ring files: each
# file's pcap header and first record header, i.e. its first packet's time), "@stat LINE", "@probe
# LINE" (last probe result); orphans (supervisor gone, or never written and the directory older than
# a minute) are removed: "@swept DIR". Last line: "@now NS". A handful of processes per directory,
# whatever the number of ring files (on a loaded node each costs milliseconds). "usr1" waits until
# every tcpdump asked has written to its stderr (at most 3 s: a loaded node may not run it at once),
# then 50 ms for the rest of its three lines.
_LISTING = r"""listing() {
asked=
for d in "$capdir"/netdiag-rec-*.*; do
  [ -d "$d" ] || continue
  case $d in "$capdir/netdiag-rec-$name".*) ;; *) [ -z "$name" ] || continue ;; esac
  s=; read -r s 2>/dev/null <"$d/supervisor.pid"
  if ! ours "$d" "$s"; then
    # a supervisor that wrote its PID and is gone left an orphan (killed, node rebooted);
    # without a PID file it may be starting: only an old directory is an orphan then
    if [ -n "$s" ] || [ -n "$(find "$d" -maxdepth 0 -mmin +1)" ]; then
      reap "$d"; echo "@swept $d"
    fi
    continue
  fi
  # SIGUSR1 makes tcpdump print its counts; it would kill a probe loop: captures only
  case $d in "$capdir"/netdiag-rec-*.cap-*) ;; *) continue ;; esac
  if [ -n "$usr1" ]; then
    c=; read -r c 2>/dev/null <"$d/timeout.pid"
    for t in $(pgrep -P "$c" 2>/dev/null); do
      grep -qaF -- "$d" "/proc/$t/cmdline" 2>/dev/null || continue
      asked="$asked$(wc -c 2>/dev/null <"$d/tcpdump.err" || echo 0) $d
"
      kill -USR1 "$t" 2>/dev/null
    done
  fi
done
if [ "$usr1" = usr1 ] && [ -n "$asked" ]; then
  n=0
  while [ "$n" -lt 30 ]; do
    sleep 0.1; n=$((n + 1)); left=
    while read -r was dd; do
      [ -n "$dd" ] || continue
      [ "$(wc -c 2>/dev/null <"$dd/tcpdump.err" || echo 0)" -gt "$was" ] || left=1
    done <<EOF
$asked
EOF
    [ -z "$left" ] && break
  done
  sleep 0.05
fi
for d in "$capdir"/netdiag-rec-*.*; do
  [ -d "$d" ] || continue
  case $d in "$capdir/netdiag-rec-$name".*) ;; *) [ -z "$name" ] || continue ;; esac
  s=; read -r s 2>/dev/null <"$d/supervisor.pid"
  if ours "$d" "$s"; then echo "@rec 1 $d"; else echo "@rec 0 $d"; fi
  if [ -f "$d/meta" ]; then
    while IFS= read -r l; do echo "@meta $l"; done <"$d/meta"
  fi
  set -- "$d"/ring.pcap*
  if [ -f "$1" ]; then
    stat -c '@fstat %s %.9Y %n' -- "$@" 2>/dev/null
    printf '@heads '; head -v -c 40 -- "$@" 2>/dev/null | od -An -v -tx1 -w1000000; echo
  fi
  sed -n '/captured\|received by filter\|dropped by kernel/s/^/@stat /p' "$d/tcpdump.err" \
    2>/dev/null
  [ -f "$d/probe.log" ] && tail -n 1 "$d/probe.log" | sed 's/^/@probe /'
done
echo "@now $(date +%s%N)"
}
"""

# $1 capture_dir  $2 name ("" = every recorder)  $3 "usr1" to ask tcpdump for its counts.
LIST = _OURS + _LISTING + "capdir=$1 name=$2 usr1=$3\nlisting\n"

# Per tcpdump.err: the last sample at or before lo, the first at or after hi (else the last one),
# the counts printed after the last sample (tcpdump's own, when it ended) and a last marker
# tcpdump has not answered: each as ``@err FILE:LINE`` lines. A sample is a
# ``netdiag-counts NS`` line and the counts line that follows it. (awk compares in doubles:
# ~256 ns off at today's epoch, a tenth of a sample's own uncertainty.) With ``wait`` 1, it
# prints nothing and exits 3 while a directory named in $NETDIAG_ASKED (one per line: the
# dialog's "counts" asked its tcpdump) has no whole counts line after its last marker yet.
COUNTS_AWK = r"""
function emit(s,   n, i, part) {
  n = split(s, part, "\n")
  for (i = 1; i <= n; i++) out = out "@err " file ":" part[i] "\n"
}
function flush() {
  if (file == "") return
  if (before != "") emit(before)
  if (after != "") emit(after); else if (last != "" && last != before) emit(last)
  if (tail != "") emit(tail)
  if (mark != "") emit(mark)  # asked for its counts and not (yet) answered
  if (unanswered && (file in asked)) pending = 1
}
BEGIN {
  n = split(ENVIRON["NETDIAG_ASKED"], dirs, "\n")
  for (i = 1; i <= n; i++) if (dirs[i] != "") asked[dirs[i] "/tcpdump.err"] = 1
}
FNR == 1 { flush(); file = FILENAME; mark = ""; before = ""; after = ""; last = ""; tail = ""
           unanswered = 0 }
/^netdiag-counts [0-9]+$/ { mark = $0; at = $2; unanswered = 1; next }
/dropped by kernel/ { unanswered = 0 }  # the end of tcpdump's answer: its line is whole
/packets (captured|received by filter|dropped by kernel)/ {
  if (mark == "") { tail = (tail == "" ? $0 : tail "\n" $0); next }
  s = mark "\n" $0; mark = ""; last = s; tail = ""
  if (at + 0 <= lo + 0) before = s
  else if (after == "" && at + 0 >= hi + 0) after = s
}
END { flush(); if (pending && wait) exit 3; printf "%s", out }
"""

# The snapshot's one session per node (the listing itself is read over SFTP, record/browse.py),
# a dialog on stdin: "counts [NS]" -> ask each of the recorder's live tcpdumps for its counts
# (a "netdiag-counts NS" marker in its tcpdump.err, NS the node's time as netdiag reckons it,
# else the node's own; then SIGUSR1: tcpdump's answer follows the marker), then
# "@iplink JSON", "@uname RELEASE", "@end"; "stats LO HI" -> once the tcpdumps asked have
# answered (at most 1 s), "@err DIR/tcpdump.err:LINE" for the samples the window LO..HI
# (node clock, ns) needs (COUNTS_AWK), per capture directory "@alive 0|1 DIR" (its supervisor
# runs), "@now NS", "@end"; any other line -> the time (preflight.clock_dialog). Every answer
# is read from files and /proc by the shell itself: the session starts `ip` once and `awk`
# once (again only while a tcpdump is slow to answer), however many points the node records
# (each process costs a loaded node a millisecond, taken from the fetch running meanwhile),
# and sends a few lines per point however long it has recorded.
# $1 capture_dir  $2 name  $3 COUNTS_AWK.
DIALOG = r"""capdir=$1 name=$2 COUNTS_AWK=$3
now() {
  # sets ns, the node's time in ns: bash's $EPOCHREALTIME (microseconds, no process: the clock's
  # round trip is not a fork longer), else date
  # shellcheck disable=SC3028  # unset in a POSIX sh: then date
  case ${EPOCHREALTIME-} in
    *[.,]??????) t=$EPOCHREALTIME; ns="${t%[.,]*}${t#*[.,]}000" ;;
    *) ns=$(date +%s%N) ;;
  esac
}
ask() {
  # $1 a recorder's directory, then PIDs: the one whose command line writes its ring is
  # marked and signalled. A PID reused by another process since timeout.pid was written is
  # never signalled (SIGUSR1 would end it). read drops the NULs between the arguments.
  d=$1
  shift
  for t; do
    mine='' a=''
    while IFS= read -r a || [ -n "$a" ]; do
      case $a in *"$d/ring.pcap"*) mine=1; break ;; esac
      a=
    done 2>/dev/null <"/proc/$t/cmdline"
    [ -n "$mine" ] || continue
    [ -f "$d/tcpdump.err" ] && printf 'netdiag-counts %s\n' "$at" >>"$d/tcpdump.err" &&
      kill -USR1 "$t" 2>/dev/null && asked="$asked$d
"
    return 0
  done
}
counts() {
  # tcpdump runs under timeout(1): its PID is a child of the one in timeout.pid, read from
  # /proc (no process started), or asked of pgrep where the kernel does not list children
  asked='' asks=''
  at=$1  # the node's time as netdiag reckons it from the clock it just measured
  case $at in "" | *[!0-9]*) now; at=$ns ;; esac
  for d in "$capdir/netdiag-rec-$name".cap-*; do
    c=; read -r c 2>/dev/null <"$d/timeout.pid" || continue
    case $c in "" | *[!0-9]*) continue ;; esac
    if [ -r "/proc/$c/task/$c/children" ]; then
      k=; read -r k <"/proc/$c/task/$c/children" || :
      # shellcheck disable=SC2086  # PIDs, digits only
      ask "$d" $k
    else
      asks="$asks${asks:+,}$c"
    fi
  done
  [ -n "$asks" ] || return 0
  kids=$(pgrep -P "$asks" 2>/dev/null)
  for d in "$capdir/netdiag-rec-$name".cap-*; do
    # shellcheck disable=SC2086  # PIDs, digits only
    ask "$d" $kids
  done
}
stats() {
  # each tcpdump asked by "counts" answers at once; a loaded node may run it later: awk is
  # asked again (for at most a second) while one has not
  n=0
  while :; do
    NETDIAG_ASKED=$asked awk -v lo="$1" -v hi="$2" -v wait="$((n < 50))" "$COUNTS_AWK" \
      "$capdir/netdiag-rec-$name".cap-*/tcpdump.err 2>/dev/null
    [ "$?" -eq 3 ] || break
    sleep 0.02
    n=$((n + 1))
  done
  asked=
  for d in "$capdir/netdiag-rec-$name".cap-*; do
    [ -d "$d" ] || continue
    s=; read -r s 2>/dev/null <"$d/supervisor.pid"
    if [ -n "$s" ] && kill -0 "$s" 2>/dev/null; then echo "@alive 1 $d"; else echo "@alive 0 $d"; fi
  done
  now
  echo "@now $ns"
}
while IFS= read -r line; do
  case $line in
    counts | counts\ *)
      # shellcheck disable=SC2086  # "counts [NS]", digits only (netdiag's own words)
      set -- $line
      counts "${2-}"
      # one line of JSON (the lines of an ip that prints more are joined by netdiag)
      printf '@iplink '; ip -j link 2>/dev/null; echo
      rel=; read -r rel 2>/dev/null </proc/sys/kernel/osrelease || rel=$(uname -r 2>/dev/null)
      echo "@uname $rel"; echo @end ;;
    stats\ *)
      # shellcheck disable=SC2086  # "stats LO HI", digits only (netdiag's own words)
      set -- $line
      case "$2$3" in "" | *[!0-9]*) set -- stats 0 0 ;; esac
      stats "$2" "$3"; echo @end ;;
    *) now; echo "$ns" ;;
  esac
done
"""

# $1 capture_dir  $2 name ("" = every recorder). SIGINT to each supervisor (it stops tcpdump,
# which flushes, and removes its directory); whatever is still there after 5 s is reaped.
STOP = (
    _OURS
    + r"""capdir=$1 name=$2
mine() { case $1 in "$capdir/netdiag-rec-$name".*) return 0 ;; esac; [ -z "$name" ]; }
for d in "$capdir"/netdiag-rec-*.*; do
  [ -d "$d" ] && mine "$d" || continue
  s=; read -r s 2>/dev/null <"$d/supervisor.pid"
  ours "$d" "$s" && kill -INT "$s" 2>/dev/null
  echo "@stopping $d"
done
n=0
while [ $n -lt 50 ]; do
  left=
  for d in "$capdir"/netdiag-rec-*.*; do [ -d "$d" ] && mine "$d" && left=1; done
  [ -z "$left" ] && break
  sleep 0.1; n=$((n+1))
done
for d in "$capdir"/netdiag-rec-*.*; do
  [ -d "$d" ] && mine "$d" || continue
  reap "$d"
  echo "@reaped $d"
done
exit 0
"""
)

_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def slug(text: str) -> str:
    """A point label or probe name as a file-name part."""
    return _SAFE.sub("_", text.replace("/", "_")) or "_"


def recorder_dir(capture_dir: str, name: str, kind: str, label: str) -> str:
    """``<capture_dir>/netdiag-rec-<name>.<kind>-<label>`` (kind ``cap`` or ``probe``)."""
    return f"{capture_dir.rstrip('/') or '/'}/{DIR_PREFIX}{name}.{kind}-{slug(label)}"


def meta_text(items: Mapping[str, object]) -> str:
    """``key=value`` lines; values are single-line (newlines folded to spaces)."""
    return "\n".join(f"{k}={' '.join(str(v).split())}" for k, v in items.items())


def capture_argv(
    *,
    tcpdump: str,
    iface: str,
    ring: RingSpec,
    snaplen: int,
    lease_s: float,
    bpf: str,
    netns: str | None = None,
) -> list[str]:
    """``timeout -s INT -k 10 LEASE [ip netns exec NS] tcpdump ... -C MB -W FILES -w RING``.

    ``-U --immediate-mode``: each packet reaches the file as it arrives, so a snapshot sees it
    (CAPTURE_RULES 5); ``-Z root``: Debian's tcpdump would drop to a user who cannot write our
    0700 directory (8). ``timeout`` is the lease: tcpdump has no time limit of its own (2).
    """
    ns = ["ip", "netns", "exec", netns] if netns else []
    return [
        "timeout", "-s", "INT", "-k", "10", f"{max(lease_s, 1):.0f}",
        *ns, tcpdump, "-i", iface, "-U", "--immediate-mode", "-s", str(snaplen),
        "-C", str(ring.file_mb), "-W", str(ring.files), "-Z", "root",
        "-w", FILE_PLACEHOLDER, "--", *bpf.split(),
    ]  # fmt: skip


def probe_argv(
    *, log: str, every_s: float, lease_s: float, probe: Sequence[str], netns: str | None
) -> list[str]:
    """The continuous probe: ``timeout LEASE sh -c PROBE_LOOP LOG EVERY MAX [ip netns exec NS]
    PROBE...``."""
    ns = ["ip", "netns", "exec", netns] if netns else []
    return [
        "timeout", "-s", "TERM", "-k", "5", f"{max(lease_s, 1):.0f}",
        "sh", "-c", PROBE_LOOP, "netdiag-rprobe", log, f"{every_s:g}", str(PROBE_LOG_MAX),
        *ns, *probe,
    ]  # fmt: skip


def launch_argv(
    *,
    directory: str,
    meta: str,
    ready: str,
    wait_s: int,
    lease_s: float,
    command: Sequence[str],
    counts_every_s: int = 0,
) -> list[str]:
    """``sh -c LAUNCH netdiag-launch sh -c SUPERVISOR netdiag-recorder DIR META ... COMMAND``;
    ``counts_every_s`` > 0 for a tcpdump (its counts sampled that often), 0 for a probe loop
    (SIGUSR1 would end it)."""
    return [
        "sh", "-c", LAUNCH, "netdiag-launch",
        "sh", "-c", SUPERVISOR, "netdiag-recorder",
        directory, meta, ready, str(int(wait_s)), f"{max(lease_s, 1):.0f}",
        str(max(int(counts_every_s), 0)), *command,
    ]  # fmt: skip


def list_argv(capture_dir: str, name: str, *, counts: bool) -> list[str]:
    return ["sh", "-c", LIST, "netdiag-rec-list", capture_dir, name, "usr1" if counts else ""]


# Runs "$@" (a script and its arguments) with bash where the node has it, else sh: a POSIX
# script either way, bash only saves it processes ($EPOCHREALTIME for `date`). Without rc
# files: a bash started under ssh by a shell that is not bash reads ~/.bashrc (Debian's
# build), and $BASH_ENV always; either could print into the dialog.
PREFER_BASH = (
    "if command -v bash >/dev/null 2>&1; then BASH_ENV='' exec bash --norc -c \"$@\"; fi; "
    'exec sh -c "$@"'
)


def dialog_argv(capture_dir: str, name: str) -> list[str]:
    return ["sh", "-c", PREFER_BASH, "sh", DIALOG, "netdiag-rec-snap", capture_dir, name,
            COUNTS_AWK]  # fmt: skip


def stop_argv(capture_dir: str, name: str) -> list[str]:
    return ["sh", "-c", STOP, "netdiag-rec-stop", capture_dir, name]


def shown(argv: Sequence[str]) -> str:
    """A command as a user could paste it (for -v logs and the manifest)."""
    return shlex.join(argv)
