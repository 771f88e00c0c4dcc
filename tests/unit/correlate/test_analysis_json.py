"""The analysis JSON validates against the shipped JSON Schema and honours --max-journeys."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema
import pytest

from netdiag.correlate import analyze
from netdiag.report.document import ANALYSIS_SCHEMA as SCHEMA
from netdiag.report.json import to_dict
from tests.support import builder
from tests.support import scenarios as sc


def schema() -> dict[str, Any]:
    text = resources.files("netdiag.report").joinpath("analysis.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@pytest.mark.parametrize(
    "cap",
    [
        sc.fip_ingress(count=2, arp_answered=False, collide=True),
        sc.lb_dnat(retransmit=True),
        sc.cross_node("vxlan", count=3, drop={1: 3}),
        sc.openshift_service(),
        sc.flannel_host_gw(ipv6=True),
        sc.udp_port_unreachable(),
        sc.fip_ingress(reply_via="kube-ovn-worker/eth1"),
    ],
    ids=["fip", "lb", "vxlan", "openshift", "v6", "icmp-error", "asymmetric"],
)
def test_output_validates_against_the_schema(cap: builder.Capture) -> None:
    doc = json.loads(json.dumps(to_dict(analyze(builder.table(cap)))))
    jsonschema.Draft202012Validator(schema()).validate(doc)
    assert doc["schema"] == SCHEMA


def test_schema_rejects_a_renamed_key() -> None:
    doc = json.loads(json.dumps(to_dict(analyze(builder.table(sc.fip_ingress())))))
    doc["journeys"][0]["transforms"][0]["hops"] = doc["journeys"][0]["transforms"][0].pop("to")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema())


def test_max_journeys_truncates_journeys_but_not_counts() -> None:
    a = analyze(builder.table(sc.fip_ingress(count=5, drop={2: 2})))
    doc = to_dict(a, max_journeys=2)
    assert doc["journeys_total"] == 9
    assert len(doc["journeys"]) == 2
    assert doc["truncated"]["journeys_written"] == 2
    dropped = next(x for x in doc["anomalies"] if x["kind"] == "dropped")
    assert dropped["journey"] in {j["id"] for j in doc["journeys"]}  # anomalous ones first
    assert len(doc["flows"]) == 4
    assert sum(t["packets"] for t in doc["translations"]) == 8  # the dropped one saw no DNAT
    assert to_dict(a)["truncated"] is None
