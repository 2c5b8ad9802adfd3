/*
 * Dysco pipeline: headers and metadata shared by every target.
 * Controller headers: layouts mirrored in dysco_pipeline/pipeline.py (PACKET_IN_FIELDS,
 * PACKET_OUT_FIELDS); their field names are the P4Info controller_packet_metadata names.
 */
#ifndef DYSCO_HEADER_P4
#define DYSCO_HEADER_P4

#include "define.p4"

@controller_header("packet_in")
header packet_in_t {
    bit<16> ingress_port;   // where the packet entered the switch
    bit<8>  reason;         // REASON_*
    bit<8>  direction;      // DIR_*
    bit<8>  flags;          // PI_FLAG_*
    bit<8>  agent_id;       // from port_role (host ports)
    slot_t  slot;           // entry's slot (ENTRY_HIT) or the probed slot
    bit<32> token;          // probe token (PROBE_REPLY), else 0
    bit<32> epoch;          // slot epoch after this packet (PI_FLAG_REGS)
    bit<8>  reg_valid;      // RV_* valid bits of the six values below
    bit<32> sent_hi;        // registers after this packet ...
    bit<32> ack_hi;
    bit<32> rcvd_ack_hi;
    bit<32> new_rcvd_lo;
    bit<32> cut;
    bit<32> old_ack_hi;     // ... except this one: its value before this packet
}

@controller_header("packet_out")
header packet_out_t {
    bit<8>  op;             // OP_*
    bit<8>  flags;          // PO_FLAG_*
    bit<16> egress_port;    // FORWARD
    slot_t  slot;           // PROBE
    bit<32> token;          // PROBE: echoed in the reply
    bit<32> epoch;          // PROBE: the side's current epoch
}

header ethernet_t {
    bit<48> dst_addr;
    bit<48> src_addr;
    bit<16> ether_type;
}

header ipv4_t {
    bit<4>  version;
    bit<4>  ihl;
    bit<8>  diffserv;
    bit<16> total_len;
    bit<16> identification;
    bit<3>  flags;
    bit<13> frag_offset;
    bit<8>  ttl;
    bit<8>  protocol;
    bit<16> hdr_checksum;
    bit<32> src_addr;
    bit<32> dst_addr;
}

header tcp_t {
    bit<16> src_port;
    bit<16> dst_port;
    bit<32> seq_no;
    bit<32> ack_no;
    bit<4>  data_offset;
    bit<4>  res;
    bit<8>  flags;
    bit<16> window;
    bit<16> checksum;
    bit<16> urgent_ptr;
}

header udp_t {
    bit<16> src_port;
    bit<16> dst_port;
    bit<16> length;
    bit<16> checksum;
}

// NOP NOP TS: the layout of timestamps on established Linux segments (12 bytes).
header tcp_ts_t {
    bit<8>  nop1;
    bit<8>  nop2;
    bit<8>  kind;
    bit<8>  len;
    bit<32> tsval;
    bit<32> tsecr;
}

// NOP NOP SACK(len): followed by 1-4 tcp_sack_block_t (4 bytes).
header tcp_sack_t {
    bit<8> nop1;
    bit<8> nop2;
    bit<8> kind;
    bit<8> len;
}

header tcp_sack_block_t {
    bit<32> left;
    bit<32> right;
}

// MSS(4) SACK-permitted(2) TS(10): the start of a Linux SYN / SYN-ACK (16 bytes).
header tcp_synopt_t {
    bit<8>  mss_kind;
    bit<8>  mss_len;
    bit<16> mss;
    bit<8>  sackok_kind;
    bit<8>  sackok_len;
    bit<8>  ts_kind;
    bit<8>  ts_len;
    bit<32> tsval;
    bit<32> tsecr;
}

// NOP WS(3) (4 bytes), after tcp_synopt_t.
header tcp_ws_t {
    bit<8> nop;
    bit<8> kind;
    bit<8> len;
    bit<8> shift;
}

// The Dysco tag option (RFC 6994 experimental, kind 253, ExID 0x4459), after tcp_ws_t.
header tcp_tag_t {
    bit<8>  kind;
    bit<8>  len;
    bit<16> exid;
    bit<32> tag;
}

struct headers_t {
    packet_in_t         packet_in;
    packet_out_t        packet_out;
    ethernet_t          ethernet;
    ipv4_t              ipv4;
    tcp_t               tcp;
    tcp_ts_t            tcp_ts;
    tcp_sack_t          tcp_sack;
    tcp_sack_block_t[4] sack_blocks;
    tcp_synopt_t        tcp_synopt;
    tcp_ws_t            tcp_ws;
    tcp_tag_t           tcp_tag;
    udp_t               udp;
#ifdef DYSCO_TARGET_HEADERS
    DYSCO_TARGET_HEADERS    // target-specific headers (v1model: the datagram tail, 3.3)
#endif
}

