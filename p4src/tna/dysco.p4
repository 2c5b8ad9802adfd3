/*
 * Dysco pipeline for Tofino (TNA): Tofino 1 (bf-p4c --arch tna) and Tofino 2 (--arch t2na).
 * Same contract as the v1model program (docs/pipeline.md): the same shared headers and
 * controls, hence the same P4Info names for tables, actions, parameters and controller
 * headers. Target-specific here: intrinsic metadata, residual TCP checksums (the payload
 * cannot be summed), every copy to the CPU as an ingress mirror whose mirror header is the
 * packet-in header, register layout (include/slot_state.p4), the window rescale with
 * constant shifts and two constant helper tables (include/options.p4, tcp_len).
 *
 * Differences from bmv2, documented in docs/pipeline.md: a wrong TCP checksum cannot be
 * verified (the residual update preserves the error instead); the truncation check uses the
 * egress packet length (registers were already updated in ingress).
 *
 * Verified: bf-p4c 9.13.4 (p4c 34b86e9, /opt/p4tools): Tofino 2 compiles with 0 errors at
 * 1,024 session entries per table, but that bf-p4c drops every parser select's match
 * (p4lang/p4c#5752, fixed by #5753), so its assembler stops on CLOTs and there is no binary;
 * Tofino 1 places every table in 16 ingress stages of its 12 (without container conflicts;
 * its PHV allocation then fails in egress): docs/pipeline.md section 10. Nothing
 * has run on a Tofino model or hardware.
 * Build: make -C p4src tofino (tofino_build.sh).
 */
#include <core.p4>
#include <tna.p4>

#define TARGET_TNA 1
#include "include/size.p4"
#ifndef CPU_PORT
#define CPU_PORT 192            // Tofino 1, 2-pipe: the PCIe CPU port (64 / 320 elsewhere)
#endif
// A hairpin's IN pass (docs/pipeline.md 4.3) goes out of this port and comes back in by it:
// a recirculation port of the chip (Tofino 1 pipe 0: 68; folded, pipe_a's: 196), in loopback
// mode, configuration like CPU_PORT (-DRECIRC_PORT=, and the controller's device
// configuration).
#ifndef RECIRC_PORT
#ifdef FOLD
#define RECIRC_PORT 196         // Tofino 1, 2-pipe, folded: pipe_a is pipe 1 (below)
#else
#define RECIRC_PORT 68
#endif
#endif
#define SESSION_IDLE_TIMEOUT idle_timeout = true;
// Deltas the other options would need, per path and delta (a gateway reads at most 4 bytes),
// beside the steering; Decide ORs the chosen path's three. (One definition for both forms:
// one pipeline computes them before SlotState, the folded one in pipe_b.)
#define NONZERO(flag, field) if (field != 0) { flag = 1; } else { flag = 0; }
#define OPTION_DELTA_FLAGS \
        bit<1> o_ack; bit<1> o_tsval; bit<1> o_tsecr; \
        bit<1> n_ack; bit<1> n_tsval; bit<1> n_tsecr; \
        NONZERO(o_ack, ig_md.dysco.RW_OLD.ack_delta) \
        NONZERO(o_tsval, ig_md.dysco.RW_OLD.tsval_delta) \
        NONZERO(o_tsecr, ig_md.dysco.RW_OLD.tsecr_delta) \
        NONZERO(n_ack, ig_md.dysco.new_rw.ack_delta) \
        NONZERO(n_tsval, ig_md.dysco.new_rw.tsval_delta) \
        NONZERO(n_tsecr, ig_md.dysco.new_rw.tsecr_delta)
#ifdef FOLD
// A folded pipeline (Tofino 1: one ingress needs more than its 12 stages; docs/pipeline.md
// section 9). Two Pipeline programs: pipe_a holds the ports, the CPU port, the lookups,
// the validation, SlotState's steps 1-3 and the egress rewrite; pipe_b the second half of
// ingress (SlotState's steps 4-8, Decide, punts and mirrors, routing). Every frame of
// pipe_a's ingress leaves it by PASS2_PORT, a port of pipe_b in loopback (its recirculation
// port by default), with a recirc header in front of the frame as it arrived; pipe_b's
// parser takes the header by its first byte on that port, its egress passes frames through
// unchanged. Ports, per the default 2-pipe Tofino 1: pipe_a on pipe 1 (CPU_PORT 192,
// RECIRC_PORT 196 for the hairpin), pipe_b on pipe 0 (PASS2_PORT 68); bf-p4c's pipe scopes
// follow the order of Switch() below (pipe_b: pipes 0 and 2, pipe_a: 1 and 3).
#ifndef PASS2_PORT
#define PASS2_PORT 68
#endif
// The recirc header's first byte: a group (multicast) MAC address bit set, so a hairpinned
// frame (routed: a unicast destination MAC) arriving by the same port is never taken for it.
const bit<8> RECIRC_MAGIC = 0xF1;
const bit<8> MIRROR_PUNT_P2 = 3;        // a copy from the second pass: skip the recirc header
// The session actions write the old (single) path into old_rw, the recirc header's fields
// (@pa_alias): the first pass needs no copy; the second pass's Decide copies the chosen
// path into rw (the bridge's fields), as it copies new_rw today.
#define SESSION_RW old_rw
#define RW_OLD old_rw
#else
#define RW_OLD rw
#endif

@pa_auto_init_metadata
// The bridge's rewrite fields are the chosen path's rw fields (one container each, no copy).
@pa_alias("ingress", "ig_md.bridge.src_addr", "ig_md.dysco.rw.src_addr")
@pa_alias("ingress", "ig_md.bridge.dst_addr", "ig_md.dysco.rw.dst_addr")
@pa_alias("ingress", "ig_md.bridge.src_port", "ig_md.dysco.rw.src_port")
@pa_alias("ingress", "ig_md.bridge.dst_port", "ig_md.dysco.rw.dst_port")
@pa_alias("ingress", "ig_md.bridge.seq_delta", "ig_md.dysco.rw.seq_delta")
@pa_alias("ingress", "ig_md.bridge.ack_delta", "ig_md.dysco.rw.ack_delta")
@pa_alias("ingress", "ig_md.bridge.tsval_delta", "ig_md.dysco.rw.tsval_delta")
@pa_alias("ingress", "ig_md.bridge.tsecr_delta", "ig_md.dysco.rw.tsecr_delta")
@pa_alias("ingress", "ig_md.bridge.win_shift", "ig_md.dysco.rw.win_shift")
@pa_alias("ingress", "ig_md.bridge.rcvd_ack", "ig_md.dysco.rcvd_ack")
#ifdef FOLD
// The recirc header's fields are the first pass's results (the second pass's parser
// extracts them into the same containers; no copies).
@pa_alias("ingress", "ig_md.rc.ingress_port", "ig_md.dysco.pi.ingress_port")
@pa_alias("ingress", "ig_md.rc.direction", "ig_md.dysco.direction")
@pa_alias("ingress", "ig_md.rc.agent_id", "ig_md.dysco.pi.agent_id")
@pa_alias("ingress", "ig_md.rc.slot", "ig_md.dysco.slot")
@pa_alias("ingress", "ig_md.rc.token", "ig_md.dysco.pi.token")
@pa_alias("ingress", "ig_md.rc.epoch", "ig_md.dysco.pi.epoch")
@pa_alias("ingress", "ig_md.rc.sent_hi", "ig_md.dysco.pi.sent_hi")
@pa_alias("ingress", "ig_md.rc.ack_hi", "ig_md.dysco.pi.ack_hi")
@pa_alias("ingress", "ig_md.rc.rcvd_ack_hi", "ig_md.dysco.pi.rcvd_ack_hi")
@pa_alias("ingress", "ig_md.rc.new_rcvd_lo", "ig_md.dysco.pi.new_rcvd_lo")
@pa_alias("ingress", "ig_md.rc.cut", "ig_md.dysco.pi.cut")
@pa_alias("ingress", "ig_md.rc.reason", "ig_md.dysco.pi.reason")
@pa_alias("ingress", "ig_md.rc.flags", "ig_md.dysco.pi.flags")
@pa_alias("ingress", "ig_md.rc.op", "ig_md.diff.op")
@pa_alias("ingress", "ig_md.rc.peer_cut", "ig_md.dysco.peer_cut")
@pa_alias("ingress", "ig_md.rc.seq_len", "ig_md.dysco.seq_len")
@pa_alias("ingress", "ig_md.rc.end", "ig_md.diff.end")
@pa_alias("ingress", "ig_md.rc.two_path", "ig_md.dysco.two_path")
@pa_alias("ingress", "ig_md.rc.peer_cut_valid", "ig_md.dysco.peer_cut_valid")
@pa_alias("ingress", "ig_md.rc.from_cpu", "ig_md.dysco.from_cpu")
@pa_alias("ingress", "ig_md.rc.punt", "ig_md.dysco.punt")
@pa_alias("ingress", "ig_md.rc.want_route", "ig_md.dysco.want_route")
@pa_alias("ingress", "ig_md.rc.drop", "ig_md.dysco.drop")
@pa_alias("ingress", "ig_md.rc.egress_port", "ig_md.dysco.egress_port")
@pa_alias("ingress", "ig_md.rc.opt_other", "ig_md.dysco.opt_other")
@pa_alias("ingress", "ig_md.rc.freeze", "ig_md.dysco.freeze")
@pa_alias("ingress", "ig_md.rc.has_ack", "ig_md.diff.has_ack")
@pa_alias("ingress", "ig_md.rc.w_lo", "ig_md.diff.w_lo")
@pa_alias("ingress", "ig_md.rc.w_old", "ig_md.diff.w_old")
@pa_alias("ingress", "ig_md.rc.sent_valid", "ig_md.diff.sent_valid")
@pa_alias("ingress", "ig_md.rc.ack_valid", "ig_md.diff.ack_valid")
@pa_alias("ingress", "ig_md.rc.rcvd_valid", "ig_md.diff.rcvd_valid")
@pa_alias("ingress", "ig_md.rc.lo_valid", "ig_md.diff.lo_valid")
@pa_alias("ingress", "ig_md.rc.cut_valid", "ig_md.diff.cut_valid")
@pa_alias("ingress", "ig_md.rc.old_valid_before", "ig_md.diff.old_valid_before")
@pa_alias("ingress", "ig_md.rc.c_older", "ig_md.diff.c_older")
@pa_alias("ingress", "ig_md.rc.nw_src_addr", "ig_md.dysco.new_rw.src_addr")
@pa_alias("ingress", "ig_md.rc.nw_dst_addr", "ig_md.dysco.new_rw.dst_addr")
@pa_alias("ingress", "ig_md.rc.nw_src_port", "ig_md.dysco.new_rw.src_port")
@pa_alias("ingress", "ig_md.rc.nw_dst_port", "ig_md.dysco.new_rw.dst_port")
@pa_alias("ingress", "ig_md.rc.nw_seq_delta", "ig_md.dysco.new_rw.seq_delta")
@pa_alias("ingress", "ig_md.rc.nw_ack_delta", "ig_md.dysco.new_rw.ack_delta")
@pa_alias("ingress", "ig_md.rc.nw_tsval_delta", "ig_md.dysco.new_rw.tsval_delta")
@pa_alias("ingress", "ig_md.rc.nw_tsecr_delta", "ig_md.dysco.new_rw.tsecr_delta")
@pa_alias("ingress", "ig_md.rc.nw_win_shift", "ig_md.dysco.new_rw.win_shift")
@pa_alias("ingress", "ig_md.rc.rw_src_addr", "ig_md.dysco.old_rw.src_addr")
@pa_alias("ingress", "ig_md.rc.rw_dst_addr", "ig_md.dysco.old_rw.dst_addr")
@pa_alias("ingress", "ig_md.rc.rw_src_port", "ig_md.dysco.old_rw.src_port")
@pa_alias("ingress", "ig_md.rc.rw_dst_port", "ig_md.dysco.old_rw.dst_port")
@pa_alias("ingress", "ig_md.rc.rw_seq_delta", "ig_md.dysco.old_rw.seq_delta")
@pa_alias("ingress", "ig_md.rc.rw_ack_delta", "ig_md.dysco.old_rw.ack_delta")
@pa_alias("ingress", "ig_md.rc.rw_tsval_delta", "ig_md.dysco.old_rw.tsval_delta")
@pa_alias("ingress", "ig_md.rc.rw_tsecr_delta", "ig_md.dysco.old_rw.tsecr_delta")
@pa_alias("ingress", "ig_md.rc.rw_win_shift", "ig_md.dysco.old_rw.win_shift")
#endif

