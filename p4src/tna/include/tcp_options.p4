/*
 * TcpOptionsParser (TNA): the shared parser (../../shared/parser/tcp_options.p4) with the
 * same outcome for every packet, each select reading at most 16 bits of lookahead besides
 * data_offset: Tofino 2's parser has four 8-bit match registers, and data_offset keeps one
 * for its whole live range, so a 32-bit lookahead beside it (or 64 bits) does not fit. The
 * same option words are compared, half a word per state, in the shared parser's order.
 */
#ifndef DYSCO_TNA_TCP_OPTIONS_P4
#define DYSCO_TNA_TCP_OPTIONS_P4

parser TcpOptionsParser(packet_in pkt, in bit<4> data_offset, out tcp_ts_t tcp_ts,
                        out tcp_sack_t tcp_sack, out tcp_sack_block_t[4] sack_blocks,
                        out tcp_synopt_t tcp_synopt, out tcp_ws_t tcp_ws,
                        out tcp_tag_t tcp_tag) {

    state start {
        transition select(data_offset) {
            0 &&& 0x8: accept;          // 0-7: fewer than 12 option bytes (or malformed)
            default: first_hi;          // 8-15: at least 12 option bytes
        }
    }

    // The first word: NOP NOP TS(10) | NOP NOP SACK(len) | MSS(4) ... (SYN layout)
    state first_hi {
        transition select(pkt.lookahead<bit<32>>()[31:16]) {
            OPT_NOP_NOP_TS[31:16]: first_nop_nop;
            OPT_SYN_LAYOUT_HI[31:16]: first_mss;
            default: accept;
        }
    }

    state first_nop_nop {
        transition select(pkt.lookahead<bit<32>>()[15:0]) {
            OPT_NOP_NOP_TS[15:0]: parse_ts;
            OPT_NOP_NOP_SACK[15:0] &&& 0xFF00: parse_sack_first;
            default: accept;
        }
    }

    state first_mss {
        transition select(data_offset) {
            8: accept;                  // 12 bytes: too short for the SYN layout
            default: first_syn_lo_hi;
        }
    }

    state first_syn_lo_hi {            // the second word: SACKOK TS(10)
        transition select(pkt.lookahead<bit<64>>()[31:16]) {
            OPT_SYN_LAYOUT_LO[31:16]: first_syn_lo_lo;
            default: accept;
        }
    }

    state first_syn_lo_lo {
        transition select(pkt.lookahead<bit<64>>()[15:0]) {
            OPT_SYN_LAYOUT_LO[15:0]: parse_synopt;
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
            default: ts_next_hi;                    // at least 12 left
        }
    }

    state ts_next_hi {
        transition select(pkt.lookahead<bit<32>>()[31:16]) {
            OPT_NOP_NOP_SACK[31:16]: ts_next_lo;
            default: accept;
        }
    }

    state ts_next_lo {
        transition select(data_offset, pkt.lookahead<bit<32>>()[15:0]) {
            (_, OPT_NOP_NOP_SACK1[15:0]): parse_sack1;   // 12 bytes: fits (doff >= 11)
            (11, OPT_NOP_NOP_SACK2[15:0]): accept;       // 20 bytes need doff >= 13
            (12, OPT_NOP_NOP_SACK2[15:0]): accept;
            (_, OPT_NOP_NOP_SACK2[15:0]): parse_sack2;
            (15, OPT_NOP_NOP_SACK3[15:0]): parse_sack3;  // 28 bytes need doff == 15
            default: accept;                             // 4 blocks never fit after TS
        }
    }

    // ---- NOP NOP SACK first (its first half matched in first_nop_nop) ----
    state parse_sack_first {                        // 4 * doff - 20 bytes left (>= 12)
        transition select(data_offset, pkt.lookahead<bit<32>>()[15:0]) {
            (_, OPT_NOP_NOP_SACK1[15:0]): parse_sack1;
            (8, OPT_NOP_NOP_SACK2[15:0]): accept;        // 20 bytes need doff >= 10
            (9, OPT_NOP_NOP_SACK2[15:0]): accept;
            (_, OPT_NOP_NOP_SACK2[15:0]): parse_sack2;
            (8 &&& 0xC, OPT_NOP_NOP_SACK3[15:0]): accept; // 28 bytes need doff >= 12
            (_, OPT_NOP_NOP_SACK3[15:0]): parse_sack3;
            (8 &&& 0xC, OPT_NOP_NOP_SACK4[15:0]): accept; // 36 bytes need doff >= 14
            (12, OPT_NOP_NOP_SACK4[15:0]): accept;
            (13, OPT_NOP_NOP_SACK4[15:0]): accept;
            (_, OPT_NOP_NOP_SACK4[15:0]): parse_sack4;
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
            default: synopt_next_hi;
        }
    }

    state synopt_next_hi {
        transition select(pkt.lookahead<bit<32>>()[31:16]) {
            OPT_NOP_WS[31:16]: synopt_next_lo;
            default: accept;
        }
    }

    state synopt_next_lo {
        transition select(pkt.lookahead<bit<32>>()[15:0]) {
            OPT_NOP_WS[15:0] &&& 0xFF00: parse_ws;
            default: accept;
        }
    }

    state parse_ws {
        pkt.extract(tcp_ws);
        transition select(data_offset) {   // 4 * doff - 40 bytes left
            10: accept;
            11: accept;
            default: ws_next_hi;                    // at least 8 left
        }
    }

    state ws_next_hi {
        transition select(pkt.lookahead<bit<32>>()[31:16]) {
            OPT_DYSCO_TAG[31:16]: ws_next_lo;
            default: accept;
        }
    }

    state ws_next_lo {
        transition select(pkt.lookahead<bit<32>>()[15:0]) {
            OPT_DYSCO_TAG[15:0]: parse_tag;
            default: accept;
        }
    }

    state parse_tag {
        pkt.extract(tcp_tag);
        transition accept;
    }
}

#endif
