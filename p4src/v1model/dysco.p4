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
#define DYSCO_TARGET_HEADERS tail_byte_t[TAIL_MAX] tail;
#define DYSCO_TARGET_META bit<1> has_tail; bit<16> tail_left; bit<32> trailing; bit<16> zero16;

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
        meta.pi.ingress_port = (bit<16>) std.ingress_port;
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
                ports.apply(hdr, meta, std.ingress_port);
                if (meta.is_local == 0 && hdr.tcp.isValid()) {
                    session.apply(hdr, meta);
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

control DyscoEgress(inout headers_t hdr, inout dysco_meta_t meta,
                    inout standard_metadata_t std) {
    PacketInEgress() packet_io;
    apply {
        packet_io.apply(hdr, meta, std.egress_port);
    }
}

V1Switch(DyscoParser(), DyscoVerifyChecksum(), DyscoIngress(), DyscoEgress(),
         DyscoComputeChecksum(), DyscoDeparser()) main;
