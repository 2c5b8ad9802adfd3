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
 * Each stateful ALU reads and writes its cell in one RegisterAction whose condition decides
 * whether this packet writes (so no gateway picks between a "mark" and a "peek" action),
 * and returns the validity (0/1) or the value. Every condition outside the ALUs tests one
 * bit or compares one field with a constant (bf-p4c's gateways cannot compare two 32-bit
 * fields for order): serial comparisons are the sign bit of a difference computed first.
 * The dependent steps: epoch; tags and written bits; values; cutoff / steering;
 * old_ack_hi; latches.
 */
#ifndef DYSCO_TNA_SLOT_STATE_P4
#define DYSCO_TNA_SLOT_STATE_P4

// Serial comparisons: d = a - b; a is before b iff d's sign bit is set. The sign (and zero)
// of d comes from a constant ternary table keyed by the whole of d (SerialSign): a gateway
// cannot shift (d >> 31 is folded back into the condition), and a slice or mask test of d
// in a gateway splits d in PHV, and through the arithmetic every field d is computed from,
// until copies of those fields need more than two sources.
const bit<2> SIGN_ZERO = 0;
const bit<2> SIGN_POS = 1;     // serially after: a > b
const bit<2> SIGN_NEG = 2;     // serially before: a < b

control SerialSign(in bit<32> d, out bit<2> sign) {
    action zero() { sign = SIGN_ZERO; }
    action pos() { sign = SIGN_POS; }
    action neg() { sign = SIGN_NEG; }
    table sign_of {
        key = { d : ternary @name("d"); }
        actions = { zero; pos; neg; }
        const entries = {
            0 &&& 0xFFFFFFFF : zero();
            0 &&& 0x80000000 : pos();
        }
        const default_action = neg();
        size = 2;
    }
    apply { sign_of.apply(); }
}

// Differences for the serial comparisons, as metadata: a local would be copy-propagated into
// the gateway condition ("condition expression too complex": a gateway cannot subtract).
struct slot_diff_t {
    // Conditional copies: an arithmetic ALU operation ties its operands and result into one
    // PHV cluster, which must fit a group of 16 32-bit containers; a move does not, but an
    // unconditional whole copy is aliased to its source by bf-p4c (so no cut). These are
    // written only where they are used, which keeps them apart.
    bit<32> lo_c;           // new_rcvd_lo, for the SACK differences (OUT)
    bit<32> cut_c;          // cut, for seq - cut (OUT)
    bit<32> rcvd_c;         // rcvd_ack_hi, for rcvd_ack_hi - cut (IN)
    bit<32> end;            // OUT: seq + seq_len
    bit<32> in_ack;         // IN: ack after rewrite
    bit<32> d_ack_lo;
    bit<32> d_end_cut;
    bit<32> d_seq_cut;
    bit<32> d_old;
    bit<32> d_ack_peer;
    bit<32> older;
}

// The packet-in reg_valid byte as bits (RV_* order: bit 0 sent_hi ... bit 5 old_ack_hi).
struct reg_valid_t {
    bit<2> pad;
    bit<1> old_ack_hi;
    bit<1> cut;
    bit<1> new_rcvd_lo;
    bit<1> rcvd_ack_hi;
    bit<1> ack_hi;
    bit<1> sent_hi;
}

