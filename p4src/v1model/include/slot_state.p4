/*
 * SlotState (v1model): the per-slot registers the data plane updates itself, two-path
 * steering, probes and latches. Semantics exactly those of dysco_proto/datapath.py
 * (SlotRegisters, DataPath._in/_out/_steer/probe); docs/pipeline.md section 5.
 *
 * bmv2 runs one packet at a time through ingress; the @atomic block makes the
 * read-modify-write of a slot atomic on any target that runs packets concurrently.
 */
#ifndef DYSCO_V1MODEL_SLOT_STATE_P4
#define DYSCO_V1MODEL_SLOT_STATE_P4

control SlotState(inout headers_t hdr, inout dysco_meta_t meta) {
    register<bit<32>>(NUM_SLOTS) sent_hi;      // serial max of seq + seq_len, OUT packets
    register<bit<32>>(NUM_SLOTS) ack_hi;       // serial max of ack, OUT packets
    register<bit<32>>(NUM_SLOTS) rcvd_ack_hi;  // serial max of ack after rewrite, IN packets
    register<bit<32>>(NUM_SLOTS) new_rcvd_lo;  // serial min of seq after rewrite, NEW IN data
    register<bit<32>>(NUM_SLOTS) cut;          // frozen cutoff (probe with freeze)
    register<bit<32>>(NUM_SLOTS) old_ack_hi;   // highest ack sent on the old path (two-path)
    register<bit<32>>(NUM_SLOTS) epoch;        // only moves forward
    register<bit<8>>(NUM_SLOTS) flags;         // RV_* valid bits and latch bits

    apply {
        if (meta.slot_op != SLOT_OP_NONE) {
            bit<32> i = (bit<32>) meta.slot;
            bit<32> r_sent;
            bit<32> r_ack;
            bit<32> r_rcvd;
            bit<32> r_lo;
            bit<32> r_cut;
            bit<32> r_old;
            bit<32> r_epoch;
            bit<8> f;
            bit<32> pre_old;
            bit<8> pre_old_v;
            bit<8> latch = 0;
            @atomic {
                sent_hi.read(r_sent, i);
                ack_hi.read(r_ack, i);
                rcvd_ack_hi.read(r_rcvd, i);
                new_rcvd_lo.read(r_lo, i);
                cut.read(r_cut, i);
                old_ack_hi.read(r_old, i);
                epoch.read(r_epoch, i);
                flags.read(f, i);

                // A newer epoch clears the two-path state; older epochs change nothing.
                if (meta.epoch > r_epoch) {
                    r_epoch = meta.epoch;
                    f = f & RV_EPOCH_KEEP;
                }
                pre_old = r_old;
                pre_old_v = f & RV_OLD_ACK_HI;

                bool has_ack = (hdr.tcp.flags & TCP_ACK) != 0;
                bit<32> seq = hdr.tcp.seq_no;
                bit<32> ack = hdr.tcp.ack_no;

                if (meta.slot_op == SLOT_OP_PROBE) {
                    if (meta.freeze == 1 && (f & RV_CUT) == 0 && (f & RV_SENT_HI) != 0) {
                        r_cut = r_sent;
                        f = f | RV_CUT;
                    }
                    // The freeze seeds old_ack_hi: every ack the host sent so far left on the
                    // one path, this reconfiguration's old path (pipeline.md 5.3). A probe
                    // reply reports old_ack_hi after the probe.
                    if (meta.freeze == 1 && (f & RV_ACK_HI) != 0) {
                        r_old = r_ack;
                        f = f | RV_OLD_ACK_HI;
                    }
                    pre_old = r_old;
                    pre_old_v = f & RV_OLD_ACK_HI;
                } else if (meta.slot_op == SLOT_OP_OUT) {
                    bit<32> end = seq + meta.seq_len;
                    if ((f & RV_SENT_HI) == 0 || SEQ_GT(end, r_sent)) {
                        r_sent = end;
                    }
                    f = f | RV_SENT_HI;
                    if (has_ack) {
                        if ((f & RV_ACK_HI) == 0 || SEQ_GT(ack, r_ack)) {
                            r_ack = ack;
                        }
                        f = f | RV_ACK_HI;
                    }
                    // the host acked all of the peer's old-path data: the peer latch's
                    // condition, and in two-path mode its pure acks leave the old path, whose
                    // far end may be gone (it still gets one copy if it has not seen the ack)
                    bool peer_acked = meta.peer_cut_valid == 1 && (f & RV_ACK_HI) != 0 &&
                        SEQ_GE(r_ack, meta.peer_cut);
                    if (meta.two_path == 1) {
                        bool rst = (hdr.tcp.flags & TCP_RST) != 0;
                        bool lo_v = (f & RV_NEW_RCVD_LO) != 0;
                        bool cut_v = (f & RV_CUT) != 0;
                        bool ack_new = has_ack && lo_v && SEQ_GT(ack, r_lo);
                        bit<32> a_old = ack;
                        if (ack_new) {
                            a_old = r_lo;
                        }
                        meta.path = PATH_OLD;
                        if (rst) {
                            meta.split = 1;         // RST goes on both paths
                        } else {
                            if (meta.seq_len == 0) {
                                if (ack_new || (has_ack && peer_acked)) {
                                    meta.path = PATH_NEW;
                                } else if (cut_v && SEQ_GT(seq, r_cut)) {
                                    // an old-path pure ack carries seq min(seq, cut): the
                                    // host's snd_nxt past the cut may be out of the window
                                    // an old-path box opened (pipeline.md 5.2)
                                    meta.split = 1;
                                }
                            } else if (!cut_v || !SEQ_GT(end, r_cut)) {
                                meta.path = PATH_OLD;
                            } else if (SEQ_GE(seq, r_cut)) {
                                meta.path = PATH_NEW;
                            } else {
                                meta.split = 1;     // data straddles the cutoff
                            }
                            if (meta.split == 0 && has_ack) {
                                if (meta.path == PATH_OLD) {
                                    if (ack_new) {
                                        meta.split = 1;  // needs a pure ack on the new path
                                    } else if (lo_v && (
                                        (hdr.sack_blocks[0].isValid() && SEQ_GT(hdr.sack_blocks[0].right, r_lo)) ||
                                        (hdr.sack_blocks[1].isValid() && SEQ_GT(hdr.sack_blocks[1].right, r_lo)) ||
                                        (hdr.sack_blocks[2].isValid() && SEQ_GT(hdr.sack_blocks[2].right, r_lo)) ||
                                        (hdr.sack_blocks[3].isValid() && SEQ_GT(hdr.sack_blocks[3].right, r_lo)))) {
                                        meta.split = 1;  // SACK blocks to drop
                                    }
                                } else {
                                    if ((f & RV_OLD_ACK_HI) == 0 || SEQ_GT(a_old, r_old)) {
                                        meta.split = 1;  // needs a pure ack on the old path
                                    } else if (lo_v && (
                                        (hdr.sack_blocks[0].isValid() && SEQ_LT(hdr.sack_blocks[0].left, r_lo)) ||
                                        (hdr.sack_blocks[1].isValid() && SEQ_LT(hdr.sack_blocks[1].left, r_lo)) ||
                                        (hdr.sack_blocks[2].isValid() && SEQ_LT(hdr.sack_blocks[2].left, r_lo)) ||
                                        (hdr.sack_blocks[3].isValid() && SEQ_LT(hdr.sack_blocks[3].left, r_lo)))) {
                                        meta.split = 1;  // SACK blocks to drop
                                    }
                                }
                            }
                        }
                        if (has_ack && !rst) {
                            // Whatever leaves on the old path carries a_old (datapath._steer).
                            if ((f & RV_OLD_ACK_HI) == 0 || SEQ_GT(a_old, r_old)) {
                                r_old = a_old;
                            }
                            f = f | RV_OLD_ACK_HI;
                        }
                    }
                    if ((f & RV_LATCHED_PEER) == 0 && peer_acked) {
                        f = f | RV_LATCHED_PEER;
                        latch = PI_FLAG_LATCH_PEER;
                    }
                } else {    // SLOT_OP_IN
                    if (has_ack) {
                        bit<32> a = ack + meta.rw.ack_delta;
                        if ((f & RV_RCVD_ACK_HI) == 0 || SEQ_GT(a, r_rcvd)) {
                            r_rcvd = a;
                        }
                        f = f | RV_RCVD_ACK_HI;
                    }
                    if (meta.role == ROLE_NEW &&
                        (meta.payload_len != 0 || (hdr.tcp.flags & TCP_FIN) != 0)) {
                        bit<32> s = seq + meta.rw.seq_delta;
                        if ((f & RV_NEW_RCVD_LO) == 0 || SEQ_LT(s, r_lo)) {
                            r_lo = s;
                        }
                        f = f | RV_NEW_RCVD_LO;
                    }
                    if ((f & RV_LATCHED_OWN) == 0 && (f & RV_CUT) != 0 &&
                        (f & RV_RCVD_ACK_HI) != 0 && SEQ_GE(r_rcvd, r_cut)) {
                        f = f | RV_LATCHED_OWN;
                        latch = PI_FLAG_LATCH_OWN;
                    }
                    // old path (entry older than the slot): an ack below what the host saw
                    if (meta.epoch < r_epoch && has_ack &&
                        (hdr.tcp.flags & (TCP_RST | TCP_SYN)) == 0 &&
                        (f & RV_RCVD_ACK_HI) != 0 &&
                        SEQ_GT(r_rcvd, ack + meta.rw.ack_delta)) {
                        if (meta.seq_len == 0) {
                            meta.stale = STALE_DROP;
                        } else {
                            meta.stale = STALE_RAISE;
                        }
                    }
                    meta.rcvd_ack = r_rcvd;
                }

                sent_hi.write(i, r_sent);
                ack_hi.write(i, r_ack);
                rcvd_ack_hi.write(i, r_rcvd);
                new_rcvd_lo.write(i, r_lo);
                cut.write(i, r_cut);
                old_ack_hi.write(i, r_old);
                epoch.write(i, r_epoch);
                flags.write(i, f);
            }
            meta.lo_valid = (bit<1>) ((f & RV_NEW_RCVD_LO) != 0);
            meta.lo = r_lo;
            meta.pi.flags = meta.pi.flags | PI_FLAG_REGS | latch;
            meta.pi.epoch = r_epoch;
            meta.pi.reg_valid = (f & (RV_SENT_HI | RV_ACK_HI | RV_RCVD_ACK_HI | RV_NEW_RCVD_LO | RV_CUT)) | pre_old_v;
            // A register whose valid bit is clear reads as 0 in the packet-in.
            meta.pi.sent_hi = ((f & RV_SENT_HI) != 0) ? r_sent : 0;
            meta.pi.ack_hi = ((f & RV_ACK_HI) != 0) ? r_ack : 0;
            meta.pi.rcvd_ack_hi = ((f & RV_RCVD_ACK_HI) != 0) ? r_rcvd : 0;
            meta.pi.new_rcvd_lo = ((f & RV_NEW_RCVD_LO) != 0) ? r_lo : 0;
            meta.pi.cut = ((f & RV_CUT) != 0) ? r_cut : 0;
            meta.pi.old_ack_hi = (pre_old_v != 0) ? pre_old : 0;
        }
    }
}

// Window rescale: w << s clamped to 0xFFFF, or w >> -s rounded up (a non-zero window never
// becomes zero); never on SYN / SYN-ACK.
control WindowScale(inout headers_t hdr, in dysco_meta_t meta) {
    apply {
        bit<8> s = meta.rw.win_shift;
        if ((hdr.tcp.flags & TCP_SYN) == 0 && s != 0) {
            if (s[7:7] == 0) {
                bit<32> w = ((bit<32>) hdr.tcp.window) << s;
                if (w > 0xFFFF) {
                    w = 0xFFFF;
                }
                hdr.tcp.window = w[15:0];
            } else {
                bit<8> r = 8w0 - s;
                bit<32> w = ((bit<32>) hdr.tcp.window + ((32w1 << r) - 1)) >> r;
                hdr.tcp.window = w[15:0];
            }
        }
    }
}

#endif
