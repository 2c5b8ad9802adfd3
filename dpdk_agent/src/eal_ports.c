/* EAL memory and the DPDK ports of the agent, and the pipeline's output sinks: frames to the
 * ports (or to the tap client, or into a capture), packet-ins to the subscribed client.
 *
 * DPDK port i is pipeline port i (port_role, ipv4_fwd, packet_in.ingress_port,
 * packet_out.egress_port). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_ethdev.h>
#include <rte_memory.h>

#include "agent.h"

#define RX_RING 1024
#define TX_RING 1024

/* ---- EAL memory ---------------------------------------------------------------------------- */
/* EAL (--no-huge) backs its memory with a memfd (shared memory, for secondary processes we do
 * not have) when memfd_create works, else with an anonymous private mapping. Shared memory
 * gets no transparent huge pages on most systems (shmem_enabled=never), anonymous memory
 * does (THP "madvise"). The agent is a single process: make EAL's memfd_create fail so it
 * falls back to anonymous memory (this definition interposes libc's for librte_eal; the
 * executable exports it, see meson.build). */
int memfd_create(const char *name, unsigned int flags)
{
	(void)name;
	(void)flags;
	errno = ENOSYS;
	return -1;
}

static int thp_advise(const struct rte_memseg_list *msl, void *arg)
{
	size_t *advised = arg;
	if (msl->base_va && msl->len && madvise(msl->base_va, msl->len, MADV_HUGEPAGE) == 0)
		*advised += msl->len;
	return 0;
}

/* Without hugetlbfs (--no-huge) EAL memory is one mapping backed by 4 KiB pages; the session
 * tables are hundreds of MB of random accesses, so every lookup would miss the TLB. Ask for
 * transparent huge pages on it (THP "madvise" mode); harmless if unavailable. Returns the
 * bytes advised. */
size_t eal_memory_thp(void)
{
	size_t advised = 0;
	rte_memseg_list_walk(thp_advise, &advised);
	return advised;
}

/* ---- ports ---------------------------------------------------------------------------------- */
static int port_init(uint16_t port)
{
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	int rc;
	memset(&conf, 0, sizeof(conf));
	rc = rte_eth_dev_info_get(port, &info);
	if (!rc)
		rc = rte_eth_dev_configure(port, 1, 1, &conf);
	if (!rc)
		rc = rte_eth_rx_queue_setup(port, 0, RX_RING, rte_eth_dev_socket_id(port), NULL,
					    agent.mp);
	if (!rc)
		rc = rte_eth_tx_queue_setup(port, 0, TX_RING, rte_eth_dev_socket_id(port), NULL);
	if (!rc)
		rte_eth_promiscuous_enable(port);
	return rc;
}

/* ---- doorbells ------------------------------------------------------------------------------
 * A frame arriving on a port does not wake an agent sleeping in ppoll: the PMD's socket is its
 * own and polled. For an af_packet port the agent opens a second packet socket on the same
 * interface, readable as soon as a frame arrives, and sleeps on it beside the control sockets.
 * It keeps one byte of a frame (its filter), ignores what the agent itself transmits, and has
 * the smallest receive buffer: while the agent is busy it holds a frame or two and the kernel
 * queues nothing more to it (a frame refused by a doorbell is not refused by the port). */
static int doorbell_open(int ifindex)
{
	struct sock_filter keep_one_byte[] = {{BPF_RET | BPF_K, 0, 0, 1}};
	struct sock_fprog prog = {1, keep_one_byte};
	struct sockaddr_ll sll;
	int one = 1, small = 1; /* the kernel rounds the buffer up to its minimum */
	/* protocol 0 receives nothing until bound: no frame of another interface slips in */
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = ifindex;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) ||
	    setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A busy-polling agent (--max-sleep-us 0) never sleeps: it opens none (a doorbell costs the
 * kernel a little per received frame, even when full). */
