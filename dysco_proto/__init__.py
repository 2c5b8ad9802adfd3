"""Dysco protocol core, sans-IO.

Everything here is pure: no sockets, threads, clocks or P4Runtime. An
:class:`~dysco_proto.agent.Agent` takes events (punted packets, control messages, timers,
commands) and returns actions (entry writes, packet-outs, control messages, timers,
observations) that a target adapter executes. See ``docs/protocol-design.md``.
"""

__version__ = "0.1.0"
