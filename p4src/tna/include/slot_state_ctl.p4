/*
 * SlotState's control, included by slot_state.p4 once (SLOT_PART 3: the whole of it) or,
 * folded (FOLD: two ingress passes in two pipes, Tofino 1), twice: SLOT_PART 1, pipe_a's
 * first pass (steps 1-3 and their registers), and SLOT_PART 2, pipe_b's second (steps 4-8,
 * the latches, old_ack_hi and its twin, the sign and SACK tables); SLOT_CTL names the
 * control. Folded, the register call sites are tables keyed by the conditions (one logical
 * table per register, where an if/else chain takes one per call site: Tofino 1 has 16
 * logical tables per stage).
 */
control SLOT_CTL(inout headers_t hdr, inout dysco_meta_t meta, out reg_valid_t valid,
                  inout slot_diff_t d, in bit<1> eligible, in bit<1> probe_ok,
                  in bit<2> tcp_cls) {
#if SLOT_PART & 2
    SerialSign() sg_ack_lo;
    SerialSign() sg_end_cut;
    SerialSign() sg_seq_cut;
    HoldPrefix() hold_prefix;
#ifdef FOLD
    SerialSign() sg_ack_peer;       // (the stage pin is Tofino 2's)
#else
    SerialSignPinned() sg_ack_peer;
#endif
    SerialSign() sg_own;
    SerialSign() sg_rcvd_ack;
#endif
#if SLOT_PART & 1
    SerialSign() sg_older;
#endif
#if SLOT_PART & 2
    SackRight() sr0;
    SackRight() sr1;
    SackRight() sr2;
    SackRight() sr3;
    SackLeft() sl0;
    SackLeft() sl1;
    SackLeft() sl2;
    SackLeft() sl3;
#endif
#if SLOT_PART & 1
    bit<2> c_older;
#endif
#if SLOT_PART & 2
    bit<2> c_ack_lo;
    bit<2> c_end_cut;
    bit<2> c_seq_cut;
    bit<2> c_ack_peer;
    bit<2> c_own;
    bit<2> c_rcvd_ack;
    bit<1> r0;
    bit<1> r1;
    bit<1> r2;
    bit<1> r3;
    bit<1> l0;
    bit<1> l1;
    bit<1> l2;
    bit<1> l3;
#endif

#if SLOT_PART & 1
    // ---- per-packet inputs (1 = true), each from the packet and the entry alone ----
    bit<8> op;              // SLOT_OP_*: Classify's slot_op, from the first step's gates
    bit<1> has_ack;         // ACK set, not a probe
    bit<1> w_lo;            // this packet writes new_rcvd_lo
    bit<1> w_old;           // this packet writes old_ack_hi

    // The first step's per-packet inputs of the later steps, in one constant table (one
    // logical table, where an `if (c) { f = 1; }` per flag takes one each): with
    // G_MAPPED = eligible && hit && (no SYN || role != ROLE_NEW), G_OUT/G_IN = G_MAPPED and
    // the direction,
    //   op      = G_OUT: SLOT_OP_OUT, G_IN: SLOT_OP_IN, else a probe: SLOT_OP_PROBE, else NONE
    //   has_ack = G_MAPPED && ACK
    //   w_lo    = G_IN && role == ROLE_NEW && (payload or FIN)
    //   w_old   = G_OUT && two_path && ACK && !RST
    // (entries in priority order; a probe has no TCP header: its flags are don't-care).
    action gate(bit<8> o, bit<1> a, bit<1> l, bit<1> w) {
        SS(op) = o;
        SS(has_ack) = a;
        SS(w_lo) = l;
        SS(w_old) = w;
    }
    table slot_gate {
        key = {
            eligible : ternary @name("eligible");
            probe_ok : ternary @name("probe_ok");
            meta.hit : ternary @name("hit");
            meta.direction : ternary @name("direction");
            meta.role : ternary @name("role");
            meta.two_path : ternary @name("two_path");
            hdr.tcp.flags : ternary @name("flags");
            tcp_cls : ternary @name("tcp_cls");
        }
        actions = { gate; }
        const entries = {
            // the new path's SYN-ACK at an anchor: not mapped
            (1, 0, 1, _, ROLE_NEW, _, TCP_SYN &&& TCP_SYN, _) : gate(SLOT_OP_NONE, 0, 0, 0);
            (1, 0, 1, DIR_OUT, _, 1, TCP_ACK &&& (TCP_ACK | TCP_RST), _) :
                gate(SLOT_OP_OUT, 1, 0, 1);
            (1, 0, 1, DIR_OUT, _, _, TCP_ACK &&& TCP_ACK, _) : gate(SLOT_OP_OUT, 1, 0, 0);
            (1, 0, 1, DIR_OUT, _, _, _, _) : gate(SLOT_OP_OUT, 0, 0, 0);
            (1, 0, 1, DIR_IN, ROLE_NEW, _, (TCP_ACK | TCP_FIN) &&& (TCP_ACK | TCP_FIN), _) :
                gate(SLOT_OP_IN, 1, 1, 0);
            (1, 0, 1, DIR_IN, ROLE_NEW, _, TCP_ACK &&& TCP_ACK, TCP_PAYLOAD) :
                gate(SLOT_OP_IN, 1, 1, 0);
            (1, 0, 1, DIR_IN, ROLE_NEW, _, TCP_FIN &&& TCP_FIN, _) : gate(SLOT_OP_IN, 0, 1, 0);
            (1, 0, 1, DIR_IN, ROLE_NEW, _, _, TCP_PAYLOAD) : gate(SLOT_OP_IN, 0, 1, 0);
            (1, 0, 1, DIR_IN, _, _, TCP_ACK &&& TCP_ACK, _) : gate(SLOT_OP_IN, 1, 0, 0);
            (1, 0, 1, DIR_IN, _, _, _, _) : gate(SLOT_OP_IN, 0, 0, 0);
            (0, 1, _, _, _, _, _, _) : gate(SLOT_OP_PROBE, 0, 0, 0);
        }
        const default_action = gate(SLOT_OP_NONE, 0, 0, 0);
        size = 16;
    }

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

    // ---- validity: the "written" bits of sent_hi, ack_hi and rcvd_ack_hi in one register
    // (W_*; returns the bits before this packet); a gateway picks the marking or the
    // peeking action. One stateful ALU instead of three in the first step. ----
    bit<8> wv;
    Register<bit<8>, slot_t>(NUM_SLOTS, 0) written;
    RegisterAction<bit<8>, slot_t, bit<8>>(written) mark_out_ack = {
        void apply(inout bit<8> value, out bit<8> rv) { rv = value; value = value | (W_SENT | W_ACK); }
    };
    RegisterAction<bit<8>, slot_t, bit<8>>(written) mark_out = {
        void apply(inout bit<8> value, out bit<8> rv) { rv = value; value = value | W_SENT; }
    };
    RegisterAction<bit<8>, slot_t, bit<8>>(written) mark_in_ack = {
        void apply(inout bit<8> value, out bit<8> rv) { rv = value; value = value | W_RCVD; }
    };
    RegisterAction<bit<8>, slot_t, bit<8>>(written) written_peek = {
        void apply(inout bit<8> value, out bit<8> rv) { rv = value; }
    };

    // ---- validity: epoch tags (return 1 iff valid in the current epoch before this
    // packet; a write stamps the current epoch) ----
    bit<8> lo_tv;
    bit<8> old_tv;
    bit<8> cut_mode;       // CUT_*
    Register<bit<32>, slot_t>(NUM_SLOTS, TAG_NEVER) new_rcvd_lo_tag;
    RegisterAction<bit<32>, slot_t, bit<8>>(new_rcvd_lo_tag) lo_mark = {
        void apply(inout bit<32> value, out bit<8> rv) {
            rv = 0;
            if (value == meta.pi.epoch) { rv = 1; }
            value = meta.pi.epoch;
        }
    };
    RegisterAction<bit<32>, slot_t, bit<8>>(new_rcvd_lo_tag) lo_peek = {
        void apply(inout bit<32> value, out bit<8> rv) {
            rv = 0;
            if (value == meta.pi.epoch) { rv = 1; }
        }
    };
    Register<bit<32>, slot_t>(NUM_SLOTS, TAG_NEVER) old_ack_hi_tag;
    RegisterAction<bit<32>, slot_t, bit<8>>(old_ack_hi_tag) old_mark = {
        void apply(inout bit<32> value, out bit<8> rv) {
            rv = 0;
            if (value == meta.pi.epoch) { rv = 1; }
            value = meta.pi.epoch;
        }
    };
    RegisterAction<bit<32>, slot_t, bit<8>>(old_ack_hi_tag) old_peek = {
        void apply(inout bit<32> value, out bit<8> rv) {
            rv = 0;
            if (value == meta.pi.epoch) { rv = 1; }
        }
    };
    // a freezing probe with ack_hi set seeds old_ack_hi (valid after it: a PROBE_REPLY
    // reports old_ack_hi after the probe)
    RegisterAction<bit<32>, slot_t, bit<8>>(old_ack_hi_tag) old_seed_mark = {
        void apply(inout bit<32> value, out bit<8> rv) {
            rv = 1;
            value = meta.pi.epoch;
        }
    };
    // cut: a freeze (a probe with the freeze flag, sent_hi set: the gateway tests the written
    // bit) takes effect only if the cut is not yet valid in this epoch.
    Register<bit<32>, slot_t>(NUM_SLOTS, TAG_NEVER) cut_tag;
    RegisterAction<bit<32>, slot_t, bit<8>>(cut_tag) cut_tag_freeze = {
        void apply(inout bit<32> value, out bit<8> rv) {
            if (value == meta.pi.epoch) {
                rv = CUT_VALID;
            } else {
                value = meta.pi.epoch;
                rv = CUT_FREEZE;
            }
        }
    };
    RegisterAction<bit<32>, slot_t, bit<8>>(cut_tag) cut_tag_peek = {
        void apply(inout bit<32> value, out bit<8> rv) {
            rv = CUT_NONE;
            if (value == meta.pi.epoch) { rv = CUT_VALID; }
        }
    };
#endif
#if SLOT_PART & 2
    // latches: fire once per epoch (executed only when the condition holds). Two 32-bit
    // registers: a 64-bit pair of NUM_SLOTS cells takes twice the RAMs in one stage, which
    // Tofino 2's placement could not fit beside the other registers.
    Register<bit<32>, slot_t>(NUM_SLOTS, TAG_NEVER) latched_own_tag;
    RegisterAction<bit<32>, slot_t, bit<8>>(latched_own_tag) own_fire = {
        void apply(inout bit<32> value, out bit<8> rv) {
            rv = 0;
            if (value != meta.pi.epoch) { rv = 1; }
            value = meta.pi.epoch;
        }
    };
    Register<bit<32>, slot_t>(NUM_SLOTS, TAG_NEVER) latched_peer_tag;
    RegisterAction<bit<32>, slot_t, bit<8>>(latched_peer_tag) peer_fire = {
        void apply(inout bit<32> value, out bit<8> rv) {
            rv = 0;
            if (value != meta.pi.epoch) { rv = 1; }
            value = meta.pi.epoch;
        }
    };
#endif

    // ---- values (return the value after this packet, old_ack_hi: before, except after a
    // freezing probe's seed) ----
#if SLOT_PART & 2
    bit<32> a_old;
    bit<8> c_old;          // 1: a_old > old_ack_hi (before this packet)
#endif

#if SLOT_PART & 1
    Register<bit<32>, slot_t>(NUM_SLOTS, 0) sent_hi;
    RegisterAction<bit<32>, slot_t, bit<32>>(sent_hi) sent_max = {
        void apply(inout bit<32> value, out bit<32> rv) {
            if ((int<32>) (d.end - value) > 0) {
                value = d.end;
            }
            rv = value;
        }
    };
    RegisterAction<bit<32>, slot_t, bit<32>>(sent_hi) sent_first = {
        void apply(inout bit<32> value, out bit<32> rv) { value = d.end; rv = value; }
    };
    RegisterAction<bit<32>, slot_t, bit<32>>(sent_hi) sent_read = {
        void apply(inout bit<32> value, out bit<32> rv) { rv = value; }
    };
    Register<bit<32>, slot_t>(NUM_SLOTS, 0) ack_hi;
    RegisterAction<bit<32>, slot_t, bit<32>>(ack_hi) ack_max = {
        void apply(inout bit<32> value, out bit<32> rv) {
            if ((int<32>) (hdr.tcp.ack_no - value) > 0) {
                value = hdr.tcp.ack_no;
            }
            rv = value;
        }
    };
    RegisterAction<bit<32>, slot_t, bit<32>>(ack_hi) ack_first = {
        void apply(inout bit<32> value, out bit<32> rv) { value = hdr.tcp.ack_no; rv = value; }
    };
    RegisterAction<bit<32>, slot_t, bit<32>>(ack_hi) ack_read = {
        void apply(inout bit<32> value, out bit<32> rv) { rv = value; }
    };
    Register<bit<32>, slot_t>(NUM_SLOTS, 0) rcvd_ack_hi;
    RegisterAction<bit<32>, slot_t, bit<32>>(rcvd_ack_hi) rcvd_max = {
        void apply(inout bit<32> value, out bit<32> rv) {
            if ((int<32>) (d.in_ack - value) > 0) {
                value = d.in_ack;
            }
            rv = value;
        }
    };
    RegisterAction<bit<32>, slot_t, bit<32>>(rcvd_ack_hi) rcvd_first = {
        void apply(inout bit<32> value, out bit<32> rv) { value = d.in_ack; rv = value; }
    };
    RegisterAction<bit<32>, slot_t, bit<32>>(rcvd_ack_hi) rcvd_read = {
        void apply(inout bit<32> value, out bit<32> rv) { rv = value; }
    };
    Register<bit<32>, slot_t>(NUM_SLOTS, 0) new_rcvd_lo;
    RegisterAction<bit<32>, slot_t, bit<32>>(new_rcvd_lo) lo_min = {
        void apply(inout bit<32> value, out bit<32> rv) {
            if (lo_tv == 0 || (int<32>) (d.end - value) < 0) {
                value = d.end;
            }
            rv = value;
        }
    };
    // (returns 0 when the register is not valid: the packet-in field, without a copy)
    RegisterAction<bit<32>, slot_t, bit<32>>(new_rcvd_lo) lo_read = {
        void apply(inout bit<32> value, out bit<32> rv) {
            rv = 0;
            if (lo_tv != 0) { rv = value; }
        }
    };
    Register<bit<32>, slot_t>(NUM_SLOTS, 0) cut;
    // (returns 0 when the cut is not valid after this packet: the packet-in field, without
    // a copy whose slices would split it)
    RegisterAction<bit<32>, slot_t, bit<32>>(cut) cut_set = {
        void apply(inout bit<32> value, out bit<32> rv) {
            if (cut_mode == CUT_FREEZE) {
                value = meta.pi.sent_hi;
            }
            rv = 0;
            if (cut_mode != CUT_NONE) { rv = value; }
        }
    };
#endif
#if SLOT_PART & 2
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
#ifdef FOLD
            if (SS(old_valid_before) != 0) { rv = value; }
#else
            if (old_tv != 0) { rv = value; }
#endif
        }
    };
    // a freezing probe: old_ack_hi := ack_hi (a_old carries ack_hi; returns the value after)
    RegisterAction<bit<32>, slot_t, bit<32>>(old_ack_hi) old_seed = {
        void apply(inout bit<32> value, out bit<32> rv) {
            value = a_old;
            rv = value;
        }
    };
    // A second copy of old_ack_hi, written with the same values, whose ALU returns the
    // comparison a_old > old_ack_hi instead of the value (an ALU has one output): no
    // difference and sign table after the value.
    Register<bit<32>, slot_t>(NUM_SLOTS, 0) old_ack_hi_cmp;
    RegisterAction<bit<32>, slot_t, bit<8>>(old_ack_hi_cmp) oldc_first = {
        void apply(inout bit<32> value, out bit<8> rv) {
            rv = 0;
            value = a_old;
        }
    };
    RegisterAction<bit<32>, slot_t, bit<8>>(old_ack_hi_cmp) oldc_max = {
        void apply(inout bit<32> value, out bit<8> rv) {
            rv = 0;
            if ((int<32>) (a_old - value) > 0) {
                value = a_old;
                rv = 1;
            }
        }
    };
