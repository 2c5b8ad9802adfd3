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
static void on_signal(int s) { (void)s; quit = 1; }

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xFFFF) + (s >> 16);
	return (uint16_t)s;
}

static uint32_t sum16(const uint8_t *b, uint32_t n)
{
	uint32_t s = 0, i;
	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (n & 1)
		s += (uint32_t)b[n - 1] << 8;
	return s;
}

static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int main(int argc, char **argv)
{
	uint32_t sessions = 1000, seconds = 5, payload = 0, burst = 32, stride;
	uint32_t src = 0xC612000A /* 198.18.0.10 */, dst_base = 0xC6130000 /* 198.19.0.0 */;
	uint16_t sport_base = 1024, dport = 80;
	uint8_t dmac[6] = {0x02, 0, 0, 0, 0xAA, 0x01}, smac[6] = {0x02, 0, 0, 0, 0xBB, 0x01};
	uint8_t tmpl[14 + 20 + 32 + 1500];
	uint32_t flen, ip_sum_base, tcp_sum_base, i;
	struct rte_mempool *mp;
	struct rte_eth_conf conf;
	uint64_t sent = 0, t0, t1, hz, idx = 0;
	int rc, opt;
	static const struct option lo[] = {
		{"sessions", required_argument, 0, 'n'}, {"seconds", required_argument, 0, 's'},
		{"payload", required_argument, 0, 'p'},  {"burst", required_argument, 0, 'b'},
		{"src", required_argument, 0, 'S'},      {"dst-base", required_argument, 0, 'D'},
		{"sport-base", required_argument, 0, 'P'}, {"dport", required_argument, 0, 'd'},
		{"dst-mac", required_argument, 0, 'm'},  {0, 0, 0, 0},
	};

	rc = rte_eal_init(argc, argv);
	if (rc < 0)
		return 1;
	argc -= rc;
	argv += rc;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		struct in_addr a;
		switch (opt) {
		case 'n': sessions = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 's': seconds = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'p': payload = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'b': burst = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'S': if (inet_pton(AF_INET, optarg, &a) == 1) src = ntohl(a.s_addr); break;
		case 'D': if (inet_pton(AF_INET, optarg, &a) == 1) dst_base = ntohl(a.s_addr); break;
		case 'P': sport_base = (uint16_t)atoi(optarg); break;
		case 'd': dport = (uint16_t)atoi(optarg); break;
		case 'm':
			sscanf(optarg, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &dmac[0], &dmac[1], &dmac[2],
			       &dmac[3], &dmac[4], &dmac[5]);
			break;
		default: return 2;
		}
	}
	if (!sessions || payload > 1400 || burst == 0 || burst > 256)
		return 2;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	mp = rte_pktmbuf_pool_create("gen", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				     (int)rte_socket_id());
	if (!mp || rte_eth_dev_count_avail() < 1)
		return 1;
	memset(&conf, 0, sizeof(conf));
	if (rte_eth_dev_configure(0, 1, 1, &conf) ||
	    rte_eth_rx_queue_setup(0, 0, 512, rte_eth_dev_socket_id(0), NULL, mp) ||
	    rte_eth_tx_queue_setup(0, 0, 1024, rte_eth_dev_socket_id(0), NULL) ||
	    rte_eth_dev_start(0))
		return 1;

	/* template: Ethernet, IPv4, TCP ACK with NOP NOP TS, payload */
	memset(tmpl, 0, sizeof(tmpl));
	memcpy(tmpl, dmac, 6);
	memcpy(tmpl + 6, smac, 6);
	wr16(tmpl + 12, 0x0800);
	{
		uint8_t *ip = tmpl + 14, *tcp = tmpl + 34;
		uint32_t tl = 32 + payload;
		ip[0] = 0x45;
		wr16(ip + 2, (uint16_t)(20 + tl));
		wr16(ip + 4, 1);
		ip[8] = 64;
		ip[9] = 6;
		wr32(ip + 12, src);
		wr32(ip + 16, 0); /* per packet */
		wr16(tcp, 0);     /* per packet */
		wr16(tcp + 2, dport);
		wr32(tcp + 4, 1000000);
		wr32(tcp + 8, 2000000);
		tcp[12] = 8 << 4;
		tcp[13] = 0x10;
		wr16(tcp + 14, 1000);
		tcp[20] = 1; tcp[21] = 1; tcp[22] = 8; tcp[23] = 10;
		wr32(tcp + 24, 12345);
		wr32(tcp + 28, 54321);
		for (i = 0; i < payload; i++)
			tcp[32 + i] = (uint8_t)i;
		flen = 14 + 20 + tl;
		ip_sum_base = sum16(ip, 20);
		tcp_sum_base = sum16(ip + 12, 8) + 6 + tl + sum16(tcp, tl);
	}
	stride = 7919;
	while (sessions % stride == 0)
		stride += 2;
	hz = rte_get_tsc_hz();
	t0 = rte_get_tsc_cycles();
	t1 = t0 + (uint64_t)seconds * hz;
	while (!quit) {
		struct rte_mbuf *b[256];
		uint16_t n, k;
		if (rte_get_tsc_cycles() >= t1)
			break;
		if (rte_pktmbuf_alloc_bulk(mp, b, burst))
			continue;
		for (k = 0; k < burst; k++) {
			uint8_t *f = (uint8_t *)rte_pktmbuf_append(b[k], (uint16_t)flen);
			uint32_t s = (uint32_t)(idx % sessions);
			uint32_t dst = dst_base + s / SPORTS;
			uint16_t sp = (uint16_t)(sport_base + s % SPORTS);
			uint32_t d;
			idx += stride;
			memcpy(f, tmpl, flen);
			wr32(f + 14 + 16, dst);
			wr16(f + 34, sp);
			d = ip_sum_base + (dst >> 16) + (dst & 0xFFFF);
			wr16(f + 14 + 10, (uint16_t)~fold(d));
			d = tcp_sum_base + (dst >> 16) + (dst & 0xFFFF) + sp;
			wr16(f + 34 + 16, (uint16_t)~fold(d));
		}
		n = rte_eth_tx_burst(0, 0, b, (uint16_t)burst);
		sent += n;
		if (n < burst)
			rte_pktmbuf_free_bulk(b + n, burst - n);
		/* drain anything that comes back */
		n = rte_eth_rx_burst(0, 0, b, 64);
		if (n)
			rte_pktmbuf_free_bulk(b, n);
	}
	{
		double secs = (double)(rte_get_tsc_cycles() - t0) / (double)hz;
		printf("{\"sent\": %" PRIu64 ", \"seconds\": %.3f, \"pps\": %.0f}\n", sent, secs,
		       (double)sent / secs);
		fflush(stdout);
	}
	rte_eth_dev_stop(0);
	rte_eth_dev_close(0);
	rte_eal_cleanup();
	return 0;
}
