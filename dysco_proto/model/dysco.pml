/*
 * Dysco reconfiguration protocol, as dysco_proto implements it (docs/protocol-design.md, 4).
 * Our own model; abstractions and what is not modelled: MODEL.md next to this file.
 *
 * One process per agent (node). Nodes sit on a chain C = node 0, boxes, S; new-path boxes sit
 * off the chain. Every node has one inbox (per-sender FIFO; arrival order across senders is
 * free). A node handles one message atomically, as Agent.handle does. Data plane and agent of
 * a node are merged: the data-plane rules (lookup, rewrite, registers, two-path steering)
 * mirror dysco_proto/datapath.py, the control logic mirrors dysco_proto/agent/, and the lock
 * transitions come from lock_gen.pml, generated from dysco_proto/model/lock_table.py.
 *
 * Configuration: -DCFG=<n> (see the CFG blocks below); budgets can be overridden with -D.
 */

/* ------------------------------------------------------------------ configuration */

#ifndef CFG
#define CFG 1
#endif

#define NONE 255

#if CFG == 1
/* DELETE: C(0) - M(1) - S(2); delete the transparent box M. */
#define NN 3
#define NREQ 1
#define SNODE 2
#define LA(r) 0
#define RA(r) 2
#define NBOX(r) NONE
#define NS1(r) 3
#define NS2(r) 0
#define OFF_LR 0
#define OFF_RL 0
#define TRK(s) ((s) == 1 || (s) == 4)
#endif

#if CFG == 2
/* INSERT: C(0) - S(1); insert the transparent box N(2). */
#define NN 3
#define NREQ 1
#define SNODE 1
#define LA(r) 0
#define RA(r) 1
#define NBOX(r) 2
#define NS1(r) 2
#define NS2(r) 3
#define OFF_LR 0
#define OFF_RL 0
#define TRK(s) ((s) == 1 || (s) == 2)
#endif

#if CFG == 3
/* REPLACE: C(0) - M(1) - S(2); replace M by N(3). */
#define NN 4
#define NREQ 1
#define SNODE 2
#define LA(r) 0
#define RA(r) 2
#define NBOX(r) 3
#define NS1(r) 3
#define NS2(r) 4
#define OFF_LR 0
#define OFF_RL 0
#define TRK(s) ((s) == 1 || (s) == 4)
#endif

#if CFG == 4
/* PROXY: C(0) - P(1) - S(2); P shifts both byte streams (a proxy with its own ISNs, or a box
   that inserts bytes); delete it, the anchors then translate. */
#define NN 3
#define NREQ 1
#define SNODE 2
#define LA(r) 0
#define RA(r) 2
#define NBOX(r) NONE
#define NS1(r) 3
#define NS2(r) 0
#define OFF_LR 2
#define OFF_RL 1
#define TRK(s) ((s) == 1 || (s) == 4)
#endif

#if CFG == 5
/* CONTEND: C(0) - M1(1) - M2(2) - S(3); r1 = C deletes M1 (anchors C..M2), r2 = M1 deletes
   M2 (anchors M1..S), concurrently; the segments overlap on subsession M1-M2. */
#define NN 4
#define NREQ 2
#define SNODE 3
#define LA(r) ((r) == 1 -> 0 : 1)
#define RA(r) ((r) == 1 -> 2 : 3)
#define NBOX(r) NONE
#define NS1(r) ((r) == 1 -> 4 : 5)
#define NS2(r) 0
#define OFF_LR 0
#define OFF_RL 0
#define OVERLAP 1
#define TRK(s) ((s) == 1 || (s) == 3 || (s) == 4 || (s) == 6)
#endif

#if CFG == 6
/* SEQUENTIAL: C(0) - P(1) - S(2), N(3). r1 deletes the offset box P; once r1 has ended, r2
   inserts N between C and S (on whatever path r1 left). Two reconfigurations of one session,
   the second one composing the deltas the first one installed. */
#define NN 4
#define NREQ 2
#define SNODE 2
#define LA(r) 0
#define RA(r) 2
#define NBOX(r) ((r) == 1 -> NONE : 3)
#define NS1(r) ((r) == 1 -> 3 : 4)
#define NS2(r) ((r) == 1 -> 0 : 5)
#define OFF_LR 2
#define OFF_RL 1
#define SEQUENTIAL 1
#define TRK(s) ((s) == 1 || (s) == 4)
#endif

#if CFG == 7
/* FAIL: C(0) - S(1); insert N(2), which may crash at any time before the left anchor commits. */
#define NN 3
#define NREQ 1
#define SNODE 1
#define LA(r) 0
#define RA(r) 1
#define NBOX(r) 2
#define NS1(r) 2
#define NS2(r) 3
#define OFF_LR 0
#define OFF_RL 0
#define CANFAIL(n) ((n) == 2)
#define TRK(s) ((s) == 1 || (s) == 2)
#endif

#ifndef NN
#error "unknown CFG"
#endif

/* budgets (all runs are finite; a budget bounds the adversary, not the protocol) */
#ifndef ND
#define ND 1            /* data bytes per direction (then FIN) ... */
#endif
#ifndef NDC
#define NDC ND          /* ... or C's bytes */
#endif
#ifndef NDS
#define NDS ND          /* ... and S's bytes */
#endif
#define NDE(e) ((e) == 0 -> NDC : NDS)      /* bytes endpoint e sends */
#ifndef CLOSS
#define CLOSS 1         /* control messages the network may lose */
#endif
#ifndef CDUP
#define CDUP 0          /* control messages the network may duplicate */
#endif
#ifndef CREORD
#define CREORD 0        /* control messages the network may delay behind later ones */
#endif
#ifndef DLOSS
#define DLOSS 0         /* data segments the network may lose */
#endif
#ifndef RTX
#define RTX 2           /* go-back-N retransmission timeouts per endpoint */
#endif
#ifndef MAXRET
#define MAXRET 1        /* AgentConfig.max_retries (lock and cancel retransmissions) */
#endif
#ifndef SYNRET
#define SYNRET 1        /* AgentConfig.syn_retries */
#endif
#ifndef QSZ
#define QSZ 10          /* inbox capacity; every send asserts room */
#endif
#ifndef CANFAIL
#define CANFAIL(n) 0
#endif
#ifdef MUT_NO_DRAIN
#define DRAINS 0        /* mutant: no wait after a hold (the freeze and the ackLock at once) */
#else
#define DRAINS 1
#endif
#ifndef HDROP
#define HDROP 0         /* host data segments sent into their own anchor's hold (dropped) */
#endif
#ifndef NO_BOXACK
#define BOXACK 1        /* every box checks the acks it forwards (finding newbox-ack) */
#endif
#ifndef NO_LATEACK
#define LATEACK 1       /* no pure ack on an old path whose far anchor folded (OLD_ACK_LATE) */
#endif
#define HMAX NREQ
#define NR1 (NREQ + 1)
#define HI(n, r) ((n) * NR1 + (r))
#define FIRST(r) (NBOX(r) != NONE -> NBOX(r) : RA(r))
#define EP(n) ((n) == 0 -> 0 : 1)
#define RB(e) ((e) == 0 -> OFF_RL : OFF_LR)   /* receive-space offset of endpoint e */

/* ------------------------------------------------------------------ constants */

/* message kinds */
#define K_SEG 1       /* TCP segment: a = seq, b = ack, c = flags, d = byte value */
#define K_REQ 2       /* requestLock: c = delta_lr */
#define K_ACKL 3      /* ackLock: c = delta_lr, d = delta_rl */
#define K_NACKL 4
#define K_CANCEL 5
#define K_ACKC 6      /* ackCancel */
#define K_SYNACKM 7   /* synAck message (UDP, right anchor -> left anchor) */
#define K_ACKM 8      /* ack message: a = cutoff */
#define K_ACKACK 9    /* ackAck message: a = cutoff */
#define K_NSYN 10     /* new-path TCP SYN carrying the syn message: a = seq, b = ack,
                         c = phi_lr, d = phi_rl */

/* TCP flags of K_SEG */
#define F_ACK 1
#define F_FIN 2
#define F_DATA 4
#define F_SYNACK 8

/* lock status (lock_gen.pml) and verdicts */
#define L_UNL 0
#define L_PEND 1
#define L_LOCKED 2
#define V_FORWARD 0
#define V_HOLD 1
#define V_NACK 2
#define V_DROP 3

/* anchor phases (LA_*, RA_*: PREPARING, COMMITTING and SWITCHING are probe round trips,
   merged), the phase table's triggers (T_*) and the phase checks LA_PHASE / RA_PHASE,
   generated from dysco_proto/phase_table.py */
#include "phase_gen.pml"

#define LA_ACTIVE(r) (la_ph[r] >= LA_LOCKING && la_ph[r] <= LA_CANCELLING)
#define LA_ENDED(r) (la_ph[r] >= LA_COMPLETED)
#define STALE(r) (la_ph[r] >= LA_CANCELLING)
#define GRANTED(r) (la_ph[r] >= LA_SYNSENT && la_ph[r] <= LA_SWITCHED)
/* a lock message may find a non-matching lock only if it is late: its request has ended or is
   being cancelled at its left anchor, or this lock already saw r's release (a duplicate) */
#define LATE(n, r) (STALE(r) || seen[HI(n, r)])

