/*
 * Table sizes for the Tofino program, per chip (__TARGET_TOFINO__ is 1 for Tofino 1, 2 for
 * Tofino 2; bf-p4c defines it). Included before ../shared/size.p4, whose #ifndef guards
 * keep these. Tofino 2: SESSION_TABLE_SIZE_T2 entries per session table and as many slots
 * (one per session side: more cells no side could use), the largest measured size at which
 * bf-p4c places the program in its 20 stages (docs/pipeline.md section 9: the stages bind,
 * not the SRAM). Tofino 1 does not fit at any size yet (docs/pipeline.md section 10) and
 * keeps the contract's 65,536.
 */
#ifndef DYSCO_TNA_SIZE_P4
#define DYSCO_TNA_SIZE_P4

#define SESSION_TABLE_SIZE_T2 36864

#ifndef SESSION_TABLE_SIZE          // (-DSESSION_TABLE_SIZE=N to measure other sizes)
#if __TARGET_TOFINO__ == 2
#define SESSION_TABLE_SIZE SESSION_TABLE_SIZE_T2   // out_session and in_session, each
#else
#define SESSION_TABLE_SIZE 65536   // out_session and in_session, each (Tofino 1)
#endif
#endif

#ifndef NUM_SLOTS                   // (-DNUM_SLOTS=N; default: one slot per session entry)
#if __TARGET_TOFINO__ == 2
#define NUM_SLOTS SESSION_TABLE_SIZE
#endif
#endif

#endif  // DYSCO_TNA_SIZE_P4