#include "../shared/header.p4"
#include "../shared/control/ports.p4"
#include "../shared/control/session.p4"
#include "../shared/control/classify.p4"
#include "include/decide.p4"         // (TNA formulation of ../shared/control/decide.p4)
#include "../shared/control/rewrite.p4"
#include "include/forwarding.p4"     // (TNA formulation of ../shared/control/forwarding.p4)
#include "../shared/control/packet_io.p4"
#include "include/tcp_options.p4"      // (TNA formulation of ../shared/parser/tcp_options.p4)
#include "include/slot_state.p4"
#include "include/options.p4"

// What ingress hands to egress: a type byte, then (for copies to the CPU) the packet-in
// fields. BRIDGE_* on the normal path, MIRROR_* on the ingress-mirror copy.
const bit<8> BRIDGE_NONE = 0;
const bit<8> MIRROR_PUNT = 2;
const MirrorType_t PUNT_MIRROR_TYPE = 1;
const bit<32> PACKET_OUT_BITS = 120;    // packet_out_t (SLOT_BITS 24)
const bit<2> LEN_OK = 0;
const bit<2> LEN_LT20 = 1;
const bit<2> LEN_LT28 = 2;
// Option layouts (bridge.layout): bit 0 TS, bits 1-3 SACK blocks, bit 4 SYN options, bit 5
// WS, bit 6 Dysco tag: the combinations TcpOptionsParser can extract.
const bit<8> OPT_L_TS = 0x01;
const bit<8> OPT_L_SYN = 0x10;
const bit<8> OPT_L_WS = 0x20;
const bit<8> OPT_L_TAG = 0x40;

// The normal path's bridge: the chosen path's rewrite parameters and the flags egress needs
// (the header rewrite and the checksums are egress work, so that ingress PHV holds only the
// steering state and ingress reads the TCP fields without rewriting them).
header bridge_h {
    bit<8>  type;
    bit<1>  do_rewrite;     // apply rw (addresses, ports, seq/ack/TS/SACK, window)
    bit<1>  csum_ipv4;      // recompute the IPv4 header checksum
    bit<1>  csum_tcp;       // update the TCP checksum (residual)
    bit<1>  stale_raise;    // STALE_RAISE: ack := rcvd_ack
    bit<4>  pad;
    bit<8>  win_shift;
    bit<8>  layout;         // the TCP option headers ingress parsed (OPT_L_*): egress parses
                            // the same ones without lookahead (Tofino 2's egress parser has
                            // too few match registers for data_offset and 32 bits of it)
    bit<32> src_addr;
    bit<32> dst_addr;
    bit<16> src_port;
    bit<16> dst_port;
    bit<32> seq_delta;
    bit<32> ack_delta;
    bit<32> tsval_delta;
    bit<32> tsecr_delta;
    bit<32> rcvd_ack;
}

header punt_h {
    bit<8>  type;
    bit<16> ingress_port;
    bit<8>  reason;
    bit<8>  direction;
    bit<8>  flags;
    bit<8>  agent_id;
    slot_t  slot;
    bit<32> token;
    bit<32> epoch;
    bit<8>  reg_valid;
    bit<32> sent_hi;
    bit<32> ack_hi;
    bit<32> rcvd_ack_hi;
    bit<32> new_rcvd_lo;
    bit<32> cut;
    bit<32> old_ack_hi;
}

#ifdef FOLD
// What the first pass hands to the second (in front of the frame, through PASS2_PORT).
header recirc_h {
    bit<8>  magic;          // RECIRC_MAGIC
    // the packet-in fields known after the first pass (egress reads them for a copy from
    // the second pass), in packet_in_t's order
    bit<16> ingress_port;   // the first pass's (also the hairpin test)
    bit<8>  direction;      // (= dysco.direction)
    bit<8>  agent_id;
    slot_t  slot;           // (= dysco.slot)
    bit<32> token;
    bit<32> epoch;          // the registers read by the first pass
    bit<32> sent_hi;
    bit<32> ack_hi;
    bit<32> rcvd_ack_hi;
    bit<32> new_rcvd_lo;
    bit<32> cut;
    // the rest of the first pass's state
    bit<8>  reason;
    bit<8>  flags;
    bit<8>  op;             // SlotState's (= Classify's slot_op)
    bit<32> peer_cut;       // the entry's
    bit<32> seq_len;
    bit<32> end;            // SlotState's d.end
    bit<1>  two_path;
    bit<1>  peer_cut_valid;
    bit<1>  from_cpu;
    bit<1>  punt;
    bit<1>  opt_other;
    bit<1>  freeze;
    bit<1>  has_ack;
    bit<1>  w_lo;
    bit<1>  w_old;
    bit<1>  sent_valid;
    bit<1>  ack_valid;
    bit<1>  rcvd_valid;
    bit<1>  lo_valid;
    bit<1>  cut_valid;
    bit<1>  old_valid_before;
    bit<2>  c_older;
    bit<1>  want_route;     // (= dysco.want_route: a ROUTE packet-out, an unmapped packet)
    bit<1>  drop;           // (= dysco.drop: pipe_b drops it)
    bit<5>  pad;
    bit<6>  pad2;           // (a byte and two of their own: written by other actions)
    bit<2>  tcp_cls;        // DyscoIngress.tcp_len's class (HoldPrefix's key)
    bit<7>  pad3;
    port_t  egress_port;    // (= dysco.egress_port: a FORWARD packet-out's port)
    bit<32> nw_src_addr;    // the new path
    bit<32> nw_dst_addr;
    bit<16> nw_src_port;
    bit<16> nw_dst_port;
    bit<32> nw_seq_delta;
    bit<32> nw_ack_delta;
    bit<32> nw_tsval_delta;
    bit<32> nw_tsecr_delta;
    bit<8>  nw_win_shift;
    bit<8>  layout;         // opt_parsed's
    bit<32> rw_src_addr;    // the old (single) path (= old_rw, @pa_alias)
    bit<32> rw_dst_addr;
    bit<16> rw_src_port;
    bit<16> rw_dst_port;
    bit<32> rw_seq_delta;
    bit<32> rw_ack_delta;
    bit<32> rw_tsval_delta;
    bit<32> rw_tsecr_delta;
    bit<8>  rw_win_shift;
}
// What egress reads of it for a copy from the second pass (the rest is skipped).
header recirc_pi_h {
    bit<8>  magic;
    bit<16> ingress_port;
    bit<8>  direction;
    bit<8>  agent_id;
    slot_t  slot;
    bit<32> token;
    bit<32> epoch;
    bit<32> sent_hi;
    bit<32> ack_hi;
    bit<32> rcvd_ack_hi;
    bit<32> new_rcvd_lo;
    bit<32> cut;
}
// A copy from the second pass: its mirror header holds only the packet-in fields that pass
// computed; egress takes the others from the recirc header behind it (the mirror copies the
// frame as that pass received it).
header p2_mirror_h {
    bit<8>  kind;           // MIRROR_PUNT_P2
    bit<8>  reason;
    bit<8>  flags;
    bit<8>  reg_valid;
    bit<32> old_ack_hi;
}
const MirrorType_t P2_MIRROR_TYPE = 2;
const bit<32> RECIRC_TAIL_BITS = 640;   // recirc_h (116 bytes) after recirc_pi_h (36)

#endif

struct ig_meta_t {
    dysco_meta_t dysco;
    reg_valid_t  rv;
    slot_diff_t  diff;
    bridge_h     bridge;
    bit<8>       mirror_kind;       // MIRROR_PUNT: the mirror header's type byte
    bit<1>       ipv4_csum_err;
    MirrorId_t   mirror_session;    // CPU_CLONE_SESSION (a field: Tofino's mirror extern
                                    // takes no constant session id)
#ifdef FOLD
    bit<1>       pass2;             // the second pass (the parser took the recirc header)
    recirc_h     rc;                // emitted by the first pass, parsed by the second
    MirrorType_t mtype;             // the mirror type of a copy to the CPU
#endif
}