#endif
#if SLOT_PART == 1
    // One table per register, the RegisterAction chosen by key (one logical table where an
    // if/else chain takes one per call site), and the six valid flags from two tables.
    action w_out_ack() { wv = mark_out_ack.execute(meta.slot); }
    action w_out() { wv = mark_out.execute(meta.slot); }
    action w_in_ack() { wv = mark_in_ack.execute(meta.slot); }
    action w_peek() { wv = written_peek.execute(meta.slot); }
    action w_none() { }
    table t_written {
        key = {
            eligible : ternary @name("eligible");
            probe_ok : ternary @name("probe_ok");
            meta.hit : ternary @name("hit");
            meta.direction : ternary @name("direction");
            meta.role : ternary @name("role");
            hdr.tcp.flags : ternary @name("flags");
        }
        actions = { w_out_ack; w_out; w_in_ack; w_peek; w_none; }
        const entries = {
            (1, 0, 1, _, ROLE_NEW, TCP_SYN &&& TCP_SYN) : w_none();
            (1, 0, 1, DIR_OUT, _, TCP_ACK &&& TCP_ACK) : w_out_ack();
            (1, 0, 1, DIR_OUT, _, _) : w_out();
            (1, 0, 1, DIR_IN, _, TCP_ACK &&& TCP_ACK) : w_in_ack();
            (1, 0, 1, _, _, _) : w_peek();
            (0, 1, _, _, _, _) : w_peek();
        }
        const default_action = w_none();
        size = 8;
    }
    action lt_mark() { lo_tv = lo_mark.execute(meta.slot); }
    action lt_peek() { lo_tv = lo_peek.execute(meta.slot); }
    table t_lo_tag {
        key = { SS(w_lo) : ternary @name("w_lo"); }
        actions = { NoAction; lt_mark; lt_peek; }
        const entries = { 1 : lt_mark(); _ : lt_peek(); }
        const default_action = NoAction();
        size = 3;
    }
    action ot_mark() { old_tv = old_mark.execute(meta.slot); }
    action ot_seed() { old_tv = old_seed_mark.execute(meta.slot); }
    action ot_peek() { old_tv = old_peek.execute(meta.slot); }
    table t_old_tag {
        key = {
            SS(w_old) : ternary @name("w_old");
            SS(op) : ternary @name("op");
            meta.freeze : ternary @name("freeze");
            wv : ternary @name("wv");
        }
        actions = { NoAction; ot_mark; ot_seed; ot_peek; }
        const entries = {
            (1, _, _, _) : ot_mark();
            (0, SLOT_OP_PROBE, 1, W_ACK &&& W_ACK) : ot_seed();
            (_, _, _, _) : ot_peek();
        }
        const default_action = NoAction();
        size = 3;
    }
    action ct_freeze() { cut_mode = cut_tag_freeze.execute(meta.slot); }
    action ct_peek() { cut_mode = cut_tag_peek.execute(meta.slot); }
    table t_cut_tag {
        key = {
            SS(op) : ternary @name("op");
            meta.freeze : ternary @name("freeze");
            wv : ternary @name("wv");
        }
        actions = { NoAction; ct_freeze; ct_peek; }
        const entries = {
            (SLOT_OP_PROBE, 1, W_SENT &&& W_SENT) : ct_freeze();
            (_, _, _) : ct_peek();
        }
        const default_action = NoAction();
        size = 2;
    }
    action s_first() { meta.pi.sent_hi = sent_first.execute(meta.slot); }
    action s_max() { meta.pi.sent_hi = sent_max.execute(meta.slot); }
    action s_read() { meta.pi.sent_hi = sent_read.execute(meta.slot); }
    table t_sent {
        key = { SS(op) : ternary @name("op"); wv : ternary @name("wv"); }
        actions = { NoAction; s_first; s_max; s_read; }
        const entries = {
            (SLOT_OP_OUT, 0 &&& W_SENT) : s_first();
            (SLOT_OP_OUT, _) : s_max();
            (_, _) : s_read();
        }
        const default_action = NoAction();
        size = 3;
    }
    action a_first() { meta.pi.ack_hi = ack_first.execute(meta.slot); }
    action a_max() { meta.pi.ack_hi = ack_max.execute(meta.slot); }
    action a_read() { meta.pi.ack_hi = ack_read.execute(meta.slot); }
    table t_ack {
        key = {
            SS(op) : ternary @name("op");
            hdr.tcp.flags : ternary @name("flags");
            wv : ternary @name("wv");
        }
        actions = { NoAction; a_first; a_max; a_read; }
        const entries = {
            (SLOT_OP_OUT, TCP_ACK &&& TCP_ACK, 0 &&& W_ACK) : a_first();
            (SLOT_OP_OUT, TCP_ACK &&& TCP_ACK, _) : a_max();
            (_, _, _) : a_read();
        }
        const default_action = NoAction();
        size = 3;
    }
    action r_first() { meta.pi.rcvd_ack_hi = rcvd_first.execute(meta.slot); }
    action r_max() { meta.pi.rcvd_ack_hi = rcvd_max.execute(meta.slot); }
    action r_read() { meta.pi.rcvd_ack_hi = rcvd_read.execute(meta.slot); }
    table t_rcvd {
        key = {
            SS(op) : ternary @name("op");
            hdr.tcp.flags : ternary @name("flags");
            wv : ternary @name("wv");
        }
        actions = { NoAction; r_first; r_max; r_read; }
        const entries = {
            (SLOT_OP_IN, TCP_ACK &&& TCP_ACK, 0 &&& W_RCVD) : r_first();
            (SLOT_OP_IN, TCP_ACK &&& TCP_ACK, _) : r_max();
            (_, _, _) : r_read();
        }
        const default_action = NoAction();
        size = 3;
    }
    action l_min() { meta.pi.new_rcvd_lo = lo_min.execute(meta.slot); }
    action l_read() { meta.pi.new_rcvd_lo = lo_read.execute(meta.slot); }
    table t_lo {
        key = { SS(w_lo) : ternary @name("w_lo"); }
        actions = { NoAction; l_min; l_read; }
        const entries = { 1 : l_min(); _ : l_read(); }
        const default_action = NoAction();
        size = 3;
    }
    action set_wvalid(bit<1> s, bit<1> k, bit<1> r) {
        SS(sent_valid) = s;
        SS(ack_valid) = k;
        SS(rcvd_valid) = r;
    }
    table t_wvalid {
        key = {
            SS(op) : ternary @name("op");
            hdr.tcp.flags[4:4] : exact @name("ack");
            wv[2:0] : exact @name("wv");
        }
        actions = { set_wvalid; }
        const entries = {
            (SLOT_OP_OUT, 0, 0) : set_wvalid(1, 0, 0);
            (SLOT_OP_OUT, 0, 1) : set_wvalid(1, 0, 0);
            (SLOT_OP_OUT, 0, 2) : set_wvalid(1, 1, 0);
            (SLOT_OP_OUT, 0, 3) : set_wvalid(1, 1, 0);
            (SLOT_OP_OUT, 0, 4) : set_wvalid(1, 0, 1);
            (SLOT_OP_OUT, 0, 5) : set_wvalid(1, 0, 1);
            (SLOT_OP_OUT, 0, 6) : set_wvalid(1, 1, 1);
            (SLOT_OP_OUT, 0, 7) : set_wvalid(1, 1, 1);
            (SLOT_OP_OUT, 1, 0) : set_wvalid(1, 1, 0);
            (SLOT_OP_OUT, 1, 1) : set_wvalid(1, 1, 0);
            (SLOT_OP_OUT, 1, 2) : set_wvalid(1, 1, 0);
            (SLOT_OP_OUT, 1, 3) : set_wvalid(1, 1, 0);
            (SLOT_OP_OUT, 1, 4) : set_wvalid(1, 1, 1);
            (SLOT_OP_OUT, 1, 5) : set_wvalid(1, 1, 1);
            (SLOT_OP_OUT, 1, 6) : set_wvalid(1, 1, 1);
            (SLOT_OP_OUT, 1, 7) : set_wvalid(1, 1, 1);
            (SLOT_OP_IN, 0, 0) : set_wvalid(0, 0, 0);
            (SLOT_OP_IN, 0, 1) : set_wvalid(1, 0, 0);
            (SLOT_OP_IN, 0, 2) : set_wvalid(0, 1, 0);
            (SLOT_OP_IN, 0, 3) : set_wvalid(1, 1, 0);
            (SLOT_OP_IN, 0, 4) : set_wvalid(0, 0, 1);
            (SLOT_OP_IN, 0, 5) : set_wvalid(1, 0, 1);
            (SLOT_OP_IN, 0, 6) : set_wvalid(0, 1, 1);
            (SLOT_OP_IN, 0, 7) : set_wvalid(1, 1, 1);
            (SLOT_OP_IN, 1, 0) : set_wvalid(0, 0, 1);
            (SLOT_OP_IN, 1, 1) : set_wvalid(1, 0, 1);
            (SLOT_OP_IN, 1, 2) : set_wvalid(0, 1, 1);
            (SLOT_OP_IN, 1, 3) : set_wvalid(1, 1, 1);
            (SLOT_OP_IN, 1, 4) : set_wvalid(0, 0, 1);
            (SLOT_OP_IN, 1, 5) : set_wvalid(1, 0, 1);
            (SLOT_OP_IN, 1, 6) : set_wvalid(0, 1, 1);
            (SLOT_OP_IN, 1, 7) : set_wvalid(1, 1, 1);
            (_, 0, 0) : set_wvalid(0, 0, 0);
            (_, 0, 1) : set_wvalid(1, 0, 0);
            (_, 0, 2) : set_wvalid(0, 1, 0);
            (_, 0, 3) : set_wvalid(1, 1, 0);
            (_, 0, 4) : set_wvalid(0, 0, 1);
            (_, 0, 5) : set_wvalid(1, 0, 1);
            (_, 0, 6) : set_wvalid(0, 1, 1);
            (_, 0, 7) : set_wvalid(1, 1, 1);
            (_, 1, 0) : set_wvalid(0, 0, 0);
            (_, 1, 1) : set_wvalid(1, 0, 0);
            (_, 1, 2) : set_wvalid(0, 1, 0);
            (_, 1, 3) : set_wvalid(1, 1, 0);
            (_, 1, 4) : set_wvalid(0, 0, 1);
            (_, 1, 5) : set_wvalid(1, 0, 1);
            (_, 1, 6) : set_wvalid(0, 1, 1);
            (_, 1, 7) : set_wvalid(1, 1, 1);
        }
        const default_action = set_wvalid(0, 0, 0);
        size = 48;
    }
    action set_tvalid(bit<1> l, bit<1> c, bit<1> o) {
        SS(lo_valid) = l;
        SS(cut_valid) = c;
        SS(old_valid_before) = o;
    }
    table t_tvalid {
        key = {
            SS(w_lo) : exact @name("w_lo");
            lo_tv[0:0] : exact @name("lo_tv");
            cut_mode[1:0] : exact @name("cut_mode");
            old_tv[0:0] : exact @name("old_tv");
        }
        actions = { set_tvalid; }
        const entries = {
            (0, 0, 0, 0) : set_tvalid(0, 0, 0);
            (0, 0, 0, 1) : set_tvalid(0, 0, 1);
            (0, 0, 1, 0) : set_tvalid(0, 1, 0);
            (0, 0, 1, 1) : set_tvalid(0, 1, 1);
            (0, 0, 2, 0) : set_tvalid(0, 1, 0);
            (0, 0, 2, 1) : set_tvalid(0, 1, 1);
            (0, 1, 0, 0) : set_tvalid(1, 0, 0);
            (0, 1, 0, 1) : set_tvalid(1, 0, 1);
            (0, 1, 1, 0) : set_tvalid(1, 1, 0);
            (0, 1, 1, 1) : set_tvalid(1, 1, 1);
            (0, 1, 2, 0) : set_tvalid(1, 1, 0);
            (0, 1, 2, 1) : set_tvalid(1, 1, 1);
            (1, 0, 0, 0) : set_tvalid(1, 0, 0);
            (1, 0, 0, 1) : set_tvalid(1, 0, 1);
            (1, 0, 1, 0) : set_tvalid(1, 1, 0);
            (1, 0, 1, 1) : set_tvalid(1, 1, 1);
            (1, 0, 2, 0) : set_tvalid(1, 1, 0);
            (1, 0, 2, 1) : set_tvalid(1, 1, 1);
            (1, 1, 0, 0) : set_tvalid(1, 0, 0);
            (1, 1, 0, 1) : set_tvalid(1, 0, 1);
            (1, 1, 1, 0) : set_tvalid(1, 1, 0);
            (1, 1, 1, 1) : set_tvalid(1, 1, 1);
            (1, 1, 2, 0) : set_tvalid(1, 1, 0);
            (1, 1, 2, 1) : set_tvalid(1, 1, 1);
        }
        const default_action = set_tvalid(0, 0, 0);
        size = 24;
    }
