"""``netdiag trace FROM TO``: plan, capture, probe and answer in one command.

- ``model``     what a trace is asked, what it learnt of the nodes, the plan it made (values)
- ``endpoints`` FROM/TO as typed: ``pod:NS/NAME``, a node, an IP, ``IP:PORT`` (pure)
- ``planner``   inventory + what the nodes showed + FROM/TO -> a probe plan (pure), with
  ``addresses`` (TO as an address: pod, node, DNAT, OVN gateway, outside) and ``context``
  (the nodes chosen so far and why)
- ``survey``    a node's discovery view and NAT table as the planner's facts (pure)
- ``render``    that plan as an ordinary ``probes/*.yaml`` file, commented (pure)
- ``verdict``   the analysis of the run -> where the packet went, in a few lines (pure)
- ``live``      asks the nodes (discovery, NAT tables, OVN gateways) over the transports

The capture itself is :mod:`netdiag.orchestrator`'s, unchanged: a trace is a plan it writes.
"""