#define RA_ACTIVE(r) ((ra_ph[r] >= RA_LOCKED && ra_ph[r] <= RA_SWITCHED) || ra_ph[r] == RA_PREP)

#define R_C 0
#define R_S 1
#define R_BOX 2

/* ------------------------------------------------------------------ state */

chan inbox[NN] = [QSZ] of { byte, byte, byte, byte, byte, byte, byte, byte };

byte role[NN];
byte boff_lr[NN];               /* box offsets: L->R seq += boff_lr, R->L seq += boff_rl */
byte boff_rl[NN];
/* sides: subsession (0 = none), neighbour, seq deltas in/out (ack deltas are the negated
   seq deltas of the opposite direction, as Agent computes them); all arithmetic mod 256 */
byte lsub[NN]; byte lpeer[NN]; byte lin[NN]; byte lout[NN];
byte rsub[NN]; byte rpeer[NN]; byte rin[NN]; byte rout[NN];
/* staged new path: right anchor (left side, NEW IN entry + staged OUT) ... */
byte lnew[NN]; byte lnewpeer[NN]; byte lnin[NN]; byte lnout[NN];
/* ... and left anchor (right side; its new deltas are zero) */
byte rnew[NN]; byte rnewpeer[NN];
/* retired old-path IN entries (Agent's Side.retired): a fold keeps the old IN entry, with its
   old deltas and epoch, so late old-path packets still reach the host; one per side (the
   latest fold), never removed (their idle removal is a timing assumption, MODEL.md 2) */
byte lret[NN]; byte lrin[NN]; byte lrout[NN];
byte rret[NN]; byte rrin[NN]; byte rrout[NN];
byte lbusy[NN]; byte rbusy[NN];
/* freeze-first new path (docs/protocol-design.md 4.2): hold[sl] = the slot's OUT entry has the
   HOLD rewrite staged (data at or above the cutoff, and pure acks steered to the new path, are
   not sent on either path). An endpoint's own data above a hold is modelled as not sent yet
   (EP_HELD: the host sends it once the hold ends, which is the drop plus the host's
   retransmission without the states in between). A segment a box forwards into a hold is
   dropped and its endpoint retransmits once that hold ends (hdrop[e] = slot + 1, hdcut[e] = the
   cutoff below which the retransmission goes on the old path); so is a held pure ack (its data's
   sender retransmits). Those retransmissions do not use the RTX budget: the drop is the
   protocol's, not the network's. */
bit hold[2 * NN]; byte hdrop[2]; byte hdcut[2];
/* the waits after a hold (Side.after_hold, AgentBase._hold_drained; docs/protocol-design.md
   4.2): ah[sl] = the side's last reconfiguration froze a cutoff (its hold may have dropped
   host bytes, which the host sends again only when its backed-off timer fires). Its next
   reconfiguration waits, holding nothing, until what the host had sent (drain_to: la_dto /
   ra_dto, the slot's sent_hi when the wait starts; 0 = not waiting) is acknowledged, or the
   bounded wait expires (nondeterministic; the right anchor's ra_xp keeps it for its freeze,
   which comes later, at the SYN): the left anchor before its freeze
   (its phase stays LA_SYNSENT, the table's PREPARING, with no cutoff and no SYN yet), the
   right anchor before its ackLock (RA_LOCKED). An endpoint's data goes into its own anchor's
   hold (sent, raising sent_hi, dropped) only within the budget HDROP (else it is not sent
   yet, EP_HELD); the drop's hold ends (hdcut = 255) when the next hold on its slot starts. */
bit ah[2 * NN]; byte la_dto[NR1]; byte ra_dto[NR1]; bit ra_xp[NR1];
byte hdq = HDROP;
/* a byte of the endpoint whose data leaves through slot sl was dropped by a hold on sl and
   not sent again yet */
#define DROP_PENDING(sl) (hdrop[ORIG(sl)] == (sl) + 1 && hdcut[ORIG(sl)] != 0)
#define HS(n) ((n) == 0 -> 1 : 2 * SNODE)
#define EP_HELD(n, e) (hold[HS(n)] && t_nxt[e] >= cut[HS(n)])
#define ORIG(sl) ((sl) % 2 == 1 -> 0 : 1)   /* the endpoint whose data leaves through slot sl */
bit fin_lr[NN]; bit fin_rl[NN];
#define CLOSING(n) (fin_lr[n] && fin_rl[n])
bit failed[NN];
bit sa_relayed[NN];   /* a box relayed a new-path SYN-ACK: its new path is established */

/* lock of each node's right side; held FIFO; held messages keyed by (node, request) */
byte lk[NN]; byte lkr[NN]; byte hq[NN * HMAX]; byte hn[NN];
/* seen[HI(n, r)]: r has ended at node n's lock: r released it (nack, cancel or finish) or
   the lock refused r (nack at a request, or a held r refused when another was granted) */
bit seen[NN * NR1];
bit hmv[NN * NR1]; byte hmsub[NN * NR1]; byte hmd[NN * NR1]; byte hmrs[NN * NR1];

/* data-plane registers per slot (slot 2n = left side of n, 2n+1 = right side); 0 = unset */
byte sent_hi[2 * NN]; byte ack_hi[2 * NN]; byte rack_hi[2 * NN];
byte nrl[2 * NN]; byte cut[2 * NN]; byte oah[2 * NN];

/* reconfiguration requests (index 1..NREQ) */
byte la_ph[NR1]; byte la_rt[NR1]; byte la_plr[NR1]; byte la_prl[NR1];
byte la_sseq[NR1]; byte la_sack[NR1]; byte la_saseq[NR1]; bit la_gsa[NR1]; bit la_ghs[NR1];
byte la_cut[NR1]; byte la_pcut[NR1];
byte ra_ph[NR1]; byte ra_plr[NR1]; byte ra_sseq[NR1]; byte ra_sack[NR1];
byte ra_cut[NR1]; byte ra_pcut[NR1];
bit gaveup[NR1];     /* the left anchor stopped retransmitting cancelLock without an ackCancel */

/* TCP endpoints (0 = C, 1 = S): snd_una, snd_nxt, snd_max, rcv_nxt, retransmission budget */
byte t_una[2]; byte t_nxt[2]; byte t_max[2]; byte t_rcv[2]; byte t_rtx[2];

/* messages in transit: control messages per request, and data segments. Retransmission
   timers fire when nothing of theirs is left in the network (the loss was certain); they are
   functions of the inbox contents, so they add no states. */
byte infl[NR1]; byte dinfl;
#define IS_CTRL(k, c) ((k) != K_SEG || ((c) & F_SYNACK))
#define INFLIGHT(k, c, r, delta) if :: IS_CTRL(k, c) -> infl[r] = infl[r] + delta :: else -> dinfl = dinfl + delta fi

/* adversary budgets */
byte closs = CLOSS; byte cdup = CDUP; byte creord = CREORD; byte dloss = DLOSS;

#ifdef WITNESS
bit was_held[NR1];    /* witness runs only: request r was held somewhere */
bit w_retired;        /* ... a late old-path packet reached a host through a retired entry */
bit w_stale;          /* ... the stale-ack rule raised or dropped an old-path ack */
bit w_held;           /* ... a box's segment or a pure ack went into a hold (dropped) */
byte w_packed;        /* ... a pure ack went on the new path only because the side's peer latch
                         had fired (not ack_new), after the far anchor folded: 1 on a right
                         anchor's side, 2 on a left anchor's (PACKED_SIDE) */
#define PACKED_SIDE(sl) ((sl) % 2 == 1 -> 2 : 1)
bit la_wd[NR1];       /* ... r's left anchor, after a hold that dropped a byte its host had not
                         sent again yet, waited until it was acked (not expired) */
bit ra_wd[NR1];       /* ... r's right anchor did (its ackLock waited) */
#define WIT(x) x = 1
#define UNWIT(x) x = 0
#else
#define UNWIT(x) skip
#define WIT(x) skip
#endif

#ifdef BOXACK
/* what each box carried: highest seq+len L->R (box left space), R->L (box right space) */
byte cl[NN]; byte cr[NN];
#endif

#include "lock_gen.pml"

/* ------------------------------------------------------------------ properties */

#define EP_DONE(e) (t_una[e] == NDE(e) + 2 && t_rcv[e] == RB(e) + NDE(1 - (e)) + 2)
#if NREQ == 1
#define REQS_ENDED (LA_ENDED(1) && !RA_ACTIVE(1))
#else
#define REQS_ENDED (LA_ENDED(1) && !RA_ACTIVE(1) && LA_ENDED(2) && !RA_ACTIVE(2))
#endif
#define ALL_DONE (EP_DONE(0) && EP_DONE(1) && REQS_ENDED)

/* liveness: every request that starts ends (completed, refused or cancelled) */
ltl live {
#if NREQ > 1
  [] ((la_ph[1] != LA_IDLE) -> <> (la_ph[1] >= LA_COMPLETED)) &&
  [] ((la_ph[2] != LA_IDLE) -> <> (la_ph[2] >= LA_COMPLETED))
#else
  [] ((la_ph[1] != LA_IDLE) -> <> (la_ph[1] >= LA_COMPLETED))
#endif
}

/* ------------------------------------------------------------------ sending */

