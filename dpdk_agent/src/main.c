/* dysco-dpdk-agent: the Dysco pipeline on DPDK, driven over a Unix control socket.
 *
 *   dysco-dpdk-agent [EAL args] -- --ctl PATH [--sessions N] [--slots N] [--two N]
 *       [--wait-start] [--burst N] [--max-sleep-us N]
 *
 * DPDK port i is pipeline port i (the port_role and ipv4_fwd tables, packet_in.ingress_port,
 * packet_out.egress_port). Without ports (no vdev) the agent still serves the control socket:
 * the INJECT/capture path runs the same pipeline code on frames sent over the socket (tests).
 *
 * One lcore does everything: polls the ports, applies control messages between bursts
 * (so a table write is complete before the next packet), backs off when idle.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sys/mman.h>

#include <rte_cycles.h>
#include <rte_memory.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_malloc.h>

#include "ctl_proto.h"
#include "pipe.h"
#include "pbwrite.h"

#define MAX_PORTS 4
#define RX_RING 1024
#define TX_RING 1024
#define MAX_BURST 64
#define MAX_CLIENTS 4

static volatile int quit;
static void on_signal(int s) { (void)s; quit = 1; }

struct agent {
	struct pipe *pipe;
	struct rte_mempool *mp;
	uint16_t n_ports;
	int started;
	int lfd;
	int cfd;                /* the client whose request is being handled */
	int cfds[MAX_CLIENTS];  /* connected clients, oldest first; packet-ins go to cfds[0] */
	int n_cfds;
	int capture_fd;
	int pktin_fd;           /* subscribed packet-in receiver, -1: the oldest client */
	int tap_fd;             /* CTL_TAP_SUB client: outputs to absent ports, -1: none */
	char ctl_path[108];
	/* tx buffering */
	struct rte_mbuf *txq[MAX_PORTS][MAX_BURST * 4];
	uint16_t ntx[MAX_PORTS];
	/* capture (tests): outputs go to capbuf instead of the ports */
	int capture;
	int capturing; /* inside an INJECT/PKT_OUT_SYNC */
	uint8_t *capbuf;
	uint32_t caplen, capn;
	uint8_t *msg;   /* receive buffer */
	uint8_t *reply; /* reply buffer */
	struct ctl_stats st;
	uint32_t burst;
	uint32_t max_sleep_us;
	uint32_t n_mbufs;
	size_t thp_bytes;
	uint64_t hz;
	uint64_t t0;
};

static struct agent A;

static inline uint32_t now_ms(void)
{
	return (uint32_t)((rte_get_tsc_cycles() - A.t0) / (A.hz / 1000));
}

/* ---- sinks ---------------------------------------------------------------------------------- */
static void cap_append(uint8_t kind, uint16_t port, const void *meta, uint32_t mlen,
		       const uint8_t *data, uint32_t len)
{
	struct ctl_out o;
	if (A.caplen + sizeof(o) + mlen + len > CTL_CHUNK - 64)
		return;
	memset(&o, 0, sizeof(o));
	o.kind = kind;
	o.port = port;
	o.len = mlen + len;
	memcpy(A.capbuf + A.caplen, &o, sizeof(o));
	A.caplen += sizeof(o);
	if (mlen) {
		memcpy(A.capbuf + A.caplen, meta, mlen);
		A.caplen += mlen;
	}
	if (len) {
		memcpy(A.capbuf + A.caplen, data, len);
		A.caplen += len;
	}
	A.capn++;
}

static void flush_port(uint16_t port)
{
	uint16_t sent = 0, n = A.ntx[port];
	while (sent < n) {
		uint16_t k = rte_eth_tx_burst(port, 0, A.txq[port] + sent, n - sent);
		if (k == 0)
			break;
		sent += k;
	}
	A.st.tx += sent;
	if (sent < n) {
		A.st.drop += n - sent;
		rte_pktmbuf_free_bulk(A.txq[port] + sent, n - sent);
	}
	A.ntx[port] = 0;
}

