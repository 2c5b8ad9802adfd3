/* The agent's control server: a SOCK_SEQPACKET Unix socket (protocol: ctl_proto.h), several
 * clients, one handler per message type (the `handlers` table below).
 *
 * Every request gets a reply. A handler returns CTL_OK once it has sent its reply, or an
 * error status (having sent nothing); ctl_dispatch then replies with CTL_FLAG_ERROR and the
 * status. The one exception is CTL_PKT_OUT, one way by design: it is never answered (a
 * malformed one is counted as a drop). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"
#include "pbwrite.h"

/* A request being handled. out: the reply body buffer (after the header), CTL_MAX_MSG bytes. */
struct ctl_request {
	uint16_t type;
	uint32_t seq;
	const uint8_t *body;
	uint32_t body_len;
	uint8_t *out;
};

/* Largest reply body: the reply buffer less its header. */
#define REPLY_BODY_MAX (CTL_MAX_MSG - 64)

/* ---- sockets and replies ----------------------------------------------------------------- */
int ctl_listen(const char *path)
{
	struct sockaddr_un addr;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 4) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send a reply to the requesting client, waiting (up to 1 s at a time) while its socket buffer
 * is full. body may already be in place (req->out). */
static void reply_send(const struct ctl_request *req, uint16_t flags, const void *body,
		       uint32_t body_len)
{
	struct ctl_hdr *hdr = (struct ctl_hdr *)agent.reply_buf;
	struct pollfd pfd;
	uint32_t total = (uint32_t)sizeof(*hdr) + body_len;
	if (agent.request_fd < 0)
		return;
	hdr->len = total;
	hdr->type = req->type;
	hdr->flags = flags;
	hdr->seq = req->seq;
	if (body != agent.reply_buf + sizeof(*hdr) && body_len)
		memcpy(agent.reply_buf + sizeof(*hdr), body, body_len);
	for (;;) {
		if (send(agent.request_fd, agent.reply_buf, total, MSG_NOSIGNAL) >= 0)
			return;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS)
			return;
		pfd.fd = agent.request_fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, 1000) <= 0)
			return;
	}
}

static int reply_status(const struct ctl_request *req, int32_t status)
{
	reply_send(req, 0, &status, sizeof(status));
	return CTL_OK;
}

/* u32 count, then count records already written at req->out + 4. */
static void reply_records(const struct ctl_request *req, uint16_t flags, uint32_t count,
			  uint32_t record_size)
{
	memcpy(req->out, &count, 4);
	reply_send(req, flags, req->out, 4 + count * record_size);
}

/* A frame of len bytes from the request in a new mbuf; NULL (counted as a drop) if it does not
 * fit one. */
static struct rte_mbuf *mbuf_from(const uint8_t *frame, uint32_t len)
{
	struct rte_mbuf *m;
	uint8_t *data;
	if (len > PIPE_MAX_FRAME) {
		agent.stats.drop++;
		return NULL;
	}
	m = rte_pktmbuf_alloc(agent.mp);
	data = m ? (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len) : NULL;
	if (!data) {
		if (m)
			rte_pktmbuf_free(m);
		agent.stats.drop++;
		return NULL;
	}
	memcpy(data, frame, len);
	return m;
}

/* ---- handlers ------------------------------------------------------------------------------ */
static int on_hello(const struct ctl_request *req)
{
	struct ctl_info info;
	const struct pipe_cfg *cfg = pipe_config(agent.pipe);
	memset(&info, 0, sizeof(info));
	info.version = CTL_VERSION;
	info.max_entries = cfg->max_entries;
	info.max_slots = cfg->max_slots;
	info.n_ports = agent.n_ports;
	info.table_bytes = pipe_table_bytes(agent.pipe);
	info.max_sessions = cfg->max_entries / 2;
	info.control_port = DYSCO_CONTROL_PORT;
	reply_send(req, 0, &info, sizeof(info));
	return CTL_OK;
}

/* u32 n, n * ctl_entry -> u32 n, n * i32 status */
static int on_write(const struct ctl_request *req)
{
	uint32_t n, i, now = agent_now_ms();
	int32_t *status = (int32_t *)(req->out + 4);
	memcpy(&n, req->body, 4);
	if (req->body_len != 4 + (uint64_t)n * sizeof(struct ctl_entry) ||
	    4 + 4ull * n > REPLY_BODY_MAX)
		return CTL_EINVAL;
	for (i = 0; i < n; i++) {
		struct ctl_entry e;
		memcpy(&e, req->body + 4 + (size_t)i * sizeof(e), sizeof(e));
		status[i] = pipe_write(agent.pipe, &e, now);
	}
	reply_records(req, 0, n, 4);
	return CTL_OK;
}

