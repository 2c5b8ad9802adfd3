"""Deterministic discrete-event simulator of many Dysco agents (``dysco sim``).

Modules: :mod:`~dysco_proto.sim.engine` (event queue), :mod:`~dysco_proto.sim.tcp` (TCP
endpoint model), :mod:`~dysco_proto.sim.boxes` (middleboxes), :mod:`~dysco_proto.sim.network`
(hosts, links, control channel: the target adapter), :mod:`~dysco_proto.sim.scenario`
(topology, workload, request slots), :mod:`~dysco_proto.sim.invariants` (checks) and
:mod:`~dysco_proto.sim.runner` (``run(SimParams) -> SimReport``).
"""