/* every send asserts room: a full inbox would block inside an atomic step */
inline SEND(to, k, s, r, a, b, c, d) {
  assert(nfull(inbox[to]));
  inbox[to]!k, s, r, (a) & 255, (b) & 255, (c) & 255, (d) & 255, n;
  if :: IS_CTRL(k, c) -> infl[r]++ :: else -> dinfl++ fi
}

/* ------------------------------------------------------------------ data plane */

/* event codes of SAY (decoded by verify.py) */
#define E_LA_START 1
#define E_LA_REFUSED_LOCALLY 2
#define E_LA_LOCKED 3
#define E_LA_CANCEL 4
#define E_HOLD 5
#define E_RA_LOCKED 6
#define E_RA_STAGED 7
#define E_RA_FOLD 8
#define E_RA_REVERT 9
#define E_TIMER_LOCK 10
#define E_TIMER_SYN 11
#define E_TIMER_ACK 12
#define E_TIMER_CANCEL 13
#define SAY(what, r) printf("EV %d SAY %d r%d\n", n, what, r)

inline SMAX(x, v) { if :: (v) > x -> x = (v) :: else -> skip fi }

/* OUT lookup on a side: registers (host space), then one path or two-path steering.
   Segments carry one sequence unit, so a segment never straddles the cutoff. */
inline REG_OUT(sl) {
  if
  :: TRK(sl) ->
     SMAX(sent_hi[sl], sq + ((fl & (F_DATA | F_FIN)) != 0));
     if :: (fl & F_ACK) -> SMAX(ack_hi[sl], ak) :: else -> skip fi
  :: else -> skip
  fi
}

/* the peer cut of slot sl's two-path entry (MappingEntry.peer_cut, docs/pipeline.md 5.2):
   installed with the real new path when the anchor switches (left anchor: ackAck, the
   request rbusy; right anchor: ack, the request lbusy), never while a HOLD rewrite is staged;
   0 = none. The entry is replaced at the fold (no two-path steering after it). */
#define PCUT(sl) ((sl) % 2 == 1 -> \
  (la_ph[rbusy[(sl) / 2]] == LA_SWITCHED -> la_pcut[rbusy[(sl) / 2]] : 0) : \
  (ra_ph[lbusy[(sl) / 2]] == RA_SWITCHED -> ra_pcut[lbusy[(sl) / 2]] : 0))
/* the side's peer latch (the completion's second half): its host acknowledged all of the
   peer's old-path data, ack_hi (after this packet's update) >= peer_cut */
#define LATCHED(sl) (PCUT(sl) != 0 && ack_hi[sl] >= PCUT(sl))
/* the far anchor of slot sl's two-path entry has folded: its old IN entry is retired */
#define PEER_FOLDED(sl) ((sl) % 2 == 1 -> ra_ph[rbusy[(sl) / 2]] == RA_DONE : \
  la_ph[lbusy[(sl) / 2]] == LA_COMPLETED)
#ifdef MUT_OLD_STEER
#define PEER_ACKED(sl) 0      /* mutant: the previous rule, a pure ack goes NEW only on ack_new */
#else
#define PEER_ACKED(sl) (hasack && LATCHED(sl))
#endif

/* property (the retired entry's idle removal): the agent removes a retired old-path IN entry
   after retired_timeout unused (MODEL.md 2); that bounds the late packets it can still take to
   the peer's retransmissions and what was in flight at the fold. A pure ack the peer's host
   sends later (a duplicate ack, a window update, a keepalive) may come any time after, so
   none may go on the old path once the far anchor folded and this side's peer latch fired
   (it would reach the far host unrewritten on the subsession tuple: an RST). */
inline OLD_ACK_LATE(sl) {
#ifdef LATEACK
  if
  :: LATCHED(sl) && PEER_FOLDED(sl) -> printf("EV %d LATE-OLD-PATH-ACK seq=%d ack=%d\n", n, sq, aold)
  :: else -> skip
  fi;
  assert(!(LATCHED(sl) && PEER_FOLDED(sl)))
#else
  skip
#endif
}

/* datapath.DataPath._steer on one segment (sq, ak, fl, vl): a pure ack goes on the new path
   iff it acks new-path data (ack_new) or the side's peer latch fired (peer_acked) */
inline STEER(sl, osub, opeer, ods, oda, nsub, npeer, nds, nda) {
  hasack = ((fl & F_ACK) != 0);
  acknew = (hasack && nrl[sl] != 0 && ak > nrl[sl]);
  pold = 0; pnew = 0; xo = 0; xn = 0; oak = ak; aold = ak;
  if
  :: (fl & (F_DATA | F_FIN)) == 0 ->
     if
     :: acknew || PEER_ACKED(sl) ->
        pnew = 1;
#ifdef WITNESS
        if :: !acknew && PEER_FOLDED(sl) -> w_packed = w_packed | PACKED_SIDE(sl) :: else -> skip fi
#endif
     :: else -> pold = 1
     fi
  :: (fl & (F_DATA | F_FIN)) != 0 && (cut[sl] == 0 || sq + 1 <= cut[sl]) -> pold = 1
  :: else -> pnew = 1
  fi;
  if
  :: hasack ->
     if :: acknew -> aold = nrl[sl] :: else -> skip fi;
     if :: nrl[sl] != 0 && pold -> oak = aold :: else -> skip fi;
     if :: acknew && !pnew -> xn = 1 :: else -> skip fi;
     if :: !pold && (oah[sl] == 0 || aold > oah[sl]) -> xo = 1 :: else -> skip fi
  :: else -> skip
  fi;
  if
  :: pold ->
     if :: (fl & (F_DATA | F_FIN)) == 0 -> OLD_ACK_LATE(sl) :: else -> skip fi;
     if :: hasack -> SMAX(oah[sl], oak) :: else -> skip fi;
     SEND(opeer, K_SEG, osub, 0, sq + ods, oak + oda, fl, vl)
  :: xo ->
     OLD_ACK_LATE(sl);
     SMAX(oah[sl], aold);
     if
     :: cut[sl] != 0 && cut[sl] < sq -> SEND(opeer, K_SEG, osub, 0, cut[sl] + ods, aold + oda, F_ACK, 0)
     :: else -> SEND(opeer, K_SEG, osub, 0, sq + ods, aold + oda, F_ACK, 0)
     fi
  :: else -> skip
  fi;
  if
  :: pnew && hold[sl] ->       /* held (HOLD rewrite: dropped) */
     if
     :: (fl & (F_DATA | F_FIN)) != 0 ->
        /* an endpoint's own data above the hold is not sent yet, unless within HDROP */
        assert(role[n] == R_BOX || HDROP > 0);
        hdrop[ORIG(sl)] = sl + 1; hdcut[ORIG(sl)] = cut[sl]
     :: else -> hdrop[1 - ORIG(sl)] = sl + 1; hdcut[1 - ORIG(sl)] = 0
     fi;
     WIT(w_held);
     printf("EV %d HELD seq=%d\n", n, sq)
  :: pnew && !hold[sl] -> SEND(npeer, K_SEG, nsub, 0, sq + nds, ak + nda, fl, vl)
  :: xn && hold[sl] -> hdrop[1 - ORIG(sl)] = sl + 1; hdcut[1 - ORIG(sl)] = 0; WIT(w_held)
  :: xn && !hold[sl] ->
     if
     :: cut[sl] != 0 && cut[sl] > sq -> SEND(npeer, K_SEG, nsub, 0, cut[sl] + nds, ak + nda, F_ACK, 0)
     :: else -> SEND(npeer, K_SEG, nsub, 0, sq + nds, ak + nda, F_ACK, 0)
     fi
  :: else -> skip
  fi
}

/* the local host (endpoint or box) emits (sq, ak, fl, vl) rightwards / leftwards */
inline OUT_R(n) {
  slot = 2 * n + 1;
  REG_OUT(slot);
  if :: (fl & F_FIN) -> fin_lr[n] = 1 :: else -> skip fi;
  if
  :: rnew[n] != 0 -> STEER(slot, rsub[n], rpeer[n], rout[n], 256 - rin[n], rnew[n], rnewpeer[n], 0, 0)
  :: else -> SEND(rpeer[n], K_SEG, rsub[n], 0, sq + rout[n], ak - rin[n], fl, vl)
  fi
}

inline OUT_L(n) {
  slot = 2 * n;
  REG_OUT(slot);
  if :: (fl & F_FIN) -> fin_rl[n] = 1 :: else -> skip fi;
  if
  :: lnew[n] != 0 ->
     STEER(slot, lsub[n], lpeer[n], lout[n], 256 - lin[n], lnew[n], lnewpeer[n], lnout[n], 256 - lnin[n])
  :: else -> SEND(lpeer[n], K_SEG, lsub[n], 0, sq + lout[n], ak - lin[n], fl, vl)
  fi
}

/* TCP receive at endpoint e: the byte-stream and ack properties */
inline TCP_RECV(n, e) {
  if
  :: (fl & F_ACK) ->
     assert(ak <= t_max[e]);                /* never an ack beyond what was sent */
     if :: ak > t_una[e] -> t_una[e] = ak :: else -> skip fi
  :: else -> skip
  fi;
  if
  :: (fl & (F_DATA | F_FIN)) != 0 && (fl & F_SYNACK) == 0 ->
     if
     :: sq == t_rcv[e] ->
        assert(vl + RB(e) == sq);           /* the right byte at the right place */
        assert(((fl & F_FIN) != 0) == (vl == NDE(1 - e) + 1));
        t_rcv[e]++;
        printf("EV %d TCP-DELIVER seq=%d byte=%d\n", n, sq, vl)
     :: else -> skip                        /* duplicate or out of order: discarded */
     fi;
     /* immediate ack of every data segment */
     sq = t_nxt[e]; ak = t_rcv[e]; fl = F_ACK; vl = 0;
     if :: e == 0 -> hout = 1 :: else -> hout = 2 fi
  :: else -> skip
  fi
}

