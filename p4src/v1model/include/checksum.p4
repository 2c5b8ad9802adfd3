/*
 * v1model checksums: verified on arrival (a packet with a bad IPv4 header or TCP checksum is
 * dropped, so a full recompute never launders a corrupted segment), recomputed in full
 * (TCP: pseudo-header, header, recognised options and every byte after them up to the IPv4
 * total length) when the pipeline changed the covered fields.
 */
#ifndef DYSCO_V1MODEL_CHECKSUM_P4
#define DYSCO_V1MODEL_CHECKSUM_P4

#define IPV4_CSUM_FIELDS { \
    hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.diffserv, hdr.ipv4.total_len, \
    hdr.ipv4.identification, hdr.ipv4.flags, hdr.ipv4.frag_offset, hdr.ipv4.ttl, \
    hdr.ipv4.protocol, hdr.ipv4.src_addr, hdr.ipv4.dst_addr }

// The same with the checksum field (at a 16-bit boundary) for verification: csum16 of a
// correct header is 0 whether the field holds 0x0000 or 0xFFFF where 0x0000 is computed
// (the same ones'-complement value, RFC 1624 section 3).
#define IPV4_VERIFY_FIELDS { \
    hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.diffserv, hdr.ipv4.total_len, \
    hdr.ipv4.identification, hdr.ipv4.flags, hdr.ipv4.frag_offset, hdr.ipv4.ttl, \
    hdr.ipv4.protocol, hdr.ipv4.hdr_checksum, hdr.ipv4.src_addr, hdr.ipv4.dst_addr }

#define TCP_HDR_FIELDS \
    hdr.ipv4.src_addr, hdr.ipv4.dst_addr, 8w0, hdr.ipv4.protocol, meta.l4_len, \
    hdr.tcp.src_port, hdr.tcp.dst_port, hdr.tcp.seq_no, hdr.tcp.ack_no, \
    hdr.tcp.data_offset, hdr.tcp.res, hdr.tcp.flags, hdr.tcp.window

#define TCP_OPT_FIELDS \
    hdr.tcp_ts, hdr.tcp_sack, \
    hdr.sack_blocks[0], hdr.sack_blocks[1], hdr.sack_blocks[2], hdr.sack_blocks[3], \
    hdr.tcp_synopt, hdr.tcp_ws, hdr.tcp_tag

#define TAIL_FIELDS \
    hdr.tail[0], hdr.tail[1], hdr.tail[2], hdr.tail[3], hdr.tail[4], hdr.tail[5]

#define TCP_CSUM_FIELDS { TCP_HDR_FIELDS, hdr.tcp.urgent_ptr, TCP_OPT_FIELDS }
#define TCP_VERIFY_FIELDS { TCP_HDR_FIELDS, hdr.tcp.checksum, hdr.tcp.urgent_ptr, TCP_OPT_FIELDS }
// A short datagram followed by trailing bytes (meta.has_tail, include/parser.p4): the
// checksum covers the parsed tail, not the payload (the trailing bytes).
#define TCP_TAIL_CSUM_FIELDS { TCP_HDR_FIELDS, hdr.tcp.urgent_ptr, TAIL_FIELDS }
#define TCP_TAIL_VERIFY_FIELDS { \
    TCP_HDR_FIELDS, hdr.tcp.checksum, hdr.tcp.urgent_ptr, TAIL_FIELDS }

#define INNER_IPV4_CSUM_FIELDS { \
    hdr.inner_ipv4.version, hdr.inner_ipv4.ihl, hdr.inner_ipv4.diffserv, \
    hdr.inner_ipv4.total_len, hdr.inner_ipv4.identification, hdr.inner_ipv4.flags, \
    hdr.inner_ipv4.frag_offset, hdr.inner_ipv4.ttl, hdr.inner_ipv4.protocol, \
    hdr.inner_ipv4.src_addr, hdr.inner_ipv4.dst_addr }

// ICMP errors quoting TCP (4.2): the whole message up to the IPv4 total length.
#define ICMP_CSUM_FIELDS { \
    hdr.icmp.type, hdr.icmp.code, hdr.icmp.rest, hdr.inner_ipv4, hdr.inner_l4 }
#define ICMP_VERIFY_FIELDS { \
    hdr.icmp.type, hdr.icmp.code, hdr.icmp.checksum, hdr.icmp.rest, hdr.inner_ipv4, \
    hdr.inner_l4 }

// Verification: csum16 over the covered bytes with the checksum field must be 0 (meta.zero16
// is never written; bmv2 needs a field there, not a constant).
control DyscoVerifyChecksum(inout headers_t hdr, inout dysco_meta_t meta) {
    apply {
        verify_checksum(hdr.ipv4.isValid() && meta.from_cpu == 0 && hdr.ipv4.ihl == 5,
                        IPV4_VERIFY_FIELDS, meta.zero16, HashAlgorithm.csum16);
        verify_checksum_with_payload(
            hdr.tcp.isValid() && meta.from_cpu == 0 && meta.has_tail == 0,
            TCP_VERIFY_FIELDS, meta.zero16, HashAlgorithm.csum16);
        verify_checksum(hdr.tcp.isValid() && meta.from_cpu == 0 && meta.has_tail == 1,
                        TCP_TAIL_VERIFY_FIELDS, meta.zero16, HashAlgorithm.csum16);
        verify_checksum_with_payload(hdr.inner_l4.isValid() && meta.from_cpu == 0,
                                     ICMP_VERIFY_FIELDS, meta.zero16, HashAlgorithm.csum16);
    }
}

control DyscoComputeChecksum(inout headers_t hdr, inout dysco_meta_t meta) {
    apply {
        update_checksum(meta.csum_ipv4 == 1, IPV4_CSUM_FIELDS, hdr.ipv4.hdr_checksum,
                        HashAlgorithm.csum16);
        update_checksum_with_payload(meta.csum_tcp == 1 && meta.has_tail == 0,
                                     TCP_CSUM_FIELDS, hdr.tcp.checksum, HashAlgorithm.csum16);
        update_checksum(meta.csum_tcp == 1 && meta.has_tail == 1, TCP_TAIL_CSUM_FIELDS,
                        hdr.tcp.checksum, HashAlgorithm.csum16);
        // inner IPv4 header first: the ICMP checksum covers it
        update_checksum(meta.csum_icmp == 1, INNER_IPV4_CSUM_FIELDS,
                        hdr.inner_ipv4.hdr_checksum, HashAlgorithm.csum16);
        update_checksum_with_payload(meta.csum_icmp == 1, ICMP_CSUM_FIELDS, hdr.icmp.checksum,
                                     HashAlgorithm.csum16);
    }
}

#endif
