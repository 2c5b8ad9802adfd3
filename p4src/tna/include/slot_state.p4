/*
 * SlotState (TNA): the per-slot registers, two-path steering, probes and latches with the
 * semantics of dysco_proto/datapath.py (docs/pipeline.md section 5), laid out for Tofino's
 * stateful ALUs: one RegisterAction per register per packet, 32-bit outputs.
 *
 * Each logical register is split into a value array and a validity array:
 *   - sent_hi, ack_hi, rcvd_ack_hi: a "written" bit (never cleared);
 *   - new_rcvd_lo, cut, old_ack_hi and the two latches: an epoch tag; the register is valid
 *     (the latch fired) iff its tag equals the slot's current epoch + 1. A newer epoch thus
 *     clears them lazily, which is the eager clear of SlotRegisters.enter_epoch.
 * bf-p4c places the dependent steps in successive stages: epoch; tags; values; cutoff;
 * steering; old_ack_hi; latches.
 *
 * NOT VERIFIED: no Tofino compiler was available when this was written (see
 * docs/pipeline.md section 10). Expect to adjust stateful-ALU conditions and stage fit.
 */
#ifndef DYSCO_TNA_SLOT_STATE_P4
#define DYSCO_TNA_SLOT_STATE_P4

#define SERIAL_GT(d) ((d) != 0 && (d)[31:31] == 0)   // d = a - b: a after b
#define SERIAL_GE(d) ((d)[31:31] == 0)

