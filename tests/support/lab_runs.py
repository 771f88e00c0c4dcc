"""Recorded lab runs: real `netdiag capture` bundles of the lab's scenarios, for the engine's tests.

Each lives in ``tests/fixtures/lab-runs/<name>/`` (manifest.json, pcaps/, probes/) and was made
by ``python -m tests.support.record_lab_runs`` (see that directory's README.md for how, when and
what the right answer is). :func:`lab_run` returns a bundle's path for ``netdiag.bundle.load_input``
or ``netdiag analyze``; :data:`SCENARIOS` says how each one is produced, so the integration
tests run exactly what was recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "lab-runs"

# The drop after decapsulation (scenario d): node 2 drops the 2nd of every 3 echo requests it
# forwards from its tunnel device to its pod, so the other requests show where it should have gone.
DROP_RULE = (
    "FORWARD", "-i", "ovn0", "-d", "192.168.0.7/32", "-p", "icmp", "--icmp-type", "echo-request",
    "-m", "statistic", "--mode", "nth", "--every", "3", "--packet", "1", "-j", "DROP",
)  # fmt: skip


@dataclass(frozen=True)
class Scenario:
    """How one lab run is made: a plan under probes/, and iptables rules held during the run."""

    name: str  # the fixture directory
    plan: str  # probes/<plan>.yaml
    rules: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (node, iptables rule spec) to insert
    clock_offsets: tuple[tuple[str, int], ...] = ()  # simulated skew of the lab it needs (ns)

    @property
    def plan_path(self) -> Path:
        return REPO / "probes" / f"{self.plan}.yaml"


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("nodeport-overlay", "nodeport-overlay"),  # a
        Scenario("clusterip-hairpin", "clusterip-hairpin"),  # b
        Scenario("nodeport-asymmetric", "nodeport-asymmetric"),  # c
        Scenario("overlay-drop", "overlay-drop", rules=(("kube-ovn-worker", DROP_RULE),)),  # d
        Scenario("nodeport-overlay-any", "nodeport-overlay-any"),  # e
        Scenario("pod-egress-snat", "pod-egress-snat"),  # f
        Scenario(  # a, with the worker's clock 3 s ahead (simulated by the lab)
            "nodeport-overlay-worker-clock+3s",
            "nodeport-overlay",
            clock_offsets=(("kube-ovn-worker", 3_000_000_000),),
        ),
    )
}


def lab_run(name: str) -> Path:
    """The bundle directory of the recorded run ``name`` (a key of :data:`SCENARIOS`)."""
    if name not in SCENARIOS:
        raise KeyError(f"no recorded lab run {name!r}; known: {', '.join(SCENARIOS)}")
    path = FIXTURES / name
    if not (path / "manifest.json").is_file():
        raise FileNotFoundError(
            f"{path}: recorded run missing; record it again with "
            "`python -m tests.support.record_lab_runs`"
        )
    return path
