"""Read a recorded command output, minus the ``# source:`` / ``# command:`` header lines."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    lines = (HERE / name).read_text(encoding="utf-8").splitlines(keepends=True)
    while lines and lines[0].startswith(("# source:", "# command:")):
        lines.pop(0)
    return "".join(lines)


def by_command(*names: str) -> dict[tuple[str, ...], str]:
    """Recorded fixtures keyed by the argv on their ``# command:`` line (for scripted nodes)."""
    out = {}
    for name in names:
        line = (HERE / name).read_text(encoding="utf-8").splitlines()[1]
        out[tuple(line.removeprefix("# command: ").split())] = name
    return out


# The ovs-geneve lab's ovs-node1 as recorded over SSH in one lab instance: its pod's namespace
# has no `ip netns` name (lsns + nsenter), the node's OVS bridges and external_ids.
OVS_NODE1 = (
    "ovs_lab_addr.txt",
    "ovs_lab_route.txt",
    "ovs_lab_netns_ids.txt",
    "ovs_lab_route_get.txt",
    "ovs_lab_lsns.txt",
    "ovs_lab_pod_addr.txt",
    "ovs_lab_vsctl_show.txt",
    "ovs_lab_ovs_ids.txt",
)