static int on_schema(const struct ctl_request *req)
{
	return reply_status(req, pbw_load_schema(req->body, req->body_len));
}

static uint32_t write_pb_now;

static int apply_entry(void *ctx, const struct ctl_entry *e)
{
	(void)ctx;
	return pipe_write(agent.pipe, e, write_pb_now);
}

/* a serialized p4.v1.WriteRequest -> u32 n, n * i32 (n = 0xFFFFFFFF: malformed request) */
static int on_write_pb(const struct ctl_request *req)
{
	int32_t *status = (int32_t *)(req->out + 4);
	int n;
	write_pb_now = agent_now_ms();
	n = pbw_write(req->body, req->body_len, status, REPLY_BODY_MAX / 4 - 1, apply_entry, NULL);
	reply_records(req, 0, n < 0 ? 0xFFFFFFFFu : (uint32_t)n, n < 0 ? 0 : 4);
	return CTL_OK;
}

/* [u8 table] -> replies of u32 n, n * ctl_entry; CTL_FLAG_MORE on all but the last */
static int on_read(const struct ctl_request *req)
{
	uint8_t table = req->body_len >= 1 ? req->body[0] : CTL_T_ALL;
	const uint32_t chunk = (CTL_CHUNK - 64) / sizeof(struct ctl_entry);
	uint64_t it = 0;
	uint32_t n = 0, now = agent_now_ms();
	struct ctl_entry e;
	int more;
	do {
		more = pipe_read_next(agent.pipe, &it, table, &e, now);
		if (more)
			memcpy(req->out + 4 + (size_t)n++ * sizeof(e), &e, sizeof(e));
		if (n == chunk || !more) {
			reply_records(req, more ? CTL_FLAG_MORE : 0, n, sizeof(e));
			n = 0;
		}
	} while (more);
	return CTL_OK;
}

/* packet_out header + frame; PKT_OUT_SYNC replies with the captured outputs */
static int on_packet_out(const struct ctl_request *req)
{
	int sync = req->type == CTL_PKT_OUT_SYNC;
	uint32_t frame_len = req->body_len - PKT_OUT_HDR_LEN;
	struct rte_mbuf *m = NULL;
	if (frame_len > PIPE_MAX_FRAME)
		return CTL_EINVAL;
	if (sync)
		capture_begin();
	if (frame_len)
		m = mbuf_from(req->body + PKT_OUT_HDR_LEN, frame_len);
	if (m || !frame_len)
		pipe_packet_out(agent.pipe, req->body, m, agent_now_ms());
	if (sync) {
		capture_end();
		reply_send(req, 0, agent.cap_buf, agent.cap_len);
	}
	return CTL_OK;
}

/* u16 in_port, u16 flags (bit 0: live), frame -> captured outputs (live: u32 0) */
static int on_inject(const struct ctl_request *req)
{
	uint16_t port;
	int live = req->body[2] & 1; /* as a received frame: outputs to the ports, packet-ins out */
	struct rte_mbuf *m;
	uint32_t zero = 0;
	if (req->body_len - 4 > PIPE_MAX_FRAME)
		return CTL_EINVAL;
	memcpy(&port, req->body, 2);
	if (!live)
		capture_begin();
	m = mbuf_from(req->body + 4, req->body_len - 4);
	if (m)
		pipe_process_burst(agent.pipe, &m, 1, port, agent_now_ms());
	if (live) {
		ports_flush();
		reply_send(req, 0, &zero, 4);
	} else {
		capture_end();
		reply_send(req, 0, agent.cap_buf, agent.cap_len);
	}
	return CTL_OK;
}

/* u16 in_port, u16 count, count * (u16 len, frame): processed like a received burst
 * -> u32 frames accepted (a malformed frame ends the burst) */