control SlotState(inout headers_t hdr, inout dysco_meta_t meta, out reg_valid_t valid,
                  inout slot_diff_t d) {
    SerialSign() sg_ack_lo;
    SerialSign() sg_end_cut;
    SerialSign() sg_seq_cut;
    SerialSign() sg_old;
    SerialSign() sg_e0;
    SerialSign() sg_e1;
    SerialSign() sg_e2;
    SerialSign() sg_e3;
    SerialSign() sg_ack_peer;
    SerialSign() sg_rcvd_ack;
    SerialSign() sg_older;
    bit<2> c_older;
    bit<2> c_ack_lo;
    bit<2> c_end_cut;
    bit<2> c_seq_cut;
    bit<2> c_old;
    bit<2> c_e0;
    bit<2> c_e1;
    bit<2> c_e2;
    bit<2> c_e3;
    bit<2> c_ack_peer;
    bit<2> c_rcvd_ack;

    // ---- per-packet inputs (1 = true) ----
    bit<1> is_out;
    bit<1> is_in;
    bit<1> has_ack;         // ACK set, not a probe
    bit<1> rst;
    bit<1> w_sent;          // this packet writes the register
    bit<1> w_ack;
    bit<1> w_rcvd;
    bit<1> w_lo;
    bit<1> w_old;
    bit<1> freeze_req;
    bit<1> own_cond;
    bit<1> peer_cond;
    bit<32> tag;            // current epoch + 1

    // ---- epoch (only moves forward); returns the epoch after this packet ----
    Register<bit<32>, slot_t>(NUM_SLOTS, 0) epoch;
    RegisterAction<bit<32>, slot_t, bit<32>>(epoch) epoch_advance = {
        void apply(inout bit<32> value, out bit<32> rv) {
            if (meta.epoch > value) {
                value = meta.epoch;
            }
            rv = value;
        }
    };

    // ---- validity: "written" bits (return the bit before this packet) ----
    bit<8> sent_v;
    bit<8> ack_v;
    bit<8> rcvd_v;
    Register<bit<8>, slot_t>(NUM_SLOTS, 0) sent_hi_written;
    RegisterAction<bit<8>, slot_t, bit<8>>(sent_hi_written) sent_mark = {
        void apply(inout bit<8> value, out bit<8> rv) {
            rv = value;
            if (w_sent == 1) { value = 1; }
        }
    };
    Register<bit<8>, slot_t>(NUM_SLOTS, 0) ack_hi_written;
    RegisterAction<bit<8>, slot_t, bit<8>>(ack_hi_written) ack_mark = {
        void apply(inout bit<8> value, out bit<8> rv) {
            rv = value;
            if (w_ack == 1) { value = 1; }
        }
    };
    Register<bit<8>, slot_t>(NUM_SLOTS, 0) rcvd_ack_hi_written;
    RegisterAction<bit<8>, slot_t, bit<8>>(rcvd_ack_hi_written) rcvd_mark = {
        void apply(inout bit<8> value, out bit<8> rv) {
            rv = value;
            if (w_rcvd == 1) { value = 1; }
        }
    };

    // ---- validity: epoch tags (return 1 iff valid in the current epoch before this
    // packet; a write stamps the current tag) ----
    bit<32> lo_tv;
    bit<32> old_tv;
    bit<32> cut_tv;
    bit<32> own_tv;
    bit<32> peer_tv;
    Register<bit<32>, slot_t>(NUM_SLOTS, 0) new_rcvd_lo_tag;
    RegisterAction<bit<32>, slot_t, bit<32>>(new_rcvd_lo_tag) lo_mark = {
        void apply(inout bit<32> value, out bit<32> rv) {
            rv = 0;
            if (value == tag) { rv = 1; }
            if (w_lo == 1) { value = tag; }
        }
    };
    Register<bit<32>, slot_t>(NUM_SLOTS, 0) old_ack_hi_tag;
    RegisterAction<bit<32>, slot_t, bit<32>>(old_ack_hi_tag) old_mark = {
        void apply(inout bit<32> value, out bit<32> rv) {
            rv = 0;
            if (value == tag) { rv = 1; }
            if (w_old == 1) { value = tag; }
        }
    };
    // cut: a freeze takes effect only if the cut is not yet valid in this epoch.
    Register<bit<32>, slot_t>(NUM_SLOTS, 0) cut_tag;
    RegisterAction<bit<32>, slot_t, bit<32>>(cut_tag) cut_freeze_tag = {
        void apply(inout bit<32> value, out bit<32> rv) {
            rv = 0;
            if (value == tag) { rv = 1; }
            if (freeze_req == 1) { value = tag; }
        }
    };
    // latches: fire once per epoch.
    Register<bit<32>, slot_t>(NUM_SLOTS, 0) latched_own_tag;
    RegisterAction<bit<32>, slot_t, bit<32>>(latched_own_tag) own_fire = {
        void apply(inout bit<32> value, out bit<32> rv) {
            rv = 0;
            if (value == tag) { rv = 1; }
            if (own_cond == 1) { value = tag; }
        }
    };
    Register<bit<32>, slot_t>(NUM_SLOTS, 0) latched_peer_tag;
    RegisterAction<bit<32>, slot_t, bit<32>>(latched_peer_tag) peer_fire = {
        void apply(inout bit<32> value, out bit<32> rv) {
            rv = 0;
            if (value == tag) { rv = 1; }
            if (peer_cond == 1) { value = tag; }
        }
    };

    // ---- values (return the value after this packet, old_ack_hi: before) ----
    bit<32> a_old;
    bit<1> sent_nv;         // the register had no valid value before this packet
    bit<1> ack_nv;
    bit<1> rcvd_nv;
    bit<1> lo_nv;
    bit<1> old_nv;
    bit<1> do_freeze;
    bit<1> cut_nv;          // the cut is not valid after this packet

    Register<bit<32>, slot_t>(NUM_SLOTS, 0) sent_hi;
    RegisterAction<bit<32>, slot_t, bit<32>>(sent_hi) sent_max = {
        void apply(inout bit<32> value, out bit<32> rv) {
            if (sent_nv == 1 || (int<32>) (d.end - value) > 0) {
                value = d.end;
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
            if (ack_nv == 1 || (int<32>) (hdr.tcp.ack_no - value) > 0) {
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
            if (rcvd_nv == 1 || (int<32>) (d.in_ack - value) > 0) {
                value = d.in_ack;
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
            if (lo_nv == 1 || (int<32>) (d.end - value) < 0) {
                value = d.end;
            }
            rv = value;
        }
    };
    // (returns 0 when the register is not valid: the packet-in field, without a copy)
    RegisterAction<bit<32>, slot_t, bit<32>>(new_rcvd_lo) lo_read = {
        void apply(inout bit<32> value, out bit<32> rv) {
            rv = 0;
            if (lo_nv == 0) { rv = value; }
        }
    };
    Register<bit<32>, slot_t>(NUM_SLOTS, 0) cut;
    // (returns 0 when the cut is not valid after this packet: the packet-in field, without
    // a copy whose slices would split it)
    RegisterAction<bit<32>, slot_t, bit<32>>(cut) cut_set = {
        void apply(inout bit<32> value, out bit<32> rv) {
            if (do_freeze == 1) {
                value = meta.pi.sent_hi;
            }
            rv = 0;
            if (cut_nv == 0) { rv = value; }
        }
    };
    Register<bit<32>, slot_t>(NUM_SLOTS, 0) old_ack_hi;
    // (return 0 when old_ack_hi was not valid before this packet; the first write of an
    // epoch is an action of its own: an ALU has two comparison units)
    RegisterAction<bit<32>, slot_t, bit<32>>(old_ack_hi) old_first = {
        void apply(inout bit<32> value, out bit<32> rv) {
            rv = 0;
            value = a_old;
        }
    };
    RegisterAction<bit<32>, slot_t, bit<32>>(old_ack_hi) old_max = {
        void apply(inout bit<32> value, out bit<32> rv) {
            rv = value;
            if ((int<32>) (a_old - value) > 0) {
                value = a_old;
            }
        }
    };
    RegisterAction<bit<32>, slot_t, bit<32>>(old_ack_hi) old_read = {
        void apply(inout bit<32> value, out bit<32> rv) {
            rv = 0;
            if (old_nv == 0) { rv = value; }
        }
    };

    apply {
        valid = {0, 0, 0, 0, 0, 0, 0};
        if (meta.slot_op != SLOT_OP_NONE) {
            // 0. per-packet inputs, known from the packet and the entry alone
            is_out = 0;
            is_in = 0;
            has_ack = 0;
            rst = 0;
            if (meta.slot_op == SLOT_OP_OUT) { is_out = 1; }
            if (meta.slot_op == SLOT_OP_IN) { is_in = 1; }
            if (meta.slot_op != SLOT_OP_PROBE && hdr.tcp.flags & TCP_ACK == TCP_ACK) {
                has_ack = 1;
            }
            if (hdr.tcp.flags & TCP_RST == TCP_RST) { rst = 1; }
            // OUT and IN values share fields (a packet is one or the other; fewer 32-bit
            // containers): end / in_seq, the two latch differences, ack - new_rcvd_lo /
            // rcvd_ack_hi - in_ack.
            if (meta.slot_op == SLOT_OP_OUT) {
                d.end = hdr.tcp.seq_no + meta.seq_len;
            } else {
                d.end = hdr.tcp.seq_no + meta.rw.seq_delta;    // in_seq
            }
            d.in_ack = hdr.tcp.ack_no + meta.rw.ack_delta;
            w_sent = 0;
            w_ack = 0;
            w_rcvd = 0;
            if (meta.slot_op == SLOT_OP_OUT) { w_sent = 1; }
            if (meta.slot_op == SLOT_OP_OUT && has_ack == 1) { w_ack = 1; }
            if (meta.slot_op == SLOT_OP_IN && has_ack == 1) { w_rcvd = 1; }
            w_lo = 0;
            if (meta.slot_op == SLOT_OP_IN && meta.role == ROLE_NEW) {
                if (meta.payload_len != 0) {
                    w_lo = 1;
                } else if (hdr.tcp.flags & TCP_FIN == TCP_FIN) {
                    w_lo = 1;
                }
            }
            w_old = 0;
            if (meta.slot_op == SLOT_OP_OUT && meta.two_path == 1 && has_ack == 1 && rst == 0) {
                w_old = 1;
            }

            // 1. epoch
            // (the ALU output goes straight into the packet-in field)
            meta.pi.epoch = epoch_advance.execute(meta.slot);
            tag = meta.pi.epoch + 1;
            d.older = meta.pi.epoch ^ meta.epoch;    // != 0: the entry predates the slot's epoch
            sg_older.apply(d.older, c_older);      // (zero or not, by table: a gateway
            bit<1> is_older = 0;                   // would compare eff with epoch)
            if (c_older != SIGN_ZERO) { is_older = 1; }

            // 2. validity before this packet
            sent_v = sent_mark.execute(meta.slot);
            ack_v = ack_mark.execute(meta.slot);
            rcvd_v = rcvd_mark.execute(meta.slot);
            lo_tv = lo_mark.execute(meta.slot);
            old_tv = old_mark.execute(meta.slot);
            freeze_req = 0;
            if (meta.slot_op == SLOT_OP_PROBE && meta.freeze == 1 && sent_v != 0) {
                freeze_req = 1;
            }
            cut_tv = cut_freeze_tag.execute(meta.slot);
            do_freeze = 0;
            if (freeze_req == 1 && cut_tv == 0) { do_freeze = 1; }
            sent_nv = 0;
            ack_nv = 0;
            rcvd_nv = 0;
            lo_nv = 0;
            old_nv = 0;
            if (sent_v == 0) { sent_nv = 1; }
            if (ack_v == 0) { ack_nv = 1; }
            if (rcvd_v == 0) { rcvd_nv = 1; }
            if (lo_tv == 0) { lo_nv = 1; }
            if (old_tv == 0) { old_nv = 1; }

            // 3. values
            if (w_sent == 1) { meta.pi.sent_hi = sent_max.execute(meta.slot); }
            else { meta.pi.sent_hi = sent_read.execute(meta.slot); }
            if (w_ack == 1) { meta.pi.ack_hi = ack_max.execute(meta.slot); }
            else { meta.pi.ack_hi = ack_read.execute(meta.slot); }
            if (w_rcvd == 1) { meta.pi.rcvd_ack_hi = rcvd_max.execute(meta.slot); }
            else { meta.pi.rcvd_ack_hi = rcvd_read.execute(meta.slot); }
            // new_rcvd_lo goes straight into the packet-in field (0 when not valid)
            if (w_lo == 1) { meta.pi.new_rcvd_lo = lo_min.execute(meta.slot); }
            else { meta.pi.new_rcvd_lo = lo_read.execute(meta.slot); }
            cut_nv = 1;
            if (do_freeze == 1 || cut_tv != 0) { cut_nv = 0; }
            meta.pi.cut = cut_set.execute(meta.slot);
            bit<1> sent_valid = 0;
            bit<1> ack_valid = 0;
            bit<1> rcvd_valid = 0;
            bit<1> lo_valid = 0;
            bit<1> cut_valid = 0;
            if (w_sent == 1 || sent_v != 0) { sent_valid = 1; }
            if (w_ack == 1 || ack_v != 0) { ack_valid = 1; }
            if (w_rcvd == 1 || rcvd_v != 0) { rcvd_valid = 1; }
            if (w_lo == 1 || lo_tv != 0) { lo_valid = 1; }
            if (do_freeze == 1 || cut_tv != 0) { cut_valid = 1; }
            bit<1> old_valid_before = 0;
            if (old_tv != 0) { old_valid_before = 1; }

            // 4. two-path steering (datapath._steer; docs/pipeline.md 5.2)
            // (under a condition of their own: an ALU output feeds no other operation in
            // the action that produced it; they only matter for OUT packets)
            // (end - cut as (seq - cut) + seq_len, in a step of its own)
            if (is_out == 1) { @in_hash { d.cut_c = meta.pi.cut; } }
            if (is_out == 1) {
                d.d_ack_lo = hdr.tcp.ack_no - meta.pi.new_rcvd_lo;
                d.d_seq_cut = hdr.tcp.seq_no - d.cut_c;
            }
            if (is_out == 1 && meta.two_path == 1) {
                d.d_end_cut = d.d_seq_cut + meta.seq_len;
            }
            sg_ack_lo.apply(d.d_ack_lo, c_ack_lo);
            sg_seq_cut.apply(d.d_seq_cut, c_seq_cut);
            sg_end_cut.apply(d.d_end_cut, c_end_cut);
            bit<1> ack_new = 0;
            if (has_ack == 1 && lo_valid == 1 && c_ack_lo == SIGN_POS) {
                ack_new = 1;
            }
            // (copies through the hash unit: no ALU link between ack_no, new_rcvd_lo, a_old)
            if (ack_new == 1) {
                @in_hash { a_old = meta.pi.new_rcvd_lo; }
            } else {
                @in_hash { a_old = hdr.tcp.ack_no; }
            }
            if (is_out == 1 && meta.two_path == 1) {
                meta.path = PATH_OLD;
                if (rst == 1) {
                    meta.split = 1;
                } else if (meta.seq_len == 0) {
                    if (ack_new == 1) {
                        meta.path = PATH_NEW;
                    }
                } else if (cut_valid == 0) {
                    meta.path = PATH_OLD;
                } else if (c_end_cut != SIGN_POS) {
                    meta.path = PATH_OLD;
                } else if (c_seq_cut != SIGN_NEG) {
                    meta.path = PATH_NEW;
                } else {
                    meta.split = 1;
                }
            }

            // 5. old_ack_hi (returns the value before this packet)
            if (w_old == 1 && old_nv == 1) { meta.pi.old_ack_hi = old_first.execute(meta.slot); }
            else if (w_old == 1) { meta.pi.old_ack_hi = old_max.execute(meta.slot); }
            else { meta.pi.old_ack_hi = old_read.execute(meta.slot); }
            if (is_out == 1) { d.d_old = a_old - meta.pi.old_ack_hi; }
            sg_old.apply(d.d_old, c_old);
            // SACK edges against new_rcvd_lo: right edges on the old path, left edges on the
            // new one (one set of differences, so four temporaries instead of eight)
            bit<32> e0;
            bit<32> e1;
            bit<32> e2;
            bit<32> e3;
            if (is_out == 1) { @in_hash { d.lo_c = meta.pi.new_rcvd_lo; } }
            if (meta.path == PATH_OLD) {
                e0 = hdr.sack_blocks[0].right - d.lo_c;
                e1 = hdr.sack_blocks[1].right - d.lo_c;
                e2 = hdr.sack_blocks[2].right - d.lo_c;
                e3 = hdr.sack_blocks[3].right - d.lo_c;
            } else {
                e0 = hdr.sack_blocks[0].left - d.lo_c;
                e1 = hdr.sack_blocks[1].left - d.lo_c;
                e2 = hdr.sack_blocks[2].left - d.lo_c;
                e3 = hdr.sack_blocks[3].left - d.lo_c;
            }
            sg_e0.apply(e0, c_e0);
            sg_e1.apply(e1, c_e1);
            sg_e2.apply(e2, c_e2);
            sg_e3.apply(e3, c_e3);
            if (is_out == 1 && meta.two_path == 1 && meta.split == 0 && has_ack == 1) {
                if (meta.path == PATH_OLD) {
                    if (ack_new == 1) {
                        meta.split = 1;
                    } else if (lo_valid == 1) {
                        // a right edge after new_rcvd_lo
                        if (hdr.sack_blocks[0].isValid() && c_e0 == SIGN_POS) {
                            meta.split = 1;
                        }
                        if (hdr.sack_blocks[1].isValid() && c_e1 == SIGN_POS) {
                            meta.split = 1;
                        }
                        if (hdr.sack_blocks[2].isValid() && c_e2 == SIGN_POS) {
                            meta.split = 1;
                        }
                        if (hdr.sack_blocks[3].isValid() && c_e3 == SIGN_POS) {
                            meta.split = 1;
                        }
                    }
                } else {
                    if (old_valid_before == 0) {
                        meta.split = 1;
                    } else if (c_old == SIGN_POS) {
                        meta.split = 1;
                    } else if (lo_valid == 1) {
                        // a left edge before new_rcvd_lo
                        if (hdr.sack_blocks[0].isValid() && c_e0 == SIGN_NEG) { meta.split = 1; }
                        if (hdr.sack_blocks[1].isValid() && c_e1 == SIGN_NEG) { meta.split = 1; }
                        if (hdr.sack_blocks[2].isValid() && c_e2 == SIGN_NEG) { meta.split = 1; }
                        if (hdr.sack_blocks[3].isValid() && c_e3 == SIGN_NEG) { meta.split = 1; }
                    }
                }
            }

            // 6. latches (once per epoch)
            if (is_in == 1) { @in_hash { d.rcvd_c = meta.pi.rcvd_ack_hi; } }
            if (is_in == 1) { d.d_ack_peer = d.rcvd_c - meta.pi.cut; }    // rcvd_ack_hi - cut
            if (is_out == 1) { d.d_ack_peer = meta.pi.ack_hi - meta.peer_cut; }
            sg_ack_peer.apply(d.d_ack_peer, c_ack_peer);
            own_cond = 0;
            peer_cond = 0;
            if (is_in == 1 && cut_valid == 1 && rcvd_valid == 1 && c_ack_peer != SIGN_NEG) {
                own_cond = 1;
            }
            if (is_out == 1 && meta.peer_cut_valid == 1 && ack_valid == 1 &&
                c_ack_peer != SIGN_NEG) {
                peer_cond = 1;
            }
            own_tv = own_fire.execute(meta.slot);
            peer_tv = peer_fire.execute(meta.slot);
            bit<1> own_fired = 0;
            bit<1> peer_fired = 0;
            if (own_cond == 1 && own_tv == 0) { own_fired = 1; }
            if (peer_cond == 1 && peer_tv == 0) { peer_fired = 1; }
            if (own_fired == 1 && peer_fired == 1) {
                meta.pi.flags = meta.pi.flags | (PI_FLAG_REGS | PI_FLAG_LATCH_OWN | PI_FLAG_LATCH_PEER);
            } else if (own_fired == 1) {
                meta.pi.flags = meta.pi.flags | (PI_FLAG_REGS | PI_FLAG_LATCH_OWN);
            } else if (peer_fired == 1) {
                meta.pi.flags = meta.pi.flags | (PI_FLAG_REGS | PI_FLAG_LATCH_PEER);
            } else {
                meta.pi.flags = meta.pi.flags | PI_FLAG_REGS;
            }

            // 6b. an old path (entry older than the slot's epoch): an ack below what the
            // host already saw is raised on data, a pure ack is dropped (pipeline.md 5.5)
            // (rcvd_ack_hi - (ack + ack_delta) in two steps)
            if (is_in == 1) { d.d_ack_lo = meta.pi.rcvd_ack_hi - hdr.tcp.ack_no; }
            if (is_in == 1 && has_ack == 1) {
                d.d_ack_lo = d.d_ack_lo - meta.rw.ack_delta;
            }
            sg_rcvd_ack.apply(d.d_ack_lo, c_rcvd_ack);
            if (is_in == 1 && has_ack == 1 && rst == 0 && hdr.tcp.flags & TCP_SYN == 0 &&
                rcvd_valid == 1 && is_older == 1) {
                if (c_rcvd_ack == SIGN_POS) {
                    if (meta.seq_len == 0) {
                        meta.stale = STALE_DROP;
                    } else {
                        meta.stale = STALE_RAISE;
                    }
                }
            }
            meta.rcvd_ack = meta.pi.rcvd_ack_hi;

            // 7. the packet-in fields (unset registers read as 0: sent_hi, ack_hi and
            // rcvd_ack_hi are 0 until first written, so their ALU outputs are used as they are)
            meta.lo_valid = lo_valid;
            valid.pad = 0;
            valid.sent_hi = sent_valid;
            valid.ack_hi = ack_valid;
            valid.rcvd_ack_hi = rcvd_valid;
            valid.new_rcvd_lo = lo_valid;
            valid.cut = cut_valid;
            valid.old_ack_hi = old_valid_before;
        }
    }
}

// Window rescale with constant shifts (Tofino has no variable shifter): one action per
// shift amount, selected by a constant table keyed by win_shift. Never on SYN / SYN-ACK.
control WindowScale(inout headers_t hdr, in dysco_meta_t meta) {
    bit<32> w;
    bit<32> w0;             // the window, widened first (a shift of a widened 16-bit field
                            // in one action is a bf-p4c internal error on Tofino 2)

#define SHL(k) action shl_##k() { w = w0 << k; }
#define SHR(k) action shr_##k() { w = w0 >> k; }
    SHL(1) SHL(2) SHL(3) SHL(4) SHL(5) SHL(6) SHL(7) SHL(8) SHL(9) SHL(10) SHL(11) SHL(12)
    SHL(13) SHL(14)
    SHR(1) SHR(2) SHR(3) SHR(4) SHR(5) SHR(6) SHR(7) SHR(8) SHR(9) SHR(10) SHR(11) SHR(12)
    SHR(13) SHR(14)
    action keep() { w = w0; }

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
            w0 = (bit<32>) hdr.tcp.window;
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
