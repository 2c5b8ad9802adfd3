/* Per-packet rules of the DPDK agent's pipeline (Classify, SlotState, Decide, Forwarding of
 * p4src/shared/control/ *.p4) and packet-out (PacketOutIngress). See pipe.h, pipe_internal.h. */
#include <string.h>

#include <rte_hash.h>
#include <rte_prefetch.h>

#include "pipe_internal.h"

/* A TCP packet that hit a session entry, through SlotState. */
struct hit {
	struct session_entry *entry;
	struct slot_regs *regs;
	const struct twopath_entry *twopath; /* NULL: none */
	uint32_t seq, ack, seq_len;
	int path;  /* PATH_OLD / PATH_NEW / PATH_SPLIT */
	int stale; /* STALE_* */
};

/* An IN packet of an old path (entry older than the slot's epoch) acking below what the host
 * already saw (datapath.DataPath._in): data gets the newest ack, a pure ack is dropped. */
enum { STALE_NO = 0, STALE_RAISE_ACK = 1, STALE_DROP = 2 };

static void punt_and_free(struct pipe *p, struct punt *punt, uint8_t reason,
			  const struct packet *pkt, struct rte_mbuf *m)
{
	punt->reason = reason;
	punt_emit(p, punt, pkt->data, pkt->len);
	rte_pktmbuf_free(m);
}

/* SlotState of an OUT packet: sent_hi, ack_hi, two-path steering, the peer-cut latch. */
static void slot_update_out(struct hit *hit, const struct packet *pkt, struct punt *punt)
{
	struct slot_regs *regs = hit->regs;
	const struct twopath_entry *twopath = hit->twopath;
	regs->sent_hi = reg_max(regs, RV_SENT_HI, regs->sent_hi, hit->seq + hit->seq_len);
	if (pkt->tcp_flags & TCP_ACK)
		regs->ack_hi = reg_max(regs, RV_ACK_HI, regs->ack_hi, hit->ack);
	if (twopath && twopath->two_path)
		hit->path = steer_two_path(regs, twopath, pkt, hit->seq, hit->ack, hit->seq_len);
	if (twopath && !(regs->flags & RV_LATCHED_PEER) && peer_acked(regs, twopath)) {
		regs->flags |= RV_LATCHED_PEER;
		punt->flags |= PI_FLAG_LATCH_PEER;
	}
}

/* SlotState of an IN packet (the registers see the packet after rewrite): rcvd_ack_hi,
 * new_rcvd_lo (new path), the own-cut latch, stale old-path acks. */
static void slot_update_in(struct hit *hit, const struct packet *pkt, struct punt *punt)
{
	struct slot_regs *regs = hit->regs;
	const struct session_entry *entry = hit->entry;
	uint8_t flags = pkt->tcp_flags;
	if (flags & TCP_ACK)
		regs->rcvd_ack_hi =
			reg_max(regs, RV_RCVD_ACK_HI, regs->rcvd_ack_hi, hit->ack + entry->d_ack);
	if (entry->role == CTL_ROLE_NEW && (pkt->payload_len || (flags & TCP_FIN)))
		regs->new_rcvd_lo =
			reg_min(regs, RV_NEW_RCVD_LO, regs->new_rcvd_lo, hit->seq + entry->d_seq);
	if (!(regs->flags & RV_LATCHED_OWN) && (regs->flags & RV_CUT) &&
	    (regs->flags & RV_RCVD_ACK_HI) && seq_ge(regs->rcvd_ack_hi, regs->cut)) {
		regs->flags |= RV_LATCHED_OWN;
		punt->flags |= PI_FLAG_LATCH_OWN;
	}
	if (entry->epoch < regs->epoch && (flags & TCP_ACK) && !(flags & (TCP_RST | TCP_SYN)) &&
	    (regs->flags & RV_RCVD_ACK_HI) && seq_gt(regs->rcvd_ack_hi, hit->ack + entry->d_ack))
		hit->stale = hit->seq_len ? STALE_RAISE_ACK : STALE_DROP;
}