static int on_inject_burst(const struct ctl_request *req)
{
	uint16_t port, count, frame_len;
	uint32_t off = 4, accepted = 0;
	struct rte_mbuf *burst[AGENT_MAX_BURST];
	uint16_t n = 0;
	memcpy(&port, req->body, 2);
	memcpy(&count, req->body + 2, 2);
	for (uint16_t i = 0; i < count && off + 2 <= req->body_len; i++) {
		struct rte_mbuf *m;
		memcpy(&frame_len, req->body + off, 2);
		off += 2;
		if (frame_len == 0 || frame_len > PIPE_MAX_FRAME || off + frame_len > req->body_len)
			break;
		m = mbuf_from(req->body + off, frame_len);
		off += frame_len;
		if (!m)
			continue;
		burst[n++] = m;
		accepted++;
		if (n == AGENT_MAX_BURST) {
			pipe_process_burst(agent.pipe, burst, n, port, agent_now_ms());
			n = 0;
		}
	}
	if (n)
		pipe_process_burst(agent.pipe, burst, n, port, agent_now_ms());
	agent.stats.rx += accepted;
	ports_flush();
	reply_send(req, 0, &accepted, 4);
	return CTL_OK;
}

/* u32 slot (0xFFFFFFFF: all) -> replies of u32 n, n * ctl_regs; CTL_FLAG_MORE but the last */
static int on_reg_read(const struct ctl_request *req)
{
	const struct pipe_cfg *cfg = pipe_config(agent.pipe);
	const uint32_t chunk = (CTL_CHUNK - 64 - 4) / sizeof(struct ctl_regs);
	uint32_t slot, n = 0, lo, hi, i;
	struct ctl_regs regs;
	memcpy(&slot, req->body, 4);
	lo = slot == 0xFFFFFFFFu ? 0 : slot;
	hi = slot == 0xFFFFFFFFu ? cfg->max_slots : slot + 1;
	if (hi > cfg->max_slots)
		hi = cfg->max_slots;
	if (lo >= hi) {
		reply_records(req, 0, 0, sizeof(regs));
		return CTL_OK;
	}
	for (i = lo; i < hi; i++) {
		memset(&regs, 0, sizeof(regs));
		pipe_reg_read(agent.pipe, i, &regs);
		memcpy(req->out + 4 + (size_t)n++ * sizeof(regs), &regs, sizeof(regs));
		if (n == chunk || i + 1 == hi) {
			reply_records(req, i + 1 == hi ? 0 : CTL_FLAG_MORE, n, sizeof(regs));
			n = 0;
		}
	}
	return CTL_OK;
}

static int on_reg_write(const struct ctl_request *req)
{
	struct ctl_regs regs;
	memcpy(&regs, req->body, sizeof(regs));
	return reply_status(req, pipe_reg_write(agent.pipe, &regs));
}

static int on_stats(const struct ctl_request *req)
{
	const struct pipe_counters *cnt = pipe_counters(agent.pipe);
	agent.stats.hit = cnt->hit;
	agent.stats.miss = cnt->miss;
	agent.stats.split = cnt->split;
	agent.stats.entries = pipe_count(agent.pipe);
	agent.stats.hz = agent.hz;
	reply_send(req, 0, &agent.stats, sizeof(agent.stats));
	return CTL_OK;
}

static int on_clear(const struct ctl_request *req)
{
	pipe_clear(agent.pipe);
	return reply_status(req, CTL_OK);
}

static int on_pktin_sub(const struct ctl_request *req)
{
	agent.pktin_fd = agent.request_fd;
	return reply_status(req, CTL_OK);
}

static int on_tap_sub(const struct ctl_request *req)
{
	agent.tap_fd = req->body_len >= 1 && req->body[0] ? agent.request_fd : -1;
	return reply_status(req, CTL_OK);
}

static int on_capture(const struct ctl_request *req)
{
	agent.capture = req->body_len >= 1 && req->body[0];
	agent.capture_fd = agent.capture ? agent.request_fd : -1;
	return reply_status(req, CTL_OK);
}

static int on_start(const struct ctl_request *req)
{
	ports_start();
	return reply_status(req, CTL_OK);
}

static int on_quit(const struct ctl_request *req)
{
	agent_quit = 1;
	return reply_status(req, CTL_OK);
}

/* ---- dispatch ------------------------------------------------------------------------------ */
struct ctl_handler {
	int (*handle)(const struct ctl_request *req);
	uint32_t min_body; /* shorter bodies are refused (CTL_EINVAL) */
};