struct eg_meta_t {
#ifdef FOLD
    p2_mirror_h  p2m;               // a copy from the second pass: its mirror header
    recirc_pi_h  rcpi;              // and the packet-in fields of the recirc header
#endif
    bridge_h     bridge;
    bit<32>      spare;             // pkt_length - (total_len + 14)
    dysco_meta_t dysco;             // rw, stale, rcvd_ack: from the bridge
    bit<16>      tcp_residual;
}

// ---------------------------------------------------------------------------------------
// Ingress parser
// ---------------------------------------------------------------------------------------

parser DyscoIngressParser(packet_in pkt, out headers_t hdr, out ig_meta_t ig_md,
                          out ingress_intrinsic_metadata_t ig_intr_md) {
    TcpOptionsParser() tcp_options;
    Checksum() ipv4_csum;

    state start {
        pkt.extract(ig_intr_md);
        pkt.advance(PORT_METADATA_SIZE);
#ifdef FOLD
        transition select(ig_intr_md.ingress_port, pkt.lookahead<bit<8>>()) {
            (CPU_PORT, _): parse_packet_out;
            (PASS2_PORT, RECIRC_MAGIC): parse_recirc;
            default: parse_ethernet;
        }
#else
        transition select(ig_intr_md.ingress_port) {
            CPU_PORT: parse_packet_out;
            default: parse_ethernet;
        }
#endif
    }

#ifdef FOLD
    // The second pass: the first pass's results, then the frame as it arrived (a probe's
    // has no headers parsed, as in the first pass).
    state parse_recirc {
        pkt.extract(ig_md.rc);          // (its fields are the first pass's: @pa_alias)
        ig_md.pass2 = 1;
        ig_md.dysco.pi.direction = ig_md.rc.direction;
        ig_md.dysco.slot_op = ig_md.rc.op;
        ig_md.dysco.pi.slot = ig_md.rc.slot;
        transition select(ig_md.rc.from_cpu, ig_md.rc.want_route) {
            (1, 1): parse_po_ethernet;  // a ROUTE packet-out (its packet_out removed)
            (1, 0): accept;             // a probe, a FORWARD packet-out
            default: parse_ethernet;
        }
    }
#endif

    state parse_packet_out {
        pkt.extract(hdr.packet_out);
        ig_md.dysco.from_cpu = 1;
        transition select(hdr.packet_out.op) {
            OP_ROUTE: parse_po_ethernet;
            default: accept;
        }
    }

    // A ROUTE packet-out: Ethernet and IPv4, nothing after (not verified, not rewritten).
    state parse_po_ethernet {
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) {
            ETHERTYPE_IPV4: parse_po_ipv4;
            default: accept;
        }
    }

    state parse_po_ipv4 {
        pkt.extract(hdr.ipv4);
        transition accept;
    }

    state parse_ethernet {
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) {
            ETHERTYPE_IPV4: parse_ipv4;
            default: accept;
        }
    }

    state parse_ipv4 {
        pkt.extract(hdr.ipv4);
        ipv4_csum.add(hdr.ipv4);
        ig_md.ipv4_csum_err = (bit<1>) ipv4_csum.verify();
        transition select(hdr.ipv4.version, hdr.ipv4.ihl,
                          hdr.ipv4.flags, hdr.ipv4.frag_offset, hdr.ipv4.protocol) {
            (4, 5, 0 &&& 1, 0, IP_PROTO_TCP): parse_tcp;
            (4, 5, 0 &&& 1, 0, IP_PROTO_UDP): parse_udp;
            default: accept;
        }
    }

    state parse_udp {
        pkt.extract(hdr.udp);
        transition accept;
    }

    state parse_tcp {
        pkt.extract(hdr.tcp);
        tcp_options.apply(pkt, hdr.tcp.data_offset, hdr.tcp_ts, hdr.tcp_sack, hdr.sack_blocks,
                          hdr.tcp_synopt, hdr.tcp_ws, hdr.tcp_tag);
        transition accept;
    }
}

// ---------------------------------------------------------------------------------------
// Ingress
// ---------------------------------------------------------------------------------------

control DyscoIngress(inout headers_t hdr, inout ig_meta_t ig_md,
                     in ingress_intrinsic_metadata_t ig_intr_md,
                     in ingress_intrinsic_metadata_from_parser_t ig_prsr_md,
                     inout ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md,
                     inout ingress_intrinsic_metadata_for_tm_t ig_tm_md)
#ifdef FOLD
                    (bool fold_b)       // this instance is pipe_b's (the second pass)
