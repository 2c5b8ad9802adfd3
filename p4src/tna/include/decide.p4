/*
 * Decide (TNA): the shared Decide (../../shared/control/decide.p4) with the same outcome,
 * evaluated in one step: "deltas the other options would need" comes from flags computed
 * beside the session lookup for both paths (o_*, n_*: a gateway reads at most 4
 * bytes, so the three 32-bit deltas cannot be tested in one condition, and testing them
 * one after the other chained four dependent steps), the latches from SlotState's fired
 * bits (the packet-in flags are built from them one step later), the held prefix from
 * SlotState's HoldPrefix (`hold`: all but the path), and the path's rewrite
 * is copied in parallel with the decision.
 */
#ifndef DYSCO_TNA_DECIDE_P4
#define DYSCO_TNA_DECIDE_P4

control Decide(inout headers_t hdr, inout dysco_meta_t meta,
               in bit<1> o_ack, in bit<1> o_tsval, in bit<1> o_tsecr,
               in bit<1> n_ack, in bit<1> n_tsval, in bit<1> n_tsecr,
               in bit<8> own_fired, in bit<8> peer_fired, in bit<1> hold) {
    apply {
        if (meta.slot_op == SLOT_OP_OUT || meta.slot_op == SLOT_OP_IN) {
            if (meta.path == PATH_NEW) {
                meta.rw = meta.new_rw;
            }
#ifdef FOLD
            else {
                meta.rw = meta.old_rw;  // (the session actions wrote old_rw: recirc header)
            }
#endif
            if (meta.split == 1) {
                meta.punt = 1;
                meta.pi.reason = REASON_SPLIT;
            } else if (meta.stale == STALE_DROP) {
                // a stale pure ack on an old path: dropped (a fired latch still reports)
                meta.drop = 1;
                if (own_fired == 1) {
                    meta.mirror = 1;
                    meta.pi.reason = REASON_LATCH;
                }
            } else if (meta.opt_other == 1 &&
                       ((meta.path != PATH_NEW && (o_ack == 1 || o_tsval == 1 || o_tsecr == 1)) ||
                        (meta.path == PATH_NEW && (n_ack == 1 || n_tsval == 1 || n_tsecr == 1)) ||
                        (meta.two_path == 1 && meta.lo_valid == 1))) {
                meta.punt = 1;
                meta.pi.reason = REASON_UNSUPPORTED_OPTIONS;
            } else if (meta.path == PATH_NEW && hold == 1) {
                // the held prefix (pipeline.md 5.2): SlotState's HoldPrefix tested
                // the rest (data without SYN, FIN, RST; new destination 0.0.0.0; below
                // HOLD_PUNT_BYTES); only an OUT two-path packet takes the new path
                meta.punt = 1;
                meta.pi.reason = REASON_HOLD;
            } else {
                meta.do_rewrite = 1;
                meta.csum_tcp = 1;
                meta.want_route = 1;
                bit<8> f = hdr.tcp.flags;
                if ((f & TCP_SYN) != 0) {
                    meta.mirror = 1;
                    meta.pi.reason = REASON_SYNACK_MIRROR;
                } else if ((f & TCP_RST) != 0) {
                    meta.mirror = 1;
                    meta.pi.reason = REASON_RST_MIRROR;
                } else if ((f & TCP_FIN) != 0) {
                    meta.mirror = 1;
                    meta.pi.reason = REASON_FIN_MIRROR;
                } else if (own_fired == 1 || peer_fired == 1) {
                    meta.mirror = 1;
                    meta.pi.reason = REASON_LATCH;
                }
            }
        }
    }
}

#endif
