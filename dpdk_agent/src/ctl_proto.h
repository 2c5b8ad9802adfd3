/* Control channel between the DPDK agent and its P4Runtime server (dysco_targets/server.py).
 *
 * A SOCK_SEQPACKET Unix-domain socket: every message keeps its boundaries. All integers are
 * little-endian (host order on x86; both ends run on the same machine); addresses are carried
 * as host-order uint32 (198.18.0.1 == 0xC6120001). The Python side mirrors these constants and
 * layouts in dysco_targets/dpdk_ctl.py; tests/targets/test_dpdk_ctl_proto.py parses this file and
 * compares both (and the contract codes with dysco_pipeline/pipeline.py).
 *
 * Every message starts with struct ctl_hdr. Requests carry a client sequence number that the
 * reply echoes. Every request gets a reply, except CTL_PKT_OUT (one way; a malformed one is
 * counted as a drop): its normal reply, or, for a request the agent cannot take (unknown
 * type, bad length), a reply with CTL_FLAG_ERROR and an i32 status (enum ctl_status).
 * Packet-ins (CTL_PKT_IN) and taps (CTL_TAP) are sent unsolicited with seq 0.
 */
#ifndef DYSCO_CTL_PROTO_H
#define DYSCO_CTL_PROTO_H

#include <stdint.h>

#define CTL_VERSION 1
#define CTL_MAX_MSG (1u << 20) /* largest message either side accepts */
#define CTL_CHUNK (192u * 1024) /* largest message either side sends: a SOCK_SEQPACKET message
				 * must fit the socket send buffer, which net.core.wmem_max caps
				 * (212992 bytes by default, doubled by the kernel) */

enum ctl_type {
	CTL_HELLO = 1,       /* -> reply: struct ctl_info */
	CTL_WRITE = 2,       /* u32 count, count * struct ctl_entry -> reply: u32 count, count * i32 */
	CTL_READ = 3,        /* u8 table (0xFF all) -> replies: u32 count, entries; MORE until last */
	CTL_PKT_OUT = 4,     /* packet_out header + frame -> no reply */
	CTL_PKT_IN = 5,      /* agent -> server: packet_in header + frame */
	CTL_INJECT = 6,      /* u16 in_port, u16 flags, frame -> reply: u32 n, n * (ctl_out + bytes);
			      * flags bit 0 (live): no capture, outputs go to the ports and
			      * packet-ins to the socket as for a received frame (reply n = 0) */
	CTL_REG_READ = 7,    /* u32 slot (0xFFFFFFFF: all) -> reply: u32 n, n * struct ctl_regs */
	CTL_REG_WRITE = 8,   /* struct ctl_regs -> reply: i32 status */
	CTL_STATS = 9,       /* -> reply: struct ctl_stats */
	CTL_CLEAR = 10,      /* delete every entry of every table and zero the registers -> i32 */
	CTL_CAPTURE = 12,    /* u8 on: outputs of ports go to the socket (tests) -> reply i32 */
	CTL_PKT_OUT_SYNC = 13, /* as PKT_OUT; replies the captured outputs (u32 n, ...) */
	CTL_START = 14,      /* start the ports (agent started with --wait-start) -> i32 */
	CTL_QUIT = 15,       /* exit -> i32 */
	CTL_SCHEMA = 16,     /* P4Info id -> agent code map (pbwrite.c) -> i32 */
	CTL_WRITE_PB = 17,   /* serialized p4.v1.WriteRequest -> u32 n, n * i32 (google.rpc codes) */
	CTL_PKTIN_SUB = 18,  /* the sender receives the packet-ins (default: the oldest client) */
	CTL_INJECT_BURST = 19, /* u16 in_port, u16 count, count * (u16 len, frame): frames
				* processed as one received burst on in_port (outputs to the
				* ports, packet-ins to the socket, as for INJECT live)
				* -> reply: u32 frames accepted */
	CTL_TAP_SUB = 20,    /* u8 on: frames sent to a port the agent does not have (port >=
			      * n_ports) go to the sender as CTL_TAP instead of being dropped
			      * -> reply i32 */
	CTL_TAP = 21,        /* agent -> tap client (seq 0): u16 port, u16 pad, frame */
};

