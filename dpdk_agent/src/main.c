/* dysco-dpdk-agent: the Dysco pipeline on DPDK, driven over a Unix control socket.
 *
 *   dysco-dpdk-agent [EAL args] -- --ctl PATH [--sessions N] [--slots N] [--two N]
 *       [--wait-start] [--burst N] [--max-sleep-us N] [--mbufs N]
 *       [--selftest N [--selftest-sessions S]]
 *
 * DPDK port i is pipeline port i. Without ports (no vdev) the agent still serves the control
 * socket: the INJECT/capture path runs the same pipeline code on frames sent over the socket
 * (tests). This file: options, set-up, the poll loop and its idle back-off (agent.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "agent.h"

struct agent agent;
volatile int agent_quit;

static void on_signal(int sig)
{
	(void)sig;
	agent_quit = 1;
}

struct options {
	uint32_t sessions;
	uint32_t selftest_packets;
	uint32_t selftest_sessions;
	int wait_start;
	struct pipe_cfg cfg;
};

static void usage(void)
{
	fprintf(stderr, "usage: dysco-dpdk-agent [EAL] -- --ctl PATH [--sessions N] [--slots N]"
			" [--two N] [--wait-start] [--burst N] [--max-sleep-us N] [--mbufs N]"
			" [--selftest N [--selftest-sessions S]]\n");
}

/* The agent's options (after EAL's); 0, or 2 on a usage error. */
static int parse_options(int argc, char **argv, struct options *opt)
{
	static const struct option longopts[] = {
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
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': snprintf(agent.ctl_path, sizeof(agent.ctl_path), "%s", optarg); break;
		case 's': opt->sessions = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'S': opt->cfg.max_slots = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 't': opt->cfg.max_two = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'w': opt->wait_start = 1; break;
		case 'b': agent.burst = (uint32_t)atoi(optarg); break;
		case 'm': agent.max_sleep_us = (uint32_t)atoi(optarg); break;
		case 'M': agent.n_mbufs = (uint32_t)atoi(optarg); break;
		case 'T': opt->selftest_packets = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'U': opt->selftest_sessions = (uint32_t)strtoul(optarg, NULL, 0); break;
		default: usage(); return 2;
		}
	}
	if (!agent.ctl_path[0]) {
		usage();
		return 2;
	}
	if (agent.burst == 0 || agent.burst > AGENT_MAX_BURST)
		agent.burst = AGENT_MAX_BURST;
	/* Two entries (OUT + IN) and one register slot per session (slot 0 is never used): by
	 * default a slot for every session, at least NUM_SLOTS, at most every slot value. */
	opt->cfg.max_entries = 2 * opt->sessions;
	if (!opt->cfg.max_slots)
		opt->cfg.max_slots = opt->sessions + 1 > NUM_SLOTS ? opt->sessions + 1 : NUM_SLOTS;
	if (opt->cfg.max_slots > MAX_SLOTS)
		opt->cfg.max_slots = MAX_SLOTS;
	return 0;
}

