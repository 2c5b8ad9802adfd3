/*
 * Table sizes for the Tofino program, per chip (__TARGET_TOFINO__ is 1 for Tofino 1, 2 for
 * Tofino 2; bf-p4c defines it). Included before ../shared/size.p4, whose #ifndef guards
 * keep these. Tofino 2: 1,024, the size at which bf-p4c places the program (larger sizes
 * not yet measured on this version); Tofino 1 does not fit at any size yet (stages:
 * docs/pipeline.md section 10) and keeps the contract's 65,536.
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
