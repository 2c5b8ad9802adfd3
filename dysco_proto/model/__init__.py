"""The Spin model of the reconfiguration protocol and its executable link to the Python core.

- :mod:`dysco_proto.model.lock_table`: the lock transition relation, one machine-readable table.
- :mod:`dysco_proto.model.gen`: generates ``lock_gen.pml`` (the model's lock transitions) from it.
- :mod:`dysco_proto.model.phase_pml`: generates ``phase_gen.pml`` (the model's anchor phase
  constants and the check of every model phase change against ``dysco_proto/phase_table.py``).
- ``dysco.pml``: the Promela model (hand-written, includes ``lock_gen.pml`` and
  ``phase_gen.pml``); see ``MODEL.md``.
- the runner that builds and runs ``pan`` for the configuration matrix is
  :mod:`dysco_tools.verify` (outside the protocol core).
- :mod:`dysco_proto.model.link`: checks the real agent's lock behaviour against the table
  (conformance over every state and message, and replay of multi-agent traces).
- :mod:`dysco_proto.model.driver`: a small deterministic multi-agent driver for those traces.
"""
