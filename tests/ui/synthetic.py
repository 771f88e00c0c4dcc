"""A large synthetic analysis document (~100k journeys), written fast as text.

Built from string templates rather than dicts so that making the file takes a second, not the
test's whole budget. Every 7th request is dropped (no reply, one anomaly); the others are DNATed
on node1 and answered.
"""

from __future__ import annotations

from pathlib import Path

_S = (
    '{{"point":"{p}","ts_ns":{t},"direction":"{d}","eth_src":"02:00:00:00:00:01",'
    '"eth_dst":"02:00:00:00:00:02","src":"{s}","dst":"{x}","sport":{sp},"dport":{dp},'
    '"ip_id":{i},"ttl":{ttl},"encap":null}}'
)
_CHANGES = (
    '[{{"kind":"dnat","before":"172.19.0.11:80","after":"192.168.{a}.{b}:8080"}},'
    '{{"kind":"ttl","before":64,"after":63}}]'
)


def _journey(jid: str, summary: str, sightings: list[str], changes: str) -> str:
    transforms = (
        f'[{{"from":"node1/eth1","to":"node1/veth1","latency_ns":41000,"changes":{changes}}}]'
        if len(sightings) > 2
        else "[]"
    )
    return (
        f'{{"id":"{jid}","fingerprint":"x","summary":"{summary}",'
        f'"sightings":[{",".join(sightings)}],"transforms":{transforms},"anomalies":[]}}'
    )


def write_large_analysis(
    path: Path, flows: int = 50_000, sightings_per_journey: int = 10
) -> tuple[int, int]:
    """Write the requests and replies of ``flows`` flows; returns (journeys, sightings)."""
    journeys: list[str] = []
    flow_docs: list[str] = []
    anomalies: list[str] = []
    points = ["client/eth0", "node1/eth1", "node1/veth1"]
    points += [f"node{n}/eth{n}" for n in range(2, sightings_per_journey)]
    total = 0
    for n in range(flows):
        t = 1_700_000_000_000_000_000 + n * 1_000_000
        sport = 1024 + n % 60000
        pod = f"192.168.{n % 250}.{n % 200 + 1}"
        req = [
            _S.format(
                p=p,
                t=t + k * 1000,
                d="in",
                s="172.19.0.1",
                x="172.19.0.11" if k < 2 else pod,
                sp=sport,
                dp=80 if k < 2 else 8080,
                i=n % 65536,
                ttl=64 if k < 2 else 63,
            )
            for k, p in enumerate(points[:sightings_per_journey])
        ]
        dropped = n % 7 == 0
        if dropped:
            req = req[:2]
        changes = _CHANGES.format(a=n % 250, b=n % 200 + 1)
        journeys.append(
            _journey(f"j{2 * n}", f"tcp syn 172.19.0.1:{sport} > 172.19.0.11:80", req, changes)
        )
        total += len(req)
        if dropped:
            flow_docs.append(f'{{"request":"j{2 * n}","reply":null,"symmetric":null}}')
            anomalies.append(
                f'{{"kind":"dropped","journey":"j{2 * n}","after_point":"node1/eth1",'
                f'"detail":"last seen at node1/eth1"}}'
            )
            continue
        rep = [
            _S.format(
                p=p,
                t=t + 500_000 + k * 1000,
                d="out",
                s=pod,
                x="172.19.0.1",
                sp=8080,
                dp=sport,
                i=(n + 7) % 65536,
                ttl=64,
            )
            for k, p in enumerate(reversed(points[:sightings_per_journey]))
        ]
        journeys.append(
            _journey(f"j{2 * n + 1}", f"tcp syn-ack {pod}:8080 > 172.19.0.1:{sport}", rep, "[]")
        )
        total += len(rep)
        flow_docs.append(f'{{"request":"j{2 * n}","reply":"j{2 * n + 1}","symmetric":true}}')
    point_docs = ",".join(
        f'{{"name":"{p}","node":"{p.split("/")[0]}","iface":"{p.split("/")[1]}","packets":{flows},'
        '"kernel_dropped":0,"clock_offset_ns":0,"clock_error_ns":1000}'
        for p in points
    )
    translations = (
        '[{"kind":"dnat","node":"node1","proto":"tcp","before":"172.19.0.11:80",'
        f'"after":"192.168.0.1:8080","packets":{flows}}}]'
    )
    path.write_text(
        '{"schema":"netdiag.analysis/1","points":['
        + point_docs
        + '],"journeys":['
        + ",\n".join(journeys)
        + '],"flows":['
        + ",".join(flow_docs)
        + '],"translations":'
        + translations
        + ',"anomalies":['
        + ",".join(anomalies)
        + "]}"
    )
    return len(journeys), total
