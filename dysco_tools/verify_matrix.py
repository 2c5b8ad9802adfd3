"""The Spin verification matrix's data: every configuration (topology and adversary budgets),
its witnesses, the sanity mutants that must fail, the expected search times that choose each
run's compiler flags, and the names the trail decoder prints. :mod:`dysco_tools.verify` runs
it (docs: dysco_proto/model/MODEL.md section 7)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from dysco_proto.model.lock_table import TABLE, HeldOp, LockMsg, Owner, Row, Status, Verdict

Defines = Mapping[str, "int | str"]


@dataclass(frozen=True)
class Config:
    """One model configuration: a topology (``CFG``) plus adversary budgets."""

    name: str
    cfg: int
    description: str
    defines: Defines = field(default_factory=dict)
    liveness: bool = True
    witnesses: tuple[tuple[str, str], ...] = ()
    live_defines: Defines | None = None  # smaller budgets for the (costlier) liveness run


@dataclass(frozen=True)
class Finding:
    """A protocol defect the model exhibits: this configuration must produce ``expect``."""

    name: str
    cfg: int
    summary: str
    defines: Defines = field(default_factory=dict)
    expect: str = "assertion violated"  # substring of pan's error line
    mode: str = "safety"
    mutant: str = ""  # a name from MUTANTS: the lock table is mutated before generating


def forget_hold_rows() -> tuple[Row, ...]:
    """The lock table with the injected bug: a request finding PENDING(r') is forwarded."""
    return tuple(
        replace(r, verdict=Verdict.FORWARD, held=HeldOp.KEEP)
        if r.msg is LockMsg.REQUEST and r.status is Status.PENDING and r.owner is Owner.OTHER
        else r
        for r in TABLE
    )


MUTANTS: dict[str, Callable[[], tuple[Row, ...]]] = {"forget-hold": forget_hold_rows}


COMPLETED = "la_ph[1]==6"
BOTH_PATHS = "cut[1]!=0&&nrl[1]!=0"  # the left anchor froze its cut and got new-path data
CANCELLED = "la_ph[1]==8"
# C's next segment waits for the left anchor's hold (data at or above its frozen cutoff)
HOST_HELD = "hold[1]&&t_nxt[0]>=cut[1]&&t_nxt[0]<=NDC+1"
# the waits after a hold (CFG 6, r2 after r1): when r2 locked, a byte r1's hold dropped was not
# sent again yet; the anchor waited until it was acknowledged (not expired), r2 completed
LEFT_WAITED = "la_wd[2]&&la_ph[2]==6"
RIGHT_WAITED = "ra_wd[2]&&la_ph[2]==6"
# a pure ack went on the new path only because its side's peer latch had fired (peer_acked,
# not ack_new) after the far anchor folded: the old rule would have sent it to a retired entry;
# on the left anchor's side (C's ack of S's data) / on the right anchor's side
PEER_ACKED_LEFT = "(w_packed&2)!=0"
PEER_ACKED_RIGHT = "(w_packed&1)!=0"

MATRIX: tuple[Config, ...] = (
    Config(
        "delete",
        1,
        "C-M-S, delete the transparent box M; 1 byte + FIN each way; 1 control loss",
        {"ND": 1, "CLOSS": 1},
        witnesses=(("completed", COMPLETED), ("two-path", BOTH_PATHS)),
    ),
    Config(
        "delete-dloss",
        1,
        "delete M; 1 data segment lost anywhere (a late old-path packet reaches a host through "
        "a retired entry; with one loss it is redundant: the handshake's window update and "
        "third ACK carry the cutoffs' acks, delete-dloss2 needs two losses)",
        {"ND": 1, "CLOSS": 0, "DLOSS": 1},
        liveness=False,  # 3.0 M states, 6 min on a loaded CI machine; delete/liveness covers it
        witnesses=(
            ("completed", COMPLETED),
            ("retired-entry", "w_retired"),
            ("stale-ack", "w_stale"),
        ),
    ),
    Config(
        "delete-dloss2",
        1,
        "delete M; FINs only; 2 data segments lost (finding lost-ack-after-fold: C's ack of "
        "S's FIN and C's third ACK both lost, C folds, S's retransmitted FIN below its cutoff "
        "reaches C's host only through C's retired old-path entry; sanity run retire-mutant)",
        {"ND": 0, "CLOSS": 0, "DLOSS": 2},
        witnesses=(
            ("completed", COMPLETED),
            ("retired-entry", "w_retired"),
            # a late old-path packet reached C's host through C's retired entry while S,
            # switched, could not fold yet (the mutant's stall, resolved)
            ("retired-before-peer-fold", "w_retired&&ra_ph[1]==3&&la_ph[1]==6"),
        ),
    ),
    Config(
        "delete-reorder",
        1,
        "delete M; 1 control loss and 1 control message overtaken by later ones",
        {"ND": 1, "CLOSS": 1, "CREORD": 1},
        liveness=False,
        witnesses=(("completed", COMPLETED),),
    ),
    Config(
        "insert",
        2,
        "C-S, insert the transparent box N; C sends 1 byte + FIN, S a FIN; 1 control loss, "
        "1 control duplicate; N checks every ack it forwards (finding newbox-ack: closed by "
        "the freeze-first new path, sanity run newbox-ack-mutant)",
        {"NDC": 1, "NDS": 0, "CLOSS": 1, "CDUP": 1},
        witnesses=(
            ("completed", COMPLETED),
            ("two-path", BOTH_PATHS),
            ("host-held", HOST_HELD),
        ),
        live_defines={"NDC": 1, "NDS": 0, "CLOSS": 1},
    ),
    Config(
        "replace",
        3,
        "C-M-S, replace M by N; C sends 1 byte + FIN, S a FIN; 1 control loss",
        {"NDC": 1, "NDS": 0, "CLOSS": 1},
        liveness=False,
        witnesses=(
            ("completed", COMPLETED),
            ("two-path", BOTH_PATHS),
            # the anchors' waits: the SYN (the SYN-ACK) overtook old-path data through M
            ("right-waits", "ra_ph[1]==5&&ack_hi[4]<ra_pcut[1]"),
            ("left-waits", "la_ph[1]==2&&la_gsa[1]&&la_ghs[1]&&ack_hi[1]<la_saseq[1]+1"),
        ),
    ),
    Config(
        "delete-proxy",
        4,
        "C-P-S, P shifts the streams by +2 (L->R) and +1 (R->L), like a proxy's ISNs or an "
        "inserted prefix; delete P (the anchors then translate); 1 control loss",
        {"ND": 1, "CLOSS": 1},
        liveness=False,
        witnesses=(
            ("completed", COMPLETED),
            ("two-path", BOTH_PATHS),
            ("translating", "ra_ph[1]==4&&lin[2]==2&&lout[2]==1"),
        ),
    ),
    Config(
        "contend",
        5,
        "C-M1-M2-S: C deletes M1 (anchors C..M2) while M1 deletes M2 (M1..S), overlapping "
        "on M1-M2; FINs only; 2 control losses",
        {"ND": 0, "CLOSS": 2},
        live_defines={"ND": 0, "CLOSS": 1},
        witnesses=(
            ("held", "hn[1]!=0"),
            ("r1-completed", "la_ph[1]==6"),
            ("r2-completed", "la_ph[2]==6"),
            ("r1-refused", "la_ph[1]==7"),
            ("cancelled", CANCELLED),
            ("held-then-refused", "was_held[1]&&la_ph[1]==7"),
            ("held-then-completed", "was_held[1]&&la_ph[1]==6"),
            ("box-hold-drop", "w_held"),
        ),
    ),
    Config(
        "contend-dup",
        5,
        "contend with 1 duplicated control message (without the fix of finding orphan-lock "
        "its end-state lock check fails: a late requestLock copy re-takes a lock)",
        {"ND": 0, "CLOSS": 0, "CDUP": 1},
        liveness=False,
        witnesses=(("held", "hn[1]!=0"), ("r2-completed", "la_ph[2]==6")),
    ),
    Config(
        "sequential",
        6,
        "C-P-S, N: delete the offset box P, then insert N on the resulting path (the second "
        "reconfiguration composes the first one's deltas); C sends 1 byte + FIN, S a FIN; "
        "1 control loss",
        {"NDC": 1, "NDS": 0, "CLOSS": 1},
        live_defines={"NDC": 1, "NDS": 0, "CLOSS": 0},
        witnesses=(
            ("r1-completed", "la_ph[1]==6"),
            ("both-completed", "la_ph[1]==6&&la_ph[2]==6"),
            ("r2-two-path", "la_ph[2]==4&&nrl[1]!=0"),
        ),
    ),
    Config(
        "after-hold-c",
        6,
        "sequential (delete P, then insert N), C's byte may go into r1's hold (sent, dropped, "
        "sent again once the hold ended): r2's left anchor waits before its freeze until "
        "the bytes C had sent are acknowledged, or the wait expires; C sends 1 byte + FIN, "
        "S a FIN; no loss (sanity run after-hold-mutant: without the wait the cutoff covers "
        "the dropped byte)",
        {"NDC": 1, "NDS": 0, "CLOSS": 0, "HDROP": 1},
        liveness=False,  # sequential/liveness runs the waits (without the drop)
        witnesses=(("left-waited", LEFT_WAITED), ("peer-acked-right", PEER_ACKED_RIGHT)),
    ),
    Config(
        "after-hold-s",
        6,
        "the mirror of after-hold-c: S's byte may go into r1's hold, r2's right anchor waits "
        "before its ackLock; S sends 1 byte + FIN, C a FIN; no loss. Also the regression "
        "configuration of the pure-ack steering (docs/pipeline.md 5.2): after the hold dropped "
        "S's first new-path byte, C's duplicate ack at S's cut goes on the new path once C's "
        "peer latch fired, not to S's retired entry (sanity run old-steer-mutant)",
        {"NDC": 0, "NDS": 1, "CLOSS": 0, "HDROP": 1},
        liveness=False,
        witnesses=(("right-waited", RIGHT_WAITED), ("peer-acked-left", PEER_ACKED_LEFT)),
    ),
    Config(
        "newbox-fail",
        7,
        "C-S, insert N; N may crash at any time until it has relayed the SYN-ACK; 1 control loss",
        {"ND": 1, "CLOSS": 1},
        witnesses=(
            ("crashed-cancelled", "failed[2]&&la_ph[1]==8"),
            ("completed", COMPLETED),
        ),
    ),
)

# Search seconds of each matrix run at -O2 on a 2-core CI machine (a clean-clone `make test`,
# the "time s" column), scaled by the state counts after the model's freeze seeded old_ack_hi
# (0f4d349: every run 14-40 % of its states before). Used only to order the jobs (longest
# first) and to pick the compiler flags (--opt auto); a run missing here counts as long. Update
# them when a budget changes.
SEARCH_S: dict[str, float] = {
    "delete:safety": 0.5,
    "delete:liveness": 5.3,
    "delete-dloss:safety": 0.9,
    "delete-dloss2:safety": 0.1,
    "delete-dloss2:liveness": 0.7,
    "delete-reorder:safety": 1.2,
    "insert:safety": 1.4,
    "insert:liveness": 1.6,
    "replace:safety": 0.6,
    "delete-proxy:safety": 0.5,
    "contend:safety": 7.9,
    "contend:liveness": 45.3,
    "contend-dup:safety": 5.2,
    "sequential:safety": 1.6,
    "sequential:liveness": 4.2,
    "after-hold-c:safety": 0.7,
    "after-hold-s:safety": 0.7,
    "newbox-fail:safety": 0.6,
    "newbox-fail:liveness": 7.3,
}

SANITY: tuple[Finding, ...] = (
    Finding(
        "lock-mutant",
        5,
        "sanity: the lock table with the injected bug (hold -> forward) must fail the model",
        {"ND": 0, "CLOSS": 0},
        mutant="forget-hold",
    ),
    Finding(
        "liveness-mutant",
        2,
        "sanity: a right anchor that never answers `ack` must violate the LTL claim",
        {"ND": 1, "CLOSS": 0, "MUT_IGNORE_ACK": 1},
        expect="acceptance cycle",
        mode="liveness",
    ),
    Finding(
        "newbox-ack-mutant",
        2,
        "sanity (finding newbox-ack): the previous new path (SYN at sent_hi - 1 with the host's "
        "ack, no hold, cutoffs frozen at the commit) lets a new-path segment acknowledge "
        "old-path bytes the new box never carried: N's ack check fails (OLD_ACK_LATE off: "
        "without the freeze's old_ack_hi seed the previous path also sends old-path ack "
        "copies after the far anchor folded, which would fail first)",
        {"ND": 1, "CLOSS": 0, "MUT_OLD_NEWPATH": 1, "NO_LATEACK": 1},
    ),
    Finding(
        "retire-mutant",
        1,
        "sanity (finding lost-ack-after-fold): an anchor that removes the old IN entry at its "
        "fold instead of retiring it, in delete-dloss2: C's ack of S's FIN and the third ACK "
        "are lost, C folds, S's retransmitted FIN finds no entry at C, S never completes "
        "(invalid end state)",
        {"ND": 0, "CLOSS": 0, "DLOSS": 2, "MUT_NO_RETIRE": 1},
        expect="invalid end state",
    ),
    Finding(
        "after-hold-mutant",
        6,
        "sanity (the waits after a hold, docs/testbed.md open finding A): without them "
        "(MUT_NO_DRAIN: r2's left anchor freezes at once), in after-hold-c r2's cutoff covers "
        "C's byte that r1's hold dropped before C sent it again: the anchors' waits would "
        "wait for C's backed-off retransmission timer (FRESH_CUT fails)",
        {"NDC": 1, "NDS": 0, "CLOSS": 0, "HDROP": 1, "MUT_NO_DRAIN": 1},
    ),
    Finding(
        "after-hold-mutant-s",
        6,
        "the same for the right anchor (after-hold-s without the wait: its ackLock at once, "
        "the freeze at the SYN covers S's byte that r1's hold dropped)",
        {"NDC": 0, "NDS": 1, "CLOSS": 0, "HDROP": 1, "MUT_NO_DRAIN": 1},
    ),
    Finding(
        "old-steer-mutant",
        6,
        "sanity (the pure-ack steering, docs/pipeline.md 5.2): with the previous rule (a pure "
        "ack on the new path only when it acks new-path data), in after-hold-s r1's hold drops "
        "S's byte at its cut, S folds, S's FIN reaches C on the new path out of order and C's "
        "duplicate ack at S's cut goes on the old path after C's peer latch fired: it would "
        "reach S's retired entry after its idle removal (OLD_ACK_LATE fails)",
        {"NDC": 0, "NDS": 1, "CLOSS": 0, "HDROP": 1, "MUT_OLD_STEER": 1},
    ),
)

# Open findings (protocol defects the model reproduces): none. Closed ones are matrix
# configurations with a sanity mutant in SANITY (MODEL.md 8).
FINDINGS: tuple[Finding, ...] = ()

NODE_NAMES: dict[int, tuple[str, ...]] = {
    1: ("C", "M", "S"),
    2: ("C", "S", "N"),
    3: ("C", "M", "S", "N"),
    4: ("C", "P", "S"),
    5: ("C", "M1", "M2", "S"),
    6: ("C", "P", "S", "N"),
    7: ("C", "S", "N"),
}
KINDS = {
    1: "seg",
    2: "requestLock",
    3: "ackLock",
    4: "nackLock",
    5: "cancelLock",
    6: "ackCancel",
    7: "synAck",
    8: "ack",
    9: "ackAck",
    10: "SYN(new path)",
}
SAY = (
    "LA-START",
    "LA-REFUSED-LOCALLY",
    "LA-LOCKED",
    "LA-CANCEL",
    "HOLD",
    "RA-LOCKED",
    "RA-STAGED",
    "RA-FOLD",
    "RA-REVERT",
    "TIMER-LOCK",
    "TIMER-SYN",
    "TIMER-ACK",
    "TIMER-CANCEL",
)
PHASES = {6: "completed", 7: "refused", 8: "cancelled"}
