/*
 * Table sizes for the Tofino program, per chip (__TARGET_TOFINO__ is 1 for Tofino 1, 2 for
 * Tofino 2; bf-p4c defines it). Included before ../shared/size.p4, whose #ifndef guards
 * keep these. Until a compile places the program (docs/pipeline.md section 10: PHV
 * allocation fails on both chips today), both chips use the contract's sizes; the capacity
 * estimates per chip are in section 9.
 */
#ifndef DYSCO_TNA_SIZE_P4
#define DYSCO_TNA_SIZE_P4

#ifndef SESSION_TABLE_SIZE          // (-DSESSION_TABLE_SIZE=N to measure other sizes)
#if __TARGET_TOFINO__ == 2
#define SESSION_TABLE_SIZE 1024    // out_session and in_session, each (Tofino 2)
#else
#define SESSION_TABLE_SIZE 65536   // out_session and in_session, each (Tofino 1)
#endif
#endif

#endif  // DYSCO_TNA_SIZE_P4
