/*
 * Classify (after the lookups, before the slot registers): the per-packet rules of
 * docs/protocol-design.md section 2, in order. Sets the punt reason, or the slot operation
 * for a packet that hit an entry, or asks for plain forwarding.
 */
#ifndef DYSCO_CONTROL_CLASSIFY_P4
#define DYSCO_CONTROL_CLASSIFY_P4

control Classify(inout headers_t hdr, inout dysco_meta_t meta) {
    apply {
        meta.pi.agent_id = meta.agent_id;
        if (meta.is_local == 1) {
            // 1. UDP to the control port of a local address.
            meta.punt = 1;
            meta.pi.reason = REASON_CONTROL;
        } else if (hdr.tcp.isValid()) {
            meta.pi.direction = meta.direction;
#ifndef TARGET_TNA
            // Option bytes outside the recognised layouts ("other" options, 3.2).
            // (TNA: a constant table computes meta.opt_other before Classify, see
            // tna/include/options.p4.)
            bit<8> parsed = 0;
            if (hdr.tcp_ts.isValid()) { parsed = parsed + 12; }
            if (hdr.tcp_sack.isValid()) { parsed = parsed + 4; }
            if (hdr.sack_blocks[0].isValid()) { parsed = parsed + 8; }
            if (hdr.sack_blocks[1].isValid()) { parsed = parsed + 8; }
            if (hdr.sack_blocks[2].isValid()) { parsed = parsed + 8; }
            if (hdr.sack_blocks[3].isValid()) { parsed = parsed + 8; }
            if (hdr.tcp_synopt.isValid()) { parsed = parsed + 16; }
            if (hdr.tcp_ws.isValid()) { parsed = parsed + 4; }
            if (hdr.tcp_tag.isValid()) { parsed = parsed + 8; }
            if (parsed != (((bit<8>) hdr.tcp.data_offset) << 2) - 20) {
                meta.opt_other = 1;
            }
#endif
            if (meta.hit == 1) {
                meta.pi.flags = PI_FLAG_ENTRY_HIT;
                meta.pi.slot = meta.slot;
            }
            bool syn = (hdr.tcp.flags & TCP_SYN) != 0;
            bool ack = (hdr.tcp.flags & TCP_ACK) != 0;
            if (syn && !ack) {
                // 2. Connection request (first SYN, SYN with a chain, retransmission).
                meta.punt = 1;
                meta.pi.reason = REASON_SYN;
            } else if (syn && ack && (meta.payload_len != 0 ||
                                      (meta.hit == 1 && meta.role == ROLE_NEW))) {
                // 3. SYN-ACK with payload, or the new path's SYN-ACK at an anchor.
                meta.punt = 1;
                meta.pi.reason = REASON_SYNACK;
            } else if (meta.hit == 1) {
                // 5. Mapped: registers, steering, rewrite (Decide).
#ifndef TARGET_TNA
                meta.rw = meta.old_rw;      // (TNA: the session actions wrote rw)
#endif
                if (meta.direction == DIR_OUT) {
                    meta.slot_op = SLOT_OP_OUT;
                } else {
                    meta.slot_op = SLOT_OP_IN;
                }
            } else {
                // 4. Not a Dysco session.
                meta.want_route = 1;
            }
        } else {
            meta.want_route = 1;
        }
    }
}

#endif
