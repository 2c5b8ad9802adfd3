/*
 * Dysco pipeline: constants shared by every target.
 * Mirrored in dysco_pipeline/pipeline.py (names and numbers); a test cross-checks the P4Info.
 * Never use these numbers as literals elsewhere.
 */
#ifndef DYSCO_DEFINE_P4
#define DYSCO_DEFINE_P4

#include "size.p4"

// ---- configuration: CPU port and clone session (override with -D at compile time) ----
#ifndef CPU_PORT
#define CPU_PORT 255            // simple_switch_grpc --cpu-port 255
#endif
#ifndef CPU_CLONE_SESSION
#define CPU_CLONE_SESSION 100   // clone session whose replica goes to CPU_PORT
#endif
#define PUNT_FIELD_LIST 1       // v1model @field_list index preserved in clones
#define DROP_PORT 511           // bmv2 drop port; packet-outs to it are dropped
// The port a hairpinned packet re-enters by for its IN pass (docs/pipeline.md 4.3): the
// ingress_port of that pass's packet-ins; never a host port. TNA: a recirculation port of
// the chip (tna/dysco.p4 sets its default before this file).
#ifndef RECIRC_PORT
#define RECIRC_PORT 510
#endif
#define HAIRPIN_FIELD_LIST 2    // v1model @field_list index preserved in a recirculation
// The held prefix (docs/pipeline.md 5.2): OUT data sent into a hold (new path's rewrite
// destination 0.0.0.0) with (seq - cut) mod 2^32 below this is punted as REASON_HOLD. A power
// of two: TNA tests it as a mask of the difference seq - cut.
#define HOLD_PUNT_BYTES 16384

typedef bit<SLOT_BITS> slot_t;
typedef bit<32> seq_t;
typedef bit<9> port_t;

// ---- protocol numbers ----
const bit<16> ETHERTYPE_IPV4 = 0x0800;
const bit<8> IP_PROTO_TCP = 6;
const bit<8> IP_PROTO_UDP = 17;
const bit<16> DYSCO_CONTROL_PORT = 35000;

const bit<8> TCP_FIN = 0x01;
const bit<8> TCP_SYN = 0x02;
const bit<8> TCP_RST = 0x04;
const bit<8> TCP_ACK = 0x10;

// ---- TCP option layouts the parser recognises (docs/pipeline.md section 3) ----
const bit<32> OPT_NOP_NOP_TS = 0x0101080A;        // NOP NOP TS(10)
const bit<32> OPT_NOP_NOP_SACK = 0x01010500;      // NOP NOP SACK(len) (mask 0xFFFFFF00)
const bit<32> OPT_NOP_NOP_SACK1 = 0x0101050A;     // 1 block
const bit<32> OPT_NOP_NOP_SACK2 = 0x01010512;     // 2 blocks
const bit<32> OPT_NOP_NOP_SACK3 = 0x0101051A;     // 3 blocks
const bit<32> OPT_NOP_NOP_SACK4 = 0x01010522;     // 4 blocks
// MSS(4) SACKOK(2) TS(10): 0x0204xxxx 0x0402080A (the MSS value is a wildcard); two 32-bit
// halves, since Tofino's parser cannot match 64-bit constants.
const bit<32> OPT_SYN_LAYOUT_HI = 0x02040000;
const bit<32> OPT_SYN_LAYOUT_HI_MASK = 0xFFFF0000;
const bit<32> OPT_SYN_LAYOUT_LO = 0x0402080A;
const bit<32> OPT_NOP_WS = 0x01030300;            // NOP WS(3) (mask 0xFFFFFF00)
const bit<32> OPT_DYSCO_TAG = 0xFD084459;         // kind 253, len 8, ExID 0x4459

// ---- packet-in reasons (dysco_pipeline.pipeline.Reason) ----
const bit<8> REASON_SYN = 1;
const bit<8> REASON_SYNACK = 2;
const bit<8> REASON_SYNACK_MIRROR = 3;
const bit<8> REASON_FIN_MIRROR = 4;
const bit<8> REASON_RST_MIRROR = 5;
const bit<8> REASON_CONTROL = 6;
const bit<8> REASON_PROBE_REPLY = 7;
const bit<8> REASON_LATCH = 8;
const bit<8> REASON_UNSUPPORTED_OPTIONS = 9;
const bit<8> REASON_SPLIT = 10;
const bit<8> REASON_HOLD = 11;

// ---- packet-out ops (dysco_pipeline.pipeline.PacketOutOp) ----
const bit<8> OP_INVALID = 0;
const bit<8> OP_FORWARD = 1;
const bit<8> OP_ROUTE = 2;
const bit<8> OP_PROBE = 3;
const bit<8> PO_FLAG_FREEZE = 0x01;

// ---- packet-in flags (PacketInFlag) ----
const bit<8> PI_FLAG_ENTRY_HIT = 0x01;
const bit<8> PI_FLAG_LATCH_OWN = 0x02;
const bit<8> PI_FLAG_LATCH_PEER = 0x04;
const bit<8> PI_FLAG_REGS = 0x08;

// ---- directions, roles, port roles ----
const bit<8> DIR_NONE = 0;
const bit<8> DIR_OUT = 1;
const bit<8> DIR_IN = 2;
const bit<8> ROLE_ONE = 0;
const bit<8> ROLE_OLD = 1;
const bit<8> ROLE_NEW = 2;
const bit<8> PORT_ROLE_NETWORK = 0;
const bit<8> PORT_ROLE_HOST = 1;

// ---- slot register "flags" bits (RegValid, LATCHED_*) ----
const bit<8> RV_SENT_HI = 0x01;
const bit<8> RV_ACK_HI = 0x02;
const bit<8> RV_RCVD_ACK_HI = 0x04;
const bit<8> RV_NEW_RCVD_LO = 0x08;
const bit<8> RV_CUT = 0x10;
const bit<8> RV_OLD_ACK_HI = 0x20;
const bit<8> RV_LATCHED_OWN = 0x40;
const bit<8> RV_LATCHED_PEER = 0x80;
const bit<8> RV_EPOCH_KEEP = 0x07;   // bits kept when a newer epoch clears two-path state

// ---- slot operations requested of the SlotState control ----
const bit<8> SLOT_OP_NONE = 0;
const bit<8> SLOT_OP_OUT = 1;
const bit<8> SLOT_OP_IN = 2;
const bit<8> SLOT_OP_PROBE = 3;

// ---- two-path steering results ----
const bit<8> PATH_OLD = 0;
const bit<8> PATH_NEW = 1;

// An IN packet on an old path (entry epoch older than the slot's) whose ack is below
// rcvd_ack_hi (docs/pipeline.md 5.5): data gets ack = rcvd_ack_hi, a pure ack is dropped.
const bit<2> STALE_NONE = 0;
const bit<2> STALE_RAISE = 1;
const bit<2> STALE_DROP = 2;

#endif  // DYSCO_DEFINE_P4

// ---- serial-number comparison (RFC 1982 style: the sign bit of the 32-bit difference) ----
#ifndef DYSCO_SEQ_MACROS
#define DYSCO_SEQ_MACROS
#define SEQ_GE(a, b) ((((a) - (b)) & 32w0x80000000) == 0)
#define SEQ_GT(a, b) (SEQ_GE(a, b) && ((a) != (b)))
#define SEQ_LT(a, b) (!SEQ_GE(a, b))
#endif
