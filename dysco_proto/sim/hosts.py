"""The real agent and data path of a simulated host, and how the runner reads an agent.

The runner takes factories (:data:`AgentFactory`, :data:`DataPathFactory`) so tests can put
stand-ins in; these are the defaults, and the helpers that read an agent's locks and state
whether it is the real :class:`~dysco_proto.agent.Agent` or a stand-in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from dysco_proto.packet import FiveTuple
from dysco_proto.policy import Policy
from dysco_proto.sim.network import AgentLike, DataPathLike
from dysco_proto.sim.scenario import HostSpec, SimParams
from dysco_proto.wire import ControlCodec, MsgType

SIM_KEY = b"dysco-simulator-control-key-0001"

AgentFactory = Callable[[HostSpec, list[Policy], int, SimParams], AgentLike]
DataPathFactory = Callable[[HostSpec, SimParams], DataPathLike]


def default_agent(
    spec: HostSpec, policies: list[Policy], index: int, params: SimParams
) -> AgentLike:
    """A real :class:`dysco_proto.agent.Agent` for ``spec``."""
    from dysco_proto.agent import Agent, AgentConfig
    from dysco_proto.policy import PolicyTable

    return Agent(
        AgentConfig(
            addresses=(spec.ip,),
            key=SIM_KEY,
            policies=PolicyTable(policies),
            seed=params.seed * 7919 + index,
            msg_id_base=index << 24,
            hold_timeout=0.5,  # below the 2 s idle timeout of the simulated data paths
        )
    )


def default_datapath(spec: HostSpec, params: SimParams) -> DataPathLike:
    """A real :class:`dysco_proto.datapath.DataPath` for ``spec``."""
    from dysco_proto.datapath import DataPath

    return DataPath([spec.ip], idle_timeout=params.idle_timeout)


LOCK_RELEVANT = ("reconfig.", "lock.", "session.removed", "relate.")
_LOCK_MESSAGES = frozenset(
    {
        MsgType.REQUEST_LOCK,
        MsgType.ACK_LOCK,
        MsgType.NACK_LOCK,
        MsgType.CANCEL_LOCK,
        MsgType.ACK_CANCEL,
        MsgType.RIGHT_REQUEST,
    }
)


def is_lock_message(data: bytes) -> bool:
    return ControlCodec.peek_type(data) in _LOCK_MESSAGES


def locks_of(agent: AgentLike) -> Mapping[FiveTuple, tuple[str, Any]]:
    """The agent's lock table (subsession -> (status, request)), free locks omitted.

    Uses the agent's cheap ``locks()``; stand-ins without it fall back to ``state().locks``.
    """
    locks = getattr(agent, "locks", None)
    if callable(locks):
        return cast(Mapping[FiveTuple, tuple[str, Any]], locks())
    st = state_of(agent)
    return cast(Mapping[FiveTuple, tuple[str, Any]], st.locks) if st is not None else {}


def state_of(agent: AgentLike) -> Any:
    state = getattr(agent, "state", None)
    return state() if callable(state) else None