#endif
#if SLOT_PART == 2
    // old_ack_hi and its twin: a table each, the RegisterAction chosen by key (four call
    // sites of one register must share a stage; as four gateway-selected tables they did
    // not fit beside the register on Tofino 1). Same keys and entries in both.
    action o_first() { meta.pi.old_ack_hi = old_first.execute(meta.slot); }
    action o_max() { meta.pi.old_ack_hi = old_max.execute(meta.slot); }
    // the freeze's seed (pipeline.md 5.3): old_ack_hi := ack_hi, in both copies
    action o_seed() { meta.pi.old_ack_hi = old_seed.execute(meta.slot); }
    action o_read() { meta.pi.old_ack_hi = old_read.execute(meta.slot); }
    action oc_first() { c_old = oldc_first.execute(meta.slot); }
    action oc_max() { c_old = oldc_max.execute(meta.slot); }
    action oc_none() { c_old = 0; }
#define OLD_ACK_KEY \
        key = { \
            SS(w_old) : ternary @name("w_old"); \
            SS(old_valid_before) : ternary @name("old_valid"); \
            SS(op) : ternary @name("op"); \
            meta.freeze : ternary @name("freeze"); \
            SS(ack_valid) : ternary @name("ack_valid"); \
        }
    table old_ack {
        OLD_ACK_KEY
        actions = { o_first; o_max; o_seed; o_read; NoAction; }
        const entries = {
            (1, 0, _, _, _) : o_first();
            (1, _, _, _, _) : o_max();
            (_, _, SLOT_OP_PROBE, 1, 1) : o_seed();
            (_, _, _, _, _) : o_read();     // (an entry: a default action cannot address a
        }                                   // register by a field on Tofino)
        const default_action = NoAction();
        size = 4;
    }
    table old_ack_cmp {
        OLD_ACK_KEY
        actions = { oc_first; oc_max; oc_none; }
        const entries = {
            (1, 0, _, _, _) : oc_first();
            (1, _, _, _, _) : oc_max();
            (_, _, SLOT_OP_PROBE, 1, 1) : oc_first();
        }
        const default_action = oc_none();
        size = 3;
    }
