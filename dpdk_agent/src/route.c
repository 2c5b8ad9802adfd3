/* ipv4_fwd: TTL check, LPM on the destination, MACs, TTL decrement, IPv4 checksum. */
#include <string.h>

#include <rte_lpm.h>

#include "csum.h"
#include "pipe_internal.h"

/* The fwd entry for dst (host order), or NULL (no match: no /0 entry). */
static inline const struct fwd_entry *fwd_lookup(const struct pipe *p, uint32_t dst)
{
	uint32_t next_hop;
	if (rte_lpm_lookup(p->lpm, dst, &next_hop) == 0)
		return &p->fwd[next_hop];
	return p->fwd_default < 0 ? NULL : &p->fwd[p->fwd_default];
}

/* The IPv4 checksum is updated incrementally (the input was verified), or recomputed in full
 * (ROUTE_CSUM_FULL: packet-outs, whose checksum nobody verified). */
void route_to(struct pipe *p, struct rte_mbuf *m, uint8_t *frame, enum route_csum csum,
	      uint32_t dst, enum route_next next)
{
	uint8_t *ip = frame + ETH_HLEN;
	const struct fwd_entry *fwd;
	uint16_t checksum, ttl_word_before;

	if (ip[8] <= 1) {
		pipe_drop(p, m);
		return;
	}
	fwd = fwd_lookup(p, dst);
	/* a route to the CPU port drops: packet-ins come only from punts and mirrors */
	if (!fwd || (fwd->action != CTL_A_ROUTE && fwd->action != CTL_A_ROUTE_HOST) ||
	    fwd->port == PIPE_CPU_PORT) {
		pipe_drop(p, m);
		return;
	}
	memcpy(frame, fwd->dmac, 6);
	memcpy(frame + 6, fwd->smac, 6);
	ttl_word_before = rd16(ip + 8);
	checksum = rd16(ip + 10);
	ip[8]--;
	if (csum == ROUTE_CSUM_FULL) {
		wr16(ip + 10, 0);
		wr16(ip + 10, (uint16_t)~csum_fold(csum_add_bytes(ip, 20, 0)));
	} else {
		wr16(ip + 10, csum_replace(checksum, ttl_word_before, rd16(ip + 8)));
	}
	if (next == ROUTE_MAY_HAIRPIN && fwd->action == CTL_A_ROUTE_HOST && !p->in_pass) {
		/* the IN pass: back in by RECIRC_PORT, as from a network port */
		p->in_pass = 1;
		pipe_process_burst(p, &m, 1, PIPE_RECIRC_PORT, p->now_ms);
		p->in_pass = 0;
		return;
	}
	p->sink.tx(p->sink.ctx, m, fwd->port);
}
