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
#ifdef FOLD
    // Folded (Tofino 1, tna/dysco.p4 FOLD): SlotState's per-packet state that pipe_a's
    // ingress computes (steps 1-3) and pipe_b's reads (steps 4-8), carried from one to the
    // other in the recirc header (pipe_b's parser writes them).
    bit<32> lo_c2;          // new_rcvd_lo for SACK blocks 2-3 (right, left edges)
    bit<32> lo_l2;
    bit<8>  op;
    bit<1>  has_ack;
    bit<1>  w_lo;
    bit<1>  w_old;
    bit<2>  c_older;
    bit<1>  sent_valid;
    bit<1>  ack_valid;
    bit<1>  rcvd_valid;
    bit<1>  lo_valid;
    bit<1>  cut_valid;
    bit<1>  old_valid_before;
#endif
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


// The per-packet state steps 1-3 hand to steps 4-8: fields of d when folded (carried from
// pipe_a to pipe_b), locals of SlotState otherwise.
#ifdef FOLD
#define SS(x) d.x
#else
#define SS(x) x
#endif
#ifdef FOLD
// Two controls: SlotState (pipe_a's ingress, the first pass) and SlotStateTail (pipe_b's,
// the second, instantiated under the name `slots` too, so its registers and tables keep
// their P4Info names).
#define SLOT_PART 1
#define SLOT_CTL SlotState
#include "slot_state_ctl.p4"
#undef SLOT_PART
#undef SLOT_CTL
#define SLOT_PART 2
#define SLOT_CTL SlotStateTail
#include "slot_state_ctl.p4"
#undef SLOT_PART
#undef SLOT_CTL
#else
#define SLOT_PART 3
#define SLOT_CTL SlotState
#include "slot_state_ctl.p4"
#undef SLOT_PART
#undef SLOT_CTL
#endif

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
