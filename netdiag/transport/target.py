"""Where and how to reach a node over SSH: the inventory first, then ssh_config, as OpenSSH would.

Both SSH backends connect from one :class:`SshTarget`, so they agree on every setting:

- host, port, user: the inventory's, else ssh_config's ``HostName``/``Port``/``User``;
- keys: the inventory's ``identity_file``, else ssh_config's ``IdentityFile`` (OpenSSH's
  ``~/.ssh/id_*`` when none is set), tried before ssh-agent's keys (``IdentitiesOnly``: only
  the agent keys of those files);
- ssh-agent: used whenever ``SSH_AUTH_SOCK`` (or ``IdentityAgent``) names one, as ssh does;
  ``agent: false`` in the inventory or ``IdentityAgent none`` turn it off;
- host keys: the inventory's ``known_hosts`` and ``host_key_policy``, else ssh_config's
  ``UserKnownHostsFile``/``GlobalKnownHostsFile``/``StrictHostKeyChecking``/``HostKeyAlias``;
- the way in: the inventory's ``jump``, else ssh_config's ``ProxyJump`` or ``ProxyCommand``.
  A jump host named by ssh_config is itself set up by ssh_config alone, as ``ssh -J`` does.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, replace
from pathlib import Path

from netdiag.errors import InputError, TransportError
from netdiag.inventory import NodeSpec
from netdiag.transport.hostkeys import KnownHosts, Policy
from netdiag.transport.sshconfig import expand, local_tokens, ssh_settings

__all__ = [
    "MAX_HOPS",
    "SshTarget",
    "jump_node",
    "parse_hop",
    "resolve",
    "ssh_command",
    "through_jump",
]

#: Jump hosts in one chain at most (a longer one is almost surely a loop in ssh_config).
MAX_HOPS = 8
_POLICIES: dict[str, Policy] = {
    "true": "strict",
    "yes": "strict",
    "ask": "ask",
    "accept-new": "accept-new",
    "false": "off",
    "no": "off",
    "off": "off",
}


@dataclass(frozen=True)
class SshTarget:
    """Everything a backend needs to open one connection (and the one before it, if any)."""

    node: NodeSpec
    hostname: str
    port: int
    user: str
    identity_files: tuple[Path, ...]  # candidates in order; missing ones are skipped
    identity_source: str  # where they came from, for messages
    identities_only: bool
    agent_path: str | None
    agent_note: str  # why the agent is used or not, for messages
    known_hosts: KnownHosts
    jump: SshTarget | None = None
    proxy_command: str | None = None

    @property
    def name(self) -> str:
        return self.node.name

    def address(self) -> str:
        """``host:port`` and the way in, as messages show it."""
        via = f" via {self.jump.name}" if self.jump else ""
        via += " via ProxyCommand" if self.proxy_command else ""
        return f"{self.hostname}:{self.port}{via}"

    def unreachable(self, reason: str) -> str:
        """The ConnectError message; a failing ProxyCommand is named, as is the jump host."""
        check = "check that the node is up, sshd listens and host/port are right"
        if self.proxy_command:
            check = f"check the ProxyCommand of ssh_config ({self.proxy_command}) and " + check
        elif self.jump is not None:
            check = f"check that {self.jump.name} reaches the node; " + check
        return f"{self.name}: cannot reach {self.address()} ({reason}); {check}"


def parse_hop(hop: str) -> tuple[str | None, str, int | None]:
    """``[user@]host[:port]`` or ``ssh://[user@]host[:port]`` (``[v6]:port`` too)."""
    text = hop.strip().removeprefix("ssh://")
    user, _, hostport = text.rpartition("@")
    host, port = hostport, None
    if hostport.startswith("[") and "]" in hostport:
        host, _, rest = hostport[1:].partition("]")
        port_text = rest.removeprefix(":")
        port = int(port_text) if port_text.isdigit() else None
    elif hostport.count(":") == 1:
        host, _, port_text = hostport.partition(":")
        port = int(port_text) if port_text.isdigit() else None
    if not host:
        raise InputError(f"jump host {hop!r}: no host name; write [user@]host[:port]")
    return user or None, host, port


