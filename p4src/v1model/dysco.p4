/*
 * Dysco pipeline for bmv2 (v1model). The offloaded data path of the Dysco agent for the
 * hosts behind this switch's host ports. Contract: docs/pipeline.md.
 */
#include <core.p4>
#include <v1model.p4>

#define SESSION_IDLE_TIMEOUT support_timeout = true;

// The bytes of a short TCP datagram after its 20-byte header, when the frame has trailing
// bytes (Ethernet padding): parsed so that the checksums cover the IPv4 total length only
// (include/parser.p4, include/checksum.p4).
#define TAIL_MAX 6
header tail_byte_t {
    bit<8> b;
}

// An ICMP error and the start of the TCP segment it quotes (docs/pipeline.md 4.2).
const bit<8> IP_PROTO_ICMP = 1;
header icmp_t {
    bit<8>  type;
    bit<8>  code;
    bit<16> checksum;
    bit<32> rest;           // unused / next-hop MTU
}
header quoted_l4_t {
    bit<16> src_port;
    bit<16> dst_port;
    bit<32> seq_no;
}

#define DYSCO_TARGET_HEADERS \
    tail_byte_t[TAIL_MAX] tail; icmp_t icmp; ipv4_t inner_ipv4; quoted_l4_t inner_l4;
// Hairpin (docs/pipeline.md 4.3): host_route (ipv4_fwd took route_host), hairpin (this pass
// recirculates for the IN pass), in_pass (preserved by the recirculation: this is the IN pass;
// and by a clone: egress tells an IN pass's copy of a ROUTE packet-out, see DyscoEgress).
#define DYSCO_TARGET_META \
    bit<1> has_tail; bit<16> tail_left; bit<32> trailing; bit<16> zero16; bit<1> icmp_hit; \
    bit<1> csum_icmp; bit<1> host_route; bit<1> hairpin; \
    @field_list(HAIRPIN_FIELD_LIST, PUNT_FIELD_LIST) bit<1> in_pass;

#include "../shared/header.p4"
#include "../shared/control/ports.p4"
#include "../shared/control/session.p4"
#include "../shared/control/classify.p4"
#include "../shared/control/decide.p4"
#include "../shared/control/rewrite.p4"
#include "../shared/control/forwarding.p4"
#include "../shared/control/packet_io.p4"
#include "../shared/parser/tcp_options.p4"
#include "include/parser.p4"
#include "include/checksum.p4"
#include "include/slot_state.p4"