inline REG_IN(sl, isnew) {
  if
  :: TRK(sl) ->
     if :: (fl & F_ACK) -> SMAX(rack_hi[sl], ak) :: else -> skip fi;
     if
     :: isnew && (fl & (F_DATA | F_FIN)) && (nrl[sl] == 0 || sq < nrl[sl]) -> nrl[sl] = sq
     :: else -> skip
     fi
  :: else -> skip
  fi
}

/* datapath.DataPath._in, docs/pipeline.md 5.5: on an old path (an IN entry older than its
   slot: the old path during two-path mode, or a retired one after the fold), an ack below
   rcvd_ack_hi (after this packet's own update) is raised to it on data and FIN, and a pure ack
   that old is dropped */
inline STALE_ACK(sl) {
  if
  :: stale && (fl & F_ACK) && (fl & F_SYNACK) == 0 && rack_hi[sl] > ak ->
     if
     :: (fl & (F_DATA | F_FIN)) != 0 -> ak = rack_hi[sl]; printf("EV %d STALE-ACK-RAISED\n", n)
     :: else -> sdrop = 1; printf("EV %d STALE-ACK-DROPPED\n", n)
     fi;
     WIT(w_stale)
  :: else -> skip
  fi
}

inline FROM_LEFT(n, isnew) {
  REG_IN(2 * n, isnew);
  STALE_ACK(2 * n);
  if :: (fl & F_FIN) -> fin_lr[n] = 1 :: else -> skip fi;
  if
  :: sdrop -> skip
  :: role[n] == R_S -> TCP_RECV(n, 1)
  :: role[n] == R_BOX ->
#ifdef BOXACK
     SMAX(cl[n], sq + ((fl & (F_DATA | F_FIN)) != 0));
     if :: (fl & F_ACK) -> assert(((ak - boff_rl[n]) & 255) <= cr[n]) :: else -> skip fi;
#endif
     sq = (sq + boff_lr[n]) & 255; ak = (ak - boff_rl[n]) & 255;
     hout = 1
  :: else -> skip
  fi
}

inline FROM_RIGHT(n, isnew) {
  REG_IN(2 * n + 1, isnew);
  STALE_ACK(2 * n + 1);
  if :: (fl & F_FIN) -> fin_rl[n] = 1 :: else -> skip fi;
  if
  :: sdrop -> skip
  :: role[n] == R_C -> TCP_RECV(n, 0)
  :: role[n] == R_BOX ->
#ifdef BOXACK
     SMAX(cr[n], sq + ((fl & (F_DATA | F_FIN | F_SYNACK)) != 0));
     if :: (fl & F_ACK) -> assert(((ak - boff_lr[n]) & 255) <= cl[n]) :: else -> skip fi;
#endif
     if :: (fl & F_SYNACK) -> sa_relayed[n] = 1 :: else -> skip fi;
     sq = (sq + boff_rl[n]) & 255; ak = (ak - boff_lr[n]) & 255;
     hout = 2
  :: else -> skip
  fi
}

/* a K_SEG arrives at node n: IN lookup by subsession. `stale`: the entry is an old path
   (older epoch than its slot): the old IN entry while a new path is staged on that side (an
   abandoned new path re-stamps it, Agent._restamp), or a retired one. */
inline RECV_SEG(n) {
  sq = ma; ak = mb; fl = mc; vl = md;
  if
  :: ms != 0 && ms == lsub[n] ->
     sq = (sq + lin[n]) & 255; ak = (ak - lout[n]) & 255; stale = (lnew[n] != 0); FROM_LEFT(n, 0)
  :: ms != 0 && ms == lnew[n] ->
     sq = (sq + lnin[n]) & 255; ak = (ak - lnout[n]) & 255; FROM_LEFT(n, 1)
  :: ms != 0 && ms == rsub[n] ->
     sq = (sq + rin[n]) & 255; ak = (ak - rout[n]) & 255; stale = (rnew[n] != 0); FROM_RIGHT(n, 0)
  :: ms != 0 && ms == rnew[n] ->
     if
     :: (fl & F_SYNACK) ->                  /* SYN-ACK on a NEW entry: punted, absorbed */
        SYNACK_PUNT(n);
        if                                  /* the window update behind it goes on */
        :: vl == 1 -> sq = (sq + 1) & 255; fl = F_ACK; vl = 0; FROM_RIGHT(n, 1)
        :: else -> skip
        fi
     :: else -> FROM_RIGHT(n, 1)
     fi
#ifndef MUT_NO_RETIRE
  :: ms != 0 && ms == lret[n] ->           /* retired old path (right anchor, after its fold) */
     sq = (sq + lrin[n]) & 255; ak = (ak - lrout[n]) & 255; stale = 1; WIT(w_retired);
     FROM_LEFT(n, 0)
  :: ms != 0 && ms == rret[n] ->           /* retired old path (left anchor, after its fold) */
     sq = (sq + rrin[n]) & 255; ak = (ak - rrout[n]) & 255; stale = 1; WIT(w_retired);
     FROM_RIGHT(n, 0)
#endif
  :: else -> skip                          /* no entry */
  fi
}

/* ------------------------------------------------------------------ lock protocol */

/* a held request released by a lock step is re-processed at the end of the step (flush) */
inline PEND_REL(x) {
  if :: x != 0 -> assert(rel == 0); rel = x :: else -> skip fi
}

inline EPOCH(sl) { cut[sl] = 0; nrl[sl] = 0; oah[sl] = 0 }

/* the right anchor's ackLock (c = delta_lr, d = its side's out delta) */
#define RA_SEND_ACKL(n, r) SEND(lpeer[n], K_ACKL, lsub[n], r, 0, 0, ra_plr[r], lout[n])

/* Agent._ra_request */
inline RA_REQUEST(n, r, d) {
  if
  :: ra_ph[r] == RA_DONE -> skip
  :: ra_ph[r] == RA_NONE && (lbusy[n] != 0 || CLOSING(n)) ->
     RA_PHASE(r, T_REQUEST_LOCK, RA_NONE); SEND(lpeer[n], K_NACKL, lsub[n], r, 0, 0, 0, 0)
  :: ra_ph[r] == RA_LOCKED && ra_dto[r] != 0 ->       /* a retransmission while the ackLock waits */
     RA_GPHASE(r, T_REQUEST_LOCK, G_AFTER_HOLD, RA_LOCKED)
  :: else ->
     if
     :: ra_ph[r] == RA_NONE && ah[2 * n] && DRAINS ->
        /* after a hold: the ackLock waits (WAITS, or the wait expires) */
        RA_GPHASE(r, T_REQUEST_LOCK, G_AFTER_HOLD, RA_LOCKED);
        ra_plr[r] = (d + lin[n]) & 255; ra_ph[r] = RA_LOCKED; lbusy[n] = r; SAY(E_RA_LOCKED, r);
        ra_dto[r] = sent_hi[2 * n];
#ifdef WITNESS
        ra_wd[r] = DROP_PENDING(2 * n);
#endif
        printf("EV %d RA-DRAIN r%d drain_to=%d\n", n, r, ra_dto[r])
     :: ra_ph[r] == RA_NONE && !(ah[2 * n] && DRAINS) ->
        RA_GPHASE(r, T_REQUEST_LOCK, G_ANY, RA_LOCKED);
        ra_plr[r] = (d + lin[n]) & 255; ra_ph[r] = RA_LOCKED; lbusy[n] = r; SAY(E_RA_LOCKED, r);
        RA_SEND_ACKL(n, r)
     :: ra_ph[r] != RA_NONE -> RA_PHASE(r, T_REQUEST_LOCK, ra_ph[r]); RA_SEND_ACKL(n, r)
     fi
  fi
}

/* Agent._on_request_lock */
inline HANDLE_REQ(n, r, s, d) {
  if
  :: s == 0 || s != lsub[n] -> skip         /* unknown subsession */
  :: else ->
     if
     :: RA(r) == n -> RA_REQUEST(n, r, d)
     :: else ->
        if
        :: rsub[n] == 0 -> SEND(lpeer[n], K_NACKL, lsub[n], r, 0, 0, 0, 0)
        :: else ->
           LOCK_REQUEST(n, r);
           if
           :: v_verdict == V_FORWARD ->
              SEND(rpeer[n], K_REQ, rsub[n], r, 0, 0, d + lin[n] + boff_lr[n] + rout[n], 0)
           :: v_verdict == V_HOLD ->
              SAY(E_HOLD, r);
#ifdef WITNESS
              was_held[r] = 1;
#endif
              hmv[HI(n, r)] = 1; hmsub[HI(n, r)] = s; hmd[HI(n, r)] = d; hmrs[HI(n, r)] = rsub[n]
           :: v_verdict == V_NACK -> SEND(lpeer[n], K_NACKL, lsub[n], r, 0, 0, 0, 0)
           fi
        fi
     fi
  fi
}