#endif
                    {
    PacketOutIngress() packet_io;
    PortRoles() ports;
    SessionLookup() session;
    OptionLayout() options;

    // The TCP lengths, one constant ternary table keyed by the data offset and the IPv4 total
    // length (so the validation and SlotState's gate do not wait for the arithmetic):
    // -(20 + 4 * data_offset), the header lengths negated, and SYN + FIN minus them, for
    // the length arithmetic (keyed by the flags too); and the class: TCP_BAD (data_offset < 5, or total_len < 20 + 4 * data_offset: the v1model
    // test), TCP_EMPTY (no payload) or TCP_PAYLOAD.
    bit<16> neg_hl16;
    bit<16> seg16;           // SYN + FIN - headers: the sequence length is total_len + seg16
    bit<16> pl16_m;          // total_len - TCP header length
    bit<2> tcp_cls = TCP_BAD;
    action set_hl(bit<16> neg16, bit<16> seg, bit<2> cls) {
        neg_hl16 = neg16;
        seg16 = seg;
        tcp_cls = cls;
    }
    table tcp_len {
        key = {
            hdr.tcp.data_offset : exact @name("data_offset");
            hdr.ipv4.total_len : ternary @name("total_len");
            hdr.tcp.flags[1:0] : exact @name("syn_fin");    // TCP_SYN | TCP_FIN
        }
        actions = { set_hl; }
#define tcp_class(d, sf, c) set_hl(16w0 - (20 + 4 * d), sf - (16w20 + 4 * d), c)
        const entries = {
            (0, 0 &&& 0, 0) : tcp_class(0, 0, TCP_BAD);
            (0, 0 &&& 0, 1) : tcp_class(0, 1, TCP_BAD);
            (0, 0 &&& 0, 2) : tcp_class(0, 1, TCP_BAD);
            (0, 0 &&& 0, 3) : tcp_class(0, 2, TCP_BAD);
            (1, 0 &&& 0, 0) : tcp_class(1, 0, TCP_BAD);
            (1, 0 &&& 0, 1) : tcp_class(1, 1, TCP_BAD);
            (1, 0 &&& 0, 2) : tcp_class(1, 1, TCP_BAD);
            (1, 0 &&& 0, 3) : tcp_class(1, 2, TCP_BAD);
            (2, 0 &&& 0, 0) : tcp_class(2, 0, TCP_BAD);
            (2, 0 &&& 0, 1) : tcp_class(2, 1, TCP_BAD);
            (2, 0 &&& 0, 2) : tcp_class(2, 1, TCP_BAD);
            (2, 0 &&& 0, 3) : tcp_class(2, 2, TCP_BAD);
            (3, 0 &&& 0, 0) : tcp_class(3, 0, TCP_BAD);
            (3, 0 &&& 0, 1) : tcp_class(3, 1, TCP_BAD);
            (3, 0 &&& 0, 2) : tcp_class(3, 1, TCP_BAD);
            (3, 0 &&& 0, 3) : tcp_class(3, 2, TCP_BAD);
            (4, 0 &&& 0, 0) : tcp_class(4, 0, TCP_BAD);
            (4, 0 &&& 0, 1) : tcp_class(4, 1, TCP_BAD);
            (4, 0 &&& 0, 2) : tcp_class(4, 1, TCP_BAD);
            (4, 0 &&& 0, 3) : tcp_class(4, 2, TCP_BAD);
            (5, 0x0000 &&& 0xFFE0, 0) : tcp_class(5, 0, TCP_BAD);
            (5, 0x0000 &&& 0xFFE0, 1) : tcp_class(5, 1, TCP_BAD);
            (5, 0x0000 &&& 0xFFE0, 2) : tcp_class(5, 1, TCP_BAD);
            (5, 0x0000 &&& 0xFFE0, 3) : tcp_class(5, 2, TCP_BAD);
            (5, 0x0020 &&& 0xFFF8, 0) : tcp_class(5, 0, TCP_BAD);
            (5, 0x0020 &&& 0xFFF8, 1) : tcp_class(5, 1, TCP_BAD);
            (5, 0x0020 &&& 0xFFF8, 2) : tcp_class(5, 1, TCP_BAD);
            (5, 0x0020 &&& 0xFFF8, 3) : tcp_class(5, 2, TCP_BAD);
            (5, 0x0028 &&& 0xFFFF, 0) : tcp_class(5, 0, TCP_EMPTY);
            (5, 0x0028 &&& 0xFFFF, 1) : tcp_class(5, 1, TCP_EMPTY);
            (5, 0x0028 &&& 0xFFFF, 2) : tcp_class(5, 1, TCP_EMPTY);
            (5, 0x0028 &&& 0xFFFF, 3) : tcp_class(5, 2, TCP_EMPTY);
            (5, 0 &&& 0, 0) : tcp_class(5, 0, TCP_PAYLOAD);
            (5, 0 &&& 0, 1) : tcp_class(5, 1, TCP_PAYLOAD);
            (5, 0 &&& 0, 2) : tcp_class(5, 1, TCP_PAYLOAD);
            (5, 0 &&& 0, 3) : tcp_class(5, 2, TCP_PAYLOAD);
            (6, 0x0000 &&& 0xFFE0, 0) : tcp_class(6, 0, TCP_BAD);
            (6, 0x0000 &&& 0xFFE0, 1) : tcp_class(6, 1, TCP_BAD);
            (6, 0x0000 &&& 0xFFE0, 2) : tcp_class(6, 1, TCP_BAD);
            (6, 0x0000 &&& 0xFFE0, 3) : tcp_class(6, 2, TCP_BAD);
            (6, 0x0020 &&& 0xFFF8, 0) : tcp_class(6, 0, TCP_BAD);
            (6, 0x0020 &&& 0xFFF8, 1) : tcp_class(6, 1, TCP_BAD);
            (6, 0x0020 &&& 0xFFF8, 2) : tcp_class(6, 1, TCP_BAD);
            (6, 0x0020 &&& 0xFFF8, 3) : tcp_class(6, 2, TCP_BAD);
            (6, 0x0028 &&& 0xFFFC, 0) : tcp_class(6, 0, TCP_BAD);
            (6, 0x0028 &&& 0xFFFC, 1) : tcp_class(6, 1, TCP_BAD);
            (6, 0x0028 &&& 0xFFFC, 2) : tcp_class(6, 1, TCP_BAD);
            (6, 0x0028 &&& 0xFFFC, 3) : tcp_class(6, 2, TCP_BAD);
            (6, 0x002C &&& 0xFFFF, 0) : tcp_class(6, 0, TCP_EMPTY);
            (6, 0x002C &&& 0xFFFF, 1) : tcp_class(6, 1, TCP_EMPTY);
            (6, 0x002C &&& 0xFFFF, 2) : tcp_class(6, 1, TCP_EMPTY);
            (6, 0x002C &&& 0xFFFF, 3) : tcp_class(6, 2, TCP_EMPTY);
            (6, 0 &&& 0, 0) : tcp_class(6, 0, TCP_PAYLOAD);
            (6, 0 &&& 0, 1) : tcp_class(6, 1, TCP_PAYLOAD);
            (6, 0 &&& 0, 2) : tcp_class(6, 1, TCP_PAYLOAD);
            (6, 0 &&& 0, 3) : tcp_class(6, 2, TCP_PAYLOAD);
            (7, 0x0000 &&& 0xFFE0, 0) : tcp_class(7, 0, TCP_BAD);
            (7, 0x0000 &&& 0xFFE0, 1) : tcp_class(7, 1, TCP_BAD);
            (7, 0x0000 &&& 0xFFE0, 2) : tcp_class(7, 1, TCP_BAD);
            (7, 0x0000 &&& 0xFFE0, 3) : tcp_class(7, 2, TCP_BAD);
            (7, 0x0020 &&& 0xFFF0, 0) : tcp_class(7, 0, TCP_BAD);
            (7, 0x0020 &&& 0xFFF0, 1) : tcp_class(7, 1, TCP_BAD);
            (7, 0x0020 &&& 0xFFF0, 2) : tcp_class(7, 1, TCP_BAD);
            (7, 0x0020 &&& 0xFFF0, 3) : tcp_class(7, 2, TCP_BAD);
            (7, 0x0030 &&& 0xFFFF, 0) : tcp_class(7, 0, TCP_EMPTY);
            (7, 0x0030 &&& 0xFFFF, 1) : tcp_class(7, 1, TCP_EMPTY);
            (7, 0x0030 &&& 0xFFFF, 2) : tcp_class(7, 1, TCP_EMPTY);
            (7, 0x0030 &&& 0xFFFF, 3) : tcp_class(7, 2, TCP_EMPTY);
            (7, 0 &&& 0, 0) : tcp_class(7, 0, TCP_PAYLOAD);
            (7, 0 &&& 0, 1) : tcp_class(7, 1, TCP_PAYLOAD);
            (7, 0 &&& 0, 2) : tcp_class(7, 1, TCP_PAYLOAD);
            (7, 0 &&& 0, 3) : tcp_class(7, 2, TCP_PAYLOAD);
            (8, 0x0000 &&& 0xFFE0, 0) : tcp_class(8, 0, TCP_BAD);
            (8, 0x0000 &&& 0xFFE0, 1) : tcp_class(8, 1, TCP_BAD);
            (8, 0x0000 &&& 0xFFE0, 2) : tcp_class(8, 1, TCP_BAD);
            (8, 0x0000 &&& 0xFFE0, 3) : tcp_class(8, 2, TCP_BAD);
            (8, 0x0020 &&& 0xFFF0, 0) : tcp_class(8, 0, TCP_BAD);
            (8, 0x0020 &&& 0xFFF0, 1) : tcp_class(8, 1, TCP_BAD);
            (8, 0x0020 &&& 0xFFF0, 2) : tcp_class(8, 1, TCP_BAD);
            (8, 0x0020 &&& 0xFFF0, 3) : tcp_class(8, 2, TCP_BAD);
            (8, 0x0030 &&& 0xFFFC, 0) : tcp_class(8, 0, TCP_BAD);
            (8, 0x0030 &&& 0xFFFC, 1) : tcp_class(8, 1, TCP_BAD);
            (8, 0x0030 &&& 0xFFFC, 2) : tcp_class(8, 1, TCP_BAD);
            (8, 0x0030 &&& 0xFFFC, 3) : tcp_class(8, 2, TCP_BAD);
            (8, 0x0034 &&& 0xFFFF, 0) : tcp_class(8, 0, TCP_EMPTY);
            (8, 0x0034 &&& 0xFFFF, 1) : tcp_class(8, 1, TCP_EMPTY);
            (8, 0x0034 &&& 0xFFFF, 2) : tcp_class(8, 1, TCP_EMPTY);
            (8, 0x0034 &&& 0xFFFF, 3) : tcp_class(8, 2, TCP_EMPTY);
            (8, 0 &&& 0, 0) : tcp_class(8, 0, TCP_PAYLOAD);
            (8, 0 &&& 0, 1) : tcp_class(8, 1, TCP_PAYLOAD);
            (8, 0 &&& 0, 2) : tcp_class(8, 1, TCP_PAYLOAD);
            (8, 0 &&& 0, 3) : tcp_class(8, 2, TCP_PAYLOAD);
            (9, 0x0000 &&& 0xFFE0, 0) : tcp_class(9, 0, TCP_BAD);
            (9, 0x0000 &&& 0xFFE0, 1) : tcp_class(9, 1, TCP_BAD);
            (9, 0x0000 &&& 0xFFE0, 2) : tcp_class(9, 1, TCP_BAD);
            (9, 0x0000 &&& 0xFFE0, 3) : tcp_class(9, 2, TCP_BAD);
            (9, 0x0020 &&& 0xFFF0, 0) : tcp_class(9, 0, TCP_BAD);
            (9, 0x0020 &&& 0xFFF0, 1) : tcp_class(9, 1, TCP_BAD);
            (9, 0x0020 &&& 0xFFF0, 2) : tcp_class(9, 1, TCP_BAD);
            (9, 0x0020 &&& 0xFFF0, 3) : tcp_class(9, 2, TCP_BAD);
            (9, 0x0030 &&& 0xFFF8, 0) : tcp_class(9, 0, TCP_BAD);
            (9, 0x0030 &&& 0xFFF8, 1) : tcp_class(9, 1, TCP_BAD);
            (9, 0x0030 &&& 0xFFF8, 2) : tcp_class(9, 1, TCP_BAD);
            (9, 0x0030 &&& 0xFFF8, 3) : tcp_class(9, 2, TCP_BAD);
            (9, 0x0038 &&& 0xFFFF, 0) : tcp_class(9, 0, TCP_EMPTY);
            (9, 0x0038 &&& 0xFFFF, 1) : tcp_class(9, 1, TCP_EMPTY);
            (9, 0x0038 &&& 0xFFFF, 2) : tcp_class(9, 1, TCP_EMPTY);
            (9, 0x0038 &&& 0xFFFF, 3) : tcp_class(9, 2, TCP_EMPTY);
            (9, 0 &&& 0, 0) : tcp_class(9, 0, TCP_PAYLOAD);
            (9, 0 &&& 0, 1) : tcp_class(9, 1, TCP_PAYLOAD);
            (9, 0 &&& 0, 2) : tcp_class(9, 1, TCP_PAYLOAD);
            (9, 0 &&& 0, 3) : tcp_class(9, 2, TCP_PAYLOAD);
            (10, 0x0000 &&& 0xFFE0, 0) : tcp_class(10, 0, TCP_BAD);
            (10, 0x0000 &&& 0xFFE0, 1) : tcp_class(10, 1, TCP_BAD);
            (10, 0x0000 &&& 0xFFE0, 2) : tcp_class(10, 1, TCP_BAD);
            (10, 0x0000 &&& 0xFFE0, 3) : tcp_class(10, 2, TCP_BAD);
            (10, 0x0020 &&& 0xFFF0, 0) : tcp_class(10, 0, TCP_BAD);
            (10, 0x0020 &&& 0xFFF0, 1) : tcp_class(10, 1, TCP_BAD);
            (10, 0x0020 &&& 0xFFF0, 2) : tcp_class(10, 1, TCP_BAD);
            (10, 0x0020 &&& 0xFFF0, 3) : tcp_class(10, 2, TCP_BAD);
            (10, 0x0030 &&& 0xFFF8, 0) : tcp_class(10, 0, TCP_BAD);
            (10, 0x0030 &&& 0xFFF8, 1) : tcp_class(10, 1, TCP_BAD);
            (10, 0x0030 &&& 0xFFF8, 2) : tcp_class(10, 1, TCP_BAD);
            (10, 0x0030 &&& 0xFFF8, 3) : tcp_class(10, 2, TCP_BAD);
            (10, 0x0038 &&& 0xFFFC, 0) : tcp_class(10, 0, TCP_BAD);
            (10, 0x0038 &&& 0xFFFC, 1) : tcp_class(10, 1, TCP_BAD);
            (10, 0x0038 &&& 0xFFFC, 2) : tcp_class(10, 1, TCP_BAD);
            (10, 0x0038 &&& 0xFFFC, 3) : tcp_class(10, 2, TCP_BAD);
            (10, 0x003C &&& 0xFFFF, 0) : tcp_class(10, 0, TCP_EMPTY);
            (10, 0x003C &&& 0xFFFF, 1) : tcp_class(10, 1, TCP_EMPTY);
            (10, 0x003C &&& 0xFFFF, 2) : tcp_class(10, 1, TCP_EMPTY);
            (10, 0x003C &&& 0xFFFF, 3) : tcp_class(10, 2, TCP_EMPTY);
            (10, 0 &&& 0, 0) : tcp_class(10, 0, TCP_PAYLOAD);
            (10, 0 &&& 0, 1) : tcp_class(10, 1, TCP_PAYLOAD);
            (10, 0 &&& 0, 2) : tcp_class(10, 1, TCP_PAYLOAD);
            (10, 0 &&& 0, 3) : tcp_class(10, 2, TCP_PAYLOAD);
            (11, 0x0000 &&& 0xFFC0, 0) : tcp_class(11, 0, TCP_BAD);
            (11, 0x0000 &&& 0xFFC0, 1) : tcp_class(11, 1, TCP_BAD);
            (11, 0x0000 &&& 0xFFC0, 2) : tcp_class(11, 1, TCP_BAD);
            (11, 0x0000 &&& 0xFFC0, 3) : tcp_class(11, 2, TCP_BAD);
            (11, 0x0040 &&& 0xFFFF, 0) : tcp_class(11, 0, TCP_EMPTY);
            (11, 0x0040 &&& 0xFFFF, 1) : tcp_class(11, 1, TCP_EMPTY);
            (11, 0x0040 &&& 0xFFFF, 2) : tcp_class(11, 1, TCP_EMPTY);
            (11, 0x0040 &&& 0xFFFF, 3) : tcp_class(11, 2, TCP_EMPTY);
            (11, 0 &&& 0, 0) : tcp_class(11, 0, TCP_PAYLOAD);
            (11, 0 &&& 0, 1) : tcp_class(11, 1, TCP_PAYLOAD);
            (11, 0 &&& 0, 2) : tcp_class(11, 1, TCP_PAYLOAD);
            (11, 0 &&& 0, 3) : tcp_class(11, 2, TCP_PAYLOAD);
            (12, 0x0000 &&& 0xFFC0, 0) : tcp_class(12, 0, TCP_BAD);
            (12, 0x0000 &&& 0xFFC0, 1) : tcp_class(12, 1, TCP_BAD);
            (12, 0x0000 &&& 0xFFC0, 2) : tcp_class(12, 1, TCP_BAD);
            (12, 0x0000 &&& 0xFFC0, 3) : tcp_class(12, 2, TCP_BAD);
            (12, 0x0040 &&& 0xFFFC, 0) : tcp_class(12, 0, TCP_BAD);
            (12, 0x0040 &&& 0xFFFC, 1) : tcp_class(12, 1, TCP_BAD);
            (12, 0x0040 &&& 0xFFFC, 2) : tcp_class(12, 1, TCP_BAD);
            (12, 0x0040 &&& 0xFFFC, 3) : tcp_class(12, 2, TCP_BAD);
            (12, 0x0044 &&& 0xFFFF, 0) : tcp_class(12, 0, TCP_EMPTY);
            (12, 0x0044 &&& 0xFFFF, 1) : tcp_class(12, 1, TCP_EMPTY);
            (12, 0x0044 &&& 0xFFFF, 2) : tcp_class(12, 1, TCP_EMPTY);
            (12, 0x0044 &&& 0xFFFF, 3) : tcp_class(12, 2, TCP_EMPTY);
            (12, 0 &&& 0, 0) : tcp_class(12, 0, TCP_PAYLOAD);
            (12, 0 &&& 0, 1) : tcp_class(12, 1, TCP_PAYLOAD);
            (12, 0 &&& 0, 2) : tcp_class(12, 1, TCP_PAYLOAD);
            (12, 0 &&& 0, 3) : tcp_class(12, 2, TCP_PAYLOAD);
            (13, 0x0000 &&& 0xFFC0, 0) : tcp_class(13, 0, TCP_BAD);
            (13, 0x0000 &&& 0xFFC0, 1) : tcp_class(13, 1, TCP_BAD);
            (13, 0x0000 &&& 0xFFC0, 2) : tcp_class(13, 1, TCP_BAD);
            (13, 0x0000 &&& 0xFFC0, 3) : tcp_class(13, 2, TCP_BAD);
            (13, 0x0040 &&& 0xFFF8, 0) : tcp_class(13, 0, TCP_BAD);
            (13, 0x0040 &&& 0xFFF8, 1) : tcp_class(13, 1, TCP_BAD);
            (13, 0x0040 &&& 0xFFF8, 2) : tcp_class(13, 1, TCP_BAD);
            (13, 0x0040 &&& 0xFFF8, 3) : tcp_class(13, 2, TCP_BAD);
            (13, 0x0048 &&& 0xFFFF, 0) : tcp_class(13, 0, TCP_EMPTY);
            (13, 0x0048 &&& 0xFFFF, 1) : tcp_class(13, 1, TCP_EMPTY);
            (13, 0x0048 &&& 0xFFFF, 2) : tcp_class(13, 1, TCP_EMPTY);
            (13, 0x0048 &&& 0xFFFF, 3) : tcp_class(13, 2, TCP_EMPTY);
            (13, 0 &&& 0, 0) : tcp_class(13, 0, TCP_PAYLOAD);
            (13, 0 &&& 0, 1) : tcp_class(13, 1, TCP_PAYLOAD);
            (13, 0 &&& 0, 2) : tcp_class(13, 1, TCP_PAYLOAD);
            (13, 0 &&& 0, 3) : tcp_class(13, 2, TCP_PAYLOAD);
            (14, 0x0000 &&& 0xFFC0, 0) : tcp_class(14, 0, TCP_BAD);
            (14, 0x0000 &&& 0xFFC0, 1) : tcp_class(14, 1, TCP_BAD);
            (14, 0x0000 &&& 0xFFC0, 2) : tcp_class(14, 1, TCP_BAD);
            (14, 0x0000 &&& 0xFFC0, 3) : tcp_class(14, 2, TCP_BAD);
            (14, 0x0040 &&& 0xFFF8, 0) : tcp_class(14, 0, TCP_BAD);
            (14, 0x0040 &&& 0xFFF8, 1) : tcp_class(14, 1, TCP_BAD);
            (14, 0x0040 &&& 0xFFF8, 2) : tcp_class(14, 1, TCP_BAD);
            (14, 0x0040 &&& 0xFFF8, 3) : tcp_class(14, 2, TCP_BAD);
            (14, 0x0048 &&& 0xFFFC, 0) : tcp_class(14, 0, TCP_BAD);
            (14, 0x0048 &&& 0xFFFC, 1) : tcp_class(14, 1, TCP_BAD);
            (14, 0x0048 &&& 0xFFFC, 2) : tcp_class(14, 1, TCP_BAD);
            (14, 0x0048 &&& 0xFFFC, 3) : tcp_class(14, 2, TCP_BAD);
            (14, 0x004C &&& 0xFFFF, 0) : tcp_class(14, 0, TCP_EMPTY);
            (14, 0x004C &&& 0xFFFF, 1) : tcp_class(14, 1, TCP_EMPTY);
            (14, 0x004C &&& 0xFFFF, 2) : tcp_class(14, 1, TCP_EMPTY);
            (14, 0x004C &&& 0xFFFF, 3) : tcp_class(14, 2, TCP_EMPTY);
            (14, 0 &&& 0, 0) : tcp_class(14, 0, TCP_PAYLOAD);
            (14, 0 &&& 0, 1) : tcp_class(14, 1, TCP_PAYLOAD);
            (14, 0 &&& 0, 2) : tcp_class(14, 1, TCP_PAYLOAD);
            (14, 0 &&& 0, 3) : tcp_class(14, 2, TCP_PAYLOAD);
            (15, 0x0000 &&& 0xFFC0, 0) : tcp_class(15, 0, TCP_BAD);
            (15, 0x0000 &&& 0xFFC0, 1) : tcp_class(15, 1, TCP_BAD);
            (15, 0x0000 &&& 0xFFC0, 2) : tcp_class(15, 1, TCP_BAD);
            (15, 0x0000 &&& 0xFFC0, 3) : tcp_class(15, 2, TCP_BAD);
            (15, 0x0040 &&& 0xFFF0, 0) : tcp_class(15, 0, TCP_BAD);
            (15, 0x0040 &&& 0xFFF0, 1) : tcp_class(15, 1, TCP_BAD);
            (15, 0x0040 &&& 0xFFF0, 2) : tcp_class(15, 1, TCP_BAD);
            (15, 0x0040 &&& 0xFFF0, 3) : tcp_class(15, 2, TCP_BAD);
            (15, 0x0050 &&& 0xFFFF, 0) : tcp_class(15, 0, TCP_EMPTY);
            (15, 0x0050 &&& 0xFFFF, 1) : tcp_class(15, 1, TCP_EMPTY);
            (15, 0x0050 &&& 0xFFFF, 2) : tcp_class(15, 1, TCP_EMPTY);
            (15, 0x0050 &&& 0xFFFF, 3) : tcp_class(15, 2, TCP_EMPTY);
            (15, 0 &&& 0, 0) : tcp_class(15, 0, TCP_PAYLOAD);
            (15, 0 &&& 0, 1) : tcp_class(15, 1, TCP_PAYLOAD);
            (15, 0 &&& 0, 2) : tcp_class(15, 1, TCP_PAYLOAD);
            (15, 0 &&& 0, 3) : tcp_class(15, 2, TCP_PAYLOAD);
        }
#undef tcp_class
        const default_action = set_hl(0, 0, TCP_BAD);
        size = 256;
    }
    // Length range tests as constant ternary tables (a gateway compares at most 12 bits for
    // order, and a slice or mask test in a gateway splits the field in PHV).
    bit<2> ip_short = 0;
    action len_class(bit<2> c) { ip_short = c; }
    table ip_len {             // total_len < 20: LEN_LT20; < 28: LEN_LT28
        key = { hdr.ipv4.total_len : ternary @name("total_len"); }
        actions = { len_class; }
        const entries = {
            0x0000 &&& 0xFFF0 : len_class(LEN_LT20);
            0x0010 &&& 0xFFFC : len_class(LEN_LT20);
            0x0014 &&& 0xFFFC : len_class(LEN_LT28);
            0x0018 &&& 0xFFFC : len_class(LEN_LT28);
        }
        const default_action = len_class(LEN_OK);
        size = 4;
    }
    // Which option headers the parser extracted, for the bridge (constant; 12 combinations).
    action set_layout(bit<8> code) { ig_md.bridge.layout = code; }
    table opt_parsed {
        key = {
            hdr.tcp_ts.isValid() : exact @name("ts");
            hdr.tcp_sack.isValid() : exact @name("sack");
            hdr.sack_blocks[0].isValid() : exact @name("block0");
            hdr.sack_blocks[1].isValid() : exact @name("block1");
            hdr.sack_blocks[2].isValid() : exact @name("block2");
            hdr.sack_blocks[3].isValid() : exact @name("block3");
            hdr.tcp_synopt.isValid() : exact @name("synopt");
            hdr.tcp_ws.isValid() : exact @name("ws");
            hdr.tcp_tag.isValid() : exact @name("tag");
        }
        actions = { set_layout; }
        const entries = {
            (true, false, false, false, false, false, false, false, false) : set_layout(OPT_L_TS);
            (true, true, true, false, false, false, false, false, false) : set_layout(OPT_L_TS | 2);
            (true, true, true, true, false, false, false, false, false) : set_layout(OPT_L_TS | 4);
            (true, true, true, true, true, false, false, false, false) : set_layout(OPT_L_TS | 6);
            (false, true, true, false, false, false, false, false, false) : set_layout(2);
            (false, true, true, true, false, false, false, false, false) : set_layout(4);
            (false, true, true, true, true, false, false, false, false) : set_layout(6);
            (false, true, true, true, true, true, false, false, false) : set_layout(8);
            (false, false, false, false, false, false, true, false, false) : set_layout(OPT_L_SYN);
            (false, false, false, false, false, false, true, true, false) :
                set_layout(OPT_L_SYN | OPT_L_WS);
            (false, false, false, false, false, false, true, true, true) :
                set_layout(OPT_L_SYN | OPT_L_WS | OPT_L_TAG);
        }
        const default_action = set_layout(0);
        size = 16;
    }
    Classify() classify;
    SlotState() slots;
#ifdef FOLD
    @name("slots") SlotStateTail() slots_tail;  // the second pass's steps (same P4Info names)
#endif
    Decide() decide;
    Forwarding() forwarding;

    apply {
#ifdef FOLD
        // The first pass, pipe_a's ingress: everything before SlotState's step 4 (the
        // second pass has the results in the fields its parser wrote).
        if (!fold_b) {
#endif
        ig_md.dysco.pi.ingress_port = (bit<16>) ig_intr_md.ingress_port;
        // TCP lengths, each one addition after tcp_len (a Tofino action does one operation
        // per field): payload = total_len - headers, sequence length = total_len + SYN +
        // FIN - headers. In 16 bits, widened by a move at the end: the 32-bit sequence
        // arithmetic's PHV cluster does not take in the length terms (payload + SYN + FIN
        // < 65,536 here).
        bit<16> sl16 = 0;
        pl16_m = 0;
        if (hdr.tcp.isValid()) {
            tcp_len.apply();
        }
        ip_len.apply();
        if (hdr.tcp.isValid()) {
            pl16_m = hdr.ipv4.total_len + neg_hl16;
            sl16 = hdr.ipv4.total_len + seg16;
        }
        if (hdr.tcp.isValid()) {
            ig_md.dysco.payload_len = pl16_m;
        }
        if (hdr.tcp.isValid()) {
            // (through the hash unit: a widening move would slice the 32-bit fields at bit
            // 16 and tie their low halves to the IPv4 header's total_len)
            @in_hash { ig_md.dysco.seq_len = (bit<32>) sl16; }
        }
        // The lookups do not depend on the validation below, so they run beside it; a
        // malformed frame's lookup result is never used.
        if (ig_prsr_md.parser_err == 0 && !hdr.packet_out.isValid() && hdr.ipv4.isValid()) {
            ports.apply(hdr, ig_md.dysco, ig_intr_md.ingress_port);
            if (ig_md.dysco.is_local == 0 && hdr.tcp.isValid()) {
                session.apply(hdr, ig_md.dysco);
            }
            if (hdr.tcp.isValid()) {
                options.apply(hdr, ig_md.dysco);
                opt_parsed.apply();
            }
        } else if (ig_prsr_md.parser_err == 0 && hdr.packet_out.isValid()) {
            // (in the lookups' if/else: the session actions and a probe both write the
            // slot and the epoch, and only exclusive branches let bf-p4c place them in
            // the same stage, before SlotState's first step)
            packet_io.apply(hdr, ig_md.dysco);
        }
        if (ig_prsr_md.parser_err != 0) {
            ig_md.dysco.drop = 1;
        } else if (ig_md.dysco.from_cpu == 0) {
            // Validation (docs/pipeline.md 3.3); the frame-length check is in egress.
            if (!hdr.ipv4.isValid() || hdr.ipv4.version != 4 || hdr.ipv4.ihl != 5 ||
                ip_short == LEN_LT20 || ig_md.ipv4_csum_err == 1) {
                ig_md.dysco.malformed = 1;
            } else if (hdr.tcp.isValid()) {
                // data_offset < 5, or total_len < 20 + header (tcp_len)
                if (tcp_cls == TCP_BAD) {
                    ig_md.dysco.malformed = 1;
                }
            } else if (hdr.udp.isValid() && ip_short != LEN_OK) {
                ig_md.dysco.malformed = 1;
            }
            if (ig_md.dysco.malformed == 1) {
                ig_md.dysco.drop = 1;
            } else {
                classify.apply(hdr, ig_md.dysco);
            }
        }

#ifndef FOLD
        OPTION_DELTA_FLAGS
#endif
        // What Classify's slot_op decides, without waiting for it (SlotState's first step):
        // a TCP packet neither dropped nor punted before the lookup's result matters, and
        // probes. "Not dropped" from the validation's inputs, not from its result (which is
        // three dependent steps later): a parsed TCP header implies IPv4 version 4 without
        // options, and total_len < 20 implies TCP_BAD.
        bit<1> eligible;
        bit<1> probe_ok;
        if (ig_prsr_md.parser_err == 0 && ig_md.dysco.from_cpu == 0 && hdr.tcp.isValid() &&
            ig_md.ipv4_csum_err == 0 && tcp_cls != TCP_BAD &&
            hdr.tcp.flags & (TCP_SYN | TCP_ACK) != TCP_SYN &&
            (hdr.tcp.flags & TCP_SYN == 0 || tcp_cls == TCP_EMPTY)) {
            eligible = 1;
        } else {
            eligible = 0;
        }
        if (ig_prsr_md.parser_err == 0 && ig_md.dysco.from_cpu == 1 &&
            hdr.packet_out.op == OP_PROBE) {
            probe_ok = 1;
        } else {
            probe_ok = 0;
        }
#ifdef FOLD
        slots.apply(hdr, ig_md.dysco, ig_md.rv, ig_md.diff, eligible, probe_ok, tcp_cls);
        // Every frame leaves pipe_a's ingress for pipe_b by PASS2_PORT with the recirc header
        // (its fields are the first pass's results: @pa_alias); nothing of the outcome
        // happens here, not even a drop (pipe_b drops what the first pass marked).
        ig_tm_md.ucast_egress_port = PASS2_PORT;
        ig_md.rc.setValid();
        ig_md.rc.magic = RECIRC_MAGIC;
        ig_md.rc.pad = 0;
        ig_md.rc.layout = ig_md.bridge.layout;
        ig_md.rc.tcp_cls = tcp_cls;
        } else {
        // The second pass, pipe_b's ingress (fold_b is a constructor parameter: each pipe's
        // ingress keeps one branch). A copy to the CPU from the second pass carries the frame
        // as that pass received it, recirc header first: a mirror type and header of its own
        // (p2_mirror_h).
        // A frame that did not come from pipe_a (no recirc header) is dropped: pipe_b's
        // own ports carry no traffic.
        if (ig_md.pass2 == 0) {
            ig_md.dysco.drop = 1;
        }
        ig_md.rc.setInvalid();          // (parsed: not emitted again)
        ig_md.mirror_kind = MIRROR_PUNT_P2;
        ig_md.mtype = P2_MIRROR_TYPE;
        ig_md.bridge.layout = ig_md.rc.layout;
        slots_tail.apply(hdr, ig_md.dysco, ig_md.rv, ig_md.diff, 0, 0, ig_md.rc.tcp_cls);
        }
        if (fold_b) {
        OPTION_DELTA_FLAGS
#define ORIG_INGRESS_PORT ig_md.dysco.pi.ingress_port
#else
        slots.apply(hdr, ig_md.dysco, ig_md.rv, ig_md.diff, eligible, probe_ok, tcp_cls);
#define ORIG_INGRESS_PORT ig_intr_md.ingress_port
#endif
        // ipv4_fwd key: an IN-rewritten packet goes to the local host it arrived for (its
        // original destination), everything else by its (rewritten) destination. Chosen
        // here from the path, beside Decide: a mapped OUT packet that Decide does not
        // rewrite is punted or dropped, never routed, so its key is not used.
        // (The rewrite itself is egress work: DyscoEgress.)
        if (ig_md.dysco.slot_op == SLOT_OP_OUT && ig_md.dysco.path == PATH_NEW) {
            ig_md.dysco.fwd_dst = ig_md.dysco.new_rw.dst_addr;
        } else if (ig_md.dysco.slot_op == SLOT_OP_OUT) {
            ig_md.dysco.fwd_dst = ig_md.dysco.RW_OLD.dst_addr;
        } else {
            ig_md.dysco.fwd_dst = hdr.ipv4.dst_addr;
        }
        decide.apply(hdr, ig_md.dysco, o_ack, o_tsval, o_tsecr, n_ack, n_tsval, n_tsecr,
                     ig_md.diff.own_fired, ig_md.diff.peer_fired, ig_md.diff.hold);

        // Every copy to the CPU (punts and mirrors alike) is an ingress mirror: Tofino's
        // ingress mirror copies the packet as it arrived (the contract's packet-in payload)
        // and prepends the packet-in fields as the mirror header, taken straight from
        // meta.pi (no second copy of them in PHV). A punt also drops the original
        // (drop_ctl bit 0 does not stop the mirror).
        // reg_valid's byte from the six bits through the hash unit (as ALU operations
        // they would be six dependent ORs).
        @in_hash { ig_md.dysco.pi.reg_valid = ig_md.rv.pad ++ ig_md.rv.old_ack_hi ++
                       ig_md.rv.cut ++ ig_md.rv.new_rcvd_lo ++ ig_md.rv.rcvd_ack_hi ++
                       ig_md.rv.ack_hi ++ ig_md.rv.sent_hi; }
        if (ig_md.dysco.mirror == 1 || (ig_md.dysco.punt == 1 && ig_md.dysco.drop == 0)) {
#ifdef FOLD
            ig_dprsr_md.mirror_type = ig_md.mtype;
            ig_md.mirror_session = CPU_CLONE_SESSION;
#else
            ig_dprsr_md.mirror_type = PUNT_MIRROR_TYPE;
            ig_md.mirror_session = CPU_CLONE_SESSION;
            ig_md.mirror_kind = MIRROR_PUNT;
#endif
        }
        // Hairpin (docs/pipeline.md 4.3): an OUT-rewritten packet or a ROUTE packet-out whose
        // route is route_host leaves by RECIRC_PORT and comes back in by it (a network port)
        // for the IN pass; the IN pass never hairpins again.
        bit<1> may_hairpin = 0;
        if (ORIG_INGRESS_PORT != RECIRC_PORT &&
            (ig_md.dysco.from_cpu == 1 ||
             (ig_md.dysco.do_rewrite == 1 && ig_md.dysco.direction == DIR_OUT))) {
            may_hairpin = 1;
        }
        // The outcome, each part under its own condition (no nesting: nested conditions
        // chained the bridge's fields over three stages on Tofino 2). Dropped or punted:
        // drop_ctl; else routed (the lookup writes the egress port, drop_ctl on a miss, the
        // checksum flag) or sent to the port a packet-out named.
        if (ig_md.dysco.drop == 1 || ig_md.dysco.punt == 1) {
            ig_dprsr_md.drop_ctl = 1;
        } else if (ig_md.dysco.want_route == 1) {
            forwarding.apply(hdr, ig_md.dysco, ig_md.bridge.csum_ipv4, ig_dprsr_md, ig_tm_md,
                             may_hairpin);
        } else {
            ig_tm_md.ucast_egress_port = ig_md.dysco.egress_port;
            ig_md.bridge.csum_ipv4 = 0;
        }
        if (ig_md.dysco.drop == 0 && ig_md.dysco.punt == 0) {
            ig_md.bridge.setValid();
            ig_md.bridge.type = BRIDGE_NONE;
            ig_md.bridge.do_rewrite = ig_md.dysco.do_rewrite;
            ig_md.bridge.csum_tcp = ig_md.dysco.csum_tcp;
            ig_md.bridge.pad = 0;
            ig_md.bridge.win_shift = ig_md.dysco.rw.win_shift;
            ig_md.bridge.src_addr = ig_md.dysco.rw.src_addr;
            ig_md.bridge.dst_addr = ig_md.dysco.rw.dst_addr;
            ig_md.bridge.src_port = ig_md.dysco.rw.src_port;
            ig_md.bridge.dst_port = ig_md.dysco.rw.dst_port;
            ig_md.bridge.seq_delta = ig_md.dysco.rw.seq_delta;
            ig_md.bridge.ack_delta = ig_md.dysco.rw.ack_delta;
            ig_md.bridge.tsval_delta = ig_md.dysco.rw.tsval_delta;
            ig_md.bridge.tsecr_delta = ig_md.dysco.rw.tsecr_delta;
            ig_md.bridge.rcvd_ack = ig_md.dysco.rcvd_ack;
        }
        // (set whether or not the bridge is emitted: it is read only when it is)
        if (ig_md.dysco.stale == STALE_RAISE) {
            ig_md.bridge.stale_raise = 1;
        } else {
            ig_md.bridge.stale_raise = 0;
        }
#ifdef FOLD
        }
#endif
    }
}

