"""``netdiag capture --recover RUN_DIR``: bring home what the nodes kept of an unfinished run.

When netdiag was killed, or a node's link or sshd died mid-capture, each node's watchdog
stopped tcpdump and keeps the capture directory for the run's grace period
(:mod:`netdiag.capture.tcpdump`). Recovery continues the run from its manifest: it connects to
the nodes whose files are missing from the run directory, stops any capture of the run that
still runs there (SIGINT: tcpdump flushes), fetches every file of the run it finds into
``pcaps/``, removes the run's directories and their waiting supervisors (the sweep), and writes
the manifest again: fetched points become ``recovered``, points whose file is gone ``lost``,
the phase ``recovered``. A node that still does not answer keeps its files until its grace
period ends; recovery can be run again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from netdiag.bundle.layout import Layout
from netdiag.capture.complete import FULL_BELOW, count_frames
from netdiag.capture.preflight import connect_node
from netdiag.capture.protocol import free_bytes
from netdiag.capture.results import CaptureResult, RunRecord, write_manifest
from netdiag.capture.sweep import sweep
from netdiag.capture.watch import WatchedTransport, keep_run_log, log
from netdiag.errors import TransportError
from netdiag.inventory import Inventory, NodeSpec
from netdiag.transport import Transport, open_transport
from netdiag.transport.aio import bounded

__all__ = ["FIND", "Recovered", "missing", "recover"]

# A capture not yet fetched may still be on its node in one of these states.
_MAYBE_ON_NODE = ("pending", "armed", "listening", "lost", "fetch-failed")

# $1 capture_dir, $2 run id. Per capture directory of the run: SIGINT what still captures into
# it (tcpdump flushes; at most 3 s), then one line per file ("file SIZE PATH") and its free space.
FIND = r"""capdir=$1 run=$2
for d in "$capdir"/netdiag-cap-"$run".??????; do
  [ -d "$d" ] || continue
  pids=$(grep -lsaF -- "$d/" /proc/[0-9]*/cmdline | sed -n 's,^/proc/\([0-9]*\)/cmdline$,\1,p' \
    | grep -vx "$$")
  if [ -n "$pids" ]; then
    kill -INT $pids 2>/dev/null
    n=0; while [ $n -lt 30 ] && kill -0 $pids 2>/dev/null; do sleep 0.1; n=$((n+1)); done
  fi
  for f in "$d"/*.pcap; do [ -f "$f" ] && echo "file $(wc -c <"$f") $f"; done
  echo "netdiag: df $(df -P -k "$d" 2>/dev/null | tail -n 1)"
done
exit 0
"""

Factory = Callable[[NodeSpec, str], Transport]


@dataclass
class Recovered:
    """What one recovery did: files and bytes fetched, and one line per node that needs telling."""

    files: int = 0
    bytes: int = 0
    notes: list[str] = field(default_factory=list)


def missing(record: RunRecord) -> dict[str, list[CaptureResult]]:
    """Per node, the captures whose file the run directory lacks but the node may still hold."""
    wanted: dict[str, list[CaptureResult]] = {}
    for c in record.captures:
        local = record.out / c.file
        absent = not c.file or not local.is_file() or local.stat().st_size == 0
        if c.node and (c.status in _MAYBE_ON_NODE or (absent and c.status in ("ok", "incomplete"))):
            wanted.setdefault(c.node, []).append(c)
    return wanted


async def recover(
    record: RunRecord, inventory: Inventory, *, kind: str, factory: Factory = open_transport
) -> Recovered:
    """Fetch what the nodes kept into ``record.out``, update the record and its manifest."""
    with keep_run_log(Layout(record.out).run_log):
        log.info("run %s: recovering what its nodes kept", record.run_id)
        return await _recover(record, inventory, kind=kind, factory=factory)


async def _recover(
    record: RunRecord, inventory: Inventory, *, kind: str, factory: Factory
) -> Recovered:
    done = Recovered()
    wanted = missing(record)
    known = {n.name: n for n in inventory.nodes}
    jobs = []
    for name, caps in wanted.items():
        if name not in known:
            done.notes.append(f"{name}: not in {inventory.path}; give the run's inventory")
            continue
        jobs.append(_node(WatchedTransport(factory(known[name], kind)), caps, record, done))
    await asyncio.gather(*jobs)
    for name, caps in wanted.items():
        node = record.nodes.get(name)
        if (
            node is not None
            and node.status == "lost"
            and all(c.status == "recovered" for c in caps)
        ):
            node.status = "recovered"
            node.detail = f"{node.detail} (its files were recovered afterwards)"
    record.phase = "recovered"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
    record.notes.append(
        f"recovered {done.files} file(s), {done.bytes} bytes, with `netdiag capture --recover` "
        f"at {stamp}"
    )
    write_manifest(record)
    return done


async def _node(
    transport: Transport, caps: Sequence[CaptureResult], record: RunRecord, done: Recovered
) -> None:
    node = transport.node
    failed = await bounded(connect_node(transport), node.connect_timeout * 3 + 10)
    if failed is not None:
        done.notes.append(
            f"{node.name}: {failed.message}; it keeps its files until its grace period "
            f"({record.grace_s:g} s after it lost netdiag) ends: try again when it answers"
        )
        return
    try:
        found = await _find(transport, record.run_id)
        free = free_bytes(found)
        paths = _files(found)
        left = False
        for c in caps:
            remote = paths.get(Path(c.file).name)
            if remote is None:
                c.status, c.kept = "lost", False
                c.detail = (
                    f"not fetched, and its file is no longer on {node.name}: the grace period "
                    f"({record.grace_s:g} s) is over, or another run removed it"
                )
                continue
            try:
                done.bytes += await _fetch(transport, remote, c, record.out, free)
                done.files += 1
            except TransportError as exc:
                left = True
                done.notes.append(
                    f"{c.point}: {exc}; the file stays on {node.name} until its grace period "
                    "ends: try again"
                )
        if not left:  # the run's directories and their waiting supervisors
            await sweep(transport, run_id=record.run_id)
    except (TransportError, TimeoutError) as exc:
        done.notes.append(f"{node.name}: recovery failed ({exc}); try again")
    finally:
        await transport.close()


def _files(found: Sequence[str]) -> dict[str, str]:
    """``file SIZE PATH`` lines -> {file name: remote path}."""
    paths = {}
    for line in found:
        if line.startswith("file "):
            path = line.split(" ", 2)[2]
            paths[path.rsplit("/", 1)[-1]] = path
    return paths


async def _find(transport: Transport, run_id: str) -> list[str]:
    node = transport.node
    res = await transport.run(
        ["sh", "-c", FIND, "netdiag-recover", node.capture_dir, run_id], check=False, timeout=30
    )
    return res.stdout.splitlines()


async def _fetch(
    transport: Transport, remote: str, c: CaptureResult, out: Path, free: int | None
) -> int:
    """Copy one kept file into the run; the capture becomes ``recovered``. Returns its size."""
    local = out / c.file
    local.parent.mkdir(parents=True, exist_ok=True)
    await transport.get(remote, local)
    count = count_frames(local)
    c.status, c.kept, c.frames = "recovered", False, count.frames
    c.detail = (
        f"fetched by --recover after the run lost it: {count.frames} frame(s); tcpdump's own "
        "counts went with the connection"
    )
    if free is not None and free < FULL_BELOW:
        c.detail += f"; the disk of {transport.node.capture_dir} is full: packets may be missing"
    if count.damage:
        c.detail += f"; the file is damaged after frame {count.frames} ({count.damage})"
    return local.stat().st_size
