"""The windows of the new path's third ACK (left anchor) and of the right anchor's window
update: 64 KiB in their sender's window scale (``THIRD_ACK_WINDOW >> wscale``), never the
field's maximum, which a host scales up to the 64 MiB that made its peer send beyond the real
receive window (the replace-fw stall, docs/controller.md). On the simulator (strict conntrack
boxes), one insertion: the boxes still pass every byte, the session still completes."""

from __future__ import annotations

from dysco_proto.actions import Action, SendPacket, Toward
from dysco_proto.agent import THIRD_ACK_WINDOW, Agent
from dysco_proto.packet import TcpFlags
from tests.proto.test_checkpoint import BOX1, CLIENT, SESSION, _build, _phase1, record_actions


def _pure_acks(actions: list[Action]) -> list[SendPacket]:
    return [a for a in actions if isinstance(a, SendPacket) and a.toward is Toward.NETWORK
            and a.segment.flags == TcpFlags.ACK and not a.segment.payload]  # fmt: skip


def test_third_ack_and_window_update_say_64_kib_in_their_senders_scale() -> None:
    run = _build()
    left, right = run.hosts[CLIENT].agent, run.hosts[BOX1].agent
    assert isinstance(left, Agent) and isinstance(right, Agent)
    got_left, got_right = record_actions(left), record_actions(right)
    _phase1(run)  # inserts box2 between the client (left anchor) and box1 (right anchor)
    hs_left = left.right_by_stuple[SESSION].hs
    assert hs_left.wscale_host  # the test means something only with window scaling
    (third,) = _pure_acks(got_left)
    assert third.segment.window == THIRD_ACK_WINDOW >> hs_left.wscale_host
    (update,) = _pure_acks(got_right)
    assert update.segment.window == THIRD_ACK_WINDOW >> hs_left.wscale_peer  # box1's host scale
    assert run.client.established and run.server[0].established
