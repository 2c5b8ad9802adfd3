/* The Dysco pipeline of the DPDK agent: the tables, slot registers and per-packet rules of the
 * P4 pipeline contract (docs/pipeline.md, dysco_pipeline/pipeline.py; reference semantics in
 * dysco_pipeline/refmodel.py and dysco_proto/datapath.py).
 *
 * Single-threaded: the lcore that polls the ports also applies table writes, so no locks are
 * needed and a write is complete before the next packet is processed.
 */
#ifndef DYSCO_PIPE_H
#define DYSCO_PIPE_H

#include <stdint.h>
#include <rte_mbuf.h>
#include "ctl_proto.h"

#define PIPE_MAX_LOCAL LOCAL_ADDR_TABLE_SIZE
#define PIPE_MAX_FWD FWD_TABLE_SIZE
#define PIPE_MAX_PORTS PORT_TABLE_SIZE /* 9-bit ports */
#define PIPE_CPU_PORT CPU_PORT
#define PIPE_RECIRC_PORT RECIRC_PORT
#define PIPE_MAX_FRAME 9216 /* largest frame (jumbo) */

struct pipe_cfg {
	uint32_t max_entries; /* session hash capacity (OUT + IN entries) */
	uint32_t max_slots;
	uint32_t max_two;
	int socket_id;
};

/* Sinks the pipeline emits to (set by eal_ports.c and selftest.c). pktin gets the 42-byte
 * packet_in header. */
struct pipe_sink {
	void (*tx)(void *ctx, struct rte_mbuf *m, uint16_t port);
	void (*pktin)(void *ctx, const uint8_t *hdr, const uint8_t *data, uint32_t len);
	void *ctx;
};

struct pipe;

/* NULL if memory is short (nothing left allocated). */
struct pipe *pipe_create(const struct pipe_cfg *cfg, struct rte_mempool *mp);
void pipe_destroy(struct pipe *p);
void pipe_set_sink(struct pipe *p, const struct pipe_sink *sink);
uint64_t pipe_table_bytes(const struct pipe *p);
const struct pipe_cfg *pipe_config(const struct pipe *p);

/* Process a burst received on in_port; consumes the mbufs. */
void pipe_process_burst(struct pipe *p, struct rte_mbuf **m, uint16_t n, uint16_t in_port,
			uint32_t now_ms);
/* A packet-out: 15-byte packet_out header + frame (m holds the frame only). */
void pipe_packet_out(struct pipe *p, const uint8_t *hdr, struct rte_mbuf *m, uint32_t now_ms);

int pipe_write(struct pipe *p, const struct ctl_entry *e, uint32_t now_ms);
/* Iterate entries of `table` (CTL_T_ALL: every table); *it starts at 0; returns 0 at end. */
int pipe_read_next(struct pipe *p, uint64_t *it, uint8_t table, struct ctl_entry *out,
		   uint32_t now_ms);
int pipe_reg_read(struct pipe *p, uint32_t slot, struct ctl_regs *out);
int pipe_reg_write(struct pipe *p, const struct ctl_regs *in);
void pipe_clear(struct pipe *p);
uint32_t pipe_count(const struct pipe *p);

struct pipe_counters {
	uint64_t hit, miss, punt, split, unsupported, drop;
};
const struct pipe_counters *pipe_counters(const struct pipe *p);

#endif
