/*
 * Dysco pipeline: table and register sizes.
 * The single place for sizes; mirrored in dysco_pipeline/pipeline.py (a test cross-checks them).
 */
#ifndef DYSCO_SIZE_P4
#define DYSCO_SIZE_P4

// Register slots: one per session side. The slot parameter (and the controller headers' slot
// fields) are SLOT_BITS wide in every target: 16,777,216 slot values. Each target sizes its
// registers separately (NUM_SLOTS cells: bmv2 65,536, the DPDK agent its --slots option);
// a controller learns the number of cells (the registers' P4Info size, or its device.slots
// setting) and never installs a slot beyond them (docs/pipeline.md section 1).
#define SLOT_BITS 24
#ifndef NUM_SLOTS
#define NUM_SLOTS 65536
#endif

// Session table sizes are per target: a target's program may define them first (the Tofino
// program does, per chip: tna/include/size.p4); these are bmv2's and the contract's numbers.
#ifndef SESSION_TABLE_SIZE
#define SESSION_TABLE_SIZE 65536   // out_session and in_session, each
#endif
#define FWD_TABLE_SIZE 1024        // ipv4_fwd
#define PORT_TABLE_SIZE 512        // port_role
#define LOCAL_ADDR_TABLE_SIZE 1024 // local_addr

#endif  // DYSCO_SIZE_P4
