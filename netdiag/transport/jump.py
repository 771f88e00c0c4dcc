"""Jump hosts, shared by the SSH backends."""

from __future__ import annotations

from dataclasses import replace

from netdiag.inventory import NodeSpec

__all__ = ["jump_node"]


def jump_node(node: NodeSpec) -> NodeSpec | None:
    """The jump host as a NodeSpec; an ``[user@]host[:port]`` string inherits the node's keys.

    Converting strings here means the jump's host key is checked with the same known_hosts and
    policy as the node's, in both backends (asyncssh would otherwise apply its own defaults).
    """
    jump = node.jump
    if jump is None or not isinstance(jump, str):
        return jump
    user, _, hostport = jump.rpartition("@")
    host, port = hostport, None
    if hostport.count(":") == 1:
        host, _, port_text = hostport.partition(":")
        port = int(port_text) if port_text.isdigit() else None
    return replace(
        node, name=f"{node.name}-jump", host=host, user=user or node.user, port=port, jump=None
    )
