/*
 * v1model parser and deparser. The parse graph is the contract's (docs/pipeline.md
 * section 3): Ethernet, IPv4 without options and not fragmented, then TCP with the option
 * layouts the pipeline can rewrite, or UDP. Anything else stays payload.
 */
#ifndef DYSCO_V1MODEL_PARSER_P4
#define DYSCO_V1MODEL_PARSER_P4

parser DyscoParser(packet_in pkt, out headers_t hdr, inout dysco_meta_t meta,
                   inout standard_metadata_t std) {
    TcpOptionsParser() tcp_options;

    state start {
        // (a hairpin's IN pass keeps the first pass's ingress_port on bmv2: a ROUTE
        // packet-out's is CPU_PORT, but it re-enters as a plain frame)
        transition select(meta.in_pass, std.ingress_port) {
            (0, CPU_PORT): parse_packet_out;
            default: parse_ethernet;
        }
    }

    state parse_packet_out {
        pkt.extract(hdr.packet_out);
        meta.from_cpu = 1;
        transition select(hdr.packet_out.op) {
            OP_ROUTE: parse_ethernet;
            default: accept;        // FORWARD and PROBE: the rest is opaque
        }
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
        meta.l4_len = hdr.ipv4.total_len - 20;
        transition select(meta.from_cpu, hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.flags,
                          hdr.ipv4.frag_offset, hdr.ipv4.protocol) {
            (0, 4, 5, 0 &&& 1, 0, IP_PROTO_TCP): parse_tcp;
            (0, 4, 5, 0 &&& 1, 0, IP_PROTO_UDP): parse_udp;
            (0, 4, 5, 0 &&& 1, 0, IP_PROTO_ICMP): parse_icmp;
            default: accept;
        }
    }

    // ICMP destination unreachable / time exceeded quoting at least an IPv4 header and 8
    // bytes (total length >= 56): the quoted header, and its first 8 TCP bytes if it is TCP
    // (version 4, IHL 5, fragment offset 0).
    state parse_icmp {
        pkt.extract(hdr.icmp);
        transition select(hdr.icmp.type, hdr.ipv4.total_len) {
            (_, 0 .. 55): accept;
            (3, _): parse_icmp_quote;
            (11, _): parse_icmp_quote;
            default: accept;
        }
    }

    state parse_icmp_quote {
        pkt.extract(hdr.inner_ipv4);
        transition select(hdr.inner_ipv4.version, hdr.inner_ipv4.ihl,
                          hdr.inner_ipv4.frag_offset, hdr.inner_ipv4.protocol) {
            (4, 5, 0, IP_PROTO_TCP): parse_icmp_quote_l4;
            default: accept;
        }
    }

    state parse_icmp_quote_l4 {
        pkt.extract(hdr.inner_l4);
        transition accept;
    }

    state parse_udp {
        pkt.extract(hdr.udp);
        transition accept;
    }

    state parse_tcp {
        pkt.extract(hdr.tcp);
        // Trailing bytes after the datagram (Ethernet padding, zero or not)? Only frames of
        // at most 60 bytes are padded; their TCP header has at most 4 option bytes (no
        // recognised layout) and at most 6 bytes follow the fixed header.
        meta.trailing = std.packet_length - 14 - (bit<32>) hdr.ipv4.total_len;
        meta.tail_left = hdr.ipv4.total_len - 40;
        transition select(meta.trailing, hdr.tcp.data_offset, meta.tail_left) {
            (0, _, _): parse_tcp_options;
            (0x80000000 &&& 0x80000000, _, _): parse_tcp_options;   // truncated: dropped
            (_, 5, 0): parse_tail_none;
            (_, 5, 1 .. TAIL_MAX): parse_tail;
            (_, 6, 4 .. TAIL_MAX): parse_tail;
            default: parse_tcp_options;
        }
    }

    state parse_tcp_options {
        tcp_options.apply(pkt, hdr.tcp.data_offset, hdr.tcp_ts, hdr.tcp_sack, hdr.sack_blocks,
                          hdr.tcp_synopt, hdr.tcp_ws, hdr.tcp_tag);
        transition accept;
    }

    // The datagram's bytes after the fixed TCP header (options and payload), one by one;
    // the trailing bytes stay payload and are not covered by the checksums.
    state parse_tail_none {
        meta.has_tail = 1;
        transition accept;
    }

    state parse_tail {
        meta.has_tail = 1;
        pkt.extract(hdr.tail.next);
        meta.tail_left = meta.tail_left - 1;
        transition select(meta.tail_left) {
            0: accept;
            default: parse_tail;
        }
    }
}

control DyscoDeparser(packet_out pkt, in headers_t hdr) {
    apply {
        pkt.emit(hdr.packet_in);
        pkt.emit(hdr.packet_out);   // only in an IN pass's clone: DyscoEgress
        pkt.emit(hdr.ethernet);
        pkt.emit(hdr.ipv4);
        pkt.emit(hdr.tcp);
        pkt.emit(hdr.tcp_ts);
        pkt.emit(hdr.tcp_sack);
        pkt.emit(hdr.sack_blocks);
        pkt.emit(hdr.tcp_synopt);
        pkt.emit(hdr.tcp_ws);
        pkt.emit(hdr.tcp_tag);
        pkt.emit(hdr.tail);
        pkt.emit(hdr.udp);
        pkt.emit(hdr.icmp);
        pkt.emit(hdr.inner_ipv4);
        pkt.emit(hdr.inner_l4);
    }
}

#endif
