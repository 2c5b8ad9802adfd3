/* --selftest N: the pipeline's own cost, without ports or kernel. Installs `sessions` OUT
 * sessions (the tuples `dysco bench dataplane` uses), then runs N synthetic TCP/TS frames
 * through pipe_process_burst in bursts of 32, cycling over the sessions with a large stride,
 * and prints the TSC time spent in the pipeline per packet (one JSON line). */
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "wire.h"

#define FRAME_LEN 66 /* Ethernet, IPv4, TCP with NOP NOP TS */
#define SELFTEST_BURST 32

static uint32_t forwarded;

static void count_tx(void *ctx, struct rte_mbuf *m, uint16_t port)
{
	(void)ctx;
	(void)port;
	forwarded++;
	rte_pktmbuf_free(m);
}

static uint16_t csum16(const uint8_t *b, uint32_t n, uint32_t sum)
{
	for (uint32_t i = 0; i + 1 < n; i += 2)
		sum += rd16(b + i);
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	return (uint16_t)~sum;
}

/* port 0 is host port of agent 1; 198.19.128.0/17 routes to port 1; the OUT sessions. */
static int install_tables(uint32_t sessions)
{
	struct ctl_entry e;
	memset(&e, 0, sizeof(e));
	e.op = CTL_OP_INSERT;
	e.table = CTL_T_PORT_ROLE;
	e.action = CTL_A_HOST_PORT;
	e.port = 0;
	e.agent_id = 1;
	pipe_write(agent.pipe, &e, 0);
	memset(&e, 0, sizeof(e));
	e.op = CTL_OP_INSERT;
	e.table = CTL_T_IPV4_FWD;
	e.action = CTL_A_ROUTE;
	e.match.dip = 0xC6138000;
	e.plen = 17;
	e.port = 1;
	pipe_write(agent.pipe, &e, 0);
	for (uint32_t i = 0; i < sessions; i++) {
		memset(&e, 0, sizeof(e));
		e.op = CTL_OP_INSERT;
		e.table = CTL_T_OUT_SESSION;
		e.action = CTL_A_OUT_REWRITE;
		e.agent_id = 1;
		e.proto = 6;
		e.match.sip = 0xC612000A;
		e.match.dip = 0xC6130000 + i / 64000;
		e.match.sport = (uint16_t)(1024 + i % 64000);
		e.match.dport = 80;
		e.rw.sip = 0xC612800A;
		e.rw.dip = 0xC6138000 + i / 64000;
		e.rw.sport = e.match.sport;
		e.rw.dport = 8080;
		e.d.seq = 1000;
		e.d.ack = (uint32_t)-7777;
		e.d.tsval = 12345;
		e.slot = i % NUM_SLOTS; /* every agent holds at least NUM_SLOTS */
		if (pipe_write(agent.pipe, &e, 0)) {
			fprintf(stderr, "selftest: insert %u failed\n", i);
			return -1;
		}
	}
	return 0;
}

/* The frame template: 198.18.0.10:<sport> -> 198.19.x.y:80, ACK, NOP NOP TS. */
static void frame_template(uint8_t *frame)
{
	memset(frame, 0, FRAME_LEN);
	wr16(frame + 12, 0x0800);
	frame[14] = 0x45;
	wr16(frame + 16, 52);
	frame[22] = 64;
	frame[23] = 6;
	wr32(frame + 26, 0xC612000A);
	wr16(frame + 36, 80);
	wr32(frame + 38, 1000000);
	wr32(frame + 42, 2000000);
	frame[46] = 8 << 4;
	frame[47] = 0x10;
	wr16(frame + 48, 1000);
	frame[54] = 1;
	frame[55] = 1;
	frame[56] = 8;
	frame[57] = 10;
	wr32(frame + 58, 12345);
}

/* The template addressed to session s, with its checksums. */
static void frame_for_session(uint8_t *frame, const uint8_t *tmpl, uint32_t s)
{
	uint8_t pseudo[12];
	uint32_t sum = 0;
	memcpy(frame, tmpl, FRAME_LEN);
	wr32(frame + 30, 0xC6130000 + s / 64000);
	wr16(frame + 34, (uint16_t)(1024 + s % 64000));
	wr16(frame + 24, csum16(frame + 14, 20, 0));
	memcpy(pseudo, frame + 26, 8);
	pseudo[8] = 0;
	pseudo[9] = 6;
	wr16(pseudo + 10, 32);
	for (int i = 0; i < 12; i += 2)
		sum += rd16(pseudo + i);
	wr16(frame + 50, csum16(frame + 34, 32, sum));
}

int selftest_run(uint32_t sessions, uint32_t packets)
{
	struct pipe_sink sink = {count_tx, NULL, NULL};
	uint32_t done = 0, stride = 7919, next = 0;
	uint64_t cycles = 0;
	uint8_t tmpl[FRAME_LEN];

	pipe_set_sink(agent.pipe, &sink);
	if (install_tables(sessions))
		return 1;
	frame_template(tmpl);
	while (sessions % stride == 0)
		stride += 2;
	while (done < packets) {
		struct rte_mbuf *burst[SELFTEST_BURST];
		uint64_t start;
		if (rte_pktmbuf_alloc_bulk(agent.mp, burst, SELFTEST_BURST))
			return 1;
		for (uint32_t i = 0; i < SELFTEST_BURST; i++) {
			uint8_t *frame = (uint8_t *)rte_pktmbuf_append(burst[i], FRAME_LEN);
			frame_for_session(frame, tmpl, next % sessions);
			next += stride;
		}
		start = rte_rdtsc();
		pipe_process_burst(agent.pipe, burst, SELFTEST_BURST, 0, 0);
		cycles += rte_rdtsc() - start;
		done += SELFTEST_BURST;
	}
	printf("{\"sessions\": %u, \"packets\": %u, \"forwarded\": %u, \"ns_per_packet\": %.1f, "
	       "\"table_bytes\": %llu}\n",
	       sessions, done, forwarded, (double)cycles * 1e9 / (double)agent.hz / done,
	       (unsigned long long)pipe_table_bytes(agent.pipe));
	return 0;
}
