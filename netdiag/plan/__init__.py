"""Probe plans (``probes/*.yaml``): where to capture, what to send, and for how long.

A plan names capture points abstractly (node selectors, device roles, pods) so the same plan
works on any inventory; :func:`resolve` turns plan + inventory into concrete
``(node, iface, netns)`` points and probe command lines. Resolution is pure: interface globs
such as ``*_h`` stay patterns until :func:`expand_globs` gets the nodes' ``ip -j link`` lists.

The code lives in :mod:`.model` (dataclasses, constants), :mod:`.parse` (YAML loading and
validation) and :mod:`.resolve` (resolution, capture filter, glob expansion); this package
re-exports the public names so ``from netdiag.plan import ...`` keeps working.
"""

from __future__ import annotations

from netdiag.plan.model import (
    CapturePoint,
    CaptureSpec,
    IfaceSelector,
    Plan,
    Probe,
    ResolvedPlan,
    ResolvedProbe,
)
from netdiag.plan.parse import load_plan, parse_plan
from netdiag.plan.resolve import derive_filter, expand_globs, point_filter, resolve

__all__ = [
    "CapturePoint",
    "CaptureSpec",
    "IfaceSelector",
    "Plan",
    "Probe",
    "ResolvedPlan",
    "ResolvedProbe",
    "derive_filter",
    "expand_globs",
    "load_plan",
    "parse_plan",
    "point_filter",
    "resolve",
]