#undef OLD_ACK_KEY
#endif

    apply {
        valid = {0, 0, 0, 0, 0, 0, 0};
#if SLOT_PART & 1
        // 1. the first step runs beside Classify, gated by the condition that makes
        // Classify set slot_op (Classify's slot_op would cost a step): a mapped TCP packet
        // (eligible: valid, not dropped, not a SYN or a SYN-ACK with payload, from the
        // network or a host) that hit an entry and is not the new path's SYN-ACK at an
        // anchor; or a probe. Per-packet inputs, the epoch (the ALU output goes straight
        // into the packet-in field) and the written bits, which do not depend on it.
#define G_MAPPED (eligible == 1 && meta.hit == 1 && \
                  (hdr.tcp.flags & TCP_SYN == 0 || meta.role != ROLE_NEW))
#define G_OUT (G_MAPPED && meta.direction == DIR_OUT)
#define G_IN (G_MAPPED && meta.direction == DIR_IN)
        // Classify's slot_op from the same gates (Classify sets it several steps later:
        // after the validation's result), and the per-packet inputs: slot_gate.
        slot_gate.apply();
        // OUT and IN values share fields (a packet is one or the other; fewer 32-bit
        // containers): end / in_seq. (Metadata only: computed for every packet.)
        if (meta.direction == DIR_OUT) {
            d.end = hdr.tcp.seq_no + meta.seq_len;
        } else {
            d.end = hdr.tcp.seq_no + meta.RW_OLD.seq_delta;    // in_seq
        }
        d.in_ack = hdr.tcp.ack_no + meta.RW_OLD.ack_delta;
        if (G_MAPPED || probe_ok == 1) {
            meta.pi.epoch = epoch_advance.execute(meta.slot);
        }
