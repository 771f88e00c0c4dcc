"""``record watch``: probe, and snapshot the window around each failure (see cli/record.py)."""

from __future__ import annotations

import argparse
from typing import Any

from netdiag.cli._env import Env


def run_watch(args: argparse.Namespace, env: Env, name: str, inventory: Any) -> int:
    raise NotImplementedError
