"""The Dysco agent (sans-IO): :class:`Agent` and its records.

- :mod:`.core`: the :class:`Agent` class, event dispatch (packets, control messages,
  snapshots, timers, commands);
- :mod:`.session`: session set-up and teardown; :mod:`.relay`: hop-by-hop control messages
  (the lock relay); :mod:`.left`, :mod:`.right`: the anchors (their phases are the table
  :mod:`dysco_proto.phase_table`); :mod:`.views`: read-only views;
- :mod:`.base`: shared state and action helpers; :mod:`.records`: the data records.
"""

from dysco_proto.agent.core import Agent
from dysco_proto.agent.records import (
    CLOSE_CHECK_MAX,
    HOLD,
    THIRD_ACK_WINDOW,
    AgentConfig,
    HandshakeRecord,
    LeftAnchor,
    Pending,
    RightAnchor,
    RightRequestState,
    SessionRecord,
    Side,
)
from dysco_proto.agent.views import AgentState, ReconfigView, SessionView, SideView
from dysco_proto.phase_table import LeftPhase, RightPhase

__all__ = [
    "CLOSE_CHECK_MAX",
    "HOLD",
    "THIRD_ACK_WINDOW",
    "Agent",
    "AgentConfig",
    "AgentState",
    "HandshakeRecord",
    "LeftAnchor",
    "LeftPhase",
    "Pending",
    "ReconfigView",
    "RightAnchor",
    "RightPhase",
    "RightRequestState",
    "SessionRecord",
    "SessionView",
    "Side",
    "SideView",
]