control DyscoIngressDeparser(packet_out pkt, inout headers_t hdr, in ig_meta_t ig_md,
                             in ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md) {
    Mirror() mirror;    // the typed Mirror(type) form is rejected by bf-p4c ("Inconsistent mirror selectors")

    apply {
#ifdef FOLD
        // (pipe_a copies nothing; pipe_b's copies have the short header: Tofino 1's mirror
        // header holds at most 32 bytes, punt_h 43)
        if (ig_dprsr_md.mirror_type == P2_MIRROR_TYPE) {
            mirror.emit<p2_mirror_h>(ig_md.mirror_session, {
                ig_md.mirror_kind, ig_md.dysco.pi.reason, ig_md.dysco.pi.flags,
                ig_md.dysco.pi.reg_valid, ig_md.dysco.pi.old_ack_hi});
        }
#else
        if (ig_dprsr_md.mirror_type == PUNT_MIRROR_TYPE) {
            mirror.emit<punt_h>(ig_md.mirror_session, {
                ig_md.mirror_kind, ig_md.dysco.pi.ingress_port, ig_md.dysco.pi.reason,
                ig_md.dysco.pi.direction, ig_md.dysco.pi.flags, ig_md.dysco.pi.agent_id,
                ig_md.dysco.pi.slot, ig_md.dysco.pi.token, ig_md.dysco.pi.epoch,
                ig_md.dysco.pi.reg_valid, ig_md.dysco.pi.sent_hi, ig_md.dysco.pi.ack_hi,
                ig_md.dysco.pi.rcvd_ack_hi, ig_md.dysco.pi.new_rcvd_lo, ig_md.dysco.pi.cut,
                ig_md.dysco.pi.old_ack_hi});
        }
#endif
#ifdef FOLD
        pkt.emit(ig_md.rc);
#endif
        pkt.emit(ig_md.bridge);
        pkt.emit(hdr.ethernet);
        pkt.emit(hdr.ipv4);
        pkt.emit(hdr.tcp);
        pkt.emit(hdr.tcp_ts);
        pkt.emit(hdr.tcp_sack);
        pkt.emit(hdr.sack_blocks);
        pkt.emit(hdr.tcp_synopt);
        pkt.emit(hdr.tcp_ws);
        pkt.emit(hdr.tcp_tag);
        pkt.emit(hdr.udp);
    }
}

