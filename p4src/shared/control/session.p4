/*
 * SessionLookup: the Dysco mapping tables.
 *   out_session: keyed by the five-tuple a local host emits (and its agent identity);
 *   in_session:  keyed by the subsession five-tuple as it arrives from the network.
 * Action data carry everything a dysco_proto.entries.MappingEntry has.
 */
#ifndef DYSCO_CONTROL_SESSION_P4
#define DYSCO_CONTROL_SESSION_P4

// Where the actions put the single / old path. v1model: old_rw (Classify copies it into rw).
// TNA: rw directly (Classify's copy is left out there), which saves the PHV containers of
// a second copy of the rewrite.
#ifndef SESSION_RW          // (a target's program may choose: TNA folded, old_rw)
#ifdef TARGET_TNA
#define SESSION_RW rw
#else
#define SESSION_RW old_rw
#endif
#endif

#ifndef SESSION_IDLE_TIMEOUT
#define SESSION_IDLE_TIMEOUT support_timeout = true;
#endif

control SessionLookup(inout headers_t hdr, inout dysco_meta_t meta) {

    // Single path: rewrite to (src_addr, src_port, dst_addr, dst_port) with the deltas.
    action out_rewrite(bit<32> src_addr, bit<32> dst_addr, bit<16> src_port, bit<16> dst_port,
                       bit<32> seq_delta, bit<32> ack_delta, bit<32> tsval_delta,
                       bit<32> tsecr_delta, bit<8> win_shift,
                       slot_t slot, bit<8> role, bit<32> epoch,
                       bit<32> peer_cut, bit<1> peer_cut_valid) {
        meta.hit = 1;
        meta.two_path = 0;
        meta.SESSION_RW.src_addr = src_addr;
        meta.SESSION_RW.dst_addr = dst_addr;
        meta.SESSION_RW.src_port = src_port;
        meta.SESSION_RW.dst_port = dst_port;
        meta.SESSION_RW.seq_delta = seq_delta;
        meta.SESSION_RW.ack_delta = ack_delta;
        meta.SESSION_RW.tsval_delta = tsval_delta;
        meta.SESSION_RW.tsecr_delta = tsecr_delta;
        meta.SESSION_RW.win_shift = win_shift;
        meta.slot = slot;
        meta.role = role;
        meta.epoch = epoch;
        meta.peer_cut = peer_cut;
        meta.peer_cut_valid = peer_cut_valid;
    }

    // Two-path mode at an anchor: the old path (first nine parameters) and the new one.
    action out_two_path(bit<32> src_addr, bit<32> dst_addr, bit<16> src_port, bit<16> dst_port,
                        bit<32> seq_delta, bit<32> ack_delta, bit<32> tsval_delta,
                        bit<32> tsecr_delta, bit<8> win_shift,
                        slot_t slot, bit<8> role, bit<32> epoch,
                        bit<32> peer_cut, bit<1> peer_cut_valid,
                        bit<32> new_src_addr, bit<32> new_dst_addr,
                        bit<16> new_src_port, bit<16> new_dst_port,
                        bit<32> new_seq_delta, bit<32> new_ack_delta,
                        bit<32> new_tsval_delta, bit<32> new_tsecr_delta,
                        bit<8> new_win_shift) {
        meta.hit = 1;
        meta.two_path = 1;
        meta.SESSION_RW.src_addr = src_addr;
        meta.SESSION_RW.dst_addr = dst_addr;
        meta.SESSION_RW.src_port = src_port;
        meta.SESSION_RW.dst_port = dst_port;
        meta.SESSION_RW.seq_delta = seq_delta;
        meta.SESSION_RW.ack_delta = ack_delta;
        meta.SESSION_RW.tsval_delta = tsval_delta;
        meta.SESSION_RW.tsecr_delta = tsecr_delta;
        meta.SESSION_RW.win_shift = win_shift;
        meta.slot = slot;
        meta.role = role;
        meta.epoch = epoch;
        meta.peer_cut = peer_cut;
        meta.peer_cut_valid = peer_cut_valid;
        meta.new_rw.src_addr = new_src_addr;
        meta.new_rw.dst_addr = new_dst_addr;
        meta.new_rw.src_port = new_src_port;
        meta.new_rw.dst_port = new_dst_port;
        meta.new_rw.seq_delta = new_seq_delta;
        meta.new_rw.ack_delta = new_ack_delta;
        meta.new_rw.tsval_delta = new_tsval_delta;
        meta.new_rw.tsecr_delta = new_tsecr_delta;
        meta.new_rw.win_shift = new_win_shift;
    }

    // Arriving subsession packet: rewrite back to the session tuple the local host expects.
    action in_rewrite(bit<32> src_addr, bit<32> dst_addr, bit<16> src_port, bit<16> dst_port,
                      bit<32> seq_delta, bit<32> ack_delta, bit<32> tsval_delta,
                      bit<32> tsecr_delta, bit<8> win_shift,
                      slot_t slot, bit<8> role, bit<32> epoch) {
        meta.hit = 1;
        meta.two_path = 0;
        meta.SESSION_RW.src_addr = src_addr;
        meta.SESSION_RW.dst_addr = dst_addr;
        meta.SESSION_RW.src_port = src_port;
        meta.SESSION_RW.dst_port = dst_port;
        meta.SESSION_RW.seq_delta = seq_delta;
        meta.SESSION_RW.ack_delta = ack_delta;
        meta.SESSION_RW.tsval_delta = tsval_delta;
        meta.SESSION_RW.tsecr_delta = tsecr_delta;
        meta.SESSION_RW.win_shift = win_shift;
        meta.slot = slot;
        meta.role = role;
        meta.epoch = epoch;
        meta.peer_cut = 0;
        meta.peer_cut_valid = 0;
    }

    table out_session {
        key = {
            meta.agent_id     : exact @name("agent_id");
            hdr.ipv4.src_addr : exact @name("src_addr");
            hdr.ipv4.dst_addr : exact @name("dst_addr");
            hdr.ipv4.protocol : exact @name("proto");
            hdr.tcp.src_port  : exact @name("src_port");
            hdr.tcp.dst_port  : exact @name("dst_port");
        }
        actions = {
            out_rewrite;
            out_two_path;
            @defaultonly NoAction;
        }
        const default_action = NoAction();
        size = SESSION_TABLE_SIZE;
        SESSION_IDLE_TIMEOUT
    }

    table in_session {
        key = {
            hdr.ipv4.src_addr : exact @name("src_addr");
            hdr.ipv4.dst_addr : exact @name("dst_addr");
            hdr.ipv4.protocol : exact @name("proto");
            hdr.tcp.src_port  : exact @name("src_port");
            hdr.tcp.dst_port  : exact @name("dst_port");
        }
        actions = {
            in_rewrite;
            @defaultonly NoAction;
        }
        const default_action = NoAction();
        size = SESSION_TABLE_SIZE;
        SESSION_IDLE_TIMEOUT
    }

    apply {
        if (meta.port_role == PORT_ROLE_HOST) {
            meta.direction = DIR_OUT;
            out_session.apply();
        } else {
            meta.direction = DIR_IN;
            in_session.apply();
        }
    }
}

#endif
