/*
 * Rewrite: replace the five-tuple with the chosen mapping's (meta.rw).
 * SeqAdjust: the deltas, modulo 2^32: seq += seq_delta; ack += ack_delta when ACK is set;
 * every SACK edge += ack_delta; TSval += tsval_delta and TSecr += tsecr_delta.
 * (The window rescale needs a variable shift: target-specific WindowScale.)
 */
#ifndef DYSCO_CONTROL_REWRITE_P4
#define DYSCO_CONTROL_REWRITE_P4

control Rewrite(inout headers_t hdr, in dysco_meta_t meta) {
    apply {
        hdr.ipv4.src_addr = meta.rw.src_addr;
        hdr.ipv4.dst_addr = meta.rw.dst_addr;
        hdr.tcp.src_port = meta.rw.src_port;
        hdr.tcp.dst_port = meta.rw.dst_port;
    }
}

control SeqAdjust(inout headers_t hdr, in dysco_meta_t meta) {
    apply {
        hdr.tcp.seq_no = hdr.tcp.seq_no + meta.rw.seq_delta;
        if ((hdr.tcp.flags & TCP_ACK) != 0) {
            if (meta.stale == STALE_RAISE) {
                hdr.tcp.ack_no = meta.rcvd_ack;   // old-path data: the newest ack (5.5)
            } else {
                hdr.tcp.ack_no = hdr.tcp.ack_no + meta.rw.ack_delta;
            }
        }
        if (hdr.tcp_ts.isValid()) {
            hdr.tcp_ts.tsval = hdr.tcp_ts.tsval + meta.rw.tsval_delta;
            hdr.tcp_ts.tsecr = hdr.tcp_ts.tsecr + meta.rw.tsecr_delta;
        }
        if (hdr.tcp_synopt.isValid()) {
            // Only SYN-ACKs get here (SYNs are punted), so TSecr is a real echo.
            hdr.tcp_synopt.tsval = hdr.tcp_synopt.tsval + meta.rw.tsval_delta;
            hdr.tcp_synopt.tsecr = hdr.tcp_synopt.tsecr + meta.rw.tsecr_delta;
        }
        if (hdr.sack_blocks[0].isValid()) {
            hdr.sack_blocks[0].left = hdr.sack_blocks[0].left + meta.rw.ack_delta;
            hdr.sack_blocks[0].right = hdr.sack_blocks[0].right + meta.rw.ack_delta;
        }
        if (hdr.sack_blocks[1].isValid()) {
            hdr.sack_blocks[1].left = hdr.sack_blocks[1].left + meta.rw.ack_delta;
            hdr.sack_blocks[1].right = hdr.sack_blocks[1].right + meta.rw.ack_delta;
        }
        if (hdr.sack_blocks[2].isValid()) {
            hdr.sack_blocks[2].left = hdr.sack_blocks[2].left + meta.rw.ack_delta;
            hdr.sack_blocks[2].right = hdr.sack_blocks[2].right + meta.rw.ack_delta;
        }
        if (hdr.sack_blocks[3].isValid()) {
            hdr.sack_blocks[3].left = hdr.sack_blocks[3].left + meta.rw.ack_delta;
            hdr.sack_blocks[3].right = hdr.sack_blocks[3].right + meta.rw.ack_delta;
        }
    }
}

#endif
