/*
 * Dysco pipeline: table and register sizes.
 * The single place for sizes; mirrored in dysco_pipeline/pipeline.py (a test cross-checks them).
 */
#ifndef DYSCO_SIZE_P4
#define DYSCO_SIZE_P4

// Register slots: one per session side; the slot parameter is SLOT_BITS wide so that every
// slot value indexes a register cell (no out-of-range register access is possible).
#define SLOT_BITS 16
#define NUM_SLOTS 65536

// Session table sizes are per target: a target's program may define them first (the Tofino
// program does, per chip: tna/include/size.p4); these are bmv2's and the contract's numbers.
#ifndef SESSION_TABLE_SIZE
#define SESSION_TABLE_SIZE 65536   // out_session and in_session, each
#endif
#define FWD_TABLE_SIZE 1024        // ipv4_fwd
#define PORT_TABLE_SIZE 512        // port_role
#define LOCAL_ADDR_TABLE_SIZE 1024 // local_addr

#endif  // DYSCO_SIZE_P4
