"""The flight recorder (issue 16): an always-on tcpdump ring per capture point, snapshotted later.

Pure logic lives in :mod:`~netdiag.record.ring` (sizes, durations, leases, names),
:mod:`~netdiag.record.listing` (the nodes' listings, window selection) and
:mod:`~netdiag.record.cut` (cutting ring files to a window); the remote ``sh`` scripts in
:mod:`~netdiag.record.scripts`; the SSH side in :mod:`~netdiag.record.nodes`,
:mod:`~netdiag.record.snapshot` and :mod:`~netdiag.record.watch`.
"""
