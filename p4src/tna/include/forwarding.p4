/*
 * Forwarding (TNA): the shared Forwarding (../../shared/control/forwarding.p4) with the same
 * table, actions and parameters (DyscoIngress.forwarding.ipv4_fwd: route, route_host, drop), writing
 * Tofino's outcome directly (the egress port to the traffic manager, drop_ctl, the
 * bridge's IPv4-checksum flag) instead of metadata a later step would copy: ingress then
 * ends in the stage of this lookup. Applied only where the packet is neither dropped nor
 * punted (DyscoIngress), so no other step writes those.
 */
#ifndef DYSCO_TNA_FORWARDING_P4
#define DYSCO_TNA_FORWARDING_P4

control Forwarding(inout headers_t hdr, in dysco_meta_t meta, inout bit<1> csum_ipv4,
                   inout ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md,
                   inout ingress_intrinsic_metadata_for_tm_t ig_tm_md, in bit<1> may_hairpin) {
    bit<1> host_route = 0;

    action route(port_t port, bit<48> src_mac, bit<48> dst_mac) {
        ig_tm_md.ucast_egress_port = port;
        hdr.ethernet.src_addr = src_mac;
        hdr.ethernet.dst_addr = dst_mac;
        hdr.ipv4.ttl = hdr.ipv4.ttl - 1;
        csum_ipv4 = 1;
    }

    // A host port of this switch: an OUT-rewritten packet or a ROUTE packet-out taking it
    // (may_hairpin) leaves by RECIRC_PORT for its IN pass (docs/pipeline.md 4.3).
    action route_host(port_t port, bit<48> src_mac, bit<48> dst_mac) {
        route(port, src_mac, dst_mac);
        host_route = 1;
    }

    action drop() {
        ig_dprsr_md.drop_ctl = 1;
    }

    table ipv4_fwd {
        key = {
            meta.fwd_dst : lpm @name("dst_addr");
        }
        actions = {
            route;
            route_host;
            drop;
        }
        default_action = drop();
        size = FWD_TABLE_SIZE;
    }

    apply {
        if (hdr.ipv4.ttl <= 1) {
            ig_dprsr_md.drop_ctl = 1;  // no ICMP time-exceeded: the switch has no IP address
        } else {
            ipv4_fwd.apply();
            if (host_route == 1 && may_hairpin == 1) {
                ig_tm_md.ucast_egress_port = RECIRC_PORT;
            }
        }
    }
}

#endif