/* The mirror (I2E clone to the CPU port) a forwarded packet gets, 0 if none. */
static uint8_t mirror_reason(const struct packet *pkt, const struct punt *punt)
{
	if (pkt->tcp_flags & TCP_SYN)
		return R_SYNACK_MIRROR;
	if (pkt->tcp_flags & TCP_RST)
		return R_RST_MIRROR;
	if (pkt->tcp_flags & TCP_FIN)
		return R_FIN_MIRROR;
	if (punt->flags & (PI_FLAG_LATCH_OWN | PI_FLAG_LATCH_PEER))
		return R_LATCH;
	return 0;
}

/* The held prefix (docs/pipeline.md 5.2): an OUT packet steered in one pass to a new path whose
 * rewrite destination is 0.0.0.0 (a hold: routing would drop it), with data and none of SYN,
 * FIN, RST, within HOLD_PUNT_BYTES of the cutoff. The controller keeps these bytes and sends
 * them on when the hold ends, so the host's loss recovery starts before its RTO. */
static int held_prefix(const struct hit *hit, const struct packet *pkt, uint8_t direction)
{
	return direction == DIR_OUT && hit->path == PATH_NEW && hit->twopath->rw_dip == 0 &&
	       pkt->payload_len > 0 && !(pkt->tcp_flags & (TCP_SYN | TCP_FIN | TCP_RST)) &&
	       (uint32_t)(hit->seq - hit->regs->cut) < (uint32_t)HOLD_PUNT_BYTES;
}

/* Decide and Forwarding of a packet through SlotState: drop, punt, or rewrite and route (with
 * a mirror of the frame as it arrived). Punt precedence: SPLIT, UNSUPPORTED_OPTIONS, HOLD. */
static void decide(struct pipe *p, struct rte_mbuf *m, struct packet *pkt, struct punt *punt,
		   const struct hit *hit, uint8_t direction)
{
	struct rewrite rw;
	uint8_t mirror;
	uint32_t arrived_dst;

	if (hit->stale == STALE_DROP) {
		if (punt->flags & PI_FLAG_LATCH_OWN) {
			punt->reason = R_LATCH;
			punt_emit(p, punt, pkt->data, pkt->len);
		}
		pipe_drop(p, m);
		return;
	}
	if (hit->path == PATH_SPLIT) {
		p->cnt.split++;
		punt_and_free(p, punt, R_SPLIT, pkt, m);
		return;
	}
	if (hit->path == PATH_NEW)
		rewrite_from_twopath(hit->twopath, &rw);
	else
		rewrite_from_entry(hit->entry, &rw);
	rw.set_ack = hit->stale == STALE_RAISE_ACK;
	rw.ack_value = hit->regs->rcvd_ack_hi;
	if (pkt->opts_unparsed &&
	    (rw.d_ack || rw.d_tsval || rw.d_tsecr ||
	     (hit->twopath && hit->twopath->two_path && (hit->regs->flags & RV_NEW_RCVD_LO)))) {
		p->cnt.unsupported++;
		punt_and_free(p, punt, R_UNSUPPORTED_OPTIONS, pkt, m);
		return;
	}
	if (held_prefix(hit, pkt, direction)) {
		punt_and_free(p, punt, R_HOLD, pkt, m);
		return;
	}
	/* the mirror (the frame as it arrived) before the rewrite, and before a hairpin's IN
	 * pass may emit its own packet-in (docs/pipeline.md 4.3: pass order) */
	mirror = mirror_reason(pkt, punt);
	if (mirror) {
		punt->reason = mirror;
		punt_emit(p, punt, pkt->data, pkt->len);
	}
	arrived_dst = rd32(pkt->data + ETH_HLEN + 16);
	rewrite_packet(pkt, &rw);
	/* docs/pipeline.md section 2 (ipv4_fwd): an IN-rewritten packet is routed by the
	 * destination it arrived with (the local host's address), OUT by the new one */
	if (direction != DIR_OUT)
		route_to(p, m, pkt->data, ROUTE_CSUM_INCREMENTAL, arrived_dst, ROUTE_SEND);
	else
		route_to(p, m, pkt->data, ROUTE_CSUM_INCREMENTAL, rd32(pkt->data + ETH_HLEN + 16),
			 ROUTE_MAY_HAIRPIN);
}