// What a packet-in carries; copied into packet_in_t in egress. On v1model every field is
// preserved in I2E clones (@field_list(PUNT_FIELD_LIST)).
struct punt_meta_t {
    @field_list(PUNT_FIELD_LIST) bit<16> ingress_port;
    @field_list(PUNT_FIELD_LIST) bit<8>  reason;
    @field_list(PUNT_FIELD_LIST) bit<8>  direction;
    @field_list(PUNT_FIELD_LIST) bit<8>  flags;
    @field_list(PUNT_FIELD_LIST) bit<8>  agent_id;
    @field_list(PUNT_FIELD_LIST) slot_t  slot;
    @field_list(PUNT_FIELD_LIST) bit<32> token;
    @field_list(PUNT_FIELD_LIST) bit<32> epoch;
    @field_list(PUNT_FIELD_LIST) bit<8>  reg_valid;
    @field_list(PUNT_FIELD_LIST) bit<32> sent_hi;
    @field_list(PUNT_FIELD_LIST) bit<32> ack_hi;
    @field_list(PUNT_FIELD_LIST) bit<32> rcvd_ack_hi;
    @field_list(PUNT_FIELD_LIST) bit<32> new_rcvd_lo;
    @field_list(PUNT_FIELD_LIST) bit<32> cut;
    @field_list(PUNT_FIELD_LIST) bit<32> old_ack_hi;
}

// One side of a rewrite: the tuple and the deltas (docs/protocol-design.md section 2).
struct rewrite_meta_t {
    bit<32> src_addr;
    bit<32> dst_addr;
    bit<16> src_port;
    bit<16> dst_port;
    bit<32> seq_delta;
    bit<32> ack_delta;
    bit<32> tsval_delta;
    bit<32> tsecr_delta;
    bit<8>  win_shift;      // two's complement, [-14, 14]
}

struct dysco_meta_t {
    // parser
    bit<1>  from_cpu;       // arrived on CPU_PORT with a packet_out header
    bit<16> l4_len;         // IPv4 total_len - 20: TCP length for the pseudo-header

    // classification
    bit<1>  malformed;
    bit<8>  port_role;
    bit<8>  agent_id;
    bit<1>  is_local;       // local_addr hit
    bit<16> payload_len;    // TCP payload bytes
    bit<32> seq_len;        // payload + SYN + FIN
    bit<1>  opt_other;      // option bytes outside the recognised layouts

    // session entry (out_session / in_session action data)
    bit<1>  hit;
    bit<8>  direction;
    bit<1>  two_path;
    slot_t  slot;
    bit<8>  role;
    bit<32> epoch;
    bit<32> peer_cut;
    bit<1>  peer_cut_valid;
    rewrite_meta_t old_rw;  // the single path, or the old path in two-path mode
    rewrite_meta_t new_rw;  // the new path (two-path only)
    rewrite_meta_t rw;      // the one chosen for this packet

    // slot registers and steering
    bit<8>  slot_op;        // SLOT_OP_*
    bit<1>  freeze;
    bit<8>  path;           // PATH_*
    bit<1>  split;
    bit<1>  lo_valid;       // new_rcvd_lo valid (after this packet)
    bit<32> lo;             // new_rcvd_lo (after this packet)
    bit<2>  stale;          // old-path IN packet acking below rcvd_ack_hi: STALE_*
    bit<32> rcvd_ack;       // rcvd_ack_hi (after this packet): the ack a STALE_RAISE gets

    // outcome
    bit<1>  drop;
    bit<1>  punt;           // send this packet to CPU_PORT instead of forwarding it
    bit<1>  mirror;         // forward it and clone the original to CPU_PORT
    bit<1>  do_rewrite;
    bit<1>  routed;         // ipv4_fwd hit: egress_port set, TTL decremented
    bit<1>  want_route;     // apply ipv4_fwd
    bit<32> fwd_dst;        // ipv4_fwd key: the destination the packet arrived with for an
                            // IN rewrite (the local host), else the (rewritten) destination
    port_t  egress_port;
    bit<1>  csum_ipv4;      // recompute the IPv4 header checksum
    bit<1>  csum_tcp;       // recompute the TCP checksum (with payload)
#ifdef DYSCO_TARGET_META
    DYSCO_TARGET_META       // target-specific metadata (v1model: the datagram tail, 3.3)
#endif

    punt_meta_t pi;
}

#endif  // DYSCO_HEADER_P4