#define CTL_FLAG_MORE 0x1  /* READ, REG_READ: more replies follow */
#define CTL_FLAG_ERROR 0x2 /* the request was refused: body = i32 status (enum ctl_status) */

struct ctl_hdr {
	uint32_t len; /* whole message, header included */
	uint16_t type;
	uint16_t flags;
	uint32_t seq;
} __attribute__((packed));

enum ctl_op { CTL_OP_INSERT = 1, CTL_OP_MODIFY = 2, CTL_OP_DELETE = 3 };

/* Status codes of per-update results (mapped onto google.rpc codes by the server). */
enum ctl_status {
	CTL_OK = 0,
	CTL_EEXIST = 6,     /* ALREADY_EXISTS */
	CTL_ENOENT = 5,     /* NOT_FOUND */
	CTL_EFULL = 8,      /* RESOURCE_EXHAUSTED */
	CTL_EINVAL = 3,     /* INVALID_ARGUMENT */
	CTL_EINTERNAL = 13, /* INTERNAL */
};

/* One table write / read record (fixed size so a batch is one array).
 * Tables and actions are those of the P4 pipeline contract (dysco_pipeline/pipeline.py); the
 * Python side maps P4Info names onto these codes. */
enum ctl_table {
	CTL_T_PORT_ROLE = 0,   /* match: port            action: HOST_PORT(agent_id) | NETWORK_PORT */
	CTL_T_LOCAL_ADDR = 1,  /* match: dip              action: SET_LOCAL */
	CTL_T_OUT_SESSION = 2, /* match: agent_id, 5-tuple action: OUT_REWRITE | OUT_TWO_PATH */
	CTL_T_IN_SESSION = 3,  /* match: 5-tuple           action: IN_REWRITE */
	CTL_T_IPV4_FWD = 4,    /* match: dip/plen (LPM)    action: ROUTE | ROUTE_HOST (port, smac, dmac) | DROP */
	CTL_T_ALL = 0xFF,
};
enum ctl_action {
	CTL_A_HOST_PORT = 1,
	CTL_A_NETWORK_PORT = 2,
	CTL_A_SET_LOCAL = 3,
	CTL_A_OUT_REWRITE = 4,
	CTL_A_OUT_TWO_PATH = 5,
	CTL_A_IN_REWRITE = 6,
	CTL_A_ROUTE = 7,
	CTL_A_DROP = 8,
	CTL_A_ROUTE_HOST = 9, /* ROUTE to a host port: OUT-rewritten packets hairpin (4.3) */
};
enum ctl_role { CTL_ROLE_ONE = 0, CTL_ROLE_OLD = 1, CTL_ROLE_NEW = 2 };

struct ctl_tuple {
	uint32_t sip, dip;
	uint16_t sport, dport;
} __attribute__((packed));

struct ctl_deltas {
	uint32_t seq, ack, tsval, tsecr;
	int8_t win_shift;
	uint8_t pad[3];
} __attribute__((packed));

struct ctl_entry {
	uint8_t op;       /* enum ctl_op (ignored in READ replies) */
	uint8_t table;    /* enum ctl_table */
	uint8_t action;   /* enum ctl_action */
	uint8_t role;     /* CTL_ROLE_* */
	uint8_t agent_id; /* OUT_SESSION match; HOST_PORT param */
	uint8_t proto;    /* session match */
	uint8_t plen;     /* IPV4_FWD prefix length */
	uint8_t peer_cut_valid;
	uint16_t port;    /* PORT_ROLE match; ROUTE param */
	uint32_t slot;    /* SLOT_BITS (24) wide */
	struct ctl_tuple match; /* sessions: 5-tuple; LOCAL_ADDR/IPV4_FWD: match.dip */
	struct ctl_tuple rw;
	struct ctl_deltas d;
	struct ctl_tuple new_rw;
	struct ctl_deltas new_d;
	uint32_t epoch;
	uint32_t peer_cut;
	uint8_t smac[6], dmac[6];
	uint32_t idle_ms; /* READ replies: ms since the entry last matched a packet */
} __attribute__((packed));

