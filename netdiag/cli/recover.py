"""``netdiag capture --recover RUN_DIR [--inventory FILE]``: finish a run that did not finish.

The orchestration lives in :mod:`netdiag.capture.recover`; here: load the run and its
inventory, run the recovery, print what it fetched and what it could not, then the same tables,
analysis and verdict as a capture.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from netdiag.cli._env import Env

__all__ = ["recover_run"]


def recover_run(
    out: Path,
    inventory_path: Path | None,
    *,
    transport: str,
    env: Env,
    analysis: bool,
    as_json: bool = False,
) -> int:
    """Fetch what the run's nodes kept, rewrite its manifest, analyse; exit code as capture's."""
    from netdiag.capture.progress import final_tables
    from netdiag.capture.recover import missing, recover
    from netdiag.capture.reload import load_record
    from netdiag.cli.capture import conclude
    from netdiag.errors import InputError
    from netdiag.inventory import load_inventory

    record = load_record(out)
    if not missing(record):
        env.progress().say(f"{out}: every capture of run {record.run_id} is already here")
        return conclude(record, out, env, analysis=analysis, interrupted=False, as_json=as_json)
    path = inventory_path or Path(str(record.inventory.get("path") or ""))
    if not path.is_file():
        raise InputError(
            f"{out}: the run's inventory {path or '(none recorded)'} is not here; give it with "
            "--inventory FILE"
        )
    inventory = load_inventory(path)
    kind = transport if transport != "asyncssh" else record.transport
    done = asyncio.run(recover(record, inventory, kind=kind))
    console = env.console(stderr=True, width=None if env.stderr_isatty else 140)
    console.print(final_tables(record))
    for note in done.notes:
        env.warn(note)
    said = f"recovered {done.files} file(s), {done.bytes} bytes into {out} (run {record.run_id})"
    if as_json:
        env.progress().say(said)
    else:
        print(said, file=env.stdout)
    return conclude(record, out, env, analysis=analysis, interrupted=False, as_json=as_json)