#if SLOT_PART == 1
        t_written.apply();
#else
        if (G_OUT && hdr.tcp.flags & TCP_ACK == TCP_ACK) {
            wv = mark_out_ack.execute(meta.slot);
        } else if (G_OUT) {
            wv = mark_out.execute(meta.slot);
        } else if (G_IN && hdr.tcp.flags & TCP_ACK == TCP_ACK) {
            wv = mark_in_ack.execute(meta.slot);
        } else if (G_MAPPED || probe_ok == 1) {
            wv = written_peek.execute(meta.slot);
        }
#endif

#undef G_OUT
#undef G_IN
#undef G_MAPPED
        if (SS(op) != SLOT_OP_NONE) {
            // 2. tags (against the epoch) and the max registers (against the written bits)
            d.older = meta.pi.epoch ^ meta.epoch;   // != 0: the entry predates the slot's epoch
#if SLOT_PART == 1
            t_lo_tag.apply();
            t_old_tag.apply();
            t_cut_tag.apply();
            t_sent.apply();
            t_ack.apply();
            t_rcvd.apply();
#else
            if (SS(w_lo) == 1) { lo_tv = lo_mark.execute(meta.slot); }
            else { lo_tv = lo_peek.execute(meta.slot); }
            if (SS(w_old) == 1) { old_tv = old_mark.execute(meta.slot); }
            else if (SS(op) == SLOT_OP_PROBE && meta.freeze == 1 && wv & W_ACK == W_ACK) {
                old_tv = old_seed_mark.execute(meta.slot);
            }
            else { old_tv = old_peek.execute(meta.slot); }
            if (SS(op) == SLOT_OP_PROBE && meta.freeze == 1 && wv & W_SENT == W_SENT) {
                cut_mode = cut_tag_freeze.execute(meta.slot);
            } else {
                cut_mode = cut_tag_peek.execute(meta.slot);
            }
            if (SS(op) == SLOT_OP_OUT && wv & W_SENT == 0) {
                meta.pi.sent_hi = sent_first.execute(meta.slot);
            } else if (SS(op) == SLOT_OP_OUT) {
                meta.pi.sent_hi = sent_max.execute(meta.slot);
            } else {
                meta.pi.sent_hi = sent_read.execute(meta.slot);
            }
            if (SS(op) == SLOT_OP_OUT && hdr.tcp.flags & TCP_ACK == TCP_ACK && wv & W_ACK == 0) {
                meta.pi.ack_hi = ack_first.execute(meta.slot);
            } else if (SS(op) == SLOT_OP_OUT && hdr.tcp.flags & TCP_ACK == TCP_ACK) {
                meta.pi.ack_hi = ack_max.execute(meta.slot);
            } else {
                meta.pi.ack_hi = ack_read.execute(meta.slot);
            }
            if (SS(op) == SLOT_OP_IN && hdr.tcp.flags & TCP_ACK == TCP_ACK && wv & W_RCVD == 0) {
                meta.pi.rcvd_ack_hi = rcvd_first.execute(meta.slot);
            } else if (SS(op) == SLOT_OP_IN && hdr.tcp.flags & TCP_ACK == TCP_ACK) {
                meta.pi.rcvd_ack_hi = rcvd_max.execute(meta.slot);
            } else {
                meta.pi.rcvd_ack_hi = rcvd_read.execute(meta.slot);
            }
#endif

            sg_older.apply(d.older, SS(c_older));

            // 3. new_rcvd_lo and cut (straight into the packet-in fields, 0 when not valid)
#if SLOT_PART == 1
            t_lo.apply();
#else
            if (SS(w_lo) == 1) { meta.pi.new_rcvd_lo = lo_min.execute(meta.slot); }
            else { meta.pi.new_rcvd_lo = lo_read.execute(meta.slot); }
#endif

            meta.pi.cut = cut_set.execute(meta.slot);
#if SLOT_PART == 1
            t_wvalid.apply();
            t_tvalid.apply();
#else
            bit<1> sent_valid;
            bit<1> ack_valid;
            bit<1> rcvd_valid;
            bit<1> lo_valid;
            bit<1> cut_valid;
            bit<1> old_valid_before;
#define FLAG(f, cond) if (cond) { f = 1; } else { f = 0; }
            FLAG(SS(sent_valid), SS(op) == SLOT_OP_OUT || wv & W_SENT == W_SENT)
            FLAG(SS(ack_valid), (SS(op) == SLOT_OP_OUT && hdr.tcp.flags & TCP_ACK == TCP_ACK) ||
                            wv & W_ACK == W_ACK)
            FLAG(SS(rcvd_valid), (SS(op) == SLOT_OP_IN && hdr.tcp.flags & TCP_ACK == TCP_ACK) ||
                             wv & W_RCVD == W_RCVD)
            FLAG(SS(lo_valid), SS(w_lo) == 1 || lo_tv != 0)
            FLAG(SS(cut_valid), cut_mode != CUT_NONE)
            FLAG(SS(old_valid_before), old_tv != 0)
#undef FLAG
#endif

#endif
#if SLOT_PART == 1
        }
