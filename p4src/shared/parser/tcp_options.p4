/*
 * TcpOptionsParser: the TCP option layouts the pipeline can rewrite (docs/pipeline.md 3.2).
 * Invoked right after the fixed TCP header. Every decision selects on data_offset (so no
 * parser arithmetic: the same code runs on bmv2 and Tofino) and on lookahead bytes; a layout
 * is taken only if it fits in the declared option bytes (4 * data_offset - 20). Bytes not
 * consumed here stay payload ("other" options, see Classify).
 */
#ifndef DYSCO_PARSER_TCP_OPTIONS_P4
#define DYSCO_PARSER_TCP_OPTIONS_P4

parser TcpOptionsParser(packet_in pkt, in bit<4> data_offset, out tcp_ts_t tcp_ts,
                        out tcp_sack_t tcp_sack, out tcp_sack_block_t[4] sack_blocks,
                        out tcp_synopt_t tcp_synopt, out tcp_ws_t tcp_ws,
                        out tcp_tag_t tcp_tag) {

    state start {
        transition select(data_offset) {
            0 &&& 0x8: accept;          // 0-7: fewer than 12 option bytes (or malformed)
            default: parse_first;       // 8-15: at least 12 option bytes
        }
    }

    // The first 8 option bytes, as two 32-bit words (Tofino's parser matches at most 32
    // bits per constant).
    state parse_first {
        transition select(data_offset, pkt.lookahead<bit<64>>()[63:32],
                          pkt.lookahead<bit<64>>()[31:0]) {
            (_, OPT_NOP_NOP_TS, _): parse_ts;
            (_, OPT_NOP_NOP_SACK &&& 0xFFFFFF00, _): parse_sack_first;
            (8, _, _): accept;          // 12 bytes: too short for the SYN layout
            (_, OPT_SYN_LAYOUT_HI &&& OPT_SYN_LAYOUT_HI_MASK, OPT_SYN_LAYOUT_LO): parse_synopt;
            default: accept;
        }
    }

    // ---- NOP NOP TS [NOP NOP SACK] ----
    state parse_ts {
        pkt.extract(tcp_ts);
        transition select(data_offset) {   // 4 * doff - 32 bytes left
            8: accept;
            9: accept;
            10: accept;
            default: parse_ts_next;                 // at least 12 left
        }
    }

    state parse_ts_next {
        transition select(data_offset, pkt.lookahead<bit<32>>()) {
            (_, OPT_NOP_NOP_SACK1): parse_sack1;   // 12 bytes: fits (doff >= 11)
            (11, OPT_NOP_NOP_SACK2): accept;       // 20 bytes need doff >= 13
            (12, OPT_NOP_NOP_SACK2): accept;
            (_, OPT_NOP_NOP_SACK2): parse_sack2;
            (15, OPT_NOP_NOP_SACK3): parse_sack3;  // 28 bytes need doff == 15
            default: accept;                       // 4 blocks never fit after TS
        }
    }

    // ---- NOP NOP SACK first ----
    state parse_sack_first {                        // 4 * doff - 20 bytes left (>= 12)
        transition select(data_offset, pkt.lookahead<bit<32>>()) {
            (_, OPT_NOP_NOP_SACK1): parse_sack1;
            (8, OPT_NOP_NOP_SACK2): accept;        // 20 bytes need doff >= 10
            (9, OPT_NOP_NOP_SACK2): accept;
            (_, OPT_NOP_NOP_SACK2): parse_sack2;
            (8 &&& 0xC, OPT_NOP_NOP_SACK3): accept; // 28 bytes need doff >= 12
            (_, OPT_NOP_NOP_SACK3): parse_sack3;
            (8 &&& 0xC, OPT_NOP_NOP_SACK4): accept; // 36 bytes need doff >= 14
            (12, OPT_NOP_NOP_SACK4): accept;
            (13, OPT_NOP_NOP_SACK4): accept;
            (_, OPT_NOP_NOP_SACK4): parse_sack4;
            default: accept;
        }
    }

    state parse_sack1 {
        pkt.extract(tcp_sack);
        pkt.extract(sack_blocks.next);
        transition accept;
    }

    state parse_sack2 {
        pkt.extract(tcp_sack);
        pkt.extract(sack_blocks.next);
        pkt.extract(sack_blocks.next);
        transition accept;
    }

    state parse_sack3 {
        pkt.extract(tcp_sack);
        pkt.extract(sack_blocks.next);
        pkt.extract(sack_blocks.next);
        pkt.extract(sack_blocks.next);
        transition accept;
    }

    state parse_sack4 {
        pkt.extract(tcp_sack);
        pkt.extract(sack_blocks.next);
        pkt.extract(sack_blocks.next);
        pkt.extract(sack_blocks.next);
        pkt.extract(sack_blocks.next);
        transition accept;
    }

    // ---- MSS SACKOK TS [NOP WS [Dysco tag]] (Linux SYN / SYN-ACK) ----
    state parse_synopt {                            // doff >= 9
        pkt.extract(tcp_synopt);
        transition select(data_offset) {   // 4 * doff - 36 bytes left
            9: accept;
            default: parse_synopt_next;
        }
    }

    state parse_synopt_next {
        transition select(pkt.lookahead<bit<32>>()) {
            OPT_NOP_WS &&& 0xFFFFFF00: parse_ws;
            default: accept;
        }
    }

    state parse_ws {
        pkt.extract(tcp_ws);
        transition select(data_offset) {   // 4 * doff - 40 bytes left
            10: accept;
            11: accept;
            default: parse_ws_next;                 // at least 8 left
        }
    }

    state parse_ws_next {
        transition select(pkt.lookahead<bit<32>>()) {
            OPT_DYSCO_TAG: parse_tag;
            default: accept;
        }
    }

    state parse_tag {
        pkt.extract(tcp_tag);
        transition accept;
    }
}

#endif
