/*
 * Forwarding: a plain IPv4 router table. Every packet the pipeline forwards (rewritten or
 * not, and ROUTE packet-outs) leaves through it: egress port, MACs, TTL decrement.
 * The key is meta.fwd_dst (docs/pipeline.md section 2): the destination the packet arrived
 * with for an IN rewrite (it is delivered to the local host it was addressed to), else the
 * packet's (rewritten) destination. route_host is route for a port with a local host behind it:
 * an OUT-rewritten packet or a ROUTE packet-out taking it hairpins (docs/pipeline.md 4.3,
 * meta.host_route; v1model only, TNA has its own formulation).
 */
#ifndef DYSCO_CONTROL_FORWARDING_P4
#define DYSCO_CONTROL_FORWARDING_P4

control Forwarding(inout headers_t hdr, inout dysco_meta_t meta) {

    action route(port_t port, bit<48> src_mac, bit<48> dst_mac) {
        meta.egress_port = port;
        meta.routed = 1;
        hdr.ethernet.src_addr = src_mac;
        hdr.ethernet.dst_addr = dst_mac;
        hdr.ipv4.ttl = hdr.ipv4.ttl - 1;
        meta.csum_ipv4 = 1;
    }

    // The same for a host port of this device (docs/pipeline.md 4.3: hairpin).
    action route_host(port_t port, bit<48> src_mac, bit<48> dst_mac) {
        route(port, src_mac, dst_mac);
        meta.host_route = 1;
    }

    action drop() {
        meta.drop = 1;
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
            meta.drop = 1;     // no ICMP time-exceeded: the switch has no IP address
        } else {
            ipv4_fwd.apply();
        }
    }
}

#endif