control DyscoIngress(inout headers_t hdr, inout dysco_meta_t meta,
                     inout standard_metadata_t std) {
    PacketOutIngress() packet_io;
    PortRoles() ports;
    SessionLookup() session;
    Classify() classify;
    SlotState() slots;
    Decide() decide;
    Rewrite() rewrite;
    SeqAdjust() seq_adjust;
    WindowScale() window;
    Forwarding() forwarding;

    apply {
        // The IN pass of a hairpin enters by RECIRC_PORT (bmv2 keeps the first pass's
        // ingress_port; TNA's recirculation port is the real one).
        port_t in_port = std.ingress_port;
        if (meta.in_pass == 1) {
            in_port = RECIRC_PORT;
        }
        meta.pi.ingress_port = (bit<16>) in_port;
        if (std.parser_error != error.NoError) {
            meta.drop = 1;
        } else if (hdr.packet_out.isValid()) {
            packet_io.apply(hdr, meta);
        } else {
            // Malformed or truncated: dropped before any lookup (docs/pipeline.md 3.3).
            if (hdr.ipv4.isValid()) {
                if (hdr.ipv4.version != 4 || hdr.ipv4.ihl != 5 || hdr.ipv4.total_len < 20 ||
                    (bit<32>) hdr.ipv4.total_len + 14 > std.packet_length) {
                    meta.malformed = 1;
                }
            } else {
                meta.malformed = 1;     // not IPv4: this switch only routes IPv4
            }
            if (meta.malformed == 0 && hdr.tcp.isValid()) {
                bit<16> hl = ((bit<16>) hdr.tcp.data_offset) << 2;
                if (hdr.tcp.data_offset < 5 || hdr.ipv4.total_len < 20 + hl) {
                    meta.malformed = 1;
                } else {
                    meta.payload_len = hdr.ipv4.total_len - 20 - hl;
                    meta.seq_len = (bit<32>) meta.payload_len;
                    if ((hdr.tcp.flags & TCP_SYN) != 0) {
                        meta.seq_len = meta.seq_len + 1;
                    }
                    if ((hdr.tcp.flags & TCP_FIN) != 0) {
                        meta.seq_len = meta.seq_len + 1;
                    }
                }
            }
            if (meta.malformed == 0 && hdr.udp.isValid() && hdr.ipv4.total_len < 28) {
                meta.malformed = 1;
            }
            if (meta.malformed == 1 || std.checksum_error == 1) {
                meta.drop = 1;
            } else {
                ports.apply(hdr, meta, in_port);
                // An ICMP error from the network quoting TCP (4.2) is looked up in
                // in_session with the quoted tuple reversed, by the same (single) lookup:
                // its key fields hold the reversed tuple meanwhile.
                bit<32> o_src = hdr.ipv4.src_addr;
                bit<32> o_dst = hdr.ipv4.dst_addr;
                bool icmp_quote = hdr.inner_l4.isValid() && meta.port_role != PORT_ROLE_HOST;
                if (icmp_quote) {
                    hdr.ipv4.src_addr = hdr.inner_ipv4.dst_addr;
                    hdr.ipv4.dst_addr = hdr.inner_ipv4.src_addr;
                    hdr.ipv4.protocol = IP_PROTO_TCP;
                    hdr.tcp.setValid();
                    hdr.tcp.src_port = hdr.inner_l4.dst_port;
                    hdr.tcp.dst_port = hdr.inner_l4.src_port;
                }
                if (meta.is_local == 0 && hdr.tcp.isValid()) {
                    session.apply(hdr, meta);
                }
                if (icmp_quote) {
                    hdr.tcp.setInvalid();
                    hdr.ipv4.src_addr = o_src;
                    hdr.ipv4.dst_addr = o_dst;
                    hdr.ipv4.protocol = IP_PROTO_ICMP;
                    meta.icmp_hit = meta.hit;   // routed as plain traffic, rewritten below
                    meta.hit = 0;
                    meta.direction = DIR_NONE;
                }
                classify.apply(hdr, meta);
            }
        }

        slots.apply(hdr, meta);
        decide.apply(hdr, meta);
        // ipv4_fwd key: an IN-rewritten packet goes to the local host it arrived for (its
        // original destination), everything else by its (rewritten) destination.
        meta.fwd_dst = hdr.ipv4.dst_addr;
        if (meta.do_rewrite == 1) {
            rewrite.apply(hdr, meta);
            seq_adjust.apply(hdr, meta);
            window.apply(hdr, meta);
            if (meta.direction != DIR_IN) {
                meta.fwd_dst = hdr.ipv4.dst_addr;
            }
        }
        if (meta.want_route == 1 && meta.drop == 0) {
            forwarding.apply(hdr, meta);
            // A route to the CPU port drops (docs/pipeline.md section 2): packet-ins come
            // only from punts and mirrors, never from routing or a ROUTE packet-out.
            if (meta.routed == 1 && meta.egress_port == CPU_PORT) {
                meta.drop = 1;
            }
        }
        // Hairpin (docs/pipeline.md 4.3): an OUT-rewritten packet or a ROUTE packet-out whose
        // route leads to a host port of this switch takes a second pass, as an IN packet
        // (egress recirculates it). The IN pass never hairpins again.
        if (meta.host_route == 1 && meta.in_pass == 0 && meta.drop == 0 && meta.punt == 0 &&
            (meta.from_cpu == 1 || (meta.do_rewrite == 1 && meta.direction == DIR_OUT))) {
            meta.hairpin = 1;
        }
        if (meta.icmp_hit == 1 && meta.drop == 0) {
            // The quote becomes the host's session packet (routed by the destination the
            // error arrived with, above); the outer destination the host's session address.
            hdr.inner_ipv4.src_addr = meta.old_rw.dst_addr;
            hdr.inner_ipv4.dst_addr = meta.old_rw.src_addr;
            hdr.inner_l4.src_port = meta.old_rw.dst_port;
            hdr.inner_l4.dst_port = meta.old_rw.src_port;
            hdr.inner_l4.seq_no = hdr.inner_l4.seq_no + meta.old_rw.ack_delta;
            hdr.ipv4.dst_addr = meta.old_rw.dst_addr;
            meta.csum_ipv4 = 1;
            meta.csum_icmp = 1;
        }

        if (meta.mirror == 1) {
            // The replica is the packet as it arrived (bmv2 re-parses the original bytes);
            // egress prepends the packet-in header from the preserved meta.pi.
            clone_preserving_field_list(CloneType.I2E, (bit<32>) CPU_CLONE_SESSION,
                                        PUNT_FIELD_LIST);
        }
        if (meta.drop == 1) {
            mark_to_drop(std);
        } else if (meta.punt == 1) {
            std.egress_spec = CPU_PORT;
        } else {
            std.egress_spec = meta.egress_port;
        }
    }
}

const bit<32> PKT_INSTANCE_TYPE_INGRESS_CLONE = 1;   // v1model's standard_metadata.instance_type

control DyscoEgress(inout headers_t hdr, inout dysco_meta_t meta,
                    inout standard_metadata_t std) {
    PacketInEgress() packet_io;
    apply {
        packet_io.apply(hdr, meta, std.egress_port);
        // bmv2 parses a clone again from its bytes, before the preserved fields are copied in,
        // so the clone of a hairpin's IN pass whose first pass was a ROUTE packet-out (it keeps
        // the first pass's ingress_port, CPU_PORT) had its first 15 bytes taken as a
        // packet_out header. The deparser emits that header (a real packet-out's is
        // invalidated in ingress, and here in any other clone): the frame goes out whole.
        if (std.instance_type != PKT_INSTANCE_TYPE_INGRESS_CLONE || meta.in_pass == 0) {
            hdr.packet_out.setInvalid();
        }
        if (meta.hairpin == 1 && std.instance_type == 0) {
            // back into ingress as the packet deparsed here, not sent out of egress_port
            meta.in_pass = 1;
            recirculate_preserving_field_list(HAIRPIN_FIELD_LIST);
        }
    }
}

V1Switch(DyscoParser(), DyscoVerifyChecksum(), DyscoIngress(), DyscoEgress(),
         DyscoComputeChecksum(), DyscoDeparser()) main;