control SlotState(inout headers_t hdr, inout dysco_meta_t meta) {

    // ---- epoch ----
    Register<bit<32>, slot_t>(NUM_SLOTS, 0) epoch;
    RegisterAction<bit<32>, slot_t, bit<32>>(epoch) epoch_advance = {
        void apply(inout bit<32> value, out bit<32> rv) {
            rv = value;
            if (meta.epoch > value) {
                value = meta.epoch;
            }
        }
    };

    // ---- validity ----
    bit<32> tag;            // current epoch + 1
    bit<8> sent_v;
    bit<8> ack_v;
    bit<8> rcvd_v;
    bit<32> lo_t;
    bit<32> cut_t;
    bit<32> old_t;
    bit<32> own_t;
    bit<32> peer_t;
    bit<1> w_sent;          // this packet writes the register
    bit<1> w_ack;
    bit<1> w_rcvd;
    bit<1> w_lo;
    bit<1> w_old;
    bit<1> freeze_req;
    bit<1> own_cond;
    bit<1> peer_cond;

    Register<bit<8>, slot_t>(NUM_SLOTS, 0) sent_hi_written;
    RegisterAction<bit<8>, slot_t, bit<8>>(sent_hi_written) sent_mark = {
        void apply(inout bit<8> value, out bit<8> rv) { rv = value; value = 1; }
    };
    RegisterAction<bit<8>, slot_t, bit<8>>(sent_hi_written) sent_peek = {
        void apply(inout bit<8> value, out bit<8> rv) { rv = value; }
    };
    Register<bit<8>, slot_t>(NUM_SLOTS, 0) ack_hi_written;
    RegisterAction<bit<8>, slot_t, bit<8>>(ack_hi_written) ack_mark = {
        void apply(inout bit<8> value, out bit<8> rv) { rv = value; value = 1; }
    };
    RegisterAction<bit<8>, slot_t, bit<8>>(ack_hi_written) ack_peek = {
        void apply(inout bit<8> value, out bit<8> rv) { rv = value; }
    };
    Register<bit<8>, slot_t>(NUM_SLOTS, 0) rcvd_ack_hi_written;
    RegisterAction<bit<8>, slot_t, bit<8>>(rcvd_ack_hi_written) rcvd_mark = {
        void apply(inout bit<8> value, out bit<8> rv) { rv = value; value = 1; }
    };
    RegisterAction<bit<8>, slot_t, bit<8>>(rcvd_ack_hi_written) rcvd_peek = {
        void apply(inout bit<8> value, out bit<8> rv) { rv = value; }
    };

    Register<bit<32>, slot_t>(NUM_SLOTS, 0) new_rcvd_lo_tag;
    RegisterAction<bit<32>, slot_t, bit<32>>(new_rcvd_lo_tag) lo_mark = {
        void apply(inout bit<32> value, out bit<32> rv) { rv = value; value = tag; }
    };
    RegisterAction<bit<32>, slot_t, bit<32>>(new_rcvd_lo_tag) lo_peek = {
        void apply(inout bit<32> value, out bit<32> rv) { rv = value; }
    };
    Register<bit<32>, slot_t>(NUM_SLOTS, 0) old_ack_hi_tag;
    RegisterAction<bit<32>, slot_t, bit<32>>(old_ack_hi_tag) old_mark = {
        void apply(inout bit<32> value, out bit<32> rv) { rv = value; value = tag; }
    };
    RegisterAction<bit<32>, slot_t, bit<32>>(old_ack_hi_tag) old_peek = {
        void apply(inout bit<32> value, out bit<32> rv) { rv = value; }
    };
    // cut: a freeze takes effect only if the cut is not yet valid in this epoch.
    Register<bit<32>, slot_t>(NUM_SLOTS, 0) cut_tag;
    RegisterAction<bit<32>, slot_t, bit<32>>(cut_tag) cut_freeze_tag = {
        void apply(inout bit<32> value, out bit<32> rv) {
            rv = value;
            if (freeze_req == 1 && value != tag) {
                value = tag;
            }
        }
    };
    // latches: fire once per epoch.
    Register<bit<32>, slot_t>(NUM_SLOTS, 0) latched_own_tag;
    RegisterAction<bit<32>, slot_t, bit<32>>(latched_own_tag) own_fire = {
        void apply(inout bit<32> value, out bit<32> rv) {
            rv = value;
            if (own_cond == 1) {
                value = tag;
            }
        }
    };
    Register<bit<32>, slot_t>(NUM_SLOTS, 0) latched_peer_tag;
    RegisterAction<bit<32>, slot_t, bit<32>>(latched_peer_tag) peer_fire = {
        void apply(inout bit<32> value, out bit<32> rv) {
            rv = value;
            if (peer_cond == 1) {
                value = tag;
            }
        }
    };

    // ---- values ----
    bit<32> end;            // OUT: seq + seq_len
    bit<32> in_ack;         // IN: ack after rewrite
    bit<32> in_seq;         // IN: seq after rewrite
    bit<32> r_sent;
    bit<32> r_ack;
    bit<32> r_rcvd;
    bit<32> r_lo;
    bit<32> r_cut;
    bit<32> r_old;          // before this packet
    bit<32> a_old;

    Register<bit<32>, slot_t>(NUM_SLOTS, 0) sent_hi;
    RegisterAction<bit<32>, slot_t, bit<32>>(sent_hi) sent_max = {
        void apply(inout bit<32> value, out bit<32> rv) {
            if (sent_v == 0 || (int<32>) (end - value) > 0) {
                value = end;
            }
            rv = value;
        }
    };
    RegisterAction<bit<32>, slot_t, bit<32>>(sent_hi) sent_read = {
        void apply(inout bit<32> value, out bit<32> rv) { rv = value; }
    };
    Register<bit<32>, slot_t>(NUM_SLOTS, 0) ack_hi;
    RegisterAction<bit<32>, slot_t, bit<32>>(ack_hi) ack_max = {
        void apply(inout bit<32> value, out bit<32> rv) {
            if (ack_v == 0 || (int<32>) (hdr.tcp.ack_no - value) > 0) {
                value = hdr.tcp.ack_no;
            }
            rv = value;
        }
    };
    RegisterAction<bit<32>, slot_t, bit<32>>(ack_hi) ack_read = {
        void apply(inout bit<32> value, out bit<32> rv) { rv = value; }
    };
    Register<bit<32>, slot_t>(NUM_SLOTS, 0) rcvd_ack_hi;
    RegisterAction<bit<32>, slot_t, bit<32>>(rcvd_ack_hi) rcvd_max = {
        void apply(inout bit<32> value, out bit<32> rv) {
            if (rcvd_v == 0 || (int<32>) (in_ack - value) > 0) {
                value = in_ack;
            }
            rv = value;
        }
    };
    RegisterAction<bit<32>, slot_t, bit<32>>(rcvd_ack_hi) rcvd_read = {
        void apply(inout bit<32> value, out bit<32> rv) { rv = value; }
    };
    Register<bit<32>, slot_t>(NUM_SLOTS, 0) new_rcvd_lo;
    RegisterAction<bit<32>, slot_t, bit<32>>(new_rcvd_lo) lo_min = {
        void apply(inout bit<32> value, out bit<32> rv) {
            if (lo_t != tag || (int<32>) (in_seq - value) < 0) {
                value = in_seq;
            }
            rv = value;
        }
    };
    RegisterAction<bit<32>, slot_t, bit<32>>(new_rcvd_lo) lo_read = {
        void apply(inout bit<32> value, out bit<32> rv) { rv = value; }
    };
    Register<bit<32>, slot_t>(NUM_SLOTS, 0) cut;
    RegisterAction<bit<32>, slot_t, bit<32>>(cut) cut_set = {
        void apply(inout bit<32> value, out bit<32> rv) { value = r_sent; rv = value; }
    };
    RegisterAction<bit<32>, slot_t, bit<32>>(cut) cut_read = {
        void apply(inout bit<32> value, out bit<32> rv) { rv = value; }
    };
    Register<bit<32>, slot_t>(NUM_SLOTS, 0) old_ack_hi;
    RegisterAction<bit<32>, slot_t, bit<32>>(old_ack_hi) old_max = {
        void apply(inout bit<32> value, out bit<32> rv) {
            rv = value;
            if (old_t != tag || (int<32>) (a_old - value) > 0) {
                value = a_old;
            }
        }
    };
    RegisterAction<bit<32>, slot_t, bit<32>>(old_ack_hi) old_read = {
        void apply(inout bit<32> value, out bit<32> rv) { rv = value; }
    };

    apply {
        if (meta.slot_op != SLOT_OP_NONE) {
            bool is_out = meta.slot_op == SLOT_OP_OUT;
            bool is_in = meta.slot_op == SLOT_OP_IN;
            bool probe = meta.slot_op == SLOT_OP_PROBE;
            bool has_ack = (hdr.tcp.flags & TCP_ACK) != 0 && !probe;
            bool rst = (hdr.tcp.flags & TCP_RST) != 0;

            // 1. epoch (only moves forward)
            bit<32> old_epoch = epoch_advance.execute(meta.slot);
            bit<32> eff = old_epoch;
            if (meta.epoch > old_epoch) {
                eff = meta.epoch;
            }
            tag = eff + 1;

            // 2. which registers this packet writes (known from the packet alone)
            end = hdr.tcp.seq_no + meta.seq_len;
            in_ack = hdr.tcp.ack_no + meta.rw.ack_delta;
            in_seq = hdr.tcp.seq_no + meta.rw.seq_delta;
            w_sent = (bit<1>) is_out;
            w_ack = (bit<1>) (is_out && has_ack);
            w_rcvd = (bit<1>) (is_in && has_ack);
            w_lo = (bit<1>) (is_in && meta.role == ROLE_NEW &&
                             (meta.payload_len != 0 || (hdr.tcp.flags & TCP_FIN) != 0));
            w_old = (bit<1>) (is_out && meta.two_path == 1 && has_ack && !rst);

            // 3. validity before this packet
            if (w_sent == 1) { sent_v = sent_mark.execute(meta.slot); }
            else { sent_v = sent_peek.execute(meta.slot); }
            if (w_ack == 1) { ack_v = ack_mark.execute(meta.slot); }
            else { ack_v = ack_peek.execute(meta.slot); }
            if (w_rcvd == 1) { rcvd_v = rcvd_mark.execute(meta.slot); }
            else { rcvd_v = rcvd_peek.execute(meta.slot); }
            if (w_lo == 1) { lo_t = lo_mark.execute(meta.slot); }
            else { lo_t = lo_peek.execute(meta.slot); }
            if (w_old == 1) { old_t = old_mark.execute(meta.slot); }
            else { old_t = old_peek.execute(meta.slot); }
            freeze_req = (bit<1>) (probe && meta.freeze == 1 && sent_v != 0);
            cut_t = cut_freeze_tag.execute(meta.slot);
            bool do_freeze = freeze_req == 1 && cut_t != tag;

            // 4. values
            if (w_sent == 1) { r_sent = sent_max.execute(meta.slot); }
            else { r_sent = sent_read.execute(meta.slot); }
            if (w_ack == 1) { r_ack = ack_max.execute(meta.slot); }
            else { r_ack = ack_read.execute(meta.slot); }
            if (w_rcvd == 1) { r_rcvd = rcvd_max.execute(meta.slot); }
            else { r_rcvd = rcvd_read.execute(meta.slot); }
            if (w_lo == 1) { r_lo = lo_min.execute(meta.slot); }
            else { r_lo = lo_read.execute(meta.slot); }
            if (do_freeze) { r_cut = cut_set.execute(meta.slot); }
            else { r_cut = cut_read.execute(meta.slot); }
            bool sent_valid = sent_v != 0 || w_sent == 1;
            bool ack_valid = ack_v != 0 || w_ack == 1;
            bool rcvd_valid = rcvd_v != 0 || w_rcvd == 1;
            bool lo_valid = lo_t == tag || w_lo == 1;
            bool cut_valid = cut_t == tag || do_freeze;
            bool old_valid_before = old_t == tag;

            // 5. two-path steering (datapath._steer; docs/pipeline.md 5.2)
            bit<32> d_ack_lo = hdr.tcp.ack_no - r_lo;
            bool ack_new = has_ack && lo_valid && SERIAL_GT(d_ack_lo);
            a_old = hdr.tcp.ack_no;
            if (ack_new) {
                a_old = r_lo;
            }
            if (is_out && meta.two_path == 1) {
                bit<32> d_end_cut = end - r_cut;
                bit<32> d_seq_cut = hdr.tcp.seq_no - r_cut;
                meta.path = PATH_OLD;
                if (rst) {
                    meta.split = 1;
                } else if (meta.seq_len == 0) {
                    if (ack_new) {
                        meta.path = PATH_NEW;
                    }
                } else if (!cut_valid || !SERIAL_GT(d_end_cut)) {
                    meta.path = PATH_OLD;
                } else if (SERIAL_GE(d_seq_cut)) {
                    meta.path = PATH_NEW;
                } else {
                    meta.split = 1;
                }
            }

            // 6. old_ack_hi (returns the value before this packet)
            if (w_old == 1) { r_old = old_max.execute(meta.slot); }
            else { r_old = old_read.execute(meta.slot); }
            if (is_out && meta.two_path == 1 && meta.split == 0 && has_ack) {
                bit<32> d_old = a_old - r_old;
                if (meta.path == PATH_OLD) {
                    if (ack_new) {
                        meta.split = 1;
                    } else if (lo_valid) {
                        bit<32> r0 = hdr.sack_blocks[0].right - r_lo;
                        bit<32> r1 = hdr.sack_blocks[1].right - r_lo;
                        bit<32> r2 = hdr.sack_blocks[2].right - r_lo;
                        bit<32> r3 = hdr.sack_blocks[3].right - r_lo;
                        if ((hdr.sack_blocks[0].isValid() && SERIAL_GT(r0)) ||
                            (hdr.sack_blocks[1].isValid() && SERIAL_GT(r1)) ||
                            (hdr.sack_blocks[2].isValid() && SERIAL_GT(r2)) ||
                            (hdr.sack_blocks[3].isValid() && SERIAL_GT(r3))) {
                            meta.split = 1;
                        }
                    }
                } else {
                    if (!old_valid_before || SERIAL_GT(d_old)) {
                        meta.split = 1;
                    } else if (lo_valid) {
                        bit<32> l0 = hdr.sack_blocks[0].left - r_lo;
                        bit<32> l1 = hdr.sack_blocks[1].left - r_lo;
                        bit<32> l2 = hdr.sack_blocks[2].left - r_lo;
                        bit<32> l3 = hdr.sack_blocks[3].left - r_lo;
                        if ((hdr.sack_blocks[0].isValid() && !SERIAL_GE(l0)) ||
                            (hdr.sack_blocks[1].isValid() && !SERIAL_GE(l1)) ||
                            (hdr.sack_blocks[2].isValid() && !SERIAL_GE(l2)) ||
                            (hdr.sack_blocks[3].isValid() && !SERIAL_GE(l3))) {
                            meta.split = 1;
                        }
                    }
                }
            }

            // 7. latches (once per epoch)
            bit<32> d_rcvd_cut = r_rcvd - r_cut;
            bit<32> d_ack_peer = r_ack - meta.peer_cut;
            own_cond = (bit<1>) (is_in && cut_valid && rcvd_valid && SERIAL_GE(d_rcvd_cut));
            peer_cond = (bit<1>) (is_out && meta.peer_cut_valid == 1 && ack_valid &&
                                  SERIAL_GE(d_ack_peer));
            bit<32> own_before = own_fire.execute(meta.slot);
            bit<32> peer_before = peer_fire.execute(meta.slot);
            bit<8> latch = 0;
            if (own_cond == 1 && own_before != tag) {
                latch = PI_FLAG_LATCH_OWN;
            }
            if (peer_cond == 1 && peer_before != tag) {
                latch = latch | PI_FLAG_LATCH_PEER;
            }

            // 7b. an old path (entry older than the slot's epoch): an ack below what the
            // host already saw is raised on data, a pure ack is dropped (pipeline.md 5.5)
            bit<32> d_rcvd_ack = r_rcvd - in_ack;
            if (is_in && meta.epoch < eff && has_ack && !rst && (hdr.tcp.flags & TCP_SYN) == 0 &&
                rcvd_valid && SERIAL_GT(d_rcvd_ack)) {
                if (meta.seq_len == 0) {
                    meta.stale = STALE_DROP;
                } else {
                    meta.stale = STALE_RAISE;
                }
            }
            meta.rcvd_ack = r_rcvd;

            // 8. the packet-in fields (unset registers read as 0)
            meta.lo_valid = (bit<1>) lo_valid;
            meta.lo = r_lo;
            meta.pi.flags = meta.pi.flags | PI_FLAG_REGS | latch;
            meta.pi.epoch = eff;
            meta.pi.reg_valid = 0;
            meta.pi.sent_hi = 0;
            meta.pi.ack_hi = 0;
            meta.pi.rcvd_ack_hi = 0;
            meta.pi.new_rcvd_lo = 0;
            meta.pi.cut = 0;
            meta.pi.old_ack_hi = 0;
            if (sent_valid) { meta.pi.sent_hi = r_sent; meta.pi.reg_valid = meta.pi.reg_valid | RV_SENT_HI; }
            if (ack_valid) { meta.pi.ack_hi = r_ack; meta.pi.reg_valid = meta.pi.reg_valid | RV_ACK_HI; }
            if (rcvd_valid) { meta.pi.rcvd_ack_hi = r_rcvd; meta.pi.reg_valid = meta.pi.reg_valid | RV_RCVD_ACK_HI; }
            if (lo_valid) { meta.pi.new_rcvd_lo = r_lo; meta.pi.reg_valid = meta.pi.reg_valid | RV_NEW_RCVD_LO; }
            if (cut_valid) { meta.pi.cut = r_cut; meta.pi.reg_valid = meta.pi.reg_valid | RV_CUT; }
            if (old_valid_before) { meta.pi.old_ack_hi = r_old; meta.pi.reg_valid = meta.pi.reg_valid | RV_OLD_ACK_HI; }
        }
    }
}

