/*
 * Decide (after the slot registers): for a mapped packet, pick the path's rewrite, punt what
 * one pass cannot do (SPLIT, UNSUPPORTED_OPTIONS) and the held prefix (HOLD), else rewrite,
 * forward and mirror.
 */
#ifndef DYSCO_CONTROL_DECIDE_P4
#define DYSCO_CONTROL_DECIDE_P4

control Decide(inout headers_t hdr, inout dysco_meta_t meta) {
    apply {
        if (meta.slot_op == SLOT_OP_OUT || meta.slot_op == SLOT_OP_IN) {
            if (meta.path == PATH_NEW) {
                meta.rw = meta.new_rw;
            }
            // Deltas the other options would need (one flag: Tofino's gateways read at
            // most 4 bytes of fields per condition).
            bit<1> opt_deltas = 0;
            if (meta.rw.ack_delta != 0) { opt_deltas = 1; }
            if (meta.rw.tsval_delta != 0) { opt_deltas = 1; }
            if (meta.rw.tsecr_delta != 0) { opt_deltas = 1; }
            if (meta.two_path == 1 && meta.lo_valid == 1) { opt_deltas = 1; }
            if (meta.split == 1) {
                meta.punt = 1;
                meta.pi.reason = REASON_SPLIT;
            } else if (meta.stale == STALE_DROP) {
                // a stale pure ack on an old path: dropped (a fired latch still reports)
                meta.drop = 1;
                if ((meta.pi.flags & PI_FLAG_LATCH_OWN) != 0) {
                    meta.mirror = 1;
                    meta.pi.reason = REASON_LATCH;
                }
            } else if (meta.opt_other == 1 && opt_deltas == 1) {
                meta.punt = 1;
                meta.pi.reason = REASON_UNSUPPORTED_OPTIONS;
            } else if (meta.slot_op == SLOT_OP_OUT && meta.path == PATH_NEW &&
                       meta.new_rw.dst_addr == 0 && meta.payload_len != 0 &&
                       (hdr.tcp.flags & (TCP_SYN | TCP_FIN | TCP_RST)) == 0 &&
                       hdr.tcp.seq_no - meta.pi.cut < HOLD_PUNT_BYTES) {
                // the held prefix (pipeline.md 5.2): data sent into a hold would be dropped
                // by routing (0.0.0.0 has no route); its first HOLD_PUNT_BYTES go to the
                // controller, which sends them on when the hold ends. (Data on the new path
                // implies a valid cut: pi.cut is the register.)
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
                } else if ((meta.pi.flags & (PI_FLAG_LATCH_OWN | PI_FLAG_LATCH_PEER)) != 0) {
                    meta.mirror = 1;
                    meta.pi.reason = REASON_LATCH;
                }
            }
        }
    }
}

#endif
