/* dysco-dpdk-gen: a small DPDK traffic generator for `dysco bench dataplane`.
 *
 *   dysco-dpdk-gen [EAL args] -- --sessions N --seconds S [--payload BYTES] [--burst B]
 *       [--src IP] [--dst-base IP] [--sport-base P] [--dport P] [--dst-mac MAC]
 *
 * Sends TCP ACK segments (NOP NOP TS option, BYTES of payload) on port 0 as fast as it can for
 * S seconds, cycling over N sessions with a large stride so consecutive packets hit unrelated
 * table entries. Session i is (src, sport_base + i % 64000) -> (dst_base + i / 64000, dport):
 * the tuples `dysco bench dataplane` installs. Checksums are valid (incremental per packet).
 * Prints one JSON line: {"sent": n, "seconds": s, "pps": r}.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#define SPORTS 64000u

static volatile int quit;
static void on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	return (uint16_t)sum;
}

static uint32_t sum16(const uint8_t *b, uint32_t n)
{
	uint32_t sum = 0, i;
	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (n & 1)
		sum += (uint32_t)b[n - 1] << 8;
	return sum;
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

struct gen {
	/* options */
	uint32_t sessions, seconds, payload, burst;
	uint32_t src, dst_base; /* host order */
	uint16_t sport_base, dport;
	uint8_t dmac[6], smac[6];
	/* the frame template and its checksum sums without the per-packet fields */
	uint8_t tmpl[14 + 20 + 32 + 1500];
	uint32_t frame_len, ip_sum_base, tcp_sum_base;
	struct rte_mempool *mp;
};

/* 0, or 2 on a usage error. */
static int parse_options(int argc, char **argv, struct gen *g)
{
	static const struct option longopts[] = {
		{"sessions", required_argument, 0, 'n'}, {"seconds", required_argument, 0, 's'},
		{"payload", required_argument, 0, 'p'},  {"burst", required_argument, 0, 'b'},
		{"src", required_argument, 0, 'S'},      {"dst-base", required_argument, 0, 'D'},
		{"sport-base", required_argument, 0, 'P'}, {"dport", required_argument, 0, 'd'},
		{"dst-mac", required_argument, 0, 'm'},  {0, 0, 0, 0},
	};
	struct in_addr addr;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n': g->sessions = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 's': g->seconds = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'p': g->payload = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'b': g->burst = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'S': if (inet_pton(AF_INET, optarg, &addr) == 1) g->src = ntohl(addr.s_addr); break;
		case 'D':
			if (inet_pton(AF_INET, optarg, &addr) == 1)
				g->dst_base = ntohl(addr.s_addr);
			break;
		case 'P': g->sport_base = (uint16_t)atoi(optarg); break;
		case 'd': g->dport = (uint16_t)atoi(optarg); break;
		case 'm':
			sscanf(optarg, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &g->dmac[0], &g->dmac[1],
			       &g->dmac[2], &g->dmac[3], &g->dmac[4], &g->dmac[5]);
			break;
		default: return 2;
		}
	}
	if (!g->sessions || g->payload > 1400 || g->burst == 0 || g->burst > 256)
		return 2;
	return 0;
}

static int port_setup(struct gen *g)
{
	struct rte_eth_conf conf;
	g->mp = rte_pktmbuf_pool_create("gen", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					(int)rte_socket_id());
	if (!g->mp || rte_eth_dev_count_avail() < 1)
		return 1;
	memset(&conf, 0, sizeof(conf));
	if (rte_eth_dev_configure(0, 1, 1, &conf) ||
	    rte_eth_rx_queue_setup(0, 0, 512, rte_eth_dev_socket_id(0), NULL, g->mp) ||
	    rte_eth_tx_queue_setup(0, 0, 1024, rte_eth_dev_socket_id(0), NULL) ||
	    rte_eth_dev_start(0))
		return 1;
	return 0;
}

/* Template: Ethernet, IPv4, TCP ACK with NOP NOP TS, payload; destination address and source
 * port are set per packet. */