static void doorbells_open(void)
{
	agent.all_ports_wake = agent.n_ports > 0 && agent.max_sleep_us > 0;
	for (uint16_t port = 0; port < agent.n_ports; port++) {
		struct rte_eth_dev_info info;
		agent.doorbell[port] = -1;
		if (agent.max_sleep_us == 0)
			continue;
		if (rte_eth_dev_info_get(port, &info) == 0 && info.driver_name &&
		    strcmp(info.driver_name, "net_af_packet") == 0 && info.if_index > 0)
			agent.doorbell[port] = doorbell_open((int)info.if_index);
		if (agent.doorbell[port] < 0)
			agent.all_ports_wake = 0;
	}
}

/* Adds the doorbells to pfds; returns how many. */
int ports_doorbells(struct pollfd *pfds)
{
	int n = 0;
	for (uint16_t port = 0; port < agent.n_ports; port++) {
		if (agent.doorbell[port] < 0)
			continue;
		pfds[n].fd = agent.doorbell[port];
		pfds[n++].events = POLLIN;
	}
	return n;
}

/* Empties the doorbells (before the last look at the ports ahead of a sleep). */
void ports_doorbells_drain(void)
{
	char b;
	for (uint16_t port = 0; port < agent.n_ports; port++)
		if (agent.doorbell[port] >= 0)
			while (recv(agent.doorbell[port], &b, 1, MSG_DONTWAIT | MSG_TRUNC) >= 0)
				;
}

int ports_init(void)
{
	for (uint16_t port = 0; port < agent.n_ports; port++) {
		if (port_init(port)) {
			fprintf(stderr, "dysco-agent: cannot configure port %u\n", port);
			return -1;
		}
	}
	doorbells_open();
	return 0;
}

void ports_start(void)
{
	if (agent.started)
		return;
	for (uint16_t port = 0; port < agent.n_ports; port++)
		if (rte_eth_dev_start(port))
			fprintf(stderr, "dysco-agent: cannot start port %u\n", port);
	agent.started = 1;
}

static void port_flush(uint16_t port)
{
	uint16_t sent = 0, queued = agent.txq_len[port];
	while (sent < queued) {
		uint16_t n = rte_eth_tx_burst(port, 0, agent.txq[port] + sent, queued - sent);
		if (n == 0)
			break;
		sent += n;
	}
	agent.stats.tx += sent;
	if (sent < queued) {
		agent.stats.drop += queued - sent;
		rte_pktmbuf_free_bulk(agent.txq[port] + sent, queued - sent);
	}
	agent.txq_len[port] = 0;
}

/* Transmit what the pipeline queued on every port. */
void ports_flush(void)
{
	for (uint16_t port = 0; port < agent.n_ports; port++)
		if (agent.txq_len[port])
			port_flush(port);
}

void ports_close(void)
{
	ports_flush();
	for (uint16_t port = 0; port < agent.n_ports; port++) {
		if (agent.doorbell[port] >= 0)
			close(agent.doorbell[port]);
		agent.doorbell[port] = -1;
		rte_eth_dev_stop(port);
		rte_eth_dev_close(port);
	}
}

/* ---- capture (INJECT, PKT_OUT_SYNC, CTL_CAPTURE) -------------------------------------------- */
void capture_begin(void)
{
	agent.capturing = 1;
	agent.cap_len = 4; /* u32 count first */
	agent.cap_count = 0;
}

void capture_end(void)
{
	agent.capturing = 0;
	memcpy(agent.cap_buf, &agent.cap_count, 4);
}

/* One captured output: struct ctl_out, then meta (the packet_in header), then the frame. */
static void capture_append(uint8_t kind, uint16_t port, const void *meta, uint32_t meta_len,
			   const uint8_t *data, uint32_t len)
{
	struct ctl_out out;
	if (agent.cap_len + sizeof(out) + meta_len + len > CTL_CHUNK - 64)
		return;
	memset(&out, 0, sizeof(out));
	out.kind = kind;
	out.port = port;
	out.len = meta_len + len;
	memcpy(agent.cap_buf + agent.cap_len, &out, sizeof(out));
	agent.cap_len += sizeof(out);
	if (meta_len) {
		memcpy(agent.cap_buf + agent.cap_len, meta, meta_len);
		agent.cap_len += meta_len;
	}
	if (len) {
		memcpy(agent.cap_buf + agent.cap_len, data, len);
		agent.cap_len += len;
	}
	agent.cap_count++;
}