/* the left anchor ends request r with a terminal phase: done once, in the flush of the step */
inline FINISH_LATER(r, outcome, t) { LA_PHASE(r, t, outcome); assert(fr == 0); fr = r; fo = outcome }

/* Agent._left_finish: outcome is a terminal phase (checked against the table by the
   FINISH_LATER of this step; la_ph[r] does not change in between) */
inline LEFT_FINISH(n, r, outcome) {
  if :: la_ph[r] != LA_SWITCHED -> rnew[n] = 0; hold[2 * n + 1] = 0 :: else -> skip fi;
  if :: la_cut[r] != 0 -> ah[2 * n + 1] = 1 :: else -> skip fi;   /* the host's data was held */
  LOCK_FINISH(n, r);
  if :: v_verdict == V_FORWARD -> seen[HI(n, r)] = 1 :: else -> skip fi;
  PEND_REL(v_rel);
  if :: rbusy[n] == r -> rbusy[n] = 0 :: else -> skip fi;
  la_ph[r] = outcome;
  printf("EV %d LA-END r%d phase=%d\n", n, r, outcome)
}

inline LEFT_CANCEL(n, r, t) {
  LA_PHASE(r, t, LA_CANCELLING);
  hold[2 * n + 1] = 0;
  rnew[n] = 0;
  la_ph[r] = LA_CANCELLING; la_rt[r] = 0; SAY(E_LA_CANCEL, r);
  SEND(rpeer[n], K_CANCEL, rsub[n], r, 0, 0, 0, 0)
}

inline SEND_NSYN(n, r) {
  dst = FIRST(r); h = NS1(r);
  SEND(dst, K_NSYN, h, r, la_sseq[r], la_sack[r], la_plr[r], la_prl[r])
}

/* a hold starts on slot sl: the drops of an earlier hold there are drops of a hold that ended
   (their retransmission no longer waits for it) */
inline NEW_HOLD(sl) {
  hold[sl] = 1;
  if :: hdrop[0] == (sl) + 1 -> hdcut[0] = 255 :: else -> skip fi;
  if :: hdrop[1] == (sl) + 1 -> hdcut[1] = 255 :: else -> skip fi
}

/* property of the waits after a hold: a cutoff frozen on slot sl covers no byte that the
   slot's previous hold dropped and its host has not sent again (a pending RTO-after-hold),
   unless the wait expired (xp). Such a cutoff makes both anchors' waits (the right anchor's
   SYN-ACK, the left anchor's commit) wait for the host's backed-off retransmission timer:
   the request times out (new-path-timeout), docs/testbed.md open finding A. */
inline FRESH_CUT(sl, xp) { assert(xp || !DROP_PENDING(sl)) }

/* the left anchor's freeze (the "syn" probe's answer, snapshot: cutoff): the cutoff, then the
   SYN at cut - 1 without an ack; data above it is held */
inline LEFT_FREEZE(n, r, xp) {
  FRESH_CUT(2 * n + 1, xp);
  cut[2 * n + 1] = sent_hi[2 * n + 1]; la_cut[r] = cut[2 * n + 1]; NEW_HOLD(2 * n + 1);
  oah[2 * n + 1] = ack_hi[2 * n + 1];       /* the freezing probe seeds old_ack_hi (0f4d349) */
  la_sseq[r] = (la_cut[r] - 1) & 255; la_sack[r] = 0;
  SEND_NSYN(n, r)
}

/* Agent._left_locked + the "syn" probe */
inline LEFT_LOCKED(n, r, dlr, drl) {
#ifdef OVERLAP
  assert(!GRANTED(3 - r));                /* overlapping segments are never both locked */
#endif
  la_plr[r] = dlr; la_prl[r] = (drl + rin[n]) & 255;
  rnew[n] = NS1(r); rnewpeer[n] = FIRST(r);
  EPOCH(2 * n + 1);
#ifdef MUT_OLD_NEWPATH
  /* mutant (the new path before freeze-first): SYN at sent_hi - 1 with the host's ack, no
     cutoff, no hold; the cutoffs are frozen at the commit and the switch */
  la_sseq[r] = (sent_hi[2 * n + 1] - 1) & 255; la_sack[r] = ack_hi[2 * n + 1];
  LA_PHASE(r, T_ACK_LOCK, LA_SYNSENT); la_ph[r] = LA_SYNSENT; la_rt[r] = 0; SAY(E_LA_LOCKED, r);
  SEND_NSYN(n, r)
#else
  if
  :: ah[2 * n + 1] && DRAINS ->
     /* after a hold: no freeze yet (nothing held); the wait ends in WAITS or expires */
     LA_GPHASE(r, T_ACK_LOCK, G_AFTER_HOLD, LA_SYNSENT); la_ph[r] = LA_SYNSENT; la_rt[r] = 0;
     la_dto[r] = sent_hi[2 * n + 1]; SAY(E_LA_LOCKED, r);
#ifdef WITNESS
     la_wd[r] = DROP_PENDING(2 * n + 1);    /* it waits for a byte the last hold dropped */
#endif
     printf("EV %d LA-DRAIN r%d drain_to=%d\n", n, r, la_dto[r])
  :: else ->
     LA_GPHASE(r, T_ACK_LOCK, G_ANY, LA_SYNSENT); la_ph[r] = LA_SYNSENT; la_rt[r] = 0;
     SAY(E_LA_LOCKED, r); LEFT_FREEZE(n, r, 0)
  fi
#endif
}

/* Agent._on_ack_lock */
inline HANDLE_ACKL(n, r, s, dlr, drl) {
  if
  :: s == 0 || s != rsub[n] -> skip
  :: else ->
     LOCK_ACK(n, r);
     assert(v_match || LATE(n, r));       /* lock messages only reach matching ports */
     if
     :: v_verdict == V_DROP ->
        /* a late ackLock for a request this left anchor already ended: release the locks a
           late requestLock re-took down the path (one cancelLock, not retransmitted) */
        if
        :: LA(r) == n && LA_ENDED(r) -> SEND(rpeer[n], K_CANCEL, rsub[n], r, 0, 0, 0, 0)
        :: else -> skip
        fi
     :: else ->
        q = 0;
        do
        :: q < v_nref ->
           h = v_ref[q];
           if
           :: hmv[HI(n, h)] && hmrs[HI(n, h)] == rsub[n] ->
              hmv[HI(n, h)] = 0; SEND(lpeer[n], K_NACKL, lsub[n], h, 0, 0, 0, 0)
           :: else -> skip
           fi;
           q++
        :: else -> break
        od;
        if
        :: LA(r) == n && LA_ACTIVE(r) ->
           if :: la_ph[r] == LA_LOCKING -> LEFT_LOCKED(n, r, dlr, drl) :: else -> skip fi
        :: else ->
           if
           :: lsub[n] != 0 ->
              SEND(lpeer[n], K_ACKL, lsub[n], r, 0, 0, dlr, drl + rin[n] + boff_rl[n] + lout[n])
           :: else -> skip
           fi
        fi
     fi
  fi
}

/* Agent._on_nack_lock */
inline HANDLE_NACKL(n, r, s) {
  if
  :: s == 0 || s != rsub[n] -> skip
  :: else ->
     LOCK_NACK(n, r);
     assert(v_match || LATE(n, r));
     if :: v_verdict == V_FORWARD -> seen[HI(n, r)] = 1 :: else -> skip fi;
     if
     :: v_verdict == V_DROP -> skip
     :: else ->
        PEND_REL(v_rel);
        if
        :: LA(r) == n && LA_ACTIVE(r) -> FINISH_LATER(r, LA_REFUSED, T_NACK_LOCK)
        :: else ->
           if :: lsub[n] != 0 -> SEND(lpeer[n], K_NACKL, lsub[n], r, 0, 0, 0, 0) :: else -> skip fi
        fi
     fi
  fi
}

inline RIGHT_REVERT(n, r) {
  RA_PHASE(r, T_CANCEL_LOCK, RA_NONE);     /* its only caller: cancelLock */
  hold[2 * n] = 0; ra_dto[r] = 0;
  if :: ra_cut[r] != 0 -> ah[2 * n] = 1 :: else -> skip fi;       /* the host's data was held */
  lnew[n] = 0; ra_ph[r] = RA_NONE; SAY(E_RA_REVERT, r);
  if :: lbusy[n] == r -> lbusy[n] = 0 :: else -> skip fi
}

/* Agent._on_cancel_lock */
inline HANDLE_CANCEL(n, r, s) {
  if
  :: s == 0 || s != lsub[n] -> skip
  :: RA(r) == n && s == lsub[n] ->
     if :: ra_ph[r] == RA_LOCKED || ra_ph[r] == RA_SYNRCVD || ra_ph[r] == RA_PREP -> RIGHT_REVERT(n, r) :: else -> skip fi;
     SEND(lpeer[n], K_ACKC, lsub[n], r, 0, 0, 0, 0)
  :: RA(r) != n && s == lsub[n] && rsub[n] == 0 -> SEND(lpeer[n], K_ACKC, lsub[n], r, 0, 0, 0, 0)
  :: RA(r) != n && s == lsub[n] && rsub[n] != 0 ->
     LOCK_CANCEL(n, r);
     if :: v_match -> seen[HI(n, r)] = 1 :: else -> skip fi;
     PEND_REL(v_rel);
     if :: hmrs[HI(n, r)] == rsub[n] -> hmv[HI(n, r)] = 0 :: else -> skip fi;
     SEND(rpeer[n], K_CANCEL, rsub[n], r, 0, 0, 0, 0)
  fi
}