/* Mbufs, tables, buffers, ports, the control socket. 0 or 1 (reported on stderr). */
static int agent_setup(const struct options *opt)
{
	agent.hz = rte_get_tsc_hz();
	agent.t0 = rte_get_tsc_cycles();
	agent.n_ports = rte_eth_dev_count_avail();
	if (agent.n_ports > AGENT_MAX_PORTS) {
		/* a port the agent would never poll must not look configured */
		fprintf(stderr, "dysco-agent: %u ports; at most %d\n", agent.n_ports,
			AGENT_MAX_PORTS);
		return 1;
	}
	/* Jumbo-sized single-segment mbufs: the pipeline handles frames up to 9216 bytes. */
	agent.mp = rte_pktmbuf_pool_create("dysco_mbufs", agent.n_mbufs, 256, 0,
					   PIPE_MAX_FRAME + RTE_PKTMBUF_HEADROOM,
					   (int)rte_socket_id());
	if (!agent.mp) {
		fprintf(stderr, "dysco-agent: mbuf pool: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	agent.pipe = pipe_create(&opt->cfg, agent.mp);
	if (!agent.pipe) {
		fprintf(stderr, "dysco-agent: cannot allocate tables for %u sessions\n",
			opt->sessions);
		return 1;
	}
	agent.rx_buf = malloc(CTL_MAX_MSG);
	agent.reply_buf = malloc(CTL_MAX_MSG + 64);
	agent.cap_buf = malloc(CTL_MAX_MSG);
	if (!agent.rx_buf || !agent.reply_buf || !agent.cap_buf) {
		fprintf(stderr, "dysco-agent: out of memory\n");
		return 1;
	}
	agent_set_sinks();
	if (ports_init())
		return 1;
	agent.request_fd = agent.capture_fd = agent.pktin_fd = agent.tap_fd = -1;
	agent.listen_fd = ctl_listen(agent.ctl_path);
	if (agent.listen_fd < 0) {
		fprintf(stderr, "dysco-agent: cannot listen on %s: %s\n", agent.ctl_path,
			strerror(errno));
		return 1;
	}
	return 0;
}

/* Receive a burst on every port, run it through the pipeline, transmit. Returns the frames
 * received; accounts the TSC cycles per stage. */
static uint32_t poll_ports(void)
{
	struct rte_mbuf *burst[AGENT_MAX_BURST];
	uint32_t got = 0, now = agent_now_ms();
	uint64_t t_rx = rte_rdtsc(), t_pipe, t_tx;
	for (uint16_t port = 0; port < agent.n_ports; port++) {
		uint16_t n = rte_eth_rx_burst(port, 0, burst, (uint16_t)agent.burst);
		if (!n)
			continue;
		t_pipe = rte_rdtsc();
		agent.stats.cyc_rx += t_pipe - t_rx;
		agent.stats.rx += n;
		got += n;
		pipe_process_burst(agent.pipe, burst, n, port, now);
		t_rx = rte_rdtsc();
		agent.stats.cyc_pipe += t_rx - t_pipe;
	}
	t_pipe = rte_rdtsc();
	ports_flush();
	t_tx = rte_rdtsc();
	if (got) {
		agent.stats.cyc_rx += t_pipe - t_rx;
		agent.stats.cyc_tx += t_tx - t_pipe;
		agent.stats.busy_loops++;
	}
	return got;
}

/* Idle: sleep in ppoll on the control sockets and the ports' doorbells for sleep_us, waking
 * at once on a message or a frame. Returns whether a control socket is readable; *woke:
 * whether anything (a control socket or a doorbell) ended the sleep early. */
static int idle_sleep(uint32_t sleep_us, int *woke)
{
	struct pollfd pfds[AGENT_MAX_CLIENTS + 1 + AGENT_MAX_PORTS];
	struct timespec ts;
	int n = 0, n_ctl, ready;
	pfds[n].fd = agent.listen_fd;
	pfds[n++].events = POLLIN;
	for (int c = 0; c < agent.n_clients; c++) {
		pfds[n].fd = agent.clients[c];
		pfds[n++].events = POLLIN;
	}
	n_ctl = n;
	n += ports_doorbells(pfds + n);
	ts.tv_sec = sleep_us / 1000000;
	ts.tv_nsec = (long)(sleep_us % 1000000) * 1000;
	ready = ppoll(pfds, (nfds_t)n, &ts, NULL);
	agent.stats.sleeps++;
	agent.stats.idle_loops++;
	*woke = ready > 0;
	if (ready <= 0)
		return 0;
	for (int i = 0; i < n_ctl; i++)
		if (pfds[i].revents)
			return 1;
	return 0;
}

/* Answer the control sockets. What the messages queued (packet-outs, probe answers routed
 * to a port) is transmitted now: left in the TX queues it would wait for the next loop,
 * i.e. behind an idle sleep of up to max-sleep-us. Returns the messages handled. */
static int control_step(void)
{
	uint64_t start = rte_rdtsc();
	int handled = ctl_poll();
	if (handled)
		ports_flush();
	agent.stats.cyc_ctl += rte_rdtsc() - start;
	return handled;
}

/* Longest idle sleep. With a doorbell on every port, frames and control messages both wake
 * the agent, so the sleep only bounds how long a wake-up could be missed; otherwise
 * --max-sleep-us bounds how long a frame waits for a sleeping agent. */
#define DOORBELL_SLEEP_US 100000
/* Empty polls before the agent sleeps. With a doorbell on every port a frame wakes it at
 * once, so it spins briefly and then sleeps until woken: between the frames of a light load
 * it gives its core back instead of spinning (on a shared machine the controllers and
 * P4Runtime servers need it). Without, it spins longer and backs off exponentially from
 * 1 us, since a frame waits for the sleep to end. */
#define SPIN_LOOPS_DOORBELL 32
#define SPIN_LOOPS 512
/* The first sleep after draining the doorbells (see run_loop). */
#define DOORBELL_SETTLE_US 100
static uint32_t sleep_cap_us(int wakes)
{
	return wakes && agent.max_sleep_us < DOORBELL_SLEEP_US ? DOORBELL_SLEEP_US
							      : agent.max_sleep_us;
}

static void run_loop(void)
{
	uint64_t idle = 0, loops = 0;
	uint32_t sleep_us = 0;
	int drained = 0;
	while (!agent_quit) {
		uint32_t got = agent.started ? poll_ports() : 0;
		loops++;
		/* Control messages between bursts: every 8th idle loop, and every 64th loop
		 * whatever the ports do. The second counter never resets: `idle` does on every
		 * busy loop, so a saturated port would otherwise starve writes and packet-outs. */
		if ((!got && (idle & 7) == 0) || (loops & 63) == 0)
			control_step();
		idle++;
		if (got) {
			sleep_us = 0;
			idle = 1;
			drained = 0;
			continue;
		}
		/* Idle: spin briefly, then sleep, waking at once on a control message (answered at
		 * once) or a frame (doorbells). Without doorbells the sleep grows exponentially
		 * (1 us .. max-sleep-us) and a control message restarts it: the frames it provokes
		 * (a packet-out's answer from a host or a box) come back within a millisecond or
		 * so and cannot wake the agent. */
		int wakes = agent.all_ports_wake && agent.started;
		if (idle > (wakes ? SPIN_LOOPS_DOORBELL : SPIN_LOOPS)) {
			uint32_t cap = sleep_cap_us(wakes);
			int woke;
			if (wakes && !drained) {
				/* The kernel hands a frame to the doorbell a moment before the
				 * PMD's ring shows it, so a drain can take the notice of a frame
				 * the last look at the ports missed: after draining, sleep only
				 * briefly, and look again before the long sleep. */
				ports_doorbells_drain();
				drained = 1;
				sleep_us = DOORBELL_SETTLE_US;
			} else if (wakes) {
				sleep_us = cap;
			} else {
				sleep_us = sleep_us ? sleep_us * 2 : 1;
			}
			if (sleep_us > cap)
				sleep_us = cap;
			int ready = idle_sleep(sleep_us, &woke);
			if (woke)
				drained = 0; /* woken early: whatever rang is looked at, then drained */
			if (ready && control_step())
				sleep_us = 0;
		}
	}
}

int main(int argc, char **argv)
{
	struct options opt;
	int rc = rte_eal_init(argc, argv);
	if (rc < 0) {
		fprintf(stderr, "dysco-agent: EAL init failed\n");
		return 1;
	}
	argc -= rc;
	argv += rc;
	agent.thp_bytes = eal_memory_thp();
	memset(&opt, 0, sizeof(opt));
	opt.sessions = 1000000;
	opt.cfg.max_slots = 0; /* --slots; 0: sized from --sessions (parse_options) */
	opt.cfg.max_two = 65536;
	opt.cfg.socket_id = (int)rte_socket_id();
	agent.burst = 32;
	agent.n_mbufs = 4095;
	agent.max_sleep_us = 500;
	rc = parse_options(argc, argv, &opt);
	if (rc)
		return rc;
	if (agent_setup(&opt))
		return 1;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (opt.selftest_packets)
		return selftest_run(opt.selftest_sessions && opt.selftest_sessions < opt.sessions
					    ? opt.selftest_sessions
					    : opt.sessions,
				    opt.selftest_packets);
	if (!opt.wait_start)
		ports_start();
	printf("dysco-agent: ready ports=%u sessions=%u thp=%zuMiB table_bytes=%llu ctl=%s\n",
	       agent.n_ports, opt.sessions, agent.thp_bytes >> 20,
	       (unsigned long long)pipe_table_bytes(agent.pipe), agent.ctl_path);
	fflush(stdout);
	run_loop();
	ports_close();
	ctl_close();
	pipe_destroy(agent.pipe);
	rte_eal_cleanup();
	return 0;
}