/* A frame sent to a port the agent does not have, to the tap client (benchmarks, tests). */
static void tap_send(uint16_t port, const uint8_t *data, uint32_t len)
{
	static uint8_t buf[sizeof(struct ctl_hdr) + 4 + PIPE_MAX_FRAME];
	struct ctl_hdr *h = (struct ctl_hdr *)buf;
	if (len > PIPE_MAX_FRAME) {
		A.st.drop++;
		return;
	}
	h->len = (uint32_t)(sizeof(*h) + 4 + len);
	h->type = CTL_TAP;
	h->flags = 0;
	h->seq = 0;
	memcpy(buf + sizeof(*h), &port, 2);
	memset(buf + sizeof(*h) + 2, 0, 2);
	memcpy(buf + sizeof(*h) + 4, data, len);
	if (send(A.tap_fd, buf, h->len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		A.st.drop++;
	else
		A.st.tx++;
}

static void sink_tx(void *ctx, struct rte_mbuf *m, uint16_t port)
{
	(void)ctx;
	if (A.capturing || (A.capture && port >= A.n_ports)) {
		cap_append(0, port, NULL, 0, rte_pktmbuf_mtod(m, uint8_t *),
			   rte_pktmbuf_data_len(m));
		rte_pktmbuf_free(m);
		return;
	}
	if (port >= A.n_ports && A.tap_fd >= 0) {
		tap_send(port, rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m));
		rte_pktmbuf_free(m);
		return;
	}
	if (port >= A.n_ports || !A.started) {
		A.st.drop++;
		rte_pktmbuf_free(m);
		return;
	}
	A.txq[port][A.ntx[port]++] = m;
	if (A.ntx[port] == MAX_BURST * 4)
		flush_port(port);
}

static void sink_pktin(void *ctx, const uint8_t *hdr, const uint8_t *data, uint32_t len)
{
	static uint8_t buf[sizeof(struct ctl_hdr) + PKT_IN_HDR_LEN + PIPE_MAX_FRAME];
	struct ctl_hdr *h = (struct ctl_hdr *)buf;
	(void)ctx;
	A.st.punt++;
	if (A.capturing) {
		cap_append(1, (uint16_t)((hdr[0] << 8) | hdr[1]), hdr, PKT_IN_HDR_LEN, data, len);
		return;
	}
	if (A.n_cfds == 0 || len > PIPE_MAX_FRAME) {
		A.st.pktin_drop++;
		return;
	}
	h->len = (uint32_t)(sizeof(*h) + PKT_IN_HDR_LEN + len);
	h->type = CTL_PKT_IN;
	h->flags = 0;
	h->seq = 0;
	memcpy(buf + sizeof(*h), hdr, PKT_IN_HDR_LEN);
	if (len)
		memcpy(buf + sizeof(*h) + PKT_IN_HDR_LEN, data, len);
	if (send(A.pktin_fd >= 0 ? A.pktin_fd : A.cfds[0], buf, h->len,
		 MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		A.st.pktin_drop++;
}

/* ---- control socket ------------------------------------------------------------------------ */
static int ctl_listen(const char *path)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void reply_send(uint16_t type, uint16_t flags, uint32_t seq, const void *body,
		       uint32_t blen)
{
	struct ctl_hdr *h = (struct ctl_hdr *)A.reply;
	struct pollfd pf;
	uint32_t tot = (uint32_t)sizeof(*h) + blen;
	if (A.cfd < 0)
		return;
	h->len = tot;
	h->type = type;
	h->flags = flags;
	h->seq = seq;
	if (body != A.reply + sizeof(*h) && blen)
		memcpy(A.reply + sizeof(*h), body, blen);
	for (;;) {
		if (send(A.cfd, A.reply, tot, MSG_NOSIGNAL) >= 0)
			return;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS)
			return;
		pf.fd = A.cfd;
		pf.events = POLLOUT;
		if (poll(&pf, 1, 1000) <= 0)
			return;
	}
}

static void reply_status(uint16_t type, uint32_t seq, int32_t st)
{
	reply_send(type, 0, seq, &st, sizeof(st));
}

static void start_ports(void);

static void capture_begin(void)
{
	A.capturing = 1;
	A.caplen = 4;
	A.capn = 0;
}

static void capture_end(uint16_t type, uint32_t seq)
{
	A.capturing = 0;
	memcpy(A.capbuf, &A.capn, 4);
	reply_send(type, 0, seq, A.capbuf, A.caplen);
}

static uint32_t write_now;

static int apply_entry(void *ctx, const struct ctl_entry *e)
{
	(void)ctx;
	return pipe_write(A.pipe, e, write_now);
}

static void handle_msg(const uint8_t *msg, uint32_t len)
{
	const struct ctl_hdr *h = (const struct ctl_hdr *)msg;
	const uint8_t *body = msg + sizeof(*h);
	uint32_t blen = len - (uint32_t)sizeof(*h);
	uint8_t *out = A.reply + sizeof(struct ctl_hdr);

	if (len < sizeof(*h) || h->len != len)
		return;
	write_now = now_ms();
	switch (h->type) {
	case CTL_HELLO: {
		struct ctl_info info;
		const struct pipe_cfg *c = pipe_config(A.pipe);
		memset(&info, 0, sizeof(info));
		info.version = 1;
		info.max_entries = c->max_entries;
		info.max_slots = c->max_slots;
		info.n_ports = A.n_ports;
		info.table_bytes = pipe_table_bytes(A.pipe);
		info.max_sessions = c->max_entries / 2;
		info.control_port = 35000;
		reply_send(CTL_HELLO, 0, h->seq, &info, sizeof(info));
		break;
	}
	case CTL_WRITE: {
		uint32_t n, i, now = now_ms();
		int32_t *res = (int32_t *)(out + 4);
		if (blen < 4)
			break;
		memcpy(&n, body, 4);
		if (blen < 4 + (uint64_t)n * sizeof(struct ctl_entry) ||
		    4 + 4ull * n > CTL_MAX_MSG - 64)
			break;
		for (i = 0; i < n; i++) {
			struct ctl_entry e;
			memcpy(&e, body + 4 + (size_t)i * sizeof(e), sizeof(e));
			res[i] = pipe_write(A.pipe, &e, now);
		}
		memcpy(out, &n, 4);
		reply_send(CTL_WRITE, 0, h->seq, out, 4 + 4 * n);
		break;
	}
	case CTL_SCHEMA:
		reply_status(CTL_SCHEMA, h->seq, pbw_load_schema(body, blen));
		break;
	case CTL_WRITE_PB: {
		/* body: a serialized p4.v1.WriteRequest; reply: u32 n, n * i32 */
		int32_t *res = (int32_t *)(out + 4);
		int n = pbw_write(body, blen, res, (CTL_MAX_MSG - 64) / 4 - 1, apply_entry, NULL);
		uint32_t un = n < 0 ? 0xFFFFFFFFu : (uint32_t)n;
		memcpy(out, &un, 4);
		reply_send(CTL_WRITE_PB, 0, h->seq, out, n < 0 ? 4 : 4 + 4 * (uint32_t)n);
		break;
	}
	case CTL_READ: {
		uint8_t table = blen >= 1 ? body[0] : CTL_T_ALL;
		uint64_t it = 0;
		uint32_t n = 0, now = now_ms();
		const uint32_t chunk = (CTL_CHUNK - 64) / sizeof(struct ctl_entry);
		struct ctl_entry e;
		int more;
		do {
			more = pipe_read_next(A.pipe, &it, table, &e, now);
			if (more) {
				memcpy(out + 4 + (size_t)n * sizeof(e), &e, sizeof(e));
				n++;
			}
			if (n == chunk || (!more)) {
				memcpy(out, &n, 4);
				reply_send(CTL_READ, more ? CTL_FLAG_MORE : 0, h->seq, out,
					   4 + n * (uint32_t)sizeof(e));
				n = 0;
			}
		} while (more);
		break;
	}
	case CTL_PKT_OUT:
	case CTL_PKT_OUT_SYNC: {
		int sync = h->type == CTL_PKT_OUT_SYNC;
		uint32_t plen;
		struct rte_mbuf *m = NULL;
		if (blen < PKT_OUT_HDR_LEN)
			break;
		plen = blen - PKT_OUT_HDR_LEN;
		if (sync)
			capture_begin();
		if (plen) {
			uint8_t *d;
			m = rte_pktmbuf_alloc(A.mp);
			d = m ? (uint8_t *)rte_pktmbuf_append(m, (uint16_t)plen) : NULL;
			if (!d) {
				if (m)
					rte_pktmbuf_free(m);
				m = NULL;
				A.st.drop++;
				if (sync)
					capture_end(CTL_PKT_OUT_SYNC, h->seq);
				break;
			}
			memcpy(d, body + PKT_OUT_HDR_LEN, plen);
		}
		pipe_packet_out(A.pipe, body, m, now_ms());
		if (sync)
			capture_end(CTL_PKT_OUT_SYNC, h->seq);
		break;
	}
	case CTL_INJECT: {
		uint16_t port;
		struct rte_mbuf *m;
		uint8_t *d;
		int live;
		if (blen < 4)
			break;
		memcpy(&port, body, 2);
		live = body[2] & 1; /* process like a received frame: packet-ins go out async */
		if (!live)
			capture_begin();
		m = rte_pktmbuf_alloc(A.mp);
		d = m ? (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(blen - 4)) : NULL;
		if (d) {
			memcpy(d, body + 4, blen - 4);
			pipe_process_burst(A.pipe, &m, 1, port, now_ms());
		} else if (m) {
			rte_pktmbuf_free(m);
		}
		if (live) {
			for (uint16_t q = 0; q < A.n_ports; q++)
				if (A.ntx[q])
					flush_port(q);
			uint32_t zero = 0;
			reply_send(CTL_INJECT, 0, h->seq, &zero, 4);
		} else {
			capture_end(CTL_INJECT, h->seq);
		}
		break;
	}
	case CTL_INJECT_BURST: {
		/* u16 port, u16 count, count * (u16 len, frame); processed like a received burst */
		uint16_t port, count, flen;
		uint32_t off = 4, ok = 0;
		struct rte_mbuf *bufs[MAX_BURST];
		uint16_t nb = 0;
		if (blen < 4)
			break;
		memcpy(&port, body, 2);
		memcpy(&count, body + 2, 2);
		for (uint16_t i = 0; i < count; i++) {
			struct rte_mbuf *m;
			uint8_t *d;
			if (off + 2 > blen)
				break;
			memcpy(&flen, body + off, 2);
			off += 2;
			if (flen == 0 || flen > PIPE_MAX_FRAME || off + flen > blen)
				break;
			m = rte_pktmbuf_alloc(A.mp);
			d = m ? (uint8_t *)rte_pktmbuf_append(m, flen) : NULL;
			if (!d) {
				if (m)
					rte_pktmbuf_free(m);
				A.st.drop++;
				off += flen;
				continue;
			}
			memcpy(d, body + off, flen);
			off += flen;
			bufs[nb++] = m;
			ok++;
			if (nb == MAX_BURST) {
				pipe_process_burst(A.pipe, bufs, nb, port, now_ms());
				nb = 0;
			}
		}
		if (nb)
			pipe_process_burst(A.pipe, bufs, nb, port, now_ms());
		A.st.rx += ok;
		for (uint16_t q = 0; q < A.n_ports; q++)
			if (A.ntx[q])
				flush_port(q);
		reply_send(CTL_INJECT_BURST, 0, h->seq, &ok, 4);
		break;
	}
	case CTL_TAP_SUB:
		A.tap_fd = blen >= 1 && body[0] ? A.cfd : -1;
		reply_status(CTL_TAP_SUB, h->seq, CTL_OK);
		break;
	case CTL_REG_READ: {
		uint32_t slot, n = 0, lo, hi, i;
		struct ctl_regs r;
		const struct pipe_cfg *c = pipe_config(A.pipe);
		if (blen < 4)
			break;
		memcpy(&slot, body, 4);
		lo = slot == 0xFFFFFFFFu ? 0 : slot;
		hi = slot == 0xFFFFFFFFu ? c->max_slots : slot + 1;
		if (hi > c->max_slots)
			hi = c->max_slots;
		for (i = lo; i < hi; i++) {
			memset(&r, 0, sizeof(r));
			pipe_reg_read(A.pipe, i, &r);
			memcpy(out + 4 + (size_t)n * sizeof(r), &r, sizeof(r));
			n++;
			if (4 + (n + 1) * sizeof(r) > CTL_CHUNK - 64 || i + 1 == hi) {
				memcpy(out, &n, 4);
				reply_send(CTL_REG_READ, i + 1 == hi ? 0 : CTL_FLAG_MORE, h->seq, out,
					   4 + n * (uint32_t)sizeof(r));
				n = 0;
			}
		}
		if (lo >= hi) {
			memcpy(out, &n, 4);
			reply_send(CTL_REG_READ, 0, h->seq, out, 4);
		}
		break;
	}
	case CTL_REG_WRITE: {
		struct ctl_regs r;
		if (blen < sizeof(r))
			break;
		memcpy(&r, body, sizeof(r));
		reply_status(CTL_REG_WRITE, h->seq, pipe_reg_write(A.pipe, &r));
		break;
	}
	case CTL_STATS: {
		const struct pipe_counters *c = pipe_counters(A.pipe);
		A.st.hit = c->hit;
		A.st.miss = c->miss;
		A.st.split = c->split;
		A.st.entries = pipe_count(A.pipe);
		A.st.hz = A.hz;
		reply_send(CTL_STATS, 0, h->seq, &A.st, sizeof(A.st));
		break;
	}
	case CTL_CLEAR:
		pipe_clear(A.pipe);
		reply_status(CTL_CLEAR, h->seq, CTL_OK);
		break;
	case CTL_PKTIN_SUB:
		A.pktin_fd = A.cfd;
		reply_status(CTL_PKTIN_SUB, h->seq, CTL_OK);
		break;
	case CTL_CAPTURE:
		A.capture = blen >= 1 && body[0];
		A.capture_fd = A.capture ? A.cfd : -1;
		reply_status(CTL_CAPTURE, h->seq, CTL_OK);
		break;
	case CTL_START:
		start_ports();
		reply_status(CTL_START, h->seq, CTL_OK);
		break;
	case CTL_QUIT:
		reply_status(CTL_QUIT, h->seq, CTL_OK);
		quit = 1;
		break;
	default:
		break;
	}
}

static void ctl_drop(int i)
{
	if (A.cfds[i] == A.pktin_fd)
		A.pktin_fd = -1;
	if (A.cfds[i] == A.tap_fd)
		A.tap_fd = -1;
	if (A.cfds[i] == A.capture_fd) {
		A.capture = 0;
		A.capture_fd = -1;
	}
	close(A.cfds[i]);
	memmove(&A.cfds[i], &A.cfds[i + 1], (size_t)(A.n_cfds - i - 1) * sizeof(int));
	A.n_cfds--;
}

/* Accept new clients, handle pending requests. Returns the number of messages handled. */
static int ctl_poll(void)
{
	int n = 0, i;
	while (A.n_cfds < MAX_CLIENTS) {
		int fd = accept4(A.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int sz = 8 << 20;
		if (fd < 0)
			break;
		/* FORCE variants need CAP_NET_ADMIN; the plain ones are capped by wmem/rmem_max */
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)))
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)))
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		A.cfds[A.n_cfds++] = fd;
	}
	for (i = 0; i < A.n_cfds; i++) {
		int k = 0;
		while (k < 64) {
			ssize_t r = recv(A.cfds[i], A.msg, CTL_MAX_MSG, MSG_DONTWAIT);
			if (r == 0 ||
			    (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
				ctl_drop(i);
				i--;
				break;
			}
			if (r < 0)
				break;
			A.cfd = A.cfds[i];
			handle_msg(A.msg, (uint32_t)r);
			A.cfd = -1;
			k++;
		}
		n += k;
	}
	return n;
}

