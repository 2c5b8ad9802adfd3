/* The agent process: EAL and ports (eal_ports.c), the control server (ctl_server.c), the
 * pipeline self-test (selftest.c) and the poll loop (main.c) share this state.
 *
 * One lcore does everything: polls the ports, applies control messages between bursts (so a
 * table write is complete before the next packet), backs off when idle. No locks.
 */
#ifndef DYSCO_AGENT_H
#define DYSCO_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include <rte_cycles.h>
#include <rte_mbuf.h>

#include <poll.h>

#include "ctl_proto.h"
#include "pipe.h"

#define AGENT_MAX_PORTS 16 /* a rack device: hosts + the network port */
#define AGENT_MAX_BURST 64
#define AGENT_TXQ_LEN (AGENT_MAX_BURST * 4)
#define AGENT_MAX_CLIENTS 4

struct agent {
	struct pipe *pipe;
	struct rte_mempool *mp;
	uint16_t n_ports;
	int started; /* ports started (CTL_START after --wait-start) */
	/* control server */
	int listen_fd;
	int request_fd;                   /* the client whose request is being handled */
	int clients[AGENT_MAX_CLIENTS];   /* connected clients, oldest first */
	int n_clients;
	int capture_fd;                   /* CTL_CAPTURE client, -1: none */
	int pktin_fd;                     /* packet-in subscriber, -1: the oldest client */
	int tap_fd;                       /* CTL_TAP_SUB client: outputs to absent ports, -1 */
	char ctl_path[108];
	uint8_t *rx_buf;    /* a received control message */
	uint8_t *reply_buf; /* the reply being built */
	/* transmit queues, flushed after each poll round */
	struct rte_mbuf *txq[AGENT_MAX_PORTS][AGENT_TXQ_LEN];
	uint16_t txq_len[AGENT_MAX_PORTS];
	/* doorbells: a packet socket per af_packet port, readable when a frame arrived, so a
	 * frame wakes the sleeping agent (-1: the port cannot wake it) */
	int doorbell[AGENT_MAX_PORTS];
	int all_ports_wake; /* every port has a doorbell: the idle sleep needs no short cap */
	/* capture (tests): outputs go to cap_buf instead of the ports */
	int capture;   /* CTL_CAPTURE on: outputs to absent ports are captured */
	int capturing; /* inside an INJECT / PKT_OUT_SYNC: every output is captured */
	uint8_t *cap_buf;
	uint32_t cap_len, cap_count;
	struct ctl_stats stats;
	/* options */
	uint32_t burst;
	uint32_t max_sleep_us;
	uint32_t n_mbufs;
	size_t thp_bytes;
	uint64_t hz;
	uint64_t t0;
};

extern struct agent agent;
extern volatile int agent_quit;

/* Coarse clock of the session entries' idle times. */
static inline uint32_t agent_now_ms(void)
{
	return (uint32_t)((rte_get_tsc_cycles() - agent.t0) / (agent.hz / 1000));
}

/* eal_ports.c */
size_t eal_memory_thp(void);
int ports_init(void);
void ports_start(void);
void ports_flush(void);
void ports_close(void);
int ports_doorbells(struct pollfd *pfds);
void ports_doorbells_drain(void);
void agent_set_sinks(void);
void capture_begin(void);
/* Ends a capture; the outputs (u32 n, n * (ctl_out + bytes)) are in cap_buf[0 .. cap_len). */
void capture_end(void);

/* ctl_server.c */
int ctl_listen(const char *path);
int ctl_poll(void);
void ctl_close(void);

/* selftest.c */
int selftest_run(uint32_t sessions, uint32_t packets);

#endif