// Window rescale with constant shifts (Tofino has no variable shifter): one action per
// shift amount, selected by a constant table keyed by win_shift. Never on SYN / SYN-ACK.
control WindowScale(inout headers_t hdr, in dysco_meta_t meta) {
    bit<32> w;

#define SHL(k) action shl_##k() { w = ((bit<32>) hdr.tcp.window) << k; }
#define SHR(k) action shr_##k() { w = ((bit<32>) hdr.tcp.window) >> k; }
    SHL(1) SHL(2) SHL(3) SHL(4) SHL(5) SHL(6) SHL(7) SHL(8) SHL(9) SHL(10) SHL(11) SHL(12)
    SHL(13) SHL(14)
    SHR(1) SHR(2) SHR(3) SHR(4) SHR(5) SHR(6) SHR(7) SHR(8) SHR(9) SHR(10) SHR(11) SHR(12)
    SHR(13) SHR(14)
    action keep() { w = (bit<32>) hdr.tcp.window; }

    table win_shift {
        key = { meta.rw.win_shift : exact @name("win_shift"); }
        actions = {
            shl_1; shl_2; shl_3; shl_4; shl_5; shl_6; shl_7; shl_8; shl_9; shl_10; shl_11;
            shl_12; shl_13; shl_14;
            shr_1; shr_2; shr_3; shr_4; shr_5; shr_6; shr_7; shr_8; shr_9; shr_10; shr_11;
            shr_12; shr_13; shr_14;
            keep;
        }
        const entries = {
            1: shl_1(); 2: shl_2(); 3: shl_3(); 4: shl_4(); 5: shl_5(); 6: shl_6(); 7: shl_7();
            8: shl_8(); 9: shl_9(); 10: shl_10(); 11: shl_11(); 12: shl_12(); 13: shl_13();
            14: shl_14();
            0xFF: shr_1(); 0xFE: shr_2(); 0xFD: shr_3(); 0xFC: shr_4(); 0xFB: shr_5();
            0xFA: shr_6(); 0xF9: shr_7(); 0xF8: shr_8(); 0xF7: shr_9(); 0xF6: shr_10();
            0xF5: shr_11(); 0xF4: shr_12(); 0xF3: shr_13(); 0xF2: shr_14();
        }
        const default_action = keep();
    }

    apply {
        if ((hdr.tcp.flags & TCP_SYN) == 0) {
            win_shift.apply();
            if (w[31:16] != 0) {
                hdr.tcp.window = 0xFFFF;
            } else {
                hdr.tcp.window = w[15:0];
            }
        }
    }
}

#endif
