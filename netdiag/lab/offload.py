"""Turn off TX checksum offload on the lab's senders whose packets reach Open vSwitch.

A veth leaves a TCP segment's checksum to "offload" (CHECKSUM_PARTIAL) and nothing on the way
computes it: a kernel receiver accepts that, but the ovs-geneve lab's netdev datapath reads its
ports with AF_PACKET and forwards the frame as it is, and the receiving kernel drops it as a bad
checksum (TcpInCsumErrors): no TCP connect through OVS would complete. Real NICs compute the
checksum in hardware; here the senders (the client's and the pods' eth0) must compute it
themselves, which is what ``ethtool -K IFACE tx off`` does (ETHTOOL_STXCSUM). ethtool is not
always installed, so the lab makes that one ioctl itself, inside each namespace.
(OVS's userspace TSO, the other cure, drops tunnelled packets that carry offload flags.)
"""

from __future__ import annotations

import subprocess
import sys

from netdiag.errors import LabError
from netdiag.lab.topology import LabSpec

__all__ = ["SCRIPT", "senders", "tx_checksum_off"]

#: SIOCETHTOOL(ETHTOOL_STXCSUM, 0) on each interface named in argv (struct ethtool_value behind
#: a struct ifreq, linux/ethtool.h), in the namespace it runs in.
SCRIPT = """\
import ctypes, fcntl, socket, struct, sys
SIOCETHTOOL, ETHTOOL_STXCSUM = 0x8946, 0x17
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    for name in sys.argv[1:]:
        value = ctypes.create_string_buffer(struct.pack("II", ETHTOOL_STXCSUM, 0))
        ifreq = struct.pack("16sP", name.encode(), ctypes.addressof(value)).ljust(40, b"\\0")
        fcntl.ioctl(s, SIOCETHTOOL, ifreq)
"""


def senders(spec: LabSpec) -> dict[str, list[str]]:
    """Namespace -> interfaces whose TCP enters OVS: the external client's uplink, the pods'."""
    out: dict[str, list[str]] = {}
    if spec.dataplane != "ovs":
        return out
    for node in spec.nodes:
        if not node.is_node:
            out.setdefault(spec.node_netns(node.name), []).append(node.uplink)
    for pod in spec.pods:
        out.setdefault(spec.pod_netns(pod), []).append(pod.iface)
    return out


def tx_checksum_off(spec: LabSpec, timeout: float = 20.0) -> None:
    """Run :data:`SCRIPT` in every sender namespace at once; raise naming one that failed."""
    procs = [
        (ns, subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-I", "-S", "-c", SCRIPT, *ifaces],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        ))
        for ns, ifaces in senders(spec).items()
    ]  # fmt: skip
    for ns, proc in procs:
        _, err = proc.communicate(timeout=timeout)
        if proc.returncode != 0:
            why = " ".join(err.split()[-12:])
            raise LabError(
                f"lab {spec.name}: turning TX checksum offload off in {ns} failed: {why}; "
                f"run `netdiag lab down --name {spec.name}` and retry"
            )
