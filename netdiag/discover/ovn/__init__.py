"""OVN: where a target's traffic enters and leaves the cluster, from OVN's own databases.

``model`` holds the values, ``parse`` reads the tools' output into them, ``gateway`` matches an
IP to its router and active gateway chassis, ``live`` asks the nodes over the transports.
"""
