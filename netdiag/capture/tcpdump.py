"""Remote tcpdump lifecycle (owned by the orchestrator half of issue 5).

Argv construction, readiness on "listening on", SIGINT stop by PID, stats parsing,
fetch and remote cleanup of one capture point.
"""

from __future__ import annotations
