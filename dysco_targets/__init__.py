"""The software targets' side of P4Runtime: the project's P4Runtime server
(:mod:`dysco_targets.server`, run by :mod:`dysco_targets.serve`) and its backends
(:mod:`dysco_targets.backends`: the DPDK agent over its control socket,
:mod:`dysco_targets.dpdk_ctl`, and the reference pipeline model). The controller talks to these
targets only over P4Runtime; nothing in :mod:`controller` imports this package (except its CLI
and the benches' entry points).
"""