/* Packet-out and packet-in carry the contract's controller headers verbatim (big-endian,
 * layouts PACKET_OUT_FIELDS / PACKET_IN_FIELDS): CTL_PKT_OUT body = packet_out header (14
 * bytes) + frame; CTL_PKT_IN body = packet_in header (41 bytes) + frame. So the agent emits
 * byte for byte what the P4 program sends to its CPU port. */
#define PKT_OUT_HDR_LEN 15
#define PKT_IN_HDR_LEN 42

/* Registers of one slot (the contract's per-slot registers; flags = RV_* bits). */
struct ctl_regs {
	uint32_t slot;
	uint32_t sent_hi, ack_hi, rcvd_ack_hi, new_rcvd_lo, cut, old_ack_hi;
	uint32_t epoch;
	uint32_t flags;
} __attribute__((packed));

/* Contract codes and sizes (dysco_pipeline/pipeline.py, p4src/shared/define.p4 and size.p4). */
#define DYSCO_CONTROL_PORT 35000 /* UDP port of Dysco control messages (CONTROL punts) */
#define CPU_PORT 255
#define DROP_PORT 511
#define RECIRC_PORT 510 /* ingress port of a hairpin's IN pass (docs/pipeline.md 4.3) */
#define SLOT_BITS 24
#define NUM_SLOTS 65536 /* the default --slots (bmv2's register cells); sessions + 1 if more */
#define MAX_SLOTS (1u << SLOT_BITS) /* every slot value */
#define PORT_TABLE_SIZE 512
#define LOCAL_ADDR_TABLE_SIZE 1024
#define FWD_TABLE_SIZE 1024
/* The held prefix (docs/pipeline.md 5.2): data sent on a held new path with (seq - cut) mod
 * 2^32 below this is punted as R_HOLD. A power of two. */
#define HOLD_PUNT_BYTES 16384
enum { R_SYN = 1, R_SYNACK = 2, R_SYNACK_MIRROR = 3, R_FIN_MIRROR = 4, R_RST_MIRROR = 5,
       R_CONTROL = 6, R_PROBE_REPLY = 7, R_LATCH = 8, R_UNSUPPORTED_OPTIONS = 9, R_SPLIT = 10,
       R_HOLD = 11 };
enum { OP_INVALID = 0, OP_FORWARD = 1, OP_ROUTE = 2, OP_PROBE = 3 };
enum { PO_FLAG_FREEZE = 0x01 };
enum { PI_FLAG_ENTRY_HIT = 0x01, PI_FLAG_LATCH_OWN = 0x02, PI_FLAG_LATCH_PEER = 0x04,
       PI_FLAG_REGS = 0x08 };
enum { DIR_NONE = 0, DIR_OUT = 1, DIR_IN = 2 };
enum { RV_SENT_HI = 0x01, RV_ACK_HI = 0x02, RV_RCVD_ACK_HI = 0x04, RV_NEW_RCVD_LO = 0x08,
       RV_CUT = 0x10, RV_OLD_ACK_HI = 0x20, RV_LATCHED_OWN = 0x40, RV_LATCHED_PEER = 0x80,
       RV_EPOCH_KEEP = 0x07 };

/* Captured output (INJECT and PKT_OUT_SYNC replies): kind 0 = port, 1 = packet-in. */
struct ctl_out {
	uint8_t kind;
	uint8_t pad;
	uint16_t port;
	uint32_t len; /* bytes that follow (for kind 1: packet_in header + frame) */
} __attribute__((packed));

struct ctl_info {
	uint32_t version;     /* CTL_VERSION */
	uint32_t max_entries;
	uint32_t max_slots;
	uint32_t n_ports;
	uint32_t host_port, net_port;
	uint64_t table_bytes; /* memory of the session tables and registers */
	uint32_t max_sessions;
	uint32_t control_port;
} __attribute__((packed));

struct ctl_stats {
	uint64_t rx, tx, drop, punt, miss, hit, split, pktin_drop, entries;
	uint64_t idle_loops, sleeps;
	uint64_t cyc_rx, cyc_pipe, cyc_tx, cyc_ctl, busy_loops, hz; /* TSC cycles per stage */
} __attribute__((packed));

#endif