static void build_template(struct gen *g)
{
	uint8_t *ip = g->tmpl + 14, *tcp = g->tmpl + 34;
	uint32_t tcp_len = 32 + g->payload, i;
	memset(g->tmpl, 0, sizeof(g->tmpl));
	memcpy(g->tmpl, g->dmac, 6);
	memcpy(g->tmpl + 6, g->smac, 6);
	wr16(g->tmpl + 12, 0x0800);
	ip[0] = 0x45;
	wr16(ip + 2, (uint16_t)(20 + tcp_len));
	wr16(ip + 4, 1);
	ip[8] = 64;
	ip[9] = 6;
	wr32(ip + 12, g->src);
	wr16(tcp + 2, g->dport);
	wr32(tcp + 4, 1000000);
	wr32(tcp + 8, 2000000);
	tcp[12] = 8 << 4;
	tcp[13] = 0x10;
	wr16(tcp + 14, 1000);
	tcp[20] = 1;
	tcp[21] = 1;
	tcp[22] = 8;
	tcp[23] = 10;
	wr32(tcp + 24, 12345);
	wr32(tcp + 28, 54321);
	for (i = 0; i < g->payload; i++)
		tcp[32 + i] = (uint8_t)i;
	g->frame_len = 14 + 20 + tcp_len;
	g->ip_sum_base = sum16(ip, 20);
	g->tcp_sum_base = sum16(ip + 12, 8) + 6 + tcp_len + sum16(tcp, tcp_len);
}

/* The template for session s (checksums updated incrementally). */
static void fill_frame(const struct gen *g, uint8_t *frame, uint32_t s)
{
	uint32_t dst = g->dst_base + s / SPORTS, sum;
	uint16_t sport = (uint16_t)(g->sport_base + s % SPORTS);
	memcpy(frame, g->tmpl, g->frame_len);
	wr32(frame + 14 + 16, dst);
	wr16(frame + 34, sport);
	sum = g->ip_sum_base + (dst >> 16) + (dst & 0xFFFF);
	wr16(frame + 14 + 10, (uint16_t)~fold(sum));
	sum = g->tcp_sum_base + (dst >> 16) + (dst & 0xFFFF) + sport;
	wr16(frame + 34 + 16, (uint16_t)~fold(sum));
}

/* Send for g->seconds (or until a signal); returns the frames sent. */
static uint64_t send_loop(const struct gen *g, uint64_t hz)
{
	uint64_t sent = 0, next = 0, end = rte_get_tsc_cycles() + (uint64_t)g->seconds * hz;
	uint32_t stride = 7919;
	while (g->sessions % stride == 0)
		stride += 2;
	while (!quit && rte_get_tsc_cycles() < end) {
		struct rte_mbuf *burst[256];
		uint16_t n, k;
		if (rte_pktmbuf_alloc_bulk(g->mp, burst, g->burst))
			continue;
		for (k = 0; k < g->burst; k++) {
			uint8_t *frame = (uint8_t *)rte_pktmbuf_append(burst[k], (uint16_t)g->frame_len);
			fill_frame(g, frame, (uint32_t)(next % g->sessions));
			next += stride;
		}
		n = rte_eth_tx_burst(0, 0, burst, (uint16_t)g->burst);
		sent += n;
		if (n < g->burst)
			rte_pktmbuf_free_bulk(burst + n, g->burst - n);
		/* drain anything that comes back */
		n = rte_eth_rx_burst(0, 0, burst, 64);
		if (n)
			rte_pktmbuf_free_bulk(burst, n);
	}
	return sent;
}

int main(int argc, char **argv)
{
	struct gen g = {
		.sessions = 1000, .seconds = 5, .payload = 0, .burst = 32,
		.src = 0xC612000A /* 198.18.0.10 */, .dst_base = 0xC6130000 /* 198.19.0.0 */,
		.sport_base = 1024, .dport = 80,
		.dmac = {0x02, 0, 0, 0, 0xAA, 0x01}, .smac = {0x02, 0, 0, 0, 0xBB, 0x01},
	};
	uint64_t sent, t0, hz;
	double secs;
	int rc = rte_eal_init(argc, argv);
	if (rc < 0)
		return 1;
	rc = parse_options(argc - rc, argv + rc, &g);
	if (rc)
		return rc;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (port_setup(&g))
		return 1;
	build_template(&g);
	hz = rte_get_tsc_hz();
	t0 = rte_get_tsc_cycles();
	sent = send_loop(&g, hz);
	secs = (double)(rte_get_tsc_cycles() - t0) / (double)hz;
	printf("{\"sent\": %" PRIu64 ", \"seconds\": %.3f, \"pps\": %.0f}\n", sent, secs,
	       (double)sent / secs);
	fflush(stdout);
	rte_eth_dev_stop(0);
	rte_eth_dev_close(0);
	rte_eal_cleanup();
	return 0;
}
