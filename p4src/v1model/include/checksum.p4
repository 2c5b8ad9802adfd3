/*
 * v1model checksums: verified on arrival (a packet with a bad IPv4 header or TCP checksum is
 * dropped, so a full recompute never launders a corrupted segment), recomputed in full
 * (TCP: pseudo-header, header, recognised options and every byte after them) when the
 * pipeline changed the covered fields.
 */
#ifndef DYSCO_V1MODEL_CHECKSUM_P4
#define DYSCO_V1MODEL_CHECKSUM_P4

#define IPV4_CSUM_FIELDS { \
    hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.diffserv, hdr.ipv4.total_len, \
    hdr.ipv4.identification, hdr.ipv4.flags, hdr.ipv4.frag_offset, hdr.ipv4.ttl, \
    hdr.ipv4.protocol, hdr.ipv4.src_addr, hdr.ipv4.dst_addr }

#define TCP_CSUM_FIELDS { \
    hdr.ipv4.src_addr, hdr.ipv4.dst_addr, 8w0, hdr.ipv4.protocol, meta.l4_len, \
    hdr.tcp.src_port, hdr.tcp.dst_port, hdr.tcp.seq_no, hdr.tcp.ack_no, \
    hdr.tcp.data_offset, hdr.tcp.res, hdr.tcp.flags, hdr.tcp.window, hdr.tcp.urgent_ptr, \
    hdr.tcp_ts, hdr.tcp_sack, \
    hdr.sack_blocks[0], hdr.sack_blocks[1], hdr.sack_blocks[2], hdr.sack_blocks[3], \
    hdr.tcp_synopt, hdr.tcp_ws, hdr.tcp_tag }

control DyscoVerifyChecksum(inout headers_t hdr, inout dysco_meta_t meta) {
    apply {
        verify_checksum(hdr.ipv4.isValid() && meta.from_cpu == 0 && hdr.ipv4.ihl == 5,
                        IPV4_CSUM_FIELDS, hdr.ipv4.hdr_checksum, HashAlgorithm.csum16);
        verify_checksum_with_payload(hdr.tcp.isValid() && meta.from_cpu == 0,
                                     TCP_CSUM_FIELDS, hdr.tcp.checksum, HashAlgorithm.csum16);
    }
}

control DyscoComputeChecksum(inout headers_t hdr, inout dysco_meta_t meta) {
    apply {
        update_checksum(meta.csum_ipv4 == 1, IPV4_CSUM_FIELDS, hdr.ipv4.hdr_checksum,
                        HashAlgorithm.csum16);
        update_checksum_with_payload(meta.csum_tcp == 1, TCP_CSUM_FIELDS, hdr.tcp.checksum,
                                     HashAlgorithm.csum16);
    }
}

#endif
