"""Find and remove what earlier runs left on a node (a killed netdiag, a lost link).

Every capture directory is ``<capture_dir>/netdiag-cap-<run_id>.XXXXXX`` and holds the PID of
its supervisor, and every process of a capture carries that directory in its command line. A
directory is an orphan when its supervisor is gone (or is no longer our supervisor: PID reuse)
— a concurrent run's live directory is left alone. An orphan's processes are found by a
fixed-string search of every ``/proc/PID/cmdline``, stopped by PID (INT so tcpdump ends
cleanly, then KILL), and the directory is removed. ``only_run`` limits the sweep to one run
and also takes live ones (our own end check).
"""

from __future__ import annotations

from netdiag.errors import TransportError
from netdiag.transport import Transport
from netdiag.transport.aio import bounded

__all__ = ["SWEEP", "sweep"]

# $1 capture_dir, $2 run id or "" (all dead runs), $3 the sweeping run's own id (its dirs are
# alive by definition: skipped without a look). Prints one line per removed directory.
# Per directory only builtins and one grep: a node may hold many live directories.
SWEEP = r"""capdir=$1 only=$2 mine=$3
for d in "$capdir"/netdiag-cap-*.??????; do
  [ -d "$d" ] || continue
  case $d in "$capdir/netdiag-cap-$only".*) ;; *) [ -z "$only" ] || continue ;; esac
  if [ -n "$mine" ]; then case $d in "$capdir/netdiag-cap-$mine".*) continue ;; esac; fi
  s=; read -r s 2>/dev/null <"$d/supervisor.pid"
  # no PID file yet: a supervisor may be between mktemp and writing it; orphan only when old
  if [ -z "$s" ] && [ -z "$only" ] && [ -z "$(find "$d" -maxdepth 0 -mmin +1)" ]; then continue; fi
  if [ -z "$only" ] && [ -n "$s" ] && kill -0 "$s" 2>/dev/null \
     && grep -qa netdiag-capture "/proc/$s/cmdline" 2>/dev/null; then
    continue
  fi
  # processes with the directory in their command line; a fixed string (grep -F), since a
  # capture_dir may hold regex characters ('|', '.') that pgrep -f would read as a pattern
  pids=$(grep -lsaF -- "$d" /proc/[0-9]*/cmdline | sed -n 's,^/proc/\([0-9]*\)/cmdline$,\1,p' \
    | grep -vx "$$")
  [ -n "$s" ] && kill -0 "$s" 2>/dev/null && pids="$s $(pgrep -P "$s") $pids"
  if [ -n "$pids" ]; then
    kill -INT $pids 2>/dev/null
    n=0; while [ $n -lt 20 ] && kill -0 $pids 2>/dev/null; do sleep 0.1; n=$((n+1)); done
    kill -KILL $pids 2>/dev/null
  fi
  rm -rf -- "$d" && echo "swept $d${pids:+ (stopped pids $(echo $pids))}"
done
exit 0
"""


async def sweep(transport: Transport, *, run_id: str = "", timeout: float = 20.0) -> list[str]:
    """Remove leftover capture dirs (and their processes) on one node; returns what was swept.

    A node that does not answer yields an empty list: its own watchdogs still clean up.
    """
    node = transport.node
    try:
        res = await bounded(
            transport.run(
                ["sh", "-c", SWEEP, "netdiag-sweep", node.capture_dir, run_id, ""],
                check=False,
                timeout=timeout,
            ),
            timeout + 5,
        )
    except (TransportError, TimeoutError):
        return []
    return [line for line in res.stdout.splitlines() if line.startswith("swept ")]
