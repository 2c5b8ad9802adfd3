/* Rewrite (five-tuple), SeqAdjust (seq/ack, SACK blocks, TSval/TSecr deltas; recognised option
 * layouts only) and WindowScale, with the TCP and IPv4 checksums updated incrementally
 * (RFC 1624 eq. 3; equal to a full recompute, tests/targets/test_dpdk_agent.py). */
#include <string.h>

#include "csum.h"
#include "pipe_internal.h"

void rewrite_from_entry(const struct session_entry *entry, struct rewrite *rw)
{
	rw->sip = entry->rw_sip;
	rw->dip = entry->rw_dip;
	rw->sport = entry->rw_sport;
	rw->dport = entry->rw_dport;
	rw->d_seq = entry->d_seq;
	rw->d_ack = entry->d_ack;
	rw->d_tsval = entry->d_tsval;
	rw->d_tsecr = entry->d_tsecr;
	rw->win_shift = entry->win_shift;
}

void rewrite_from_twopath(const struct twopath_entry *twopath, struct rewrite *rw)
{
	rw->sip = twopath->rw_sip;
	rw->dip = twopath->rw_dip;
	rw->sport = twopath->rw_sport;
	rw->dport = twopath->rw_dport;
	rw->d_seq = twopath->d_seq;
	rw->d_ack = twopath->d_ack;
	rw->d_tsval = twopath->d_tsval;
	rw->d_tsecr = twopath->d_tsecr;
	rw->win_shift = twopath->win_shift;
}

/* The window field rescaled by 2^shift: saturating left shift; the right shift rounds up, so
 * a non-zero window never becomes zero (docs/pipeline.md 4.1). */
static inline uint16_t window_rescale(uint16_t window, int8_t shift)
{
	uint32_t v;
	if (shift > 0) {
		v = (uint32_t)window << shift;
		return v > 0xFFFF ? 0xFFFF : (uint16_t)v;
	}
	if (shift < 0)
		return (uint16_t)(((uint32_t)window + (1u << -shift) - 1u) >> -shift);
	return window;
}

static inline void add32(uint8_t *field, uint32_t delta) { wr32(field, rd32(field) + delta); }

/* seq/ack deltas, window, and the deltas on the recognised options (TS, SYN-layout TS, SACK). */
static void adjust_tcp(const struct packet *pkt, uint8_t *tcp, const struct rewrite *rw)
{
	uint32_t i;
	add32(tcp + 4, rw->d_seq);
	if (pkt->tcp_flags & TCP_ACK) {
		if (rw->set_ack)
			wr32(tcp + 8, rw->ack_value);
		else
			add32(tcp + 8, rw->d_ack);
	}
	if (!(pkt->tcp_flags & TCP_SYN))
		wr16(tcp + 14, window_rescale(rd16(tcp + 14), rw->win_shift));
	if (pkt->ts_off) {
		add32(tcp + pkt->ts_off, rw->d_tsval);
		add32(tcp + pkt->ts_off + 4, rw->d_tsecr);
	}
	if (pkt->syn_ts_off) {
		add32(tcp + pkt->syn_ts_off, rw->d_tsval);
		add32(tcp + pkt->syn_ts_off + 4, rw->d_tsecr);
	}
	for (i = 0; i < 2u * pkt->sack_blocks; i++)
		add32(tcp + pkt->sack_off + 4 * i, rw->d_ack);
}

/* An ICMP error quoting a subsession packet of the local host (docs/pipeline.md 4.2), with
 * the IN entry of that subsession: the quote becomes the host's session packet (addresses
 * and ports from the entry's rewrite tuple, reversed; seq += ack_delta), the inner IPv4 and
 * the ICMP checksums are recomputed (the ICMP one was verified by the parser), the outer
 * destination becomes the host's session address (route() recomputes the outer checksum:
 * ROUTE_CSUM_FULL). */
void rewrite_icmp_quote(struct packet *pkt, const struct session_entry *e)
{
	uint8_t *ip = pkt->data + pkt->l3_off, *icmp = pkt->data + pkt->l4_off;
	uint8_t *inner = icmp + 8, *l4 = inner + 20;
	uint32_t ip_total = rd16(ip + 2);

	memcpy(inner + 12, &e->rw_dip, 4);
	memcpy(inner + 16, &e->rw_sip, 4);
	memcpy(l4, &e->rw_dport, 2);
	memcpy(l4 + 2, &e->rw_sport, 2);
	add32(l4 + 4, e->d_ack);
	wr16(inner + 10, 0);
	wr16(inner + 10, (uint16_t)~csum_fold(csum_add_bytes(inner, 20, 0)));
	memcpy(ip + 16, &e->rw_dip, 4);
	wr16(icmp + 2, 0);
	wr16(icmp + 2, (uint16_t)~csum_fold(csum_add_bytes(icmp, ip_total - 20, 0)));
}

void rewrite_packet(struct packet *pkt, const struct rewrite *rw)
{
	uint8_t *ip = pkt->data + pkt->l3_off, *tcp = pkt->data + pkt->l4_off;
	uint8_t before[8 + 60]; /* the addresses and the TCP header before the rewrite */
	uint32_t hdr_len = pkt->tcp_hdr_len;
	uint64_t old_sum, new_sum;
	uint16_t tcp_csum = rd16(tcp + 16), ip_csum = rd16(ip + 10);

	memcpy(before, ip + 12, 8);
	memcpy(before + 8, tcp, hdr_len);
	memcpy(ip + 12, &rw->sip, 4);
	memcpy(ip + 16, &rw->dip, 4);
	memcpy(tcp, &rw->sport, 2);
	memcpy(tcp + 2, &rw->dport, 2);
	adjust_tcp(pkt, tcp, rw);
	/* TCP checksum: pseudo-header addresses and the TCP header (checksum field left out). */
	before[8 + 16] = before[8 + 17] = 0;
	old_sum = csum_add_bytes(before, 8 + hdr_len, 0);
	wr16(tcp + 16, 0);
	new_sum = csum_add_bytes(ip + 12, 8, csum_add_bytes(tcp, hdr_len, 0));
	wr16(tcp + 16, csum_replace(tcp_csum, old_sum, new_sum));
	/* IPv4 checksum: the addresses (the TTL is done by route()). */
	wr16(ip + 10, csum_replace(ip_csum, csum_add_bytes(before, 8, 0),
				   csum_add_bytes(ip + 12, 8, 0)));
}