/* A TCP packet that hit `entry`: SlotState, then Decide. */
static void process_hit(struct pipe *p, struct rte_mbuf *m, struct packet *pkt,
			struct punt *punt, struct session_entry *entry, uint8_t direction,
			uint32_t now_ms)
{
	const uint8_t *tcp = pkt->data + pkt->l4_off;
	struct hit hit = {.entry = entry, .path = PATH_OLD, .stale = STALE_NO};
	uint32_t old_ack_hi_before;
	uint8_t old_ack_hi_valid_before;

	p->cnt.hit++;
	entry->last_used = now_ms;
	hit.regs = &p->regs[entry->slot];
	regs_enter_epoch(hit.regs, entry->epoch);
	old_ack_hi_before = hit.regs->old_ack_hi;
	old_ack_hi_valid_before = hit.regs->flags & RV_OLD_ACK_HI;
	hit.seq = rd32(tcp + 4);
	hit.ack = rd32(tcp + 8);
	hit.seq_len = pkt->payload_len + !!(pkt->tcp_flags & TCP_SYN) +
		      !!(pkt->tcp_flags & TCP_FIN);
	hit.twopath = entry->twopath_ref ? &p->twopaths[entry->twopath_ref - 1] : NULL;
	if (direction == DIR_OUT)
		slot_update_out(&hit, pkt, punt);
	else
		slot_update_in(&hit, pkt, punt);
	punt_set_regs(punt, hit.regs, old_ack_hi_before, old_ack_hi_valid_before);
	decide(p, m, pkt, punt, &hit, direction);
}

/* Classify of a TCP packet: SYN and SYN-ACK punts, miss (routed), hit. */
static void process_tcp(struct pipe *p, struct rte_mbuf *m, struct packet *pkt,
			struct punt *punt, int32_t pos, uint8_t direction, uint32_t now_ms)
{
	struct session_entry *entry = pos >= 0 ? &p->entries[pos] : NULL;
	uint8_t syn_ack = pkt->tcp_flags & (TCP_SYN | TCP_ACK);

	punt->direction = direction;
	if (entry) {
		punt->flags = PI_FLAG_ENTRY_HIT;
		punt->slot = entry->slot;
	}
	if (syn_ack == TCP_SYN) {
		punt_and_free(p, punt, R_SYN, pkt, m);
		return;
	}
	if (syn_ack == (TCP_SYN | TCP_ACK) &&
	    (pkt->payload_len || (entry && entry->role == CTL_ROLE_NEW))) {
		if (entry)
			entry->last_used = now_ms;
		punt_and_free(p, punt, R_SYNACK, pkt, m);
		return;
	}
	if (!entry) {
		p->cnt.miss++;
		route(p, m, pkt->data);
		return;
	}
	process_hit(p, m, pkt, punt, entry, direction, now_ms);
}

/* UDP: CONTROL messages to a local address are punted, the rest routed. */
static void process_udp(struct pipe *p, struct rte_mbuf *m, struct packet *pkt,
			struct punt *punt)
{
	uint32_t dip, i;
	if (rd16(pkt->data + pkt->l4_off + 2) == DYSCO_CONTROL_PORT) {
		dip = rd32(pkt->data + pkt->l3_off + 16);
		for (i = 0; i < p->n_local; i++) {
			if (p->local[i] == dip) {
				punt_and_free(p, punt, R_CONTROL, pkt, m);
				return;
			}
		}
	}
	route(p, m, pkt->data);
}

/* A TCP session key from the addresses and ports at these places of a frame (network order). */
static inline void session_key_set(struct session_key *key, const uint8_t *sip, const uint8_t *dip,
				   const uint8_t *sport, const uint8_t *dport, uint8_t direction,
				   uint8_t agent_id)
{
	memcpy(&key->sip, sip, 4);
	memcpy(&key->dip, dip, 4);
	memcpy(&key->sport, sport, 2);
	memcpy(&key->dport, dport, 2);
	key->proto = PROTO_TCP;
	key->dir = direction;
	key->agent_id = agent_id;
	key->pad = 0;
}

/* An ICMP error quoting TCP (docs/pipeline.md 4.2): from the network, in_session looked up
 * with the quoted tuple reversed; on a hit rewritten (rewrite_icmp_quote) and routed by the
 * destination it arrived with. Otherwise routed. */