static const struct ctl_handler handlers[] = {
	[CTL_HELLO] = {on_hello, 0},
	[CTL_WRITE] = {on_write, 4},
	[CTL_READ] = {on_read, 0},
	[CTL_PKT_OUT] = {on_packet_out, PKT_OUT_HDR_LEN},
	[CTL_INJECT] = {on_inject, 4},
	[CTL_REG_READ] = {on_reg_read, 4},
	[CTL_REG_WRITE] = {on_reg_write, sizeof(struct ctl_regs)},
	[CTL_STATS] = {on_stats, 0},
	[CTL_CLEAR] = {on_clear, 0},
	[CTL_CAPTURE] = {on_capture, 0},
	[CTL_PKT_OUT_SYNC] = {on_packet_out, PKT_OUT_HDR_LEN},
	[CTL_START] = {on_start, 0},
	[CTL_QUIT] = {on_quit, 0},
	[CTL_SCHEMA] = {on_schema, 0},
	[CTL_WRITE_PB] = {on_write_pb, 0},
	[CTL_PKTIN_SUB] = {on_pktin_sub, 0},
	[CTL_INJECT_BURST] = {on_inject_burst, 4},
	[CTL_TAP_SUB] = {on_tap_sub, 0},
};

#define N_HANDLERS (sizeof(handlers) / sizeof(handlers[0]))

/* Handle one received message of len bytes. */
static void ctl_dispatch(const uint8_t *msg, uint32_t len)
{
	const struct ctl_hdr *hdr = (const struct ctl_hdr *)msg;
	struct ctl_request req;
	const struct ctl_handler *handler = NULL;
	int32_t status = CTL_EINVAL;

	if (len < sizeof(*hdr))
		return; /* no header, no sequence number to answer */
	req.type = hdr->type;
	req.seq = hdr->seq;
	req.body = msg + sizeof(*hdr);
	req.body_len = len - (uint32_t)sizeof(*hdr);
	req.out = agent.reply_buf + sizeof(struct ctl_hdr);
	if (hdr->type < N_HANDLERS && handlers[hdr->type].handle)
		handler = &handlers[hdr->type];
	if (handler && hdr->len == len && req.body_len >= handler->min_body)
		status = handler->handle(&req);
	if (status == CTL_OK)
		return;
	if (hdr->type == CTL_PKT_OUT) {
		agent.stats.drop++; /* one way: nobody waits for an answer */
		return;
	}
	reply_send(&req, CTL_FLAG_ERROR, &status, sizeof(status));
}

static void client_drop(int i)
{
	int fd = agent.clients[i];
	if (fd == agent.pktin_fd)
		agent.pktin_fd = -1;
	if (fd == agent.tap_fd)
		agent.tap_fd = -1;
	if (fd == agent.capture_fd) {
		agent.capture = 0;
		agent.capture_fd = -1;
	}
	close(fd);
	memmove(&agent.clients[i], &agent.clients[i + 1],
		(size_t)(agent.n_clients - i - 1) * sizeof(int));
	agent.n_clients--;
}

static void clients_accept(void)
{
	while (agent.n_clients < AGENT_MAX_CLIENTS) {
		int fd = accept4(agent.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int size = 8 << 20;
		if (fd < 0)
			break;
		/* FORCE variants need CAP_NET_ADMIN; the plain ones are capped by wmem/rmem_max */
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)))
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)))
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
		agent.clients[agent.n_clients++] = fd;
	}
}

/* Accept new clients, handle pending requests (at most 64 per client). Returns the number of
 * messages handled. */
int ctl_poll(void)
{
	int handled = 0;
	clients_accept();
	for (int i = 0; i < agent.n_clients; i++) {
		int k;
		for (k = 0; k < 64; k++) {
			ssize_t r = recv(agent.clients[i], agent.rx_buf, CTL_MAX_MSG, MSG_DONTWAIT);
			if (r == 0 ||
			    (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
				client_drop(i--);
				break;
			}
			if (r < 0)
				break;
			agent.request_fd = agent.clients[i];
			ctl_dispatch(agent.rx_buf, (uint32_t)r);
			agent.request_fd = -1;
		}
		handled += k;
	}
	return handled;
}

void ctl_close(void)
{
	while (agent.n_clients)
		client_drop(agent.n_clients - 1);
	close(agent.listen_fd);
	unlink(agent.ctl_path);
}
