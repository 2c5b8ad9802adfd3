/* Internals of the DPDK agent's pipeline, shared by its files:
 *
 *   parse.c      parser and ingress checks (p4src/v1model/include/parser.p4)
 *   tables.c     creation, table writes, registers, clear
 *   table_read.c table and register reads
 *   steer.c      slot registers' two-path steering (p4src/v1model/include/slot_state.p4)
 *   rewrite.c    five-tuple / seq / ack / option / window rewrite, incremental checksums
 *   route.c      ipv4_fwd (LPM, MACs, TTL)
 *   punt.c       packet-in header (PACKET_IN_FIELDS)
 *   pipe.c       per-packet rules (Classify, SlotState, Decide) and packet-out
 *
 * Byte order: table keys and rewrite values are kept in network order (ready to copy into
 * frames); control records (ctl_proto.h) in host order.
 */
#ifndef DYSCO_PIPE_INTERNAL_H
#define DYSCO_PIPE_INTERNAL_H

#include <stdint.h>

#include <rte_mbuf.h>

#include "ctl_proto.h"
#include "pipe.h"
#include "wire.h"

#define ETH_HLEN 14
#define ETHERTYPE_IPV4 0x0800
#define PROTO_TCP 6
#define PROTO_ICMP 1
#define PROTO_UDP 17

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

#define BURST_MAX 64 /* pipe_process_burst works in bursts of at most this many frames */

/* Session table key: 16 bytes, addresses/ports in network order. */
struct session_key {
	uint32_t sip, dip;
	uint16_t sport, dport;
	uint8_t proto;
	uint8_t dir;      /* DIR_OUT / DIR_IN */
	uint8_t agent_id; /* OUT only */
	uint8_t pad;
} __attribute__((packed));

/* Action data of a session entry, indexed by the entry's hash position: 46 bytes. */
struct session_entry {
	uint32_t rw_sip, rw_dip; /* network order */
	uint16_t rw_sport, rw_dport;
	uint32_t d_seq, d_ack, d_tsval, d_tsecr;
	uint32_t epoch;
	uint32_t twopath_ref; /* 1 + index into the two-path pool, 0 = none */
	uint32_t last_used;   /* coarse ms clock, for idle reads */
	uint32_t slot;        /* SLOT_BITS (24) wide */
	int8_t win_shift;
	uint8_t role;
} __attribute__((packed));

/* Extra action data of an OUT entry in two-path mode or with a peer cutoff (few at a time). */
struct twopath_entry {
	uint32_t rw_sip, rw_dip;
	uint16_t rw_sport, rw_dport;
	uint32_t d_seq, d_ack, d_tsval, d_tsecr;
	uint32_t peer_cut;
	int8_t win_shift;
	uint8_t two_path;
	uint8_t peer_cut_valid;
	uint8_t pad;
} __attribute__((packed));

/* Registers of one slot: 32 bytes (the contract's sent_hi .. flags). */
struct slot_regs {
	uint32_t sent_hi, ack_hi, rcvd_ack_hi, new_rcvd_lo, cut, old_ack_hi;
	uint32_t epoch;
	uint8_t flags; /* RV_* valid and latch bits */
	uint8_t pad[3];
} __attribute__((packed));

struct fwd_entry {
	uint32_t addr; /* host order, masked */
	uint8_t plen;
	uint8_t valid;
	uint8_t action; /* CTL_A_ROUTE / CTL_A_ROUTE_HOST / CTL_A_DROP */
	uint8_t pad;
	uint16_t port;
	uint8_t smac[6], dmac[6];
};

struct port_entry {
	uint8_t valid;
	uint8_t action; /* CTL_A_HOST_PORT / CTL_A_NETWORK_PORT */
	uint8_t agent_id;
};

struct pipe {
	struct pipe_cfg cfg;
	struct rte_hash *sessions;       /* OUT and IN session keys */
	struct session_entry *entries;   /* by hash position */
	struct twopath_entry *twopaths;  /* two-path pool */
	uint32_t *twopath_free;          /* free pool indexes (a stack) */
	uint32_t n_twopath_free;
	struct slot_regs *regs;
	struct port_entry ports[PIPE_MAX_PORTS];
	uint32_t local[PIPE_MAX_LOCAL]; /* local_addr, host order */
	uint32_t n_local;
	struct fwd_entry fwd[PIPE_MAX_FWD];
	struct rte_lpm *lpm;  /* fwd prefixes /1../32 */
	int32_t fwd_default;  /* index of the /0 entry, -1 if none (rte_lpm has no depth 0) */
	struct rte_mempool *mp;
	struct pipe_sink sink;
	struct pipe_counters cnt;
	uint64_t bytes;
	uint32_t now_ms; /* the clock of the packet being processed (a hairpin's IN pass) */
	uint8_t in_pass; /* processing a hairpin's IN pass: it never hairpins again */
};

/* ---- parse.c ---------------------------------------------------------------------------- */
/* A parsed frame. Offsets into data; option offsets count from the TCP header, 0 = absent. */
struct packet {
	uint8_t *data;
	uint32_t len;
	uint32_t l3_off, l4_off;
	uint32_t tcp_hdr_len;
	uint32_t payload_len;
	uint8_t tcp_flags;
	uint8_t ts_off;        /* NOP NOP TS: TSval at ts_off */
	uint8_t sack_off;      /* NOP NOP SACK: first block at sack_off */
	uint8_t sack_blocks;
	uint8_t syn_ts_off;    /* MSS SACKOK TS: TSval at syn_ts_off */
	uint8_t opts_unparsed; /* option bytes left unparsed */
};

