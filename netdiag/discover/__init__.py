"""Which device carries a pod: pure parsers and matching, plus a live runner over the transports.

- ``iproute``  ``ip -j`` JSON and ``ip a`` / ``ip route`` / ``route -n`` text -> Link, Route
- ``match``    veth peer matching (ifindex + link_netnsid) between pod namespaces and the host
- ``roles``    path devices by role: uplink, join (ovn0), br-int, tunnel, tun0, bridge
- ``ovs``      ovs-vsctl JSON/``show``, dump-ports-desc, kube-ovn / ovn-k8s ``external_ids``
- ``cni``      calico (cali*, 169.254.1.1), flannel (bridge fdb), OpenShift SDN (br0, tun0)
- ``targets``  pod IP / ``pod:NS/NAME`` / node -> nodes to ask
- ``live``     the generic strategy run on nodes (imports the transports; the rest does no I/O)
- ``kubectl``  an inventory from ``kubectl get nodes/pods/ds -o json``
"""