/* Agent._on_ack_cancel */
inline HANDLE_ACKC(n, r, s) {
  if
  :: s == 0 || s != rsub[n] -> skip
  :: LA(r) == n && LA_ACTIVE(r) && s == rsub[n] ->
     if :: la_ph[r] == LA_CANCELLING -> FINISH_LATER(r, LA_CANCELLED, T_ACK_CANCEL) :: else -> skip fi
  :: !(LA(r) == n && LA_ACTIVE(r)) && s == rsub[n] ->
     if :: lsub[n] != 0 -> SEND(lpeer[n], K_ACKC, lsub[n], r, 0, 0, 0, 0) :: else -> skip fi
  fi
}

/* ------------------------------------------------------------------ new path */

/* Agent._ra_send_synack: TCP SYN-ACK on the new path and the synAck message */
inline RA_SEND_SYNACK(n, r) {
#ifdef MUT_OLD_NEWPATH
  SEND(lnewpeer[n], K_SEG, lnew[n], r, ra_sack[r] - 1, ra_sseq[r] + 1, F_SYNACK | F_ACK, 0);
#else
  /* SYN-ACK at cut_R - 1 (translated into the new path's space), acking the SYN, with the
     window update right behind it (pure ACK at cut_R) in the same message (d = 1): boxes
     forward both, the left anchor absorbs the SYN-ACK and passes the window update on */
  SEND(lnewpeer[n], K_SEG, lnew[n], r, ra_cut[r] + lnout[n] - 1, ra_sseq[r] + 1, F_SYNACK | F_ACK, 1);
#endif
  dst = LA(r);
  SEND(dst, K_SYNACKM, 0, r, 0, 0, 0, 0)
}

/* a new-path SYN (K_NSYN) arrives: right anchor (Agent._ra_syn) or new box (chain setup) */
inline HANDLE_NSYN(n, r, s) {
  if
  :: RA(r) == n ->
     if
     :: lnew[n] != 0 && lnew[n] == s ->     /* NEW entry exists: a repeated SYN */
        if
        :: ra_ph[lbusy[n]] == RA_SYNRCVD -> RA_SEND_SYNACK(n, lbusy[n])
        :: else -> skip                     /* switched: a late copy (Agent._ra_repeated_syn) */
        fi
     :: s == lsub[n] -> skip                /* after the fold: the host sees a stray SYN */
     :: else ->
        if
        :: ra_ph[r] == RA_LOCKED ->
           lnin[n] = mc; lnout[n] = md;      /* new_in = (phi_lr, -phi_rl), new_out = ... */
           lnew[n] = s; lnewpeer[n] = mf;
           EPOCH(2 * n);
#ifdef MUT_OLD_NEWPATH
           RA_PHASE(r, T_NEW_PATH_SYN, RA_SYNRCVD);
           ra_sseq[r] = ma; ra_sack[r] = mb; ra_ph[r] = RA_SYNRCVD; SAY(E_RA_STAGED, r);
           RA_SEND_SYNACK(n, r)
#else
           /* freeze first; the SYN-ACK waits (RA_PREP) until the host acked the left cutoff */
           FRESH_CUT(2 * n, ra_xp[r]);
           cut[2 * n] = sent_hi[2 * n]; ra_cut[r] = cut[2 * n]; NEW_HOLD(2 * n);
           oah[2 * n] = ack_hi[2 * n];       /* seeded (0f4d349); PREPARING's re-probes seed
                                                again, a no-op: no new-path data before the
                                                commit (nrl = 0), so every ack left on the
                                                old path and old_ack_hi = ack_hi already */
           ra_pcut[r] = (ma + 1 + ra_plr[r]) & 255;
           RA_PHASE(r, T_NEW_PATH_SYN, RA_PREP);
           ra_sseq[r] = ma; ra_sack[r] = mb; ra_ph[r] = RA_PREP; SAY(E_RA_STAGED, r)
#endif
        :: else -> skip                     /* stale */
        fi
     fi
  :: else ->                                /* a new box: continue the chain */
     if
     :: lsub[n] == 0 ->
        lsub[n] = s; lpeer[n] = mf; rsub[n] = NS2(r); rpeer[n] = RA(r);
#ifdef BOXACK
        cl[n] = (ma + 1) & 255;
#endif
        SEND(rpeer[n], K_NSYN, rsub[n], r, ma, mb, mc, md)
     :: lsub[n] == s -> SEND(rpeer[n], K_NSYN, rsub[n], r, ma, mb, mc, md)
     :: else -> skip
     fi
  fi
}

/* mutant only: the previous new path commits (and freezes its cutoff) as soon as it has the
   SYN-ACK and the synAck message */
inline MAYBE_COMMIT(n, r, t) {
#ifdef MUT_OLD_NEWPATH
  if
  :: la_ph[r] == LA_SYNSENT && la_gsa[r] && la_ghs[r] ->
     SEND(rnewpeer[n], K_SEG, rnew[n], 0, la_sseq[r] + 1, la_saseq[r] + 1, F_ACK, 0);
     if :: cut[2 * n + 1] == 0 -> cut[2 * n + 1] = sent_hi[2 * n + 1] :: else -> skip fi;
     la_cut[r] = cut[2 * n + 1]; LA_PHASE(r, t, LA_COMMITTED); la_ph[r] = LA_COMMITTED; la_rt[r] = 0;
     printf("EV %d LA-COMMIT r%d cut=%d\n", n, r, la_cut[r]);
     dst = RA(r);
     SEND(dst, K_ACKM, 0, r, la_cut[r], 0, 0, 0)
  :: else -> skip
  fi
#else
  skip
#endif
}

/* Agent._left_commit (phase COMMITTING, "snapshot: commit"): with the SYN-ACK and the synAck
   message in, once the host acked up to the right cutoff (SYN-ACK seq + 1): the third ACK at
   cut_L, the hold ends (held data flows on the new path), ack(cut) to the right anchor */
inline LEFT_COMMIT(n, r) {
  SEND(rnewpeer[n], K_SEG, rnew[n], 0, la_cut[r], la_saseq[r] + 1, F_ACK, 0);
  hold[2 * n + 1] = 0;
  LA_PHASE(r, T_SNAP_COMMIT, LA_COMMITTED); la_ph[r] = LA_COMMITTED; la_rt[r] = 0;
  printf("EV %d LA-COMMIT r%d cut=%d\n", n, r, la_cut[r]);
  dst = RA(r);
  SEND(dst, K_ACKM, 0, r, la_cut[r], 0, 0, 0)
}

/* the anchors' waits of the freeze-first new path, taken at the end of the step that makes
   them true (their conditions change only in steps of this node: the host's ack passing the
   slot, the SYN-ACK, the synAck message or the SYN arriving). The agent re-probes until they
   hold; what it then sends does not depend on when, so a later answer is this one delayed in
   the network. Left: phase COMMITTING, "snapshot: commit"; right: PREPARING, "snapshot:
   cutoff" (its host acked the left cutoff) -> SYN-ACK, window update, synAck. */
inline WAITS(n, r) {
  if
  :: LA(r) == n && la_ph[r] == LA_SYNSENT && la_gsa[r] && la_ghs[r] &&
     ack_hi[2 * n + 1] >= la_saseq[r] + 1 -> LEFT_COMMIT(n, r)
  :: RA(r) == n && ra_ph[r] == RA_PREP && ack_hi[2 * n] >= ra_pcut[r] ->
     RA_PHASE(r, T_SNAP_CUT, RA_SYNRCVD); ra_ph[r] = RA_SYNRCVD; RA_SEND_SYNACK(n, r)
  /* the waits after a hold (same convention): drained once the host's bytes up to drain_to
     are acknowledged. Left: the re-probe that follows the drained answer freezes (phase
     PREPARING, "timer lprobe", then "snapshot: cutoff"); right: the "rlock" probe's answer
     sends the ackLock */
  :: LA(r) == n && la_ph[r] == LA_SYNSENT && la_dto[r] != 0 && rack_hi[2 * n + 1] >= la_dto[r] ->
     LA_GPHASE(r, T_TIMER_LPROBE, G_ANY, LA_SYNSENT);
     la_dto[r] = 0; ah[2 * n + 1] = 0; printf("EV %d LA-DRAINED r%d\n", n, r);
     LEFT_FREEZE(n, r, 0)
  :: RA(r) == n && ra_ph[r] == RA_LOCKED && ra_dto[r] != 0 && rack_hi[2 * n] >= ra_dto[r] ->
     RA_GPHASE(r, T_SNAP_CUT, G_ANY, RA_LOCKED);
     ra_dto[r] = 0; ah[2 * n] = 0; printf("EV %d RA-DRAINED r%d\n", n, r);
     RA_SEND_ACKL(n, r)
  :: else -> skip
  fi
}

/* Agent._synack_punt */
inline SYNACK_PUNT(n) {
  h = rbusy[n];
  if
  :: h != 0 && LA_ACTIVE(h) && LA(h) == n ->
     if :: !la_gsa[h] -> la_gsa[h] = 1; la_saseq[h] = ma :: else -> skip fi;
     MAYBE_COMMIT(n, h, T_SYNACK_PACKET)
  :: else -> skip
  fi
}