// ---------------------------------------------------------------------------------------
// Egress: the header rewrite of a forwarded packet (addresses, ports, seq/ack/TS/SACK
// deltas, window rescale) with the parameters ingress chose and bridged, and both
// checksums; on the CPU port the packet-in header; drop frames shorter than their IPv4
// total length (ingress has no packet length on Tofino).
// ---------------------------------------------------------------------------------------

parser DyscoEgressParser(packet_in pkt, out headers_t hdr, out eg_meta_t eg_md,
                         out egress_intrinsic_metadata_t eg_intr_md) {
    Checksum() tcp_csum;

    state start {
        pkt.extract(eg_intr_md);
        transition select(pkt.lookahead<bit<8>>()) {
            BRIDGE_NONE: parse_bridge;
#ifdef FOLD
            RECIRC_MAGIC: accept;       // to the second pass: recirc header and frame as they are
            MIRROR_PUNT_P2: parse_punt_p2;
#endif
            default: parse_punt;        // MIRROR_PUNT: a copy for the CPU
        }
    }

#ifdef FOLD
    // A copy from the second pass: the mirror header, the recirc header (dropped), then the
    // frame as the first pass received it (a probe's packet_out header already removed).
    state parse_punt_p2 {
        pkt.extract(eg_md.p2m);
        pkt.extract(eg_md.rcpi);
        pkt.advance(RECIRC_TAIL_BITS);
        hdr.packet_in.setValid();
        hdr.packet_in.ingress_port = eg_md.rcpi.ingress_port;
        hdr.packet_in.reason = eg_md.p2m.reason;
        hdr.packet_in.direction = eg_md.rcpi.direction;
        hdr.packet_in.flags = eg_md.p2m.flags;
        hdr.packet_in.agent_id = eg_md.rcpi.agent_id;
        hdr.packet_in.slot = eg_md.rcpi.slot;
        hdr.packet_in.token = eg_md.rcpi.token;
        hdr.packet_in.epoch = eg_md.rcpi.epoch;
        hdr.packet_in.reg_valid = eg_md.p2m.reg_valid;
        hdr.packet_in.sent_hi = eg_md.rcpi.sent_hi;
        hdr.packet_in.ack_hi = eg_md.rcpi.ack_hi;
        hdr.packet_in.rcvd_ack_hi = eg_md.rcpi.rcvd_ack_hi;
        hdr.packet_in.new_rcvd_lo = eg_md.rcpi.new_rcvd_lo;
        hdr.packet_in.cut = eg_md.rcpi.cut;
        hdr.packet_in.old_ack_hi = eg_md.p2m.old_ack_hi;
        transition accept;
    }
#endif

    state parse_bridge {
        pkt.extract(eg_md.bridge);
        eg_md.dysco.rw.src_addr = eg_md.bridge.src_addr;
        eg_md.dysco.rw.dst_addr = eg_md.bridge.dst_addr;
        eg_md.dysco.rw.src_port = eg_md.bridge.src_port;
        eg_md.dysco.rw.dst_port = eg_md.bridge.dst_port;
        eg_md.dysco.rw.seq_delta = eg_md.bridge.seq_delta;
        eg_md.dysco.rw.ack_delta = eg_md.bridge.ack_delta;
        eg_md.dysco.rw.tsval_delta = eg_md.bridge.tsval_delta;
        eg_md.dysco.rw.tsecr_delta = eg_md.bridge.tsecr_delta;
        eg_md.dysco.rw.win_shift = eg_md.bridge.win_shift;
        eg_md.dysco.rcvd_ack = eg_md.bridge.rcvd_ack;
        transition select(eg_md.bridge.do_rewrite, pkt.lookahead<bit<112>>()[15:0]) {
            (1, ETHERTYPE_IPV4): parse_rw_ethernet;
            (0, ETHERTYPE_IPV4): parse_ethernet_ipv4;
            default: accept;
        }
    }

    // Routed without a rewrite: only the IPv4 header changes (TTL, checksum).
    state parse_ethernet_ipv4 {
        pkt.extract(hdr.ethernet);
        pkt.extract(hdr.ipv4);
        transition accept;
    }

    // A rewrite (ingress validated the frame as TCP over IPv4 without options, with the
    // same parse graph): parse TCP and its option layouts again, and take every field the
    // rewrite may change, and the old checksum, out of the TCP checksum residual.
    state parse_rw_ethernet {
        pkt.extract(hdr.ethernet);
        pkt.extract(hdr.ipv4);
        tcp_csum.subtract({hdr.ipv4.src_addr, hdr.ipv4.dst_addr});
        transition parse_rw_tcp;
    }

    state parse_rw_tcp {
        pkt.extract(hdr.tcp);
        tcp_csum.subtract({hdr.tcp.checksum, hdr.tcp.src_port, hdr.tcp.dst_port,
                           hdr.tcp.seq_no, hdr.tcp.ack_no, hdr.tcp.window});
        // Every option header extracted after this is subtracted too; the deparser adds
        // them back with their new values. Which ones: those ingress's parser extracted
        // from the same bytes (bridge.layout), so no lookahead here.
        tcp_csum.subtract_all_and_deposit(eg_md.tcp_residual);
        transition select(eg_md.bridge.layout) {
            OPT_L_TS: rw_ts;
            OPT_L_TS | 2: rw_ts_s1;
            OPT_L_TS | 4: rw_ts_s2;
            OPT_L_TS | 6: rw_ts_s3;
            2: rw_s1;
            4: rw_s2;
            6: rw_s3;
            8: rw_s4;
            OPT_L_SYN: rw_syn;
            OPT_L_SYN | OPT_L_WS: rw_syn_ws;
            OPT_L_SYN | OPT_L_WS | OPT_L_TAG: rw_syn_ws_tag;
            default: accept;
        }
    }

    state rw_ts { pkt.extract(hdr.tcp_ts); transition accept; }
    state rw_ts_s1 { pkt.extract(hdr.tcp_ts); transition rw_s1; }
    state rw_ts_s2 { pkt.extract(hdr.tcp_ts); transition rw_s2; }
    state rw_ts_s3 { pkt.extract(hdr.tcp_ts); transition rw_s3; }
    state rw_s1 {
        pkt.extract(hdr.tcp_sack);
        pkt.extract(hdr.sack_blocks.next);
        transition accept;
    }
    state rw_s2 {
        pkt.extract(hdr.tcp_sack);
        pkt.extract(hdr.sack_blocks.next);
        pkt.extract(hdr.sack_blocks.next);
        transition accept;
    }
    state rw_s3 {
        pkt.extract(hdr.tcp_sack);
        pkt.extract(hdr.sack_blocks.next);
        pkt.extract(hdr.sack_blocks.next);
        pkt.extract(hdr.sack_blocks.next);
        transition accept;
    }
    state rw_s4 {
        pkt.extract(hdr.tcp_sack);
        pkt.extract(hdr.sack_blocks.next);
        pkt.extract(hdr.sack_blocks.next);
        pkt.extract(hdr.sack_blocks.next);
        pkt.extract(hdr.sack_blocks.next);
        transition accept;
    }
    state rw_syn { pkt.extract(hdr.tcp_synopt); transition accept; }
    state rw_syn_ws {
        pkt.extract(hdr.tcp_synopt);
        pkt.extract(hdr.tcp_ws);
        transition accept;
    }
    state rw_syn_ws_tag {
        pkt.extract(hdr.tcp_synopt);
        pkt.extract(hdr.tcp_ws);
        pkt.extract(hdr.tcp_tag);
        transition accept;
    }

    // The mirror header, then the packet as it arrived. A probe reply's packet arrived as
    // a packet-out: its packet_out header is not part of the packet-in (as on bmv2).
    state parse_punt {
        pkt.advance(8);                 // the type byte; the rest is the packet-in header
        pkt.extract(hdr.packet_in);
        transition select(hdr.packet_in.reason) {
            REASON_PROBE_REPLY: skip_packet_out;
            default: accept;
        }
    }

    state skip_packet_out {
        pkt.advance(PACKET_OUT_BITS);
        transition accept;
    }
}