def jump_node(node: NodeSpec) -> NodeSpec | None:
    """The inventory's ``jump`` as a NodeSpec; ``[user@]host[:port]`` strings (a comma-separated
    chain, the last one nearest the node) inherit the node's keys, known_hosts and policy, so a
    bastion is checked like the nodes behind it. None when the inventory names no jump."""
    jump = node.jump
    if jump is None or isinstance(jump, NodeSpec):
        return jump
    if jump == "none":
        return None
    hop_node: NodeSpec | None = None
    for i, hop in enumerate(h for h in jump.split(",") if h.strip()):
        user, host, port = parse_hop(hop)
        name = f"{node.name}-jump" if i == 0 else f"{node.name}-jump{i + 1}"
        hop_node = replace(
            node, name=name, host=host, user=user or node.user, port=port, jump=hop_node
        )
    return hop_node


def _config_jump(node: NodeSpec, spec: str) -> NodeSpec:
    """ssh_config's ``ProxyJump a,b``: each hop set up by ssh_config alone (the first may have a
    ProxyJump of its own; the others are reached through the hop before them)."""
    hop_node: NodeSpec | None = None
    for hop in (h for h in spec.split(",") if h.strip()):
        user, host, port = parse_hop(hop)
        hop_node = NodeSpec(
            name=hop.strip(),
            host=host,
            user=user,
            port=port,
            ssh_config=node.ssh_config,
            connect_timeout=node.connect_timeout,
            jump=hop_node,
        )
    if hop_node is None:
        raise InputError(f"{node.name}: ProxyJump {spec!r} names no host; fix ssh_config")
    return hop_node


async def resolve(
    node: NodeSpec, *, _seen: tuple[str, ...] = (), _for: NodeSpec | None = None
) -> SshTarget:
    """The node's settings, ssh_config read by OpenSSH itself, jump hosts resolved too
    (``_seen``: the hops before, ``_for``: the node they lead to, named in errors)."""
    settings = await ssh_settings(node.host, user=node.user, port=node.port, config=node.ssh_config)

    def first(key: str, default: str = "") -> str:
        return settings.get(key, [default])[0]

    hostname = first("hostname", node.host)
    port = node.port or int(first("port", "22"))
    user = node.user or first("user")
    me = _spec(node)
    if len(_seen) >= MAX_HOPS:
        raise _loop(_for or node, (*_seen, me))
    tokens = {**local_tokens(), "h": hostname, "p": str(port), "r": user, "n": node.host}
    if node.identity_file is not None:
        files: tuple[Path, ...] = (node.identity_file,)
        identity_source = "identity_file in the inventory"
    else:
        files = tuple(Path(expand(f, tokens)) for f in settings.get("identityfile", []))
        identity_source = "IdentityFile of ssh_config, or ssh's defaults"
    agent_path, agent_note = _agent(node, settings.get("identityagent", [None])[0], tokens)
    known = KnownHosts(
        node_name=node.name,
        name=first("hostkeyalias") or hostname,
        port=port,
        user_files=_known_files(node, settings, "userknownhostsfile"),
        global_files=_split_files(first("globalknownhostsfile", "none")),
        policy=node.host_key_policy or _POLICIES.get(first("stricthostkeychecking"), "ask"),
        hash_names=first("hashknownhosts") == "yes",
        keyscan_host=hostname,
    )
    jump_spec = jump_node(node)
    proxy_command = None
    if jump_spec is None and node.jump != "none":
        proxy_jump = first("proxyjump", "none")
        if proxy_jump != "none":
            jump_spec = _config_jump(node, proxy_jump)
            if _spec(jump_spec) in (*_seen, me):  # `Host *` ProxyJump reaching the jump host
                raise _loop(_for or node, (*_seen, me, _spec(jump_spec)))
        elif first("proxycommand", "none") != "none":
            proxy_command = expand(first("proxycommand"), tokens)
    jump = None
    if jump_spec is not None:
        jump = await resolve(jump_spec, _seen=(*_seen, me), _for=_for or node)
    if jump is not None:  # ssh-keyscan has to run on the jump host to reach the node
        known = replace(known, via=ssh_command(jump.node))
    return SshTarget(
        node=node,
        hostname=hostname,
        port=port,
        user=user,
        identity_files=files,
        identity_source=identity_source,
        identities_only=first("identitiesonly") == "yes",
        agent_path=agent_path,
        agent_note=agent_note,
        known_hosts=known,
        jump=jump,
        proxy_command=proxy_command,
    )