/* Agent._on_syn_ack_msg */
inline HANDLE_SYNACKM(n, r) {
  if
  :: LA(r) == n && la_ph[r] == LA_SYNSENT -> la_ghs[r] = 1; MAYBE_COMMIT(n, r, T_SYN_ACK_MSG)
  :: else -> skip
  fi
}

/* Agent._on_ack_msg + the freezing "rcommit" probe */
inline HANDLE_ACKM(n, r) {
  if
  :: RA(r) != n -> skip
#ifdef MUT_IGNORE_ACK
  :: RA(r) == n -> skip    /* mutant for the liveness sanity check: the ack is never answered */
#else
  :: RA(r) == n && (ra_ph[r] == RA_DONE || ra_ph[r] == RA_SWITCHED) ->
     RA_PHASE(r, T_ACK_MSG, ra_ph[r]); dst = LA(r);
     SEND(dst, K_ACKACK, 0, r, ra_cut[r], 0, 0, 0)
  :: RA(r) == n && ra_ph[r] == RA_SYNRCVD ->
     ra_pcut[r] = (ma + ra_plr[r]) & 255;
#ifdef MUT_OLD_NEWPATH
     if :: cut[2 * n] == 0 -> cut[2 * n] = sent_hi[2 * n] :: else -> skip fi;
     ra_cut[r] = cut[2 * n];
#endif
     printf("EV %d RA-SWITCHED r%d cut=%d peer_cut=%d\n", n, r, ra_cut[r], ra_pcut[r]);
     RA_PHASE(r, T_ACK_MSG, RA_SWITCHED); hold[2 * n] = 0; ra_ph[r] = RA_SWITCHED;   /* the hold ends: held data flows */
     dst = LA(r);
     SEND(dst, K_ACKACK, 0, r, ra_cut[r], 0, 0, 0)
  :: RA(r) == n && (ra_ph[r] == RA_NONE || ra_ph[r] == RA_LOCKED || ra_ph[r] == RA_PREP) -> skip
#endif
  fi
}

/* Agent._on_ack_ack_msg */
inline HANDLE_ACKACK(n, r) {
  if
  :: LA(r) == n && la_ph[r] == LA_COMMITTED ->
     LA_PHASE(r, T_ACK_ACK, LA_SWITCHED); la_pcut[r] = (ma + la_prl[r]) & 255; la_ph[r] = LA_SWITCHED;
     printf("EV %d LA-SWITCHED r%d peer_cut=%d\n", n, r, la_pcut[r])
  :: else -> skip
  fi
}

/* completion (section 4.3): all sent on the old path is acked, and the host acked the peer's */
#define COMPLETE(sl, pc) (cut[sl] != 0 && rack_hi[sl] >= cut[sl] && ack_hi[sl] >= (pc))

inline LEFT_FOLD(n, r) {
  rret[n] = rsub[n]; rrin[n] = rin[n]; rrout[n] = rout[n];
  rsub[n] = rnew[n]; rpeer[n] = rnewpeer[n]; rnew[n] = 0; rin[n] = 0; rout[n] = 0;
  FINISH_LATER(r, LA_COMPLETED, T_SNAP_CHECK)
}

inline RIGHT_FOLD(n, r) {
  lret[n] = lsub[n]; lrin[n] = lin[n]; lrout[n] = lout[n];
  lsub[n] = lnew[n]; lpeer[n] = lnewpeer[n]; lnew[n] = 0; lin[n] = lnin[n]; lout[n] = lnout[n];
  RA_PHASE(r, T_SNAP_CHECK, RA_DONE); ra_ph[r] = RA_DONE; SAY(E_RA_FOLD, r);
  ah[2 * n] = 1;                            /* the host's data at or above the cutoff was held */
  if :: lbusy[n] == r -> lbusy[n] = 0 :: else -> skip fi
}

/* Agent._cmd_reconfigure + _left_start */
inline START(n, r) {
  if
  :: CLOSING(n) || rbusy[n] != 0 || lk[n] != L_UNL ->
     LA_PHASE(r, T_RECONFIGURE, LA_REFUSED); la_ph[r] = LA_REFUSED; SAY(E_LA_REFUSED_LOCALLY, r)
  :: else ->
     LA_PHASE(r, T_RECONFIGURE, LA_LOCKING); la_ph[r] = LA_LOCKING; la_rt[r] = 0; rbusy[n] = r; SAY(E_LA_START, r);
     LOCK_REQUEST(n, r);
     assert(v_verdict == V_FORWARD);
     SEND(rpeer[n], K_REQ, rsub[n], r, 0, 0, rout[n], 0)
  fi
}

/* ------------------------------------------------------------------ dispatch */

inline HANDLE(n) {
  if
  :: mk == K_SEG -> RECV_SEG(n)
  :: mk == K_REQ -> HANDLE_REQ(n, mr, ms, mc)
  :: mk == K_ACKL -> HANDLE_ACKL(n, mr, ms, mc, md)
  :: mk == K_NACKL -> HANDLE_NACKL(n, mr, ms)
  :: mk == K_CANCEL -> HANDLE_CANCEL(n, mr, ms)
  :: mk == K_ACKC -> HANDLE_ACKC(n, mr, ms)
  :: mk == K_SYNACKM -> HANDLE_SYNACKM(n, mr)
  :: mk == K_ACKM -> HANDLE_ACKM(n, mr)
  :: mk == K_ACKACK -> HANDLE_ACKACK(n, mr)
  :: mk == K_NSYN -> HANDLE_NSYN(n, mr, ms)
  fi
}

/* the endpoint at node n sends its next byte (or FIN) */
inline TCP_SEND(n, e) {
  sq = t_nxt[e]; ak = t_rcv[e]; vl = sq;
  if :: sq == NDE(e) + 1 -> fl = F_ACK | F_FIN :: else -> fl = F_ACK | F_DATA fi;
  t_nxt[e]++;
  SMAX(t_max[e], t_nxt[e]);
  printf("EV %d TCP-SEND seq=%d ack=%d flags=%d\n", n, sq, ak, fl);
  if :: e == 0 -> hout = 1 :: else -> hout = 2 fi
}

#if NREQ == 1
#define MAY_START(r) 1
#else
#ifdef SEQUENTIAL
#define MAY_START(r) ((r) == 1 || LA_ENDED(1))
#else
#define MAY_START(r) 1
#endif
#endif

/* per-request node actions: command, timers, completion (instantiated for r = 1, 2) */
#define REQUEST_ACTIONS(r) \
  :: LA(r) == n && la_ph[r] == LA_IDLE && MAY_START(r) && !failed[n] -> START(n, r) \
  :: LA(r) == n && la_ph[r] == LA_SWITCHED && COMPLETE(2 * n + 1, la_pcut[r]) -> \
       LEFT_FOLD(n, r) \
  :: RA(r) == n && ra_ph[r] == RA_SWITCHED && COMPLETE(2 * n, ra_pcut[r]) -> \
       RIGHT_FOLD(n, r) \
  :: LA(r) == n && la_ph[r] == LA_SYNSENT && la_dto[r] != 0 -> \
       LA_GPHASE(r, T_TIMER_LPROBE, G_AFTER_HOLD, LA_SYNSENT); UNWIT(la_wd[r]); \
       la_dto[r] = 0; ah[2 * n + 1] = 0; printf("EV %d LA-DRAIN-EXPIRED r%d\n", n, r); \
       LEFT_FREEZE(n, r, 1) \
  :: RA(r) == n && ra_ph[r] == RA_LOCKED && ra_dto[r] != 0 -> \
       RA_GPHASE(r, T_TIMER_RSPROBE, G_AFTER_HOLD, RA_LOCKED); UNWIT(ra_wd[r]); \
       ra_dto[r] = 0; ah[2 * n] = 0; ra_xp[r] = 1; printf("EV %d RA-DRAIN-EXPIRED r%d\n", n, r); \
       RA_SEND_ACKL(n, r) \
  :: infl[r] == 0 && LA(r) == n && la_ph[r] == LA_LOCKING && ra_dto[r] == 0 -> SAY(E_TIMER_LOCK, r); \
       if \
       :: la_rt[r] >= MAXRET -> LEFT_CANCEL(n, r, T_TIMER_LOCK) \
       :: else -> LA_PHASE(r, T_TIMER_LOCK, LA_LOCKING); la_rt[r]++; \
          SEND(rpeer[n], K_REQ, rsub[n], r, 0, 0, rout[n], 0) \
       fi \
  :: infl[r] == 0 && LA(r) == n && la_ph[r] == LA_SYNSENT && !(la_gsa[r] && la_ghs[r]) && \
     ra_ph[r] != RA_PREP && la_dto[r] == 0 -> SAY(E_TIMER_SYN, r); \
       if \
       :: la_rt[r] >= SYNRET -> LEFT_CANCEL(n, r, T_TIMER_SYN) \
       :: else -> LA_PHASE(r, T_TIMER_SYN, LA_SYNSENT); la_rt[r]++; SEND_NSYN(n, r) \
       fi \
  :: infl[r] == 0 && LA(r) == n && la_ph[r] == LA_COMMITTED -> SAY(E_TIMER_ACK, r); \
       LA_PHASE(r, T_TIMER_ACK, LA_COMMITTED); dst = RA(r); SEND(dst, K_ACKM, 0, r, la_cut[r], 0, 0, 0) \
  :: infl[r] == 0 && LA(r) == n && la_ph[r] == LA_CANCELLING -> SAY(E_TIMER_CANCEL, r); \
       if \
       :: la_rt[r] >= MAXRET -> gaveup[r] = 1; FINISH_LATER(r, LA_CANCELLED, T_TIMER_CANCEL) \
       :: else -> LA_PHASE(r, T_TIMER_CANCEL, LA_CANCELLING); la_rt[r]++; \
          SEND(rpeer[n], K_CANCEL, rsub[n], r, 0, 0, 0, 0) \
       fi