control DyscoEgress(inout headers_t hdr, inout eg_meta_t eg_md,
                    in egress_intrinsic_metadata_t eg_intr_md,
                    in egress_intrinsic_metadata_from_parser_t eg_prsr_md,
                    inout egress_intrinsic_metadata_for_deparser_t eg_dprsr_md,
                    inout egress_intrinsic_metadata_for_output_port_t eg_oport_md) {
    Rewrite() rewrite;
    SeqAdjust() seq_adjust;
    WindowScale() window;
    SerialSign() spare_sign;
    bit<2> spare_c;

    apply {
        // A frame shorter than its IPv4 datagram (truncated) is dropped here: Tofino
        // ingress has no packet length. pkt_length counts the frame as it left ingress
        // (unverified: if it includes the 36-byte bridge, a frame short by fewer bytes
        // than that passes; conservative, a valid frame is never dropped).
        // (pkt_length - (total_len + 14) in 32 bits: its sign bit, as a gateway cannot
        // compare two fields for order.)
        bit<32> frame_len = (bit<32>) eg_intr_md.pkt_length;
        bit<32> ip_end = (bit<32>) hdr.ipv4.total_len;
        ip_end = ip_end + 14;
        eg_md.spare = frame_len - ip_end;
        spare_sign.apply(eg_md.spare, spare_c);
        if (hdr.ipv4.isValid() && spare_c == SIGN_NEG) {
            eg_dprsr_md.drop_ctl = 1;
        }
        // A copy for the CPU carries the packet-in header as its mirror header (parsed
        // straight into hdr.packet_in); it goes out only on the CPU port.
        if (hdr.packet_in.isValid() && eg_intr_md.egress_port != CPU_PORT) {
            eg_dprsr_md.drop_ctl = 1;
        }
        // The rewrite with the chosen path's parameters (docs/pipeline.md 4.1).
        if (eg_md.bridge.isValid() && eg_md.bridge.do_rewrite == 1 && hdr.tcp.isValid()) {
            eg_md.dysco.stale = STALE_NONE;
            if (eg_md.bridge.stale_raise == 1) {
                eg_md.dysco.stale = STALE_RAISE;
            }
            rewrite.apply(hdr, eg_md.dysco);
            seq_adjust.apply(hdr, eg_md.dysco);
            window.apply(hdr, eg_md.dysco);
        }
    }
}