#endif
#if SLOT_PART == 2
        if (SS(op) != SLOT_OP_NONE) {
#endif
#if SLOT_PART & 2

            // 4. differences (copies through the hash unit where two PHV clusters meet)
            if (SS(op) == SLOT_OP_OUT) { @in_hash { d.cut_c = meta.pi.cut; } }
            if (SS(op) == SLOT_OP_IN) { @in_hash { d.cut_i = meta.pi.cut; } }
            if (SS(op) == SLOT_OP_OUT) { @in_hash { d.ack_c = meta.pi.ack_hi; } }
            if (SS(op) == SLOT_OP_OUT) { @in_hash { d.lo_c = meta.pi.new_rcvd_lo; } }
            if (SS(op) == SLOT_OP_OUT) { @in_hash { d.lo_l = meta.pi.new_rcvd_lo; } }
#ifdef FOLD
            // (a third and fourth copy: blocks 2-3 apart from 0-1, smaller PHV clusters)
            if (SS(op) == SLOT_OP_OUT) { @in_hash { d.lo_c2 = meta.pi.new_rcvd_lo; } }
            if (SS(op) == SLOT_OP_OUT) { @in_hash { d.lo_l2 = meta.pi.new_rcvd_lo; } }
#define LO_C2 d.lo_c2
#define LO_L2 d.lo_l2
#else
#define LO_C2 d.lo_c
#define LO_L2 d.lo_l
#endif
            if (SS(op) == SLOT_OP_IN) { @in_hash { d.rcvd_c = meta.pi.rcvd_ack_hi; } }
            if (SS(op) == SLOT_OP_OUT) {
                d.d_ack_lo = hdr.tcp.ack_no - meta.pi.new_rcvd_lo;
            }
            sg_ack_lo.apply(d.d_ack_lo, c_ack_lo);
            // IN: rcvd_ack_hi - (ack + ack_delta) in two steps, for the stale test, in the same
            // field after OUT's sign is read (program order: the IN writes do not delay it)
            if (SS(op) == SLOT_OP_IN) {
                d.d_ack_lo = meta.pi.rcvd_ack_hi - hdr.tcp.ack_no;
            }
            if (SS(op) == SLOT_OP_IN && hdr.tcp.flags & TCP_ACK == TCP_ACK) {
                d.d_ack_lo = d.d_ack_lo - meta.RW_OLD.ack_delta;
            }
            sg_rcvd_ack.apply(d.d_ack_lo, c_rcvd_ack);
            // the latches' differences from copies only: the packet-in fields (ALU outputs,
            // mirror header) stay out of this PHV cluster
            if (SS(op) == SLOT_OP_OUT) {
                d.d_ack_peer = d.ack_c - meta.peer_cut;           // ack_hi - peer_cut
            }
            if (SS(op) == SLOT_OP_IN) {
                d.d_own = d.rcvd_c - d.cut_i;                     // rcvd_ack_hi - cut
            }
            if (SS(op) == SLOT_OP_OUT && meta.two_path == 1) {
                d.d_seq_cut = hdr.tcp.seq_no - d.cut_c;
                d.d_end_cut = d.end - d.cut_c;
            }
            // SACK edges against new_rcvd_lo, both edges (the path is not known yet)
            bit<32> er0 = hdr.sack_blocks[0].right - d.lo_c;
            bit<32> er1 = hdr.sack_blocks[1].right - d.lo_c;
            bit<32> er2 = hdr.sack_blocks[2].right - LO_C2;
            bit<32> er3 = hdr.sack_blocks[3].right - LO_C2;
            bit<32> el0 = hdr.sack_blocks[0].left - d.lo_l;
            bit<32> el1 = hdr.sack_blocks[1].left - d.lo_l;
            bit<32> el2 = hdr.sack_blocks[2].left - LO_L2;
            bit<32> el3 = hdr.sack_blocks[3].left - LO_L2;
            sg_ack_peer.apply(d.d_ack_peer, c_ack_peer);
            sg_own.apply(d.d_own, c_own);
            sg_seq_cut.apply(d.d_seq_cut, c_seq_cut);
            hold_prefix.apply(d.d_seq_cut, hdr.tcp.flags[2:0], tcp_cls, meta.new_rw.dst_addr,
                              d.hold);
            sg_end_cut.apply(d.d_end_cut, c_end_cut);
            sr0.apply(hdr.sack_blocks[0].isValid(), er0, r0);
            sr1.apply(hdr.sack_blocks[1].isValid(), er1, r1);
            sr2.apply(hdr.sack_blocks[2].isValid(), er2, r2);
            sr3.apply(hdr.sack_blocks[3].isValid(), er3, r3);
            sl0.apply(hdr.sack_blocks[0].isValid(), el0, l0);
            sl1.apply(hdr.sack_blocks[1].isValid(), el1, l1);
            sl2.apply(hdr.sack_blocks[2].isValid(), el2, l2);
            sl3.apply(hdr.sack_blocks[3].isValid(), el3, l3);

            // 5. latches (once per epoch: the ALU runs only when the condition holds and
            // returns whether it fired); own and peer are exclusive (IN and OUT).
            if (SS(op) == SLOT_OP_IN && SS(cut_valid) == 1 && SS(rcvd_valid) == 1 &&
                c_own != SIGN_NEG) {
                d.own_fired = own_fire.execute(meta.slot);
                d.peer_fired = 0;
            } else if (SS(op) == SLOT_OP_OUT && meta.peer_cut_valid == 1 && SS(ack_valid) == 1 &&
                       c_ack_peer != SIGN_NEG) {
                d.own_fired = 0;
                d.peer_fired = peer_fire.execute(meta.slot);
            } else {
                d.own_fired = 0;
                d.peer_fired = 0;
            }
            // the old path's ack: lo when the ack is past it (copies through the hash unit:
            // no ALU link between ack_no, new_rcvd_lo, a_old)
            // (a probe: ack_hi, the value a freezing probe seeds old_ack_hi with)
            bit<1> ack_new;
            if (SS(has_ack) == 1 && SS(lo_valid) == 1 && c_ack_lo == SIGN_POS) {
                ack_new = 1;
                @in_hash { a_old = meta.pi.new_rcvd_lo; }
            } else if (SS(op) == SLOT_OP_PROBE) {
                ack_new = 0;
                @in_hash { a_old = meta.pi.ack_hi; }
            } else {
                ack_new = 0;
                @in_hash { a_old = hdr.tcp.ack_no; }
            }

            // 6. two-path steering (datapath._steer; docs/pipeline.md 5.2), old_ack_hi (the
            // value before this packet, and the comparison from its twin), the flags
            if (SS(op) == SLOT_OP_OUT && meta.two_path == 1) {
                meta.path = PATH_OLD;
                if (hdr.tcp.flags & TCP_RST == TCP_RST) {
                    meta.split = 1;
                } else if (meta.seq_len == 0) {
                    // NEW also once the host acked the peer's old-path data (the peer
                    // latch's condition; ack_valid holds: OUT with ACK): the old path's far
                    // anchor may have folded and its entry gone idle; the old path's one
                    // copy is the SPLIT (c_old). ack_new's condition inline: no wait for the
                    // table that sets ack_new.
                    if (SS(has_ack) == 1 &&
                        ((SS(lo_valid) == 1 && c_ack_lo == SIGN_POS) ||
                         (meta.peer_cut_valid == 1 && c_ack_peer != SIGN_NEG))) {
                        meta.path = PATH_NEW;
                    } else if (SS(cut_valid) == 1 && c_seq_cut == SIGN_POS) {
                        // an old-path pure ack carries seq min(seq, cut): snd_nxt past the
                        // cut may be out of an old-path box's window (pipeline.md 5.2)
                        meta.split = 1;
                    }
                } else if (SS(cut_valid) == 0) {
                    meta.path = PATH_OLD;
                } else if (c_end_cut != SIGN_POS) {
                    meta.path = PATH_OLD;
                } else if (c_seq_cut != SIGN_NEG) {
                    meta.path = PATH_NEW;
                } else {
                    meta.split = 1;
                }
            }
#if SLOT_PART == 2
            old_ack.apply();
            old_ack_cmp.apply();
#else
            if (SS(w_old) == 1 && old_tv == 0) {
                meta.pi.old_ack_hi = old_first.execute(meta.slot);
                c_old = oldc_first.execute(meta.slot);
            } else if (SS(w_old) == 1) {
                meta.pi.old_ack_hi = old_max.execute(meta.slot);
                c_old = oldc_max.execute(meta.slot);
            } else if (SS(op) == SLOT_OP_PROBE && meta.freeze == 1 && wv & W_ACK == W_ACK) {
                // the freeze's seed (pipeline.md 5.3): old_ack_hi := ack_hi, in both copies
                meta.pi.old_ack_hi = old_seed.execute(meta.slot);
                c_old = oldc_first.execute(meta.slot);
            } else {
                meta.pi.old_ack_hi = old_read.execute(meta.slot);
                c_old = 0;
            }
#endif
            if (d.own_fired == 1 && d.peer_fired == 1) {
                meta.pi.flags = meta.pi.flags | (PI_FLAG_REGS | PI_FLAG_LATCH_OWN | PI_FLAG_LATCH_PEER);
            } else if (d.own_fired == 1) {
                meta.pi.flags = meta.pi.flags | (PI_FLAG_REGS | PI_FLAG_LATCH_OWN);
            } else if (d.peer_fired == 1) {
                meta.pi.flags = meta.pi.flags | (PI_FLAG_REGS | PI_FLAG_LATCH_PEER);
            } else {
                meta.pi.flags = meta.pi.flags | PI_FLAG_REGS;
            }
            if (SS(op) == SLOT_OP_IN && SS(has_ack) == 1 &&
                hdr.tcp.flags & (TCP_RST | TCP_SYN) == 0 &&
                SS(rcvd_valid) == 1 && SS(c_older) != SIGN_ZERO && c_rcvd_ack == SIGN_POS) {
                if (meta.seq_len == 0) {
                    meta.stale = STALE_DROP;
                } else {
                    meta.stale = STALE_RAISE;
                }
            }
            meta.rcvd_ack = meta.pi.rcvd_ack_hi;

            // 7. what steering cannot do in one pass: SPLIT (pipeline.md 5.2), one condition
            if (SS(op) == SLOT_OP_OUT && meta.two_path == 1 && SS(has_ack) == 1 &&
                ((meta.path == PATH_OLD &&
                  (ack_new == 1 ||
                   (SS(lo_valid) == 1 && (r0 == 1 || r1 == 1 || r2 == 1 || r3 == 1)))) ||
                 (meta.path != PATH_OLD &&
                  (SS(old_valid_before) == 0 || c_old == 1 ||
                   (SS(lo_valid) == 1 && (l0 == 1 || l1 == 1 || l2 == 1 || l3 == 1)))))) {
                meta.split = 1;
            }

            // 8. the packet-in fields (unset registers read as 0: sent_hi, ack_hi and
            // rcvd_ack_hi are 0 until first written, so their ALU outputs are used as they are)
            meta.lo_valid = SS(lo_valid);
            valid.pad = 0;
            valid.sent_hi = SS(sent_valid);
            valid.ack_hi = SS(ack_valid);
            valid.rcvd_ack_hi = SS(rcvd_valid);
            valid.new_rcvd_lo = SS(lo_valid);
            valid.cut = SS(cut_valid);
            valid.old_ack_hi = SS(old_valid_before);
        }
#endif
    }
}