/* ---- ports ---------------------------------------------------------------------------------- */
static int port_init(uint16_t port)
{
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	int rc;
	memset(&conf, 0, sizeof(conf));
	rc = rte_eth_dev_info_get(port, &info);
	if (rc)
		return rc;
	rc = rte_eth_dev_configure(port, 1, 1, &conf);
	if (rc)
		return rc;
	rc = rte_eth_rx_queue_setup(port, 0, RX_RING, rte_eth_dev_socket_id(port), NULL, A.mp);
	if (rc)
		return rc;
	rc = rte_eth_tx_queue_setup(port, 0, TX_RING, rte_eth_dev_socket_id(port), NULL);
	if (rc)
		return rc;
	rte_eth_promiscuous_enable(port);
	return 0;
}

static void start_ports(void)
{
	uint16_t p;
	if (A.started)
		return;
	for (p = 0; p < A.n_ports; p++)
		if (rte_eth_dev_start(p))
			fprintf(stderr, "dysco-agent: cannot start port %u\n", p);
	A.started = 1;
}

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

/* Without hugetlbfs (--no-huge) EAL memory is one mapping backed by 4 KiB pages;
 * the session tables are hundreds of MB of random accesses, so every lookup would miss the
 * TLB. Ask for transparent huge pages on it (THP "madvise" mode); harmless if unavailable. */