static void process_icmp(struct pipe *p, struct rte_mbuf *m, struct packet *pkt,
			 uint8_t direction)
{
	uint8_t *ip = pkt->data + pkt->l3_off, *inner = pkt->data + pkt->l4_off + 8;
	uint8_t *l4 = inner + 20;
	const struct session_entry *e;
	struct session_key key;
	uint32_t arrived_dst;
	int32_t pos;

	if (direction != DIR_IN) {
		route(p, m, pkt->data);
		return;
	}
	/* the quote is a packet the host sent: its IN entry maps the reverse tuple */
	session_key_set(&key, inner + 16, inner + 12, l4 + 2, l4, DIR_IN, 0);
	pos = rte_hash_lookup(p->sessions, &key);
	if (pos < 0) {
		route(p, m, pkt->data);
		return;
	}
	e = &p->entries[pos];
	arrived_dst = rd32(ip + 16);
	rewrite_icmp_quote(pkt, e);
	route_to(p, m, pkt->data, ROUTE_CSUM_FULL, arrived_dst, ROUTE_SEND);
}

static void process_one(struct pipe *p, struct rte_mbuf *m, uint16_t in_port, uint32_t now_ms,
			struct packet *pkt, enum parse_result kind, int32_t pos, uint8_t agent_id,
			uint8_t direction)
{
	struct punt punt;
	if (kind == PARSE_DROP) {
		pipe_drop(p, m);
		return;
	}
	if (kind == PARSE_ROUTE) {
		route(p, m, pkt->data);
		return;
	}
	if (kind == PARSE_ICMP_QUOTE) {
		process_icmp(p, m, pkt, direction);
		return;
	}
	memset(&punt, 0, sizeof(punt));
	punt.ingress_port = in_port;
	punt.agent_id = agent_id;
	if (kind == PARSE_UDP)
		process_udp(p, m, pkt, &punt);
	else
		process_tcp(p, m, pkt, &punt, pos, direction, now_ms);
}

/* port_role: a host port gives OUT packets of its agent id, anything else IN. */
static inline void classify_port(const struct pipe *p, uint16_t in_port, uint8_t *agent_id,
				 uint8_t *direction)
{
	const struct port_entry *port = in_port < PIPE_MAX_PORTS ? &p->ports[in_port] : NULL;
	if (port && port->valid && port->action == CTL_A_HOST_PORT) {
		*agent_id = port->agent_id;
		*direction = DIR_OUT;
	} else {
		*agent_id = 0;
		*direction = DIR_IN;
	}
}

static inline void session_key_from_packet(const struct packet *pkt, uint8_t direction,
					   uint8_t agent_id, struct session_key *key)
{
	const uint8_t *ip = pkt->data + pkt->l3_off, *l4 = pkt->data + pkt->l4_off;
	session_key_set(key, ip + 12, ip + 16, l4, l4 + 2, direction,
			direction == DIR_OUT ? agent_id : 0);
}

/* One bulk lookup for the TCP packets of the burst; pos[i]: the entry of packet i or -1. The
 * cache (and TLB) misses of the burst overlap: entries are prefetched, then the slot
 * registers they name. */
static void lookup_burst(struct pipe *p, const void **keys, uint16_t n_keys,
			 const uint16_t *packet_of_key, int32_t *pos)
{
	int32_t found[BURST_MAX];
	uint16_t i;
	if (!n_keys || rte_hash_lookup_bulk(p->sessions, keys, n_keys, found) != 0)
		return;
	for (i = 0; i < n_keys; i++) {
		pos[packet_of_key[i]] = found[i];
		if (found[i] >= 0)
			rte_prefetch0(&p->entries[found[i]]);
	}
	for (i = 0; i < n_keys; i++)
		if (found[i] >= 0)
			rte_prefetch0(&p->regs[p->entries[found[i]].slot]);
}