def ssh_command(node: NodeSpec) -> str:
    """The ``ssh`` command line that reaches ``node`` with the settings netdiag uses for it."""
    argv = ["ssh"]
    if node.ssh_config:
        argv += ["-F", node.ssh_config]
    if node.identity_file:
        argv += ["-i", str(node.identity_file)]
    if node.known_hosts:
        argv += ["-o", f"UserKnownHostsFile={node.known_hosts}"]
    if node.port:
        argv += ["-p", str(node.port)]
    return shlex.join([*argv, f"{node.user}@{node.host}" if node.user else node.host])


def through_jump(name: str, exc: TransportError) -> TransportError:
    """A jump host's failure, said of the node behind it (same class: same node status)."""
    return type(exc)(f"{name}: through jump host {exc}")


def _spec(node: NodeSpec) -> str:
    """A node as ssh_config sees it (before HostName): what a ProxyJump loop repeats."""
    user = f"{node.user}@" if node.user else ""
    return f"{user}{node.host}{f':{node.port}' if node.port else ''}"


def _loop(node: NodeSpec, chain: tuple[str, ...]) -> InputError:
    return InputError(
        f"{node.name}: the jump hosts loop or nest too deep ({' -> '.join(chain)}); check "
        "ProxyJump in ssh_config (a `Host *` ProxyJump applies to the jump host too: exclude it "
        "with `Host * !bastion`) and jump in the inventory"
    )


def _agent(
    node: NodeSpec, configured: str | None, tokens: dict[str, str]
) -> tuple[str | None, str]:
    """The ssh-agent socket to use (or None) and a note saying why, for messages."""
    if node.agent is False:
        return None, "ssh-agent off (agent: false in the inventory)"
    if configured == "none" and node.agent is None:
        return None, "ssh-agent off (IdentityAgent none in ssh_config)"
    if configured not in (None, "none", "SSH_AUTH_SOCK"):
        if configured.startswith("$"):
            path = os.environ.get(configured[1:])
            if path:
                return path, f"ssh-agent at {path} (IdentityAgent {configured})"
            return None, f"no ssh-agent (IdentityAgent {configured}, which is not set)"
        path = expand(configured, tokens)
        return path, f"ssh-agent at {path} (IdentityAgent of ssh_config)"
    sock = os.environ.get("SSH_AUTH_SOCK")
    if sock:
        return sock, f"ssh-agent at SSH_AUTH_SOCK={sock}"
    if node.agent:
        return None, "no ssh-agent: agent: true in the inventory, but SSH_AUTH_SOCK is not set"
    return None, "no ssh-agent (SSH_AUTH_SOCK is not set)"


def _known_files(node: NodeSpec, settings: dict[str, list[str]], key: str) -> tuple[Path, ...]:
    if node.known_hosts is not None:
        return (node.known_hosts,)
    return _split_files(settings.get(key, ["none"])[0])


def _split_files(value: str) -> tuple[Path, ...]:
    """``UserKnownHostsFile a b`` (ssh -G has expanded ``~`` and tokens); "none": no file."""
    if value.strip() == "none":
        return ()
    return tuple(Path(os.path.expanduser(v)) for v in value.split())
