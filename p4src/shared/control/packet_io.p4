/*
 * Packet I/O: packet-out decoding (ingress) and packet-in header (egress).
 */
#ifndef DYSCO_CONTROL_PACKET_IO_P4
#define DYSCO_CONTROL_PACKET_IO_P4

// A packet from the controller: FORWARD it unchanged, ROUTE it, or PROBE a slot.
control PacketOutIngress(inout headers_t hdr, inout dysco_meta_t meta) {
    apply {
        if (hdr.packet_out.op == OP_FORWARD) {
            // egress_port >= DROP_PORT (511), as masks: Tofino's gateways compare at most
            // 12 bits for order
            if (hdr.packet_out.egress_port & 0xFE00 != 0 ||
                hdr.packet_out.egress_port == DROP_PORT ||
                hdr.packet_out.egress_port == CPU_PORT) {
                meta.drop = 1;
            } else {
                meta.egress_port = (port_t) hdr.packet_out.egress_port;
            }
        } else if (hdr.packet_out.op == OP_ROUTE) {
            if (hdr.ipv4.isValid() && hdr.ipv4.ihl == 5) {
                meta.want_route = 1;
            } else {
                meta.drop = 1;
            }
        } else if (hdr.packet_out.op == OP_PROBE) {
            meta.slot_op = SLOT_OP_PROBE;
            meta.slot = hdr.packet_out.slot;
            meta.epoch = hdr.packet_out.epoch;
            if ((hdr.packet_out.flags & PO_FLAG_FREEZE) != 0) {
                meta.freeze = 1;    // (a bool-to-bit cast is no ALU source on Tofino)
            }
            meta.punt = 1;
            meta.pi.reason = REASON_PROBE_REPLY;
            meta.pi.slot = hdr.packet_out.slot;
            meta.pi.token = hdr.packet_out.token;
        } else {
            meta.drop = 1;
        }
        hdr.packet_out.setInvalid();
    }
}

// A packet leaving through the CPU port gets the packet-in header (punts and clones alike).
control PacketInEgress(inout headers_t hdr, in dysco_meta_t meta, in port_t egress_port) {
    apply {
        if (egress_port == CPU_PORT) {
            hdr.packet_in.setValid();
            hdr.packet_in.ingress_port = meta.pi.ingress_port;
            hdr.packet_in.reason = meta.pi.reason;
            hdr.packet_in.direction = meta.pi.direction;
            hdr.packet_in.flags = meta.pi.flags;
            hdr.packet_in.agent_id = meta.pi.agent_id;
            hdr.packet_in.slot = meta.pi.slot;
            hdr.packet_in.token = meta.pi.token;
            hdr.packet_in.epoch = meta.pi.epoch;
            hdr.packet_in.reg_valid = meta.pi.reg_valid;
            hdr.packet_in.sent_hi = meta.pi.sent_hi;
            hdr.packet_in.ack_hi = meta.pi.ack_hi;
            hdr.packet_in.rcvd_ack_hi = meta.pi.rcvd_ack_hi;
            hdr.packet_in.new_rcvd_lo = meta.pi.new_rcvd_lo;
            hdr.packet_in.cut = meta.pi.cut;
            hdr.packet_in.old_ack_hi = meta.pi.old_ack_hi;
        }
    }
}

#endif