control DyscoEgressDeparser(packet_out pkt, inout headers_t hdr, in eg_meta_t eg_md,
                            in egress_intrinsic_metadata_for_deparser_t eg_dprsr_md) {
    Checksum() ipv4_csum;
    Checksum() tcp_csum;

    apply {
        if (eg_md.bridge.csum_ipv4 == 1) {
            hdr.ipv4.hdr_checksum = ipv4_csum.update({
                hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.diffserv, hdr.ipv4.total_len,
                hdr.ipv4.identification, hdr.ipv4.flags, hdr.ipv4.frag_offset, hdr.ipv4.ttl,
                hdr.ipv4.protocol, hdr.ipv4.src_addr, hdr.ipv4.dst_addr});
        }
        if (eg_md.bridge.csum_tcp == 1) {
            hdr.tcp.checksum = tcp_csum.update({
                hdr.ipv4.src_addr, hdr.ipv4.dst_addr,
                hdr.tcp.src_port, hdr.tcp.dst_port, hdr.tcp.seq_no, hdr.tcp.ack_no,
                hdr.tcp.window,
                hdr.tcp_ts, hdr.tcp_sack, hdr.sack_blocks[0], hdr.sack_blocks[1],
                hdr.sack_blocks[2], hdr.sack_blocks[3], hdr.tcp_synopt, hdr.tcp_ws,
                hdr.tcp_tag,
                eg_md.tcp_residual});
        }
        pkt.emit(hdr.packet_in);
        pkt.emit(hdr.ethernet);
        pkt.emit(hdr.ipv4);
        pkt.emit(hdr.tcp);
        pkt.emit(hdr.tcp_ts);
        pkt.emit(hdr.tcp_sack);
        pkt.emit(hdr.sack_blocks);
        pkt.emit(hdr.tcp_synopt);
        pkt.emit(hdr.tcp_ws);
        pkt.emit(hdr.tcp_tag);
    }
}

#ifdef FOLD
// pipe_b's egress: frames on their way from pipe_a's ingress to pipe_b's go through unchanged.
struct loop_headers_t {}
struct loop_meta_t {}
parser LoopEgressParser(packet_in pkt, out loop_headers_t hdr, out loop_meta_t eg_md,
                        out egress_intrinsic_metadata_t eg_intr_md) {
    state start {
        pkt.extract(eg_intr_md);
        transition accept;
    }
}

control LoopEgress(inout loop_headers_t hdr, inout loop_meta_t eg_md,
                   in egress_intrinsic_metadata_t eg_intr_md,
                   in egress_intrinsic_metadata_from_parser_t eg_prsr_md,
                   inout egress_intrinsic_metadata_for_deparser_t eg_dprsr_md,
                   inout egress_intrinsic_metadata_for_output_port_t eg_oport_md) {
    apply { }
}

control LoopEgressDeparser(packet_out pkt, inout loop_headers_t hdr, in loop_meta_t eg_md,
                           in egress_intrinsic_metadata_for_deparser_t eg_dprsr_md) {
    apply { }
}

Pipeline(DyscoIngressParser(), DyscoIngress(false), DyscoIngressDeparser(),
         DyscoEgressParser(), DyscoEgress(), DyscoEgressDeparser()) pipe_a;
Pipeline(DyscoIngressParser(), DyscoIngress(true), DyscoIngressDeparser(),
         LoopEgressParser(), LoopEgress(), LoopEgressDeparser()) pipe_b;

// (the order sets bf-p4c's default pipe scopes: pipe_b on pipes 0 and 2, pipe_a on 1 and 3)
Switch(pipe_b, pipe_a) main;
#else
Pipeline(DyscoIngressParser(), DyscoIngress(), DyscoIngressDeparser(),
         DyscoEgressParser(), DyscoEgress(), DyscoEgressDeparser()) pipe;

Switch(pipe) main;
#endif