/* What the parser makes of a frame. */
enum parse_result {
	PARSE_DROP = -1, /* malformed, not IPv4, bad checksum */
	PARSE_ROUTE = 0, /* IPv4 that is neither parsed TCP nor UDP: fragments, other protocols */
	PARSE_TCP = 1,
	PARSE_UDP = 2,
	PARSE_ICMP_QUOTE = 3, /* ICMP error quoting TCP, checksum verified (docs/pipeline.md 4.2) */
};

enum parse_result packet_parse(uint8_t *data, uint32_t len, struct packet *pkt);

/* ---- punt.c ----------------------------------------------------------------------------- */
/* The packet_in header's fields (PACKET_IN_FIELDS). */
struct punt {
	uint16_t ingress_port;
	uint8_t reason, direction, flags, agent_id;
	uint32_t slot;
	uint32_t token, epoch;
	uint8_t reg_valid;
	uint32_t sent_hi, ack_hi, rcvd_ack_hi, new_rcvd_lo, cut, old_ack_hi;
};

void punt_emit(struct pipe *p, const struct punt *punt, const uint8_t *data, uint32_t len);
void punt_set_regs(struct punt *punt, const struct slot_regs *regs, uint32_t old_ack_hi_before,
		   uint8_t old_ack_hi_valid_before);

/* ---- slot registers --------------------------------------------------------------------- */
/* A packet of a newer epoch resets the registers (except the RV_EPOCH_KEEP bits). */
static inline void regs_enter_epoch(struct slot_regs *regs, uint32_t epoch)
{
	if (epoch > regs->epoch) {
		regs->epoch = epoch;
		regs->flags &= RV_EPOCH_KEEP;
	}
}
/* The new value of a register kept as a serial-number max (min): v if its valid bit is clear,
 * else the max (min) of current and v; sets the valid bit. Usage:
 *   regs->sent_hi = reg_max(regs, RV_SENT_HI, regs->sent_hi, v); */
static inline uint32_t reg_max(struct slot_regs *regs, uint8_t valid_bit, uint32_t current,
			       uint32_t v)
{
	uint32_t out = (regs->flags & valid_bit) ? seq_max(current, v) : v;
	regs->flags |= valid_bit;
	return out;
}
static inline uint32_t reg_min(struct slot_regs *regs, uint8_t valid_bit, uint32_t current,
			       uint32_t v)
{
	uint32_t out = (regs->flags & valid_bit) ? seq_min(current, v) : v;
	regs->flags |= valid_bit;
	return out;
}

/* The peer latch's condition (ack_hi after this packet): the host acked all of the peer's
 * old-path data (pipeline.md 5.2, 5.4). */
static inline int peer_acked(const struct slot_regs *regs, const struct twopath_entry *twopath)
{
	return twopath->peer_cut_valid && (regs->flags & RV_ACK_HI) &&
	       seq_ge(regs->ack_hi, twopath->peer_cut);
}

/* ---- steer.c ---------------------------------------------------------------------------- */
enum { PATH_OLD = 0, PATH_NEW = 1, PATH_SPLIT = -1 };
int steer_two_path(struct slot_regs *regs, const struct twopath_entry *twopath,
		   const struct packet *pkt, uint32_t seq, uint32_t ack, uint32_t seq_len);

/* ---- rewrite.c -------------------------------------------------------------------------- */
/* What a packet is rewritten with: one path's action data. */
struct rewrite {
	uint32_t sip, dip; /* network order */
	uint16_t sport, dport;
	uint32_t d_seq, d_ack, d_tsval, d_tsecr;
	int8_t win_shift;
	uint8_t set_ack; /* an old-path IN packet: ack := ack_value after the deltas */
	uint32_t ack_value;
};

void rewrite_from_entry(const struct session_entry *entry, struct rewrite *rw);
void rewrite_from_twopath(const struct twopath_entry *twopath, struct rewrite *rw);
void rewrite_packet(struct packet *pkt, const struct rewrite *rw);
void rewrite_icmp_quote(struct packet *pkt, const struct session_entry *e);

/* ---- route.c ---------------------------------------------------------------------------- */
enum route_csum { ROUTE_CSUM_INCREMENTAL = 0, ROUTE_CSUM_FULL = 1 };
enum route_next { ROUTE_SEND = 0, ROUTE_MAY_HAIRPIN = 1 };
/* ipv4_fwd on dst (host order): TTL check, LPM, MACs, TTL decrement, IPv4 checksum; sends or
 * drops (consumes m). With ROUTE_MAY_HAIRPIN (an OUT-rewritten packet or a ROUTE packet-out),
 * a ROUTE_HOST route runs the frame through the IN pass instead (docs/pipeline.md 4.3). */
void route_to(struct pipe *p, struct rte_mbuf *m, uint8_t *frame, enum route_csum csum,
	      uint32_t dst, enum route_next next);
static inline void route(struct pipe *p, struct rte_mbuf *m, uint8_t *frame)
{
	route_to(p, m, frame, ROUTE_CSUM_INCREMENTAL, rd32(frame + ETH_HLEN + 16), ROUTE_SEND);
}

/* ---- tables.c --------------------------------------------------------------------------- */
void twopath_pool_reset(struct pipe *p);

static inline void pipe_drop(struct pipe *p, struct rte_mbuf *m)
{
	p->cnt.drop++;
	if (m)
		rte_pktmbuf_free(m);
}

#endif