/* One atomic step per loop iteration: choose an action (receive a message, the endpoint sends,
   a timer fires, a request starts or completes, a box crashes), then flush: at most one segment
   the host emits (an endpoint's ack or next byte, a box forwarding), then at most one held
   request the step released. Sharing the flush keeps the generated verifier small. */
proctype Node(byte n) {
  byte mk, ms, mr, ma, mb, mc, md, mf;      /* the message being handled */
  byte sq, ak, fl, vl, slot, hout;          /* the segment the host emits (hout: 1 right, 2 left) */
  byte v_verdict, v_rel, v_nref, v_i, rel, rr, rs, rd, h, q, fr, fo;
  byte v_ref[HMAX];
  bit v_match;
  bit hasack, acknew, pold, pnew, xo, xn, stale, sdrop;
  byte oak, aold, dst;
  byte ep = EP(n);
end:
  do
  :: atomic {
     if
     :: inbox[n]?mk, ms, mr, ma, mb, mc, md, mf ->
        printf("MSG %d %d %d %d %d %d %d %d %d\n", mf, n, mk, ms, mr, ma, mb, mc, md);
        INFLIGHT(mk, mc, mr, -1);
        if
        :: failed[n] -> printf("EV CRASHED-DROP\n")
        :: !failed[n] && closs > 0 && IS_CTRL(mk, mc) -> closs--; printf("EV LOST\n")
        :: !failed[n] && dloss > 0 && !IS_CTRL(mk, mc) -> dloss--; printf("EV LOST\n")
        :: !failed[n] && creord > 0 && IS_CTRL(mk, mc) && len(inbox[n]) > 0 ->
           creord--; inbox[n]!mk, ms, mr, ma, mb, mc, md, mf; INFLIGHT(mk, mc, mr, 1);
           printf("EV DELAYED\n")
        :: !failed[n] && cdup > 0 && IS_CTRL(mk, mc) ->
           cdup--; assert(nfull(inbox[n])); inbox[n]!mk, ms, mr, ma, mb, mc, md, mf;
           INFLIGHT(mk, mc, mr, 1);
           printf("EV DUPLICATED\n"); HANDLE(n)
        :: !failed[n] -> HANDLE(n)
        fi
     :: (n == 0 || n == SNODE) && t_nxt[ep] <= NDE(ep) + 1 && !EP_HELD(n, ep) -> TCP_SEND(n, ep)
     :: hdq > 0 && (n == 0 || n == SNODE) && t_nxt[ep] <= NDE(ep) && EP_HELD(n, ep) ->
        hdq--; TCP_SEND(n, ep)               /* a data byte into the hold: dropped (HDROP) */
     :: dinfl == 0 && (n == 0 || n == SNODE) && t_una[ep] < t_max[ep] && hdrop[ep] == 0 &&
        t_nxt[ep] == t_max[ep] && t_rtx[ep] > 0 ->
        t_nxt[ep] = t_una[ep]; t_rtx[ep]--; printf("EV %d RTO go-back-to %d\n", n, t_una[ep])
     :: hdrop[ep] != 0 && (!hold[hdrop[ep] - 1] || t_una[ep] < hdcut[ep]) && dinfl == 0 &&
        (n == 0 || n == SNODE) && t_una[ep] < t_max[ep] && t_nxt[ep] == t_max[ep] ->
        t_nxt[ep] = t_una[ep]; hdrop[ep] = 0; hdcut[ep] = 0;
        printf("EV %d RTO-after-hold go-back-to %d\n", n, t_una[ep])
     :: CANFAIL(n) && !failed[n] && !sa_relayed[n] -> failed[n] = 1; printf("EV %d CRASH\n", n)
     REQUEST_ACTIONS(1)
#if NREQ > 1
     REQUEST_ACTIONS(2)
#endif
     fi;
     /* flush */
     if :: fr != 0 -> LEFT_FINISH(n, fr, fo); fr = 0; fo = 0 :: else -> skip fi;
     if
     :: hout == 1 -> hout = 0; OUT_R(n)
     :: hout == 2 -> hout = 0; OUT_L(n)
     :: else -> skip
     fi;
     WAITS(n, 1);
#if NREQ > 1
     WAITS(n, 2);
#endif
     if
     :: rel != 0 ->
        rr = rel; rel = 0;
        if
        :: hmv[HI(n, rr)] && hmrs[HI(n, rr)] == rsub[n] ->
           hmv[HI(n, rr)] = 0; rs = hmsub[HI(n, rr)]; rd = hmd[HI(n, rr)];
           HANDLE_REQ(n, rr, rs, rd)
        :: else -> skip
        fi;
        rr = 0; rs = 0; rd = 0
     :: else -> skip
     fi;
     /* scratch back to zero so that it does not split states */
     mk = 0; ms = 0; mr = 0; ma = 0; mb = 0; mc = 0; md = 0; mf = 0;
     sq = 0; ak = 0; fl = 0; vl = 0; slot = 0; h = 0; q = 0; dst = 0;
     v_verdict = 0; v_rel = 0; v_nref = 0; v_i = 0; v_match = 0;
     hasack = 0; acknew = 0; pold = 0; pnew = 0; xo = 0; xn = 0; oak = 0; aold = 0;
     stale = 0; sdrop = 0;
     v_i = 0; do :: v_i < HMAX -> v_ref[v_i] = 0; v_i++ :: else -> break od; v_i = 0
     }
  od
}

/* ------------------------------------------------------------------ witnesses */

/* -DWITNESS=<expr>: an assertion fails as soon as <expr> holds. Runs with a witness prove the
   model is not vacuous: the search must find the state (verify.py treats "no error" as a
   failure for these runs). */
#ifdef WITNESS
active proctype Witness() { end: atomic { (WITNESS) -> assert(0) } }
#endif

/* ------------------------------------------------------------------ end state */

proctype Final() {
  byte n, prev, steps;
  (timeout && ALL_DONE);
  /* every lock is free, or held by a completed request on a node the path left behind */
#ifndef NOLOCKCLEAN
  n = 0;
  do
  :: n < NN ->
     assert(hn[n] == 0 || gaveup[lkr[n]]);
     assert(lk[n] == L_UNL || (lk[n] == L_LOCKED && la_ph[lkr[n]] == LA_COMPLETED) ||
            gaveup[lkr[n]]);
     assert(lbusy[n] == 0 && rbusy[n] == 0 && lnew[n] == 0 && rnew[n] == 0);
     n++
  :: else -> break
  od;
#endif
  /* the current path is a consistent chain of subsessions from C to S, all unlocked */
  n = 0; steps = 0;
  do
  :: n != SNODE ->
     assert(steps < NN && rsub[n] != 0);
#ifndef NOLOCKCLEAN
     assert(lk[n] == L_UNL || gaveup[lkr[n]]);
#endif
     prev = n; n = rpeer[n];
     assert(lsub[n] == rsub[prev] && lpeer[n] == prev);
     steps++
  :: else -> break
  od
}

init {
  byte i;
  atomic {
    i = 0;
    do :: i < NN -> role[i] = R_BOX; lpeer[i] = NONE; rpeer[i] = NONE; i++ :: else -> break od;
    role[0] = R_C; role[SNODE] = R_S;
    /* the old chain: C = node 0, then the boxes, then S; subsessions 1, 2, ... */
    i = 0;
    do
    :: i < SNODE -> rsub[i] = i + 1; rpeer[i] = i + 1; lsub[i + 1] = i + 1; lpeer[i + 1] = i; i++
    :: else -> break
    od;
#if CFG == 4 || CFG == 6
    boff_lr[1] = OFF_LR; boff_rl[1] = OFF_RL;
#endif
    /* after the handshake (ISN 0 in each endpoint's space) */
    t_una[0] = 1; t_nxt[0] = 1; t_max[0] = 1; t_rcv[0] = 1 + OFF_RL; t_rtx[0] = RTX;
    t_una[1] = 1; t_nxt[1] = 1; t_max[1] = 1; t_rcv[1] = 1 + OFF_LR; t_rtx[1] = RTX;
    i = 0;
    do
    :: i < 2 * NN ->
       if
       :: TRK(i) ->
          sent_hi[i] = 1; rack_hi[i] = 1; ack_hi[i] = 1;
          if :: i == 1 -> ack_hi[i] = 1 + OFF_RL :: i == 2 * SNODE -> ack_hi[i] = 1 + OFF_LR :: else -> skip fi
       :: else -> skip
       fi;
       i++
    :: else -> break
    od;
#ifdef BOXACK
    i = 1;
    do :: i < SNODE -> cl[i] = 1; cr[i] = 1; i++ :: else -> break od;
#endif
    i = 0;
    do :: i < NN -> run Node(i); i++ :: else -> break od;
    run Final()
  }
}
