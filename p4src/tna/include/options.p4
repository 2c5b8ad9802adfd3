/*
 * OptionLayout (TNA): meta.opt_other, "option bytes outside the recognised layouts"
 * (docs/pipeline.md 3.2), as one constant table. The v1model Classify sums the parsed
 * option bytes and compares them with 4 * data_offset - 20; on Tofino that sum is a chain of
 * dependent additions and the shift of data_offset breaks PHV allocation, so the table lists
 * the layouts the parser extracts with the data offset each needs exactly. The controller
 * never writes it.
 */
#ifndef DYSCO_TNA_OPTIONS_P4
#define DYSCO_TNA_OPTIONS_P4

control OptionLayout(in headers_t hdr, inout dysco_meta_t meta) {
    action layout_only() { meta.opt_other = 0; }
    action other_options() { meta.opt_other = 1; }

    table opt_layout {
        key = {
            hdr.tcp.data_offset : exact @name("data_offset");
            hdr.tcp_ts.isValid() : exact @name("ts");
            hdr.tcp_sack.isValid() : exact @name("sack");
            hdr.sack_blocks[0].isValid() : exact @name("block0");
            hdr.sack_blocks[1].isValid() : exact @name("block1");
            hdr.sack_blocks[2].isValid() : exact @name("block2");
            hdr.sack_blocks[3].isValid() : exact @name("block3");
            hdr.tcp_synopt.isValid() : exact @name("synopt");
            hdr.tcp_ws.isValid() : exact @name("ws");
            hdr.tcp_tag.isValid() : exact @name("tag");
        }
        actions = {
            layout_only;
            other_options;
        }
        // data offset 5 + option bytes / 4
        const entries = {
            (5, false, false, false, false, false, false, false, false, false) : layout_only();
            (8, true, false, false, false, false, false, false, false, false) : layout_only();
            (8, false, true, true, false, false, false, false, false, false) : layout_only();
            (10, false, true, true, true, false, false, false, false, false) : layout_only();
            (12, false, true, true, true, true, false, false, false, false) : layout_only();
            (14, false, true, true, true, true, true, false, false, false) : layout_only();
            (11, true, true, true, false, false, false, false, false, false) : layout_only();
            (13, true, true, true, true, false, false, false, false, false) : layout_only();
            (15, true, true, true, true, true, false, false, false, false) : layout_only();
            (9, false, false, false, false, false, false, true, false, false) : layout_only();
            (10, false, false, false, false, false, false, true, true, false) : layout_only();
            (12, false, false, false, false, false, false, true, true, true) : layout_only();
        }
        const default_action = other_options();
        size = 16;
    }

    apply {
        opt_layout.apply();
    }
}

#endif
