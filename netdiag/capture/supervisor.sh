# shellcheck shell=sh
# The capture supervisor: runs one tcpdump on a node so that it can never outlive netdiag.
# Started as `sh -c THIS netdiag-capture CAPDIR RUN FILE HB SWEEP PRE ROUNDS GRACE CAPTURE...`
# (netdiag/capture/tcpdump.py builds that argv; netdiag/capture/protocol.py names every message
# below). Nothing user-controlled is spliced into this text: paths, interface and filter arrive
# as arguments. The name netdiag-capture in the command line is how a sweep tells a live
# supervisor from a reused PID.
#
#   stdin  <- "\n" (PRE only, ROUNDS times)   answered with one `date +%s%N` line each
#             "arm\n" (PRE only)              checks read; EOF instead: exit, nothing made
#             "go\n"                          start the capture; EOF instead: remove DIR, exit
#             "." ... then "x"                heartbeats, then "fetched, remove DIR now"
#   stdout -> "dir DIR", last "removed DIR"
#   stderr -> the checks' and tcpdump's own lines, then "netdiag: df ...",
#             "netdiag: capture exit N", maybe "netdiag: keeping DIR for N s"
#
# Closing an SSH channel does not stop a remote process (no pty), and SSH signal requests are
# unreliable: so the client signals this shell by PID (SIGINT: stop, SIGUSR1: counts so far),
# and the heartbeat watchdog below stops the capture when the client goes silent.
trap '' PIPE HUP
capdir=$1 run=$2 fname=$3 hb=$4 sweep=$5 pre=$6 rounds=$7 grace=$8
shift 8
# A node's first capture may host its preflight checks and clock samples: one session less.
if [ -n "$pre" ]; then
  sh -c "$pre" </dev/null
  n=$rounds
  while [ "$n" -gt 0 ] && IFS= read -r _; do date +%s%N; n=$((n-1)); done
  IFS= read -r _ || exit 0
fi
if [ -n "$sweep" ]; then sh -c "$sweep" netdiag-sweep "$capdir" "" "$run" >&2; fi
d=$(mktemp -d "$capdir/netdiag-cap-$run.XXXXXX") || exit 70
echo $$ >"$d/supervisor.pid"
echo "dir $d"
IFS= read -r _ || { rm -rf -- "$d"; echo "removed $d"; exit 0; }
# The capture's argv names the file @NETDIAG_FILE@: it becomes DIR/FILE now that DIR exists.
for a; do
  shift
  if [ "$a" = @NETDIAG_FILE@ ]; then set -- "$@" "$d/$fname"; else set -- "$@" "$a"; fi
done
exec 3<&0
"$@" </dev/null 3<&- &
c=$!
trap 'kill -INT "$c" 2>/dev/null' INT TERM
trap 'pkill -USR1 -P "$c" 2>/dev/null; echo "netdiag: df $(df -P -k "$d" | tail -n 1)" >&2' USR1
# The watchdog: heartbeats keep it reading; silence for HB seconds, or EOF without "x", stops
# the capture and marks DIR .keep (the client may still fetch it with `capture --recover`).
{ while b=$(timeout "$hb" head -c 1 <&3) && [ "$b" = . ]; do :; done
  [ "$b" = x ] || : >"$d/.keep"
  [ -e "$d/.exited" ] || kill -INT "$c" 2>/dev/null; } &
w=$!
exec 3<&-
# A trapped signal interrupts `wait` with a status > 128 while the capture still runs.
while :; do
  wait "$c"; r=$?
  if [ "$r" -gt 128 ] && kill -0 "$c" 2>/dev/null; then continue; fi
  break
done
: >"$d/.exited"
trap : INT TERM USR1
# tcpdump says nothing when the disk fills: the client compares the free space with the file.
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
