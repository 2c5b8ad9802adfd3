/*
 * Table sizes for the Tofino program, per chip (__TARGET_TOFINO__ is 1 for Tofino 1, 2 for
 * Tofino 2; bf-p4c defines it). Included before ../shared/size.p4, whose #ifndef guards
 * keep these. Tofino 2: SESSION_TABLE_SIZE_T2 entries per session table and as many slots
 * (one per session side: more cells no side could use), the largest measured size at which
 * bf-p4c places the program in its 20 stages (docs/pipeline.md section 9: the stages bind,
 * not the SRAM). Tofino 1 (folded, tna/dysco.p4 FOLD): SESSION_TABLE_SIZE_T1, the largest
 * measured size at which pipe_a's ingress, which holds the session tables, fits its 12
 * stages (docs/pipeline.md section 10 item 11: 40,960 takes 14).
 */
#ifndef DYSCO_TNA_SIZE_P4
#define DYSCO_TNA_SIZE_P4

#define SESSION_TABLE_SIZE_T2 36864
#define SESSION_TABLE_SIZE_T1 36864

#ifndef SESSION_TABLE_SIZE          // (-DSESSION_TABLE_SIZE=N to measure other sizes)
#if __TARGET_TOFINO__ == 2
#define SESSION_TABLE_SIZE SESSION_TABLE_SIZE_T2   // out_session and in_session, each
#else
#define SESSION_TABLE_SIZE SESSION_TABLE_SIZE_T1   // (Tofino 1)
#endif
#endif

#ifndef NUM_SLOTS                   // (-DNUM_SLOTS=N; default: one slot per session entry)
#define NUM_SLOTS SESSION_TABLE_SIZE
#endif

#endif  // DYSCO_TNA_SIZE_P4
