/* Table and register reads (CTL_READ, CTL_REG_READ): the pipeline's state as ctl records. */
#include <string.h>

#include <rte_byteorder.h>
#include <rte_hash.h>

#include "pipe_internal.h"

/* The read iterator: table phase in bits 40.., position within the table below. */
#define ITER_PHASE_SHIFT 40
#define ITER_POS_MASK 0xFFFFFFFFFFull

static inline uint64_t iter_at(uint32_t phase, uint64_t pos)
{
	return ((uint64_t)phase << ITER_PHASE_SHIFT) | pos;
}

static void twopath_to_ctl(const struct twopath_entry *twopath, struct ctl_entry *e)
{
	if (twopath->two_path) {
		e->action = CTL_A_OUT_TWO_PATH;
		e->new_rw.sip = rte_be_to_cpu_32(twopath->rw_sip);
		e->new_rw.dip = rte_be_to_cpu_32(twopath->rw_dip);
		e->new_rw.sport = rte_be_to_cpu_16(twopath->rw_sport);
		e->new_rw.dport = rte_be_to_cpu_16(twopath->rw_dport);
		e->new_d.seq = twopath->d_seq;
		e->new_d.ack = twopath->d_ack;
		e->new_d.tsval = twopath->d_tsval;
		e->new_d.tsecr = twopath->d_tsecr;
		e->new_d.win_shift = twopath->win_shift;
	}
	e->peer_cut = twopath->peer_cut;
	e->peer_cut_valid = twopath->peer_cut_valid;
}

static void session_to_ctl(const struct pipe *p, const struct session_key *key,
			   const struct session_entry *entry, struct ctl_entry *e, uint32_t now_ms)
{
	memset(e, 0, sizeof(*e));
	e->table = key->dir == DIR_OUT ? CTL_T_OUT_SESSION : CTL_T_IN_SESSION;
	e->action = key->dir == DIR_OUT ? CTL_A_OUT_REWRITE : CTL_A_IN_REWRITE;
	e->agent_id = key->agent_id;
	e->proto = key->proto;
	e->role = entry->role;
	e->match.sip = rte_be_to_cpu_32(key->sip);
	e->match.dip = rte_be_to_cpu_32(key->dip);
	e->match.sport = rte_be_to_cpu_16(key->sport);
	e->match.dport = rte_be_to_cpu_16(key->dport);
	e->rw.sip = rte_be_to_cpu_32(entry->rw_sip);
	e->rw.dip = rte_be_to_cpu_32(entry->rw_dip);
	e->rw.sport = rte_be_to_cpu_16(entry->rw_sport);
	e->rw.dport = rte_be_to_cpu_16(entry->rw_dport);
	e->d.seq = entry->d_seq;
	e->d.ack = entry->d_ack;
	e->d.tsval = entry->d_tsval;
	e->d.tsecr = entry->d_tsecr;
	e->d.win_shift = entry->win_shift;
	e->slot = entry->slot;
	e->epoch = entry->epoch;
	e->idle_ms = now_ms - entry->last_used;
	if (entry->twopath_ref)
		twopath_to_ctl(&p->twopaths[entry->twopath_ref - 1], e);
}

/* Each read_* below: the next entry at or after *pos; returns 1 and advances *pos past it, or
 * returns 0 at the end of its table. */
static int read_port(const struct pipe *p, uint64_t *pos, struct ctl_entry *out)
{
	for (; *pos < PIPE_MAX_PORTS; (*pos)++) {
		const struct port_entry *port = &p->ports[*pos];
		if (port->valid) {
			out->table = CTL_T_PORT_ROLE;
			out->port = (uint16_t)*pos;
			out->action = port->action;
			out->agent_id = port->agent_id;
			(*pos)++;
			return 1;
		}
	}
	return 0;
}

static int read_local(const struct pipe *p, uint64_t *pos, struct ctl_entry *out)
{
	if (*pos >= p->n_local)
		return 0;
	out->table = CTL_T_LOCAL_ADDR;
	out->action = CTL_A_SET_LOCAL;
	out->match.dip = p->local[*pos];
	(*pos)++;
	return 1;
}

/* One hash holds both session tables: this phase covers OUT and IN (table: either or ALL). */
static int read_sessions(const struct pipe *p, uint64_t *pos, uint8_t table,
			 struct ctl_entry *out, uint32_t now_ms)
{
	const void *key;
	void *data;
	uint32_t next = (uint32_t)*pos;
	int32_t at;
	while ((at = rte_hash_iterate(p->sessions, &key, &data, &next)) >= 0) {
		const struct session_key *session = key;
		uint8_t t = session->dir == DIR_OUT ? CTL_T_OUT_SESSION : CTL_T_IN_SESSION;
		if (table != CTL_T_ALL && t != table)
			continue;
		session_to_ctl(p, session, &p->entries[at], out, now_ms);
		*pos = next;
		return 1;
	}
	return 0;
}

static int read_fwd(const struct pipe *p, uint64_t *pos, struct ctl_entry *out)
{
	for (; *pos < PIPE_MAX_FWD; (*pos)++) {
		const struct fwd_entry *fwd = &p->fwd[*pos];
		if (fwd->valid) {
			out->table = CTL_T_IPV4_FWD;
			out->action = fwd->action;
			out->match.dip = fwd->addr;
			out->plen = fwd->plen;
			out->port = fwd->port;
			memcpy(out->smac, fwd->smac, 6);
			memcpy(out->dmac, fwd->dmac, 6);
			(*pos)++;
			return 1;
		}
	}
	return 0;
}

int pipe_read_next(struct pipe *p, uint64_t *it, uint8_t table, struct ctl_entry *out,
		   uint32_t now_ms)
{
	for (;;) {
		uint32_t phase = (uint32_t)(*it >> ITER_PHASE_SHIFT);
		uint64_t pos = *it & ITER_POS_MASK;
		int found = 0;
		if (phase > CTL_T_IPV4_FWD)
			return 0;
		if (phase == CTL_T_IN_SESSION ||
		    (table != CTL_T_ALL && phase != table &&
		     !(phase == CTL_T_OUT_SESSION && table == CTL_T_IN_SESSION))) {
			*it = iter_at(phase + 1, 0);
			continue;
		}
		memset(out, 0, sizeof(*out));
		if (phase == CTL_T_PORT_ROLE)
			found = read_port(p, &pos, out);
		else if (phase == CTL_T_LOCAL_ADDR)
			found = read_local(p, &pos, out);
		else if (phase == CTL_T_OUT_SESSION)
			found = read_sessions(p, &pos, table, out, now_ms);
		else if (phase == CTL_T_IPV4_FWD)
			found = read_fwd(p, &pos, out);
		if (found) {
			*it = iter_at(phase, pos);
			return 1;
		}
		*it = iter_at(phase + 1, 0);
	}
}

int pipe_reg_read(struct pipe *p, uint32_t slot, struct ctl_regs *out)
{
	const struct slot_regs *regs;
	if (slot >= p->cfg.max_slots)
		return CTL_EINVAL;
	regs = &p->regs[slot];
	out->slot = slot;
	out->sent_hi = regs->sent_hi;
	out->ack_hi = regs->ack_hi;
	out->rcvd_ack_hi = regs->rcvd_ack_hi;
	out->new_rcvd_lo = regs->new_rcvd_lo;
	out->cut = regs->cut;
	out->old_ack_hi = regs->old_ack_hi;
	out->epoch = regs->epoch;
	out->flags = regs->flags;
	return CTL_OK;
}