static int thp_walk(const struct rte_memseg_list *msl, void *arg)
{
	size_t *n = arg;
	if (msl->base_va && msl->len && madvise(msl->base_va, msl->len, MADV_HUGEPAGE) == 0)
		*n += msl->len;
	return 0;
}

/* --selftest N: the pipeline's own cost, without ports or kernel. Installs `sessions` OUT
 * sessions (the tuples `dysco bench dataplane` uses), then runs N synthetic TCP/TS frames
 * through pipe_process_burst in bursts of 32, cycling over the sessions with a large
 * stride, and prints the TSC time spent in the pipeline per packet. */
static uint32_t selftest_out;
static void selftest_tx(void *ctx, struct rte_mbuf *m, uint16_t port)
{
	(void)ctx;
	(void)port;
	selftest_out++;
	rte_pktmbuf_free(m);
}

static void wr16b(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void wr32b(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
static uint16_t csum16(const uint8_t *b, uint32_t n, uint32_t s)
{
	for (uint32_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(b[i] << 8 | b[i + 1]);
	while (s >> 16)
		s = (s & 0xFFFF) + (s >> 16);
	return (uint16_t)~s;
}

static int run_selftest(uint32_t sessions, uint32_t packets)
{
	struct ctl_entry e;
	struct pipe_sink sink = {selftest_tx, NULL, NULL};
	uint32_t i, done = 0, stride = 7919, idx = 0;
	uint64_t cyc = 0;
	uint8_t tmpl[66];
	pipe_set_sink(A.pipe, &sink);
	memset(&e, 0, sizeof(e));
	e.op = CTL_OP_INSERT;
	e.table = CTL_T_PORT_ROLE;
	e.action = CTL_A_HOST_PORT;
	e.port = 0;
	e.agent_id = 1;
	pipe_write(A.pipe, &e, 0);
	memset(&e, 0, sizeof(e));
	e.op = CTL_OP_INSERT;
	e.table = CTL_T_IPV4_FWD;
	e.action = CTL_A_ROUTE;
	e.match.dip = 0xC6138000;
	e.plen = 17;
	e.port = 1;
	pipe_write(A.pipe, &e, 0);
	for (i = 0; i < sessions; i++) {
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
		e.slot = (uint16_t)(i % 65536);
		if (pipe_write(A.pipe, &e, 0)) {
			fprintf(stderr, "selftest: insert %u failed\n", i);
			return 1;
		}
	}
	memset(tmpl, 0, sizeof(tmpl));
	wr16b(tmpl + 12, 0x0800);
	tmpl[14] = 0x45;
	wr16b(tmpl + 16, 52);
	tmpl[22] = 64;
	tmpl[23] = 6;
	wr32b(tmpl + 26, 0xC612000A);
	wr16b(tmpl + 36, 80);
	wr32b(tmpl + 38, 1000000);
	wr32b(tmpl + 42, 2000000);
	tmpl[46] = 8 << 4;
	tmpl[47] = 0x10;
	wr16b(tmpl + 48, 1000);
	tmpl[54] = 1; tmpl[55] = 1; tmpl[56] = 8; tmpl[57] = 10;
	wr32b(tmpl + 58, 12345);
	while (sessions % stride == 0)
		stride += 2;
	while (done < packets) {
		struct rte_mbuf *b[32];
		uint64_t c0;
		if (rte_pktmbuf_alloc_bulk(A.mp, b, 32))
			return 1;
		for (i = 0; i < 32; i++) {
			uint8_t *f = (uint8_t *)rte_pktmbuf_append(b[i], 66);
			uint32_t s = idx % sessions;
			idx += stride;
			memcpy(f, tmpl, 66);
			wr32b(f + 30, 0xC6130000 + s / 64000);
			wr16b(f + 34, (uint16_t)(1024 + s % 64000));
			wr16b(f + 24, csum16(f + 14, 20, 0));
			{
				uint8_t ph[12];
				memcpy(ph, f + 26, 8);
				ph[8] = 0; ph[9] = 6;
				wr16b(ph + 10, 32);
				uint32_t s0 = 0;
				for (int k = 0; k < 12; k += 2)
					s0 += (uint32_t)(ph[k] << 8 | ph[k + 1]);
				wr16b(f + 50, csum16(f + 34, 32, s0));
			}
		}
		c0 = rte_rdtsc();
		pipe_process_burst(A.pipe, b, 32, 0, 0);
		cyc += rte_rdtsc() - c0;
		done += 32;
	}
	printf("{\"sessions\": %u, \"packets\": %u, \"forwarded\": %u, \"ns_per_packet\": %.1f, "
	       "\"table_bytes\": %llu}\n",
	       sessions, done, selftest_out, (double)cyc * 1e9 / (double)A.hz / done,
	       (unsigned long long)pipe_table_bytes(A.pipe));
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: dysco-dpdk-agent [EAL] -- --ctl PATH [--sessions N] [--slots N]"
			" [--two N] [--wait-start] [--burst N] [--max-sleep-us N]\n");
}

int main(int argc, char **argv)
{
	struct pipe_cfg cfg;
	struct pipe_sink sink;
	int rc, opt, wait_start = 0;
	uint32_t sessions = 1000000, selftest = 0, selftest_sessions = 0;
	uint64_t idle = 0;
	uint32_t sleep_us = 0;
	static const struct option lo[] = {
		{"ctl", required_argument, 0, 'c'},
		{"sessions", required_argument, 0, 's'},
		{"slots", required_argument, 0, 'S'},
		{"two", required_argument, 0, 't'},
		{"wait-start", no_argument, 0, 'w'},
		{"burst", required_argument, 0, 'b'},
		{"max-sleep-us", required_argument, 0, 'm'},
		{"mbufs", required_argument, 0, 'M'},
		{"selftest", required_argument, 0, 'T'},
		{"selftest-sessions", required_argument, 0, 'U'},
		{0, 0, 0, 0},
	};

	rc = rte_eal_init(argc, argv);
	if (rc < 0) {
		fprintf(stderr, "dysco-agent: EAL init failed\n");
		return 1;
	}
	argc -= rc;
	argv += rc;
	{
		size_t thp = 0;
		rte_memseg_list_walk(thp_walk, &thp);
		A.thp_bytes = thp;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.max_slots = 65536; /* NUM_SLOTS: 16-bit slot parameter */
	cfg.max_two = 65536;
	cfg.socket_id = (int)rte_socket_id();
	A.burst = 32;
	A.n_mbufs = 4095;
	A.max_sleep_us = 500;
	A.ctl_path[0] = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (opt) {
		case 'c': snprintf(A.ctl_path, sizeof(A.ctl_path), "%s", optarg); break;
		case 's': sessions = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'S': cfg.max_slots = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 't': cfg.max_two = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'w': wait_start = 1; break;
		case 'b': A.burst = (uint32_t)atoi(optarg); break;
		case 'm': A.max_sleep_us = (uint32_t)atoi(optarg); break;
		case 'M': A.n_mbufs = (uint32_t)atoi(optarg); break;
		case 'T': selftest = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'U': selftest_sessions = (uint32_t)strtoul(optarg, NULL, 0); break;
		default: usage(); return 2;
		}
	}
	if (!A.ctl_path[0]) {
		usage();
		return 2;
	}
	if (A.burst == 0 || A.burst > MAX_BURST)
		A.burst = MAX_BURST;
	/* Two entries (OUT + IN) and one register slot per session. */
	cfg.max_entries = 2 * sessions;
	if (!cfg.max_slots || cfg.max_slots > 65536)
		cfg.max_slots = 65536;
	A.hz = rte_get_tsc_hz();
	A.t0 = rte_get_tsc_cycles();
	A.n_ports = rte_eth_dev_count_avail();
	if (A.n_ports > MAX_PORTS)
		A.n_ports = MAX_PORTS;
	/* Jumbo-sized single-segment mbufs: the pipeline handles frames up to 9216 bytes. */
	A.mp = rte_pktmbuf_pool_create("dysco_mbufs", A.n_mbufs, 256, 0,
				       PIPE_MAX_FRAME + RTE_PKTMBUF_HEADROOM, (int)rte_socket_id());
	if (!A.mp) {
		fprintf(stderr, "dysco-agent: mbuf pool: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	A.pipe = pipe_create(&cfg, A.mp);
	if (!A.pipe) {
		fprintf(stderr, "dysco-agent: cannot allocate tables for %u sessions\n", sessions);
		return 1;
	}
	A.msg = malloc(CTL_MAX_MSG);
	A.reply = malloc(CTL_MAX_MSG + 64);
	A.capbuf = malloc(CTL_MAX_MSG);
	if (!A.msg || !A.reply || !A.capbuf)
		return 1;
	sink.tx = sink_tx;
	sink.pktin = sink_pktin;
	sink.ctx = NULL;
	pipe_set_sink(A.pipe, &sink);
	for (uint16_t p = 0; p < A.n_ports; p++) {
		if (port_init(p)) {
			fprintf(stderr, "dysco-agent: cannot configure port %u\n", p);
			return 1;
		}
	}
	A.cfd = -1;
	A.capture_fd = -1;
	A.pktin_fd = -1;
	A.tap_fd = -1;
	A.lfd = ctl_listen(A.ctl_path);
	if (A.lfd < 0) {
		fprintf(stderr, "dysco-agent: cannot listen on %s: %s\n", A.ctl_path,
			strerror(errno));
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (selftest)
		return run_selftest(selftest_sessions && selftest_sessions < sessions ? selftest_sessions
								      : sessions,
				    selftest);
	if (!wait_start)
		start_ports();
	printf("dysco-agent: ready ports=%u sessions=%u thp=%zuMiB table_bytes=%llu ctl=%s\n",
	       A.n_ports, sessions, A.thp_bytes >> 20,
	       (unsigned long long)pipe_table_bytes(A.pipe), A.ctl_path);
	fflush(stdout);

	while (!quit) {
		uint32_t got = 0;
		uint16_t p;
		struct rte_mbuf *bufs[MAX_BURST];
		if (A.started) {
			uint32_t now = now_ms();
			uint64_t c0 = rte_rdtsc(), c1, c2;
			for (p = 0; p < A.n_ports; p++) {
				uint16_t n = rte_eth_rx_burst(p, 0, bufs, (uint16_t)A.burst);
				if (n) {
					c1 = rte_rdtsc();
					A.st.cyc_rx += c1 - c0;
					A.st.rx += n;
					got += n;
					pipe_process_burst(A.pipe, bufs, n, p, now);
					c0 = rte_rdtsc();
					A.st.cyc_pipe += c0 - c1;
				}
			}
			c1 = rte_rdtsc();
			for (p = 0; p < A.n_ports; p++)
				if (A.ntx[p])
					flush_port(p);
			c2 = rte_rdtsc();
			if (got) {
				A.st.cyc_rx += c1 - c0;
				A.st.cyc_tx += c2 - c1;
				A.st.busy_loops++;
			}
		}
		/* Control messages between bursts: every loop when idle, else every 64th. */
		if ((!got && (idle & 7) == 0) || (idle & 63) == 0) {
			uint64_t c = rte_rdtsc();
			ctl_poll();
			A.st.cyc_ctl += rte_rdtsc() - c;
		}
		idle++;
		if (got) {
			sleep_us = 0;
			idle = 1;
			continue;
		}
		/* Idle back-off: spin briefly, then sleep with an exponentially growing period
		 * (1 us .. max-sleep-us), waking at once on a control message. */
		if (idle > 512) {
			struct pollfd pf[MAX_CLIENTS + 1];
			struct timespec ts;
			int nf = 0, c;
			sleep_us = sleep_us ? sleep_us * 2 : 1;
			if (sleep_us > A.max_sleep_us)
				sleep_us = A.max_sleep_us;
			pf[nf].fd = A.lfd;
			pf[nf++].events = POLLIN;
			for (c = 0; c < A.n_cfds; c++) {
				pf[nf].fd = A.cfds[c];
				pf[nf++].events = POLLIN;
			}
			ts.tv_sec = 0;
			ts.tv_nsec = (long)sleep_us * 1000;
			ppoll(pf, (nfds_t)nf, &ts, NULL);
			A.st.sleeps++;
			A.st.idle_loops++;
		}
	}
	for (uint16_t p = 0; p < A.n_ports; p++) {
		if (A.ntx[p])
			flush_port(p);
		rte_eth_dev_stop(p);
		rte_eth_dev_close(p);
	}
	while (A.n_cfds)
		ctl_drop(A.n_cfds - 1);
	close(A.lfd);
	unlink(A.ctl_path);
	rte_eal_cleanup();
	return 0;
}