void pipe_process_burst(struct pipe *p, struct rte_mbuf **ms, uint16_t n, uint16_t in_port,
			uint32_t now_ms)
{
	struct packet pkts[BURST_MAX];
	struct session_key keys[BURST_MAX];
	const void *key_ptrs[BURST_MAX];
	int32_t pos[BURST_MAX];
	enum parse_result kind[BURST_MAX];
	uint16_t i, n_keys = 0, packet_of_key[BURST_MAX];
	uint8_t agent_id, direction;

	p->now_ms = now_ms;
	while (n > BURST_MAX) {
		pipe_process_burst(p, ms, BURST_MAX, in_port, now_ms);
		ms += BURST_MAX;
		n -= BURST_MAX;
	}
	classify_port(p, in_port, &agent_id, &direction);
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = ms[i];
		pos[i] = -1;
		kind[i] = rte_pktmbuf_is_contiguous(m)
				  ? packet_parse(rte_pktmbuf_mtod(m, uint8_t *),
						 rte_pktmbuf_data_len(m), &pkts[i])
				  : PARSE_DROP;
		if (kind[i] == PARSE_TCP) {
			session_key_from_packet(&pkts[i], direction, agent_id, &keys[i]);
			key_ptrs[n_keys] = &keys[i];
			packet_of_key[n_keys++] = i;
		}
	}
	lookup_burst(p, key_ptrs, n_keys, packet_of_key, pos);
	for (i = 0; i < n; i++)
		process_one(p, ms[i], in_port, now_ms, &pkts[i], kind[i], pos[i], agent_id,
			    direction);
}

/* ---- packet-out (PacketOutIngress) ---------------------------------------------------------- */
/* PROBE: the slot's registers (after an optional FREEZE: cut := sent_hi if unset, and
 * old_ack_hi := ack_hi if ack_hi is set) in a PROBE_REPLY packet-in carrying the probe's
 * token; old_ack_hi as it is after the probe. The seed: every ack the host sent before the
 * side steers on two paths left on the one path, this reconfiguration's old path, so a
 * new-path packet needs an old-path pure ack only for more (docs/pipeline.md 5.3). */
static void packet_out_probe(struct pipe *p, uint8_t flags, uint32_t slot, uint32_t token,
			     uint32_t epoch, struct rte_mbuf *m)
{
	struct punt punt;
	struct slot_regs *regs;

	memset(&punt, 0, sizeof(punt));
	punt.ingress_port = PIPE_CPU_PORT;
	punt.reason = R_PROBE_REPLY;
	punt.slot = slot;
	punt.token = token;
	if (slot < p->cfg.max_slots) {
		regs = &p->regs[slot];
		regs_enter_epoch(regs, epoch);
		if ((flags & PO_FLAG_FREEZE) && !(regs->flags & RV_CUT) &&
		    (regs->flags & RV_SENT_HI)) {
			regs->cut = regs->sent_hi;
			regs->flags |= RV_CUT;
		}
		if ((flags & PO_FLAG_FREEZE) && (regs->flags & RV_ACK_HI)) {
			regs->old_ack_hi = regs->ack_hi;
			regs->flags |= RV_OLD_ACK_HI;
		}
		punt_set_regs(&punt, regs, regs->old_ack_hi, regs->flags & RV_OLD_ACK_HI);
	}
	punt_emit(p, &punt, m ? rte_pktmbuf_mtod(m, uint8_t *) : NULL,
		  m ? rte_pktmbuf_data_len(m) : 0);
	if (m)
		rte_pktmbuf_free(m);
}

void pipe_packet_out(struct pipe *p, const uint8_t *hdr, struct rte_mbuf *m, uint32_t now_ms)
{
	uint8_t op = hdr[0], flags = hdr[1];
	uint16_t egress = rd16(hdr + 2);
	uint32_t slot = rd24(hdr + 4), token = rd32(hdr + 7), epoch = rd32(hdr + 11);
	uint8_t *frame = m ? rte_pktmbuf_mtod(m, uint8_t *) : NULL;
	uint32_t len = m ? rte_pktmbuf_data_len(m) : 0;
	p->now_ms = now_ms;
	if (op == OP_FORWARD) {
		if (egress >= DROP_PORT || egress == PIPE_CPU_PORT || !m)
			pipe_drop(p, m);
		else
			p->sink.tx(p->sink.ctx, m, egress);
	} else if (op == OP_ROUTE) {
		if (!frame || len < ETH_HLEN + 20 || rd16(frame + 12) != ETHERTYPE_IPV4 ||
		    (frame[ETH_HLEN] & 0xF) != 5)
			pipe_drop(p, m);
		else
			route_to(p, m, frame, ROUTE_CSUM_FULL, rd32(frame + ETH_HLEN + 16),
				 ROUTE_MAY_HAIRPIN);
	} else if (op == OP_PROBE) {
		packet_out_probe(p, flags, slot, token, epoch, m);
	} else {
		pipe_drop(p, m);
	}
}
