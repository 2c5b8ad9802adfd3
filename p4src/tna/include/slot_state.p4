/*
 * SlotState (TNA): the per-slot registers, two-path steering, probes and latches with the
 * semantics of dysco_proto/datapath.py (docs/pipeline.md section 5), laid out for Tofino's
 * stateful ALUs: one RegisterAction per register per packet, one output, two PHV inputs,
 * two comparisons.
 *
 * Each logical register is split into a value array and a validity array:
 *   - sent_hi, ack_hi, rcvd_ack_hi: a "written" bit (never cleared);
 *   - new_rcvd_lo, cut, old_ack_hi and the two latches: an epoch tag; the register is valid
 *     (the latch fired) iff its tag equals the slot's epoch after this packet. Tags start
 *     at all ones (TAG_NEVER), so a newer epoch clears them lazily, which is the eager clear
 *     of SlotRegisters.enter_epoch (an epoch of 0xFFFFFFFF would see never-written cells
 *     as valid).
 * Laid out for a short chain of dependent steps (table placement: each step is a stage):
 * gateways pick between a marking and a peeking action (no per-packet write flags
 * computed first); the tag ALUs compare with the epoch ALU's output directly; the cut's
 * tag ALU hands the cut's value ALU one mode (CUT_*); old_ack_hi has a twin register whose
 * ALU returns the comparison a_old > old_ack_hi; the SACK edges are tested on both edges
 * before the path is known, each by a one-bit table keyed by the block's validity; every
 * SPLIT cause is one condition. Every other condition outside the ALUs tests one bit or
 * compares one field with a constant (bf-p4c's gateways cannot compare two 32-bit fields
 * for order): serial comparisons are the sign of a difference computed first.
 * The dependent steps: epoch and written bits; tags and max values; new_rcvd_lo and cut;
 * differences; signs; latches and a_old; path, old_ack_hi; split.
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

// SerialSign for ack_hi - peer_cut, its table pinned (@stage): a pure ack's path reads this
// sign (pipeline.md 5.2); left to bf-p4c it went a stage later and the program took all 20
// of Tofino 2's ingress stages (19 pinned, measured).
control SerialSignPinned(in bit<32> d, out bit<2> sign) {
    action zero() { sign = SIGN_ZERO; }
    action pos() { sign = SIGN_POS; }
    action neg() { sign = SIGN_NEG; }
    @stage(11)
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

// A SACK edge against new_rcvd_lo, one bit: right edges (old path) are bad when after lo,
// left edges (new path) when before it; an absent block never is. The block's validity is
// part of the key, so the split condition reads one bit per edge.
control SackRight(in bool present, in bit<32> d, out bit<1> bad) {
    action ok() { bad = 0; }
    action after() { bad = 1; }
    table edge {
        key = { present : exact @name("present"); d : ternary @name("d"); }
        actions = { ok; after; }
        const entries = {
            (true, 0 &&& 0xFFFFFFFF) : ok();
            (true, 0 &&& 0x80000000) : after();
        }
        const default_action = ok();
        size = 2;
    }
    apply { edge.apply(); }
}

control SackLeft(in bool present, in bit<32> d, out bit<1> bad) {
    action ok() { bad = 0; }
    action before() { bad = 1; }
    table edge {
        key = { present : exact @name("present"); d : ternary @name("d"); }
        actions = { ok; before; }
        const entries = {
            (true, 0x80000000 &&& 0x80000000) : before();
        }
        const default_action = ok();
        size = 1;
    }
    apply { edge.apply(); }
}

// Differences for the serial comparisons, as metadata: a local would be copy-propagated into
// the gateway condition ("condition expression too complex": a gateway cannot subtract).
struct slot_diff_t {
    // Conditional copies: an arithmetic ALU operation ties its operands and result into one
    // PHV cluster, which must fit a group of 16 32-bit containers; a move does not, but an
    // unconditional whole copy is aliased to its source by bf-p4c (so no cut). These are
    // written only where they are used, which keeps them apart.
    bit<32> lo_c;           // new_rcvd_lo, for the SACK right edges' differences (OUT)
    bit<32> lo_l;           // new_rcvd_lo, for the left edges' (two copies: one PHV
                            // cluster of lo, 8 edges and 8 differences is too big)
    bit<32> cut_c;          // cut, for seq - cut (OUT)
    bit<32> cut_i;          // cut, for rcvd_ack_hi - cut (IN)
    bit<32> ack_c;          // ack_hi, for ack_hi - peer_cut (OUT)
    bit<32> rcvd_c;         // rcvd_ack_hi, for rcvd_ack_hi - cut (IN)
    bit<32> end;            // OUT: seq + seq_len; IN: seq + seq_delta
    bit<32> in_ack;         // IN: ack after rewrite
    bit<32> d_ack_lo;       // OUT: ack - new_rcvd_lo; IN: rcvd_ack_hi - (ack + ack_delta)
    bit<32> d_end_cut;
    bit<32> d_seq_cut;
    bit<32> d_ack_peer;     // OUT: ack_hi - peer_cut
    bit<32> d_own;          // IN: rcvd_ack_hi - cut (a field of its own: one field written
                            // from two pairs of sources failed PHV allocation on Tofino 2)
    bit<32> older;
    bit<8>  own_fired;      // 1: the own latch fires on this packet (Decide reads these,
    bit<8>  peer_fired;     // not the packet-in flags built from them one step later)
    bit<1>  hold;           // OUT: the held prefix's test but the path (HoldPrefix)
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

// What the cut's tag ALU tells the cut's value ALU (one PHV input: the value ALU's other
// one is sent_hi).
const bit<8> CUT_NONE = 0;     // not valid after this packet
const bit<8> CUT_VALID = 1;    // valid, unchanged
const bit<8> CUT_FREEZE = 2;   // this probe freezes it: cut := sent_hi

// The written bits (register `written`).
const bit<8> W_SENT = 1;
const bit<8> W_ACK = 2;
const bit<8> W_RCVD = 4;

// The TCP length classes (DyscoIngress.tcp_len).
const bit<2> TCP_BAD = 0;       // data_offset < 5, or total_len < 20 + 4 * data_offset
const bit<2> TCP_EMPTY = 1;     // no payload
const bit<2> TCP_PAYLOAD = 2;

// Epoch tags start at all ones: a tag register holds the epoch its value was written in
// (valid iff it equals the slot's epoch after this packet), so a cell never written is
// invalid in every epoch below 0xFFFFFFFF.
const bit<32> TAG_NEVER = 0xFFFFFFFF;

// The held prefix (pipeline.md 5.2): seq - cut below HOLD_PUNT_BYTES (a power of two: a
// mask of the difference steering already computes) of a data packet (class TCP_PAYLOAD)
// without SYN, FIN or RST whose entry's new path is held (its rewrite's destination is
// 0.0.0.0). A table of its own beside seq - cut's sign table, off the steering's chain
// (only Decide reads it, with the path), keyed by the fields themselves. Measured
// alternatives took more ingress stages: the same keys on the sign table itself (20), or
// any form with the per-packet part as a flag computed beside the lookup (21).
control HoldPrefix(in bit<32> d, in bit<3> fin_syn_rst, in bit<2> tcp_cls,
                   in bit<32> new_dst, out bit<1> hold) {
    action yes() { hold = 1; }
    action no() { hold = 0; }
    table prefix {
        key = {
            d : ternary @name("d");
            fin_syn_rst : exact @name("fin_syn_rst");
            tcp_cls : exact @name("tcp_cls");
            new_dst : exact @name("new_dst");
        }
        actions = { yes; no; }
        const entries = {
            (0 &&& ~((bit<32>) HOLD_PUNT_BYTES - 1), 0, TCP_PAYLOAD, 0) : yes();
        }
        const default_action = no();
        size = 1;
    }
    apply { prefix.apply(); }
}

control SlotState(inout headers_t hdr, inout dysco_meta_t meta, out reg_valid_t valid,
                  inout slot_diff_t d, in bit<1> eligible, in bit<1> probe_ok,
                  in bit<2> tcp_cls) {
    SerialSign() sg_ack_lo;
    SerialSign() sg_end_cut;
    SerialSign() sg_seq_cut;
    HoldPrefix() hold_prefix;
    SerialSignPinned() sg_ack_peer;
    SerialSign() sg_own;
    SerialSign() sg_rcvd_ack;
    SerialSign() sg_older;
    SackRight() sr0;
    SackRight() sr1;
    SackRight() sr2;
    SackRight() sr3;
    SackLeft() sl0;
    SackLeft() sl1;
    SackLeft() sl2;
    SackLeft() sl3;
    bit<2> c_older;
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
        op = o;
        has_ack = a;
        w_lo = l;
        w_old = w;
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

    // ---- values (return the value after this packet, old_ack_hi: before, except after a
    // freezing probe's seed) ----
    bit<32> a_old;
    bit<8> c_old;          // 1: a_old > old_ack_hi (before this packet)

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
            if (old_tv != 0) { rv = value; }
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

    apply {
        valid = {0, 0, 0, 0, 0, 0, 0};
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
            d.end = hdr.tcp.seq_no + meta.rw.seq_delta;    // in_seq
        }
        d.in_ack = hdr.tcp.ack_no + meta.rw.ack_delta;
        if (G_MAPPED || probe_ok == 1) {
            meta.pi.epoch = epoch_advance.execute(meta.slot);
        }
        if (G_OUT && hdr.tcp.flags & TCP_ACK == TCP_ACK) {
            wv = mark_out_ack.execute(meta.slot);
        } else if (G_OUT) {
            wv = mark_out.execute(meta.slot);
        } else if (G_IN && hdr.tcp.flags & TCP_ACK == TCP_ACK) {
            wv = mark_in_ack.execute(meta.slot);
        } else if (G_MAPPED || probe_ok == 1) {
            wv = written_peek.execute(meta.slot);
        }
#undef G_OUT
#undef G_IN
#undef G_MAPPED
        if (op != SLOT_OP_NONE) {
            // 2. tags (against the epoch) and the max registers (against the written bits)
            d.older = meta.pi.epoch ^ meta.epoch;   // != 0: the entry predates the slot's epoch
            if (w_lo == 1) { lo_tv = lo_mark.execute(meta.slot); }
            else { lo_tv = lo_peek.execute(meta.slot); }
            if (w_old == 1) { old_tv = old_mark.execute(meta.slot); }
            else if (op == SLOT_OP_PROBE && meta.freeze == 1 && wv & W_ACK == W_ACK) {
                old_tv = old_seed_mark.execute(meta.slot);
            }
            else { old_tv = old_peek.execute(meta.slot); }
            if (op == SLOT_OP_PROBE && meta.freeze == 1 && wv & W_SENT == W_SENT) {
                cut_mode = cut_tag_freeze.execute(meta.slot);
            } else {
                cut_mode = cut_tag_peek.execute(meta.slot);
            }
            if (op == SLOT_OP_OUT && wv & W_SENT == 0) {
                meta.pi.sent_hi = sent_first.execute(meta.slot);
            } else if (op == SLOT_OP_OUT) {
                meta.pi.sent_hi = sent_max.execute(meta.slot);
            } else {
                meta.pi.sent_hi = sent_read.execute(meta.slot);
            }
            if (op == SLOT_OP_OUT && hdr.tcp.flags & TCP_ACK == TCP_ACK && wv & W_ACK == 0) {
                meta.pi.ack_hi = ack_first.execute(meta.slot);
            } else if (op == SLOT_OP_OUT && hdr.tcp.flags & TCP_ACK == TCP_ACK) {
                meta.pi.ack_hi = ack_max.execute(meta.slot);
            } else {
                meta.pi.ack_hi = ack_read.execute(meta.slot);
            }
            if (op == SLOT_OP_IN && hdr.tcp.flags & TCP_ACK == TCP_ACK && wv & W_RCVD == 0) {
                meta.pi.rcvd_ack_hi = rcvd_first.execute(meta.slot);
            } else if (op == SLOT_OP_IN && hdr.tcp.flags & TCP_ACK == TCP_ACK) {
                meta.pi.rcvd_ack_hi = rcvd_max.execute(meta.slot);
            } else {
                meta.pi.rcvd_ack_hi = rcvd_read.execute(meta.slot);
            }
            sg_older.apply(d.older, c_older);

            // 3. new_rcvd_lo and cut (straight into the packet-in fields, 0 when not valid)
            if (w_lo == 1) { meta.pi.new_rcvd_lo = lo_min.execute(meta.slot); }
            else { meta.pi.new_rcvd_lo = lo_read.execute(meta.slot); }
            meta.pi.cut = cut_set.execute(meta.slot);
            bit<1> sent_valid;
            bit<1> ack_valid;
            bit<1> rcvd_valid;
            bit<1> lo_valid;
            bit<1> cut_valid;
            bit<1> old_valid_before;
#define FLAG(f, cond) if (cond) { f = 1; } else { f = 0; }
            FLAG(sent_valid, op == SLOT_OP_OUT || wv & W_SENT == W_SENT)
            FLAG(ack_valid, (op == SLOT_OP_OUT && hdr.tcp.flags & TCP_ACK == TCP_ACK) ||
                            wv & W_ACK == W_ACK)
            FLAG(rcvd_valid, (op == SLOT_OP_IN && hdr.tcp.flags & TCP_ACK == TCP_ACK) ||
                             wv & W_RCVD == W_RCVD)
            FLAG(lo_valid, w_lo == 1 || lo_tv != 0)
            FLAG(cut_valid, cut_mode != CUT_NONE)
            FLAG(old_valid_before, old_tv != 0)
#undef FLAG

            // 4. differences (copies through the hash unit where two PHV clusters meet)
            if (op == SLOT_OP_OUT) { @in_hash { d.cut_c = meta.pi.cut; } }
            if (op == SLOT_OP_IN) { @in_hash { d.cut_i = meta.pi.cut; } }
            if (op == SLOT_OP_OUT) { @in_hash { d.ack_c = meta.pi.ack_hi; } }
            if (op == SLOT_OP_OUT) { @in_hash { d.lo_c = meta.pi.new_rcvd_lo; } }
            if (op == SLOT_OP_OUT) { @in_hash { d.lo_l = meta.pi.new_rcvd_lo; } }
            if (op == SLOT_OP_IN) { @in_hash { d.rcvd_c = meta.pi.rcvd_ack_hi; } }
            if (op == SLOT_OP_OUT) {
                d.d_ack_lo = hdr.tcp.ack_no - meta.pi.new_rcvd_lo;
            }
            sg_ack_lo.apply(d.d_ack_lo, c_ack_lo);
            // IN: rcvd_ack_hi - (ack + ack_delta) in two steps, for the stale test, in the same
            // field after OUT's sign is read (program order: the IN writes do not delay it)
            if (op == SLOT_OP_IN) {
                d.d_ack_lo = meta.pi.rcvd_ack_hi - hdr.tcp.ack_no;
            }
            if (op == SLOT_OP_IN && hdr.tcp.flags & TCP_ACK == TCP_ACK) {
                d.d_ack_lo = d.d_ack_lo - meta.rw.ack_delta;
            }
            sg_rcvd_ack.apply(d.d_ack_lo, c_rcvd_ack);
            // the latches' differences from copies only: the packet-in fields (ALU outputs,
            // mirror header) stay out of this PHV cluster
            if (op == SLOT_OP_OUT) {
                d.d_ack_peer = d.ack_c - meta.peer_cut;           // ack_hi - peer_cut
            }
            if (op == SLOT_OP_IN) {
                d.d_own = d.rcvd_c - d.cut_i;                     // rcvd_ack_hi - cut
            }
            if (op == SLOT_OP_OUT && meta.two_path == 1) {
                d.d_seq_cut = hdr.tcp.seq_no - d.cut_c;
                d.d_end_cut = d.end - d.cut_c;
            }
            // SACK edges against new_rcvd_lo, both edges (the path is not known yet)
            bit<32> er0 = hdr.sack_blocks[0].right - d.lo_c;
            bit<32> er1 = hdr.sack_blocks[1].right - d.lo_c;
            bit<32> er2 = hdr.sack_blocks[2].right - d.lo_c;
            bit<32> er3 = hdr.sack_blocks[3].right - d.lo_c;
            bit<32> el0 = hdr.sack_blocks[0].left - d.lo_l;
            bit<32> el1 = hdr.sack_blocks[1].left - d.lo_l;
            bit<32> el2 = hdr.sack_blocks[2].left - d.lo_l;
            bit<32> el3 = hdr.sack_blocks[3].left - d.lo_l;
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
            if (op == SLOT_OP_IN && cut_valid == 1 && rcvd_valid == 1 &&
                c_own != SIGN_NEG) {
                d.own_fired = own_fire.execute(meta.slot);
                d.peer_fired = 0;
            } else if (op == SLOT_OP_OUT && meta.peer_cut_valid == 1 && ack_valid == 1 &&
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
            if (has_ack == 1 && lo_valid == 1 && c_ack_lo == SIGN_POS) {
                ack_new = 1;
                @in_hash { a_old = meta.pi.new_rcvd_lo; }
            } else if (op == SLOT_OP_PROBE) {
                ack_new = 0;
                @in_hash { a_old = meta.pi.ack_hi; }
            } else {
                ack_new = 0;
                @in_hash { a_old = hdr.tcp.ack_no; }
            }

            // 6. two-path steering (datapath._steer; docs/pipeline.md 5.2), old_ack_hi (the
            // value before this packet, and the comparison from its twin), the flags
            if (op == SLOT_OP_OUT && meta.two_path == 1) {
                meta.path = PATH_OLD;
                if (hdr.tcp.flags & TCP_RST == TCP_RST) {
                    meta.split = 1;
                } else if (meta.seq_len == 0) {
                    // NEW also once the host acked the peer's old-path data (the peer
                    // latch's condition; ack_valid holds: OUT with ACK): the old path's far
                    // anchor may have folded and its entry gone idle; the old path's one
                    // copy is the SPLIT (c_old). ack_new's condition inline: no wait for the
                    // table that sets ack_new.
                    if (has_ack == 1 &&
                        ((lo_valid == 1 && c_ack_lo == SIGN_POS) ||
                         (meta.peer_cut_valid == 1 && c_ack_peer != SIGN_NEG))) {
                        meta.path = PATH_NEW;
                    } else if (cut_valid == 1 && c_seq_cut == SIGN_POS) {
                        // an old-path pure ack carries seq min(seq, cut): snd_nxt past the
                        // cut may be out of an old-path box's window (pipeline.md 5.2)
                        meta.split = 1;
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
            if (w_old == 1 && old_tv == 0) {
                meta.pi.old_ack_hi = old_first.execute(meta.slot);
                c_old = oldc_first.execute(meta.slot);
            } else if (w_old == 1) {
                meta.pi.old_ack_hi = old_max.execute(meta.slot);
                c_old = oldc_max.execute(meta.slot);
            } else if (op == SLOT_OP_PROBE && meta.freeze == 1 && wv & W_ACK == W_ACK) {
                // the freeze's seed (pipeline.md 5.3): old_ack_hi := ack_hi, in both copies
                meta.pi.old_ack_hi = old_seed.execute(meta.slot);
                c_old = oldc_first.execute(meta.slot);
            } else {
                meta.pi.old_ack_hi = old_read.execute(meta.slot);
                c_old = 0;
            }
            if (d.own_fired == 1 && d.peer_fired == 1) {
                meta.pi.flags = meta.pi.flags | (PI_FLAG_REGS | PI_FLAG_LATCH_OWN | PI_FLAG_LATCH_PEER);
            } else if (d.own_fired == 1) {
                meta.pi.flags = meta.pi.flags | (PI_FLAG_REGS | PI_FLAG_LATCH_OWN);
            } else if (d.peer_fired == 1) {
                meta.pi.flags = meta.pi.flags | (PI_FLAG_REGS | PI_FLAG_LATCH_PEER);
            } else {
                meta.pi.flags = meta.pi.flags | PI_FLAG_REGS;
            }
            if (op == SLOT_OP_IN && has_ack == 1 &&
                hdr.tcp.flags & (TCP_RST | TCP_SYN) == 0 &&
                rcvd_valid == 1 && c_older != SIGN_ZERO && c_rcvd_ack == SIGN_POS) {
                if (meta.seq_len == 0) {
                    meta.stale = STALE_DROP;
                } else {
                    meta.stale = STALE_RAISE;
                }
            }
            meta.rcvd_ack = meta.pi.rcvd_ack_hi;

            // 7. what steering cannot do in one pass: SPLIT (pipeline.md 5.2), one condition
            if (op == SLOT_OP_OUT && meta.two_path == 1 && has_ack == 1 &&
                ((meta.path == PATH_OLD &&
                  (ack_new == 1 ||
                   (lo_valid == 1 && (r0 == 1 || r1 == 1 || r2 == 1 || r3 == 1)))) ||
                 (meta.path != PATH_OLD &&
                  (old_valid_before == 0 || c_old == 1 ||
                   (lo_valid == 1 && (l0 == 1 || l1 == 1 || l2 == 1 || l3 == 1)))))) {
                meta.split = 1;
            }

            // 8. the packet-in fields (unset registers read as 0: sent_hi, ack_hi and
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