/* ---- sinks ----------------------------------------------------------------------------------- */
/* A frame sent to a port the agent does not have, to the tap client (benchmarks, tests). */
static void tap_send(uint16_t port, const uint8_t *data, uint32_t len)
{
	static uint8_t buf[sizeof(struct ctl_hdr) + 4 + PIPE_MAX_FRAME];
	struct ctl_hdr *hdr = (struct ctl_hdr *)buf;
	if (len > PIPE_MAX_FRAME) {
		agent.stats.drop++;
		return;
	}
	hdr->len = (uint32_t)(sizeof(*hdr) + 4 + len);
	hdr->type = CTL_TAP;
	hdr->flags = 0;
	hdr->seq = 0;
	memcpy(buf + sizeof(*hdr), &port, 2);
	memset(buf + sizeof(*hdr) + 2, 0, 2);
	memcpy(buf + sizeof(*hdr) + 4, data, len);
	if (send(agent.tap_fd, buf, hdr->len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		agent.stats.drop++;
	else
		agent.stats.tx++;
}

static void sink_tx(void *ctx, struct rte_mbuf *m, uint16_t port)
{
	(void)ctx;
	if (agent.capturing || (agent.capture && port >= agent.n_ports)) {
		capture_append(0, port, NULL, 0, rte_pktmbuf_mtod(m, uint8_t *),
			       rte_pktmbuf_data_len(m));
		rte_pktmbuf_free(m);
		return;
	}
	if (port >= agent.n_ports && agent.tap_fd >= 0) {
		tap_send(port, rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m));
		rte_pktmbuf_free(m);
		return;
	}
	if (port >= agent.n_ports || !agent.started) {
		agent.stats.drop++;
		rte_pktmbuf_free(m);
		return;
	}
	agent.txq[port][agent.txq_len[port]++] = m;
	if (agent.txq_len[port] == AGENT_TXQ_LEN)
		port_flush(port);
}

static void sink_pktin(void *ctx, const uint8_t *pktin_hdr, const uint8_t *data, uint32_t len)
{
	static uint8_t buf[sizeof(struct ctl_hdr) + PKT_IN_HDR_LEN + PIPE_MAX_FRAME];
	struct ctl_hdr *hdr = (struct ctl_hdr *)buf;
	(void)ctx;
	agent.stats.punt++;
	if (agent.capturing) {
		capture_append(1, (uint16_t)((pktin_hdr[0] << 8) | pktin_hdr[1]), pktin_hdr,
			       PKT_IN_HDR_LEN, data, len);
		return;
	}
	if (agent.n_clients == 0 || len > PIPE_MAX_FRAME) {
		agent.stats.pktin_drop++;
		return;
	}
	hdr->len = (uint32_t)(sizeof(*hdr) + PKT_IN_HDR_LEN + len);
	hdr->type = CTL_PKT_IN;
	hdr->flags = 0;
	hdr->seq = 0;
	memcpy(buf + sizeof(*hdr), pktin_hdr, PKT_IN_HDR_LEN);
	if (len)
		memcpy(buf + sizeof(*hdr) + PKT_IN_HDR_LEN, data, len);
	if (send(agent.pktin_fd >= 0 ? agent.pktin_fd : agent.clients[0], buf, hdr->len,
		 MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		agent.stats.pktin_drop++;
}

void agent_set_sinks(void)
{
	struct pipe_sink sink = {.tx = sink_tx, .pktin = sink_pktin, .ctx = NULL};
	pipe_set_sink(agent.pipe, &sink);
}
