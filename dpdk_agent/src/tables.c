/* Creation of the pipeline's tables and registers, table writes (CTL_WRITE records), register
 * writes and clear. */
#include <errno.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_lpm.h>
#include <rte_malloc.h>

#include "pipe_internal.h"

/* ---- creation ---------------------------------------------------------------------------- */
static uint32_t session_key_hash(const void *key, uint32_t len, uint32_t init)
{
	return rte_hash_crc(key, len, init);
}

void twopath_pool_reset(struct pipe *p)
{
	uint32_t i;
	for (i = 0; i < p->cfg.max_two; i++)
		p->twopath_free[i] = p->cfg.max_two - 1 - i;
	p->n_twopath_free = p->cfg.max_two;
}

void pipe_destroy(struct pipe *p)
{
	if (!p)
		return;
	rte_lpm_free(p->lpm); /* the rte_*_free functions accept NULL */
	rte_free(p->twopath_free);
	rte_free(p->twopaths);
	rte_free(p->regs);
	rte_free(p->entries);
	rte_hash_free(p->sessions);
	rte_free(p);
}

static struct rte_hash *sessions_create(const struct pipe_cfg *cfg)
{
	struct rte_hash_parameters params;
	memset(&params, 0, sizeof(params));
	params.name = "dysco_sessions";
	params.entries = cfg->max_entries;
	params.key_len = sizeof(struct session_key);
	params.hash_func = session_key_hash;
	params.hash_func_init_val = 0;
	params.socket_id = cfg->socket_id;
	params.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
	return rte_hash_create(&params);
}

static size_t heap_bytes(int socket)
{
	struct rte_malloc_socket_stats stats;
	rte_malloc_get_socket_stats(socket, &stats);
	return stats.heap_allocsz_bytes;
}

/* Every failure frees what was allocated before it (pipe_destroy takes partial pipes). */
struct pipe *pipe_create(const struct pipe_cfg *cfg, struct rte_mempool *mp)
{
	struct pipe *p;
	struct rte_lpm_config lpm_cfg;
	int socket = cfg->socket_id < 0 ? 0 : cfg->socket_id;
	size_t before = heap_bytes(socket);

	p = rte_zmalloc("dysco_pipe", sizeof(*p), 64);
	if (!p)
		return NULL;
	p->cfg = *cfg;
	p->mp = mp;
	p->fwd_default = -1;
	p->sessions = sessions_create(cfg);
	p->entries = rte_zmalloc("dysco_ents",
				 (size_t)(cfg->max_entries + 1) * sizeof(struct session_entry), 64);
	p->regs = rte_zmalloc("dysco_regs", (size_t)cfg->max_slots * sizeof(struct slot_regs), 64);
	p->twopaths =
		rte_zmalloc("dysco_two", (size_t)cfg->max_two * sizeof(struct twopath_entry), 64);
	p->twopath_free =
		rte_zmalloc("dysco_two_free", (size_t)cfg->max_two * sizeof(uint32_t), 64);
	if (!p->sessions || !p->entries || !p->regs || !p->twopaths || !p->twopath_free) {
		pipe_destroy(p);
		return NULL;
	}
	twopath_pool_reset(p);
	/* Session memory: hash, entry array, registers, two-path pool, and the struct pipe
	 * itself (its fixed-size port, local-address and forwarding tables; the LPM is not
	 * counted). */
	p->bytes = heap_bytes(socket) - before;
	memset(&lpm_cfg, 0, sizeof(lpm_cfg));
	lpm_cfg.max_rules = PIPE_MAX_FWD;
	lpm_cfg.number_tbl8s = 256;
	p->lpm = rte_lpm_create("dysco_fwd", cfg->socket_id, &lpm_cfg);
	if (!p->lpm) {
		pipe_destroy(p);
		return NULL;
	}
	return p;
}

void pipe_set_sink(struct pipe *p, const struct pipe_sink *sink) { p->sink = *sink; }
uint64_t pipe_table_bytes(const struct pipe *p) { return p->bytes; }
const struct pipe_cfg *pipe_config(const struct pipe *p) { return &p->cfg; }
const struct pipe_counters *pipe_counters(const struct pipe *p) { return &p->cnt; }
uint32_t pipe_count(const struct pipe *p) { return (uint32_t)rte_hash_count(p->sessions); }

/* ---- session tables ------------------------------------------------------------------------ */
static void session_key_from_ctl(const struct ctl_entry *e, struct session_key *key)
{
	key->sip = rte_cpu_to_be_32(e->match.sip);
	key->dip = rte_cpu_to_be_32(e->match.dip);
	key->sport = rte_cpu_to_be_16(e->match.sport);
	key->dport = rte_cpu_to_be_16(e->match.dport);
	key->proto = e->proto;
	key->dir = e->table == CTL_T_OUT_SESSION ? DIR_OUT : DIR_IN;
	key->agent_id = e->table == CTL_T_OUT_SESSION ? e->agent_id : 0;
	key->pad = 0;
}

static void twopath_release(struct pipe *p, struct session_entry *entry)
{
	if (entry->twopath_ref) {
		p->twopath_free[p->n_twopath_free++] = entry->twopath_ref - 1;
		entry->twopath_ref = 0;
	}
}

/* The two-path / peer-cutoff part of an OUT entry, in a pool entry of its own. */
static int twopath_fill(struct pipe *p, struct session_entry *entry, const struct ctl_entry *e)
{
	struct twopath_entry *twopath;
	if (!entry->twopath_ref) {
		if (!p->n_twopath_free)
			return CTL_EFULL;
		entry->twopath_ref = 1 + p->twopath_free[--p->n_twopath_free];
	}
	twopath = &p->twopaths[entry->twopath_ref - 1];
	memset(twopath, 0, sizeof(*twopath));
	if (e->action == CTL_A_OUT_TWO_PATH) {
		twopath->two_path = 1;
		twopath->rw_sip = rte_cpu_to_be_32(e->new_rw.sip);
		twopath->rw_dip = rte_cpu_to_be_32(e->new_rw.dip);
		twopath->rw_sport = rte_cpu_to_be_16(e->new_rw.sport);
		twopath->rw_dport = rte_cpu_to_be_16(e->new_rw.dport);
		twopath->d_seq = e->new_d.seq;
		twopath->d_ack = e->new_d.ack;
		twopath->d_tsval = e->new_d.tsval;
		twopath->d_tsecr = e->new_d.tsecr;
		twopath->win_shift = e->new_d.win_shift;
	}
	twopath->peer_cut = e->peer_cut;
	twopath->peer_cut_valid = e->peer_cut_valid ? 1 : 0;
	return CTL_OK;
}

/* The action data of a session write into entry (allocating or releasing its two-path part). */
static int session_fill(struct pipe *p, struct session_entry *entry, const struct ctl_entry *e)
{
	int rc;
	if ((e->table == CTL_T_OUT_SESSION && e->action != CTL_A_OUT_REWRITE &&
	     e->action != CTL_A_OUT_TWO_PATH) ||
	    (e->table == CTL_T_IN_SESSION && e->action != CTL_A_IN_REWRITE))
		return CTL_EINVAL;
	if (e->slot >= p->cfg.max_slots)
		return CTL_EINVAL;
	if (e->action == CTL_A_OUT_TWO_PATH || e->peer_cut_valid) {
		rc = twopath_fill(p, entry, e);
		if (rc)
			return rc;
	} else {
		twopath_release(p, entry);
	}
	entry->rw_sip = rte_cpu_to_be_32(e->rw.sip);
	entry->rw_dip = rte_cpu_to_be_32(e->rw.dip);
	entry->rw_sport = rte_cpu_to_be_16(e->rw.sport);
	entry->rw_dport = rte_cpu_to_be_16(e->rw.dport);
	entry->d_seq = e->d.seq;
	entry->d_ack = e->d.ack;
	entry->d_tsval = e->d.tsval;
	entry->d_tsecr = e->d.tsecr;
	entry->win_shift = e->d.win_shift;
	entry->slot = e->slot;
	entry->epoch = e->epoch;
	entry->role = e->role;
	return CTL_OK;
}

static int session_insert(struct pipe *p, const struct session_key *key,
			  const struct ctl_entry *e, uint32_t now_ms)
{
	struct session_entry entry;
	int32_t pos;
	int rc;
	if (rte_hash_lookup(p->sessions, key) >= 0)
		return CTL_EEXIST;
	memset(&entry, 0, sizeof(entry));
	rc = session_fill(p, &entry, e);
	if (rc)
		return rc;
	pos = rte_hash_add_key(p->sessions, key);
	if (pos < 0) {
		twopath_release(p, &entry);
		return pos == -ENOSPC ? CTL_EFULL : CTL_EINVAL;
	}
	entry.last_used = now_ms;
	p->entries[pos] = entry;
	return CTL_OK;
}

static int write_session(struct pipe *p, const struct ctl_entry *e, uint32_t now_ms)
{
	struct session_key key;
	struct session_entry entry;
	int32_t pos;
	int rc;

	session_key_from_ctl(e, &key);
	switch (e->op) {
	case CTL_OP_INSERT:
		return session_insert(p, &key, e, now_ms);
	case CTL_OP_MODIFY:
		pos = rte_hash_lookup(p->sessions, &key);
		if (pos < 0)
			return CTL_ENOENT;
		entry = p->entries[pos];
		rc = session_fill(p, &entry, e);
		if (rc)
			return rc;
		p->entries[pos] = entry;
		return CTL_OK;
	case CTL_OP_DELETE:
		pos = rte_hash_del_key(p->sessions, &key);
		if (pos < 0)
			return CTL_ENOENT;
		twopath_release(p, &p->entries[pos]);
		memset(&p->entries[pos], 0, sizeof(struct session_entry));
		return CTL_OK;
	default:
		return CTL_EINVAL;
	}
}

/* ---- port_role, local_addr ----------------------------------------------------------------- */
static int write_port(struct pipe *p, const struct ctl_entry *e)
{
	struct port_entry *port;
	if (e->port >= PIPE_MAX_PORTS)
		return CTL_EINVAL;
	port = &p->ports[e->port];
	if (e->op == CTL_OP_DELETE) {
		if (!port->valid)
			return CTL_ENOENT;
		memset(port, 0, sizeof(*port));
		return CTL_OK;
	}
	if (e->action != CTL_A_HOST_PORT && e->action != CTL_A_NETWORK_PORT)
		return CTL_EINVAL;
	if (e->op == CTL_OP_INSERT && port->valid)
		return CTL_EEXIST;
	if (e->op == CTL_OP_MODIFY && !port->valid)
		return CTL_ENOENT;
	port->valid = 1;
	port->action = e->action;
	port->agent_id = e->action == CTL_A_HOST_PORT ? e->agent_id : 0;
	return CTL_OK;
}

static int write_local(struct pipe *p, const struct ctl_entry *e)
{
	uint32_t addr = e->match.dip, i;
	for (i = 0; i < p->n_local; i++)
		if (p->local[i] == addr)
			break;
	if (e->op == CTL_OP_DELETE) {
		if (i == p->n_local)
			return CTL_ENOENT;
		p->local[i] = p->local[--p->n_local];
		return CTL_OK;
	}
	if (e->action != CTL_A_SET_LOCAL)
		return CTL_EINVAL;
	if (i < p->n_local)
		return e->op == CTL_OP_INSERT ? CTL_EEXIST : CTL_OK;
	if (e->op == CTL_OP_MODIFY)
		return CTL_ENOENT;
	if (p->n_local == PIPE_MAX_LOCAL)
		return CTL_EFULL;
	p->local[p->n_local++] = addr;
	return CTL_OK;
}

/* ---- ipv4_fwd ------------------------------------------------------------------------------ */
/* Index of the entry for addr/plen, PIPE_MAX_FWD if none; *free_index: the first free one. */
static uint32_t fwd_find(const struct pipe *p, uint32_t addr, uint8_t plen, uint32_t *free_index)
{
	uint32_t i;
	*free_index = PIPE_MAX_FWD;
	for (i = 0; i < PIPE_MAX_FWD; i++) {
		if (p->fwd[i].valid && p->fwd[i].addr == addr && p->fwd[i].plen == plen)
			return i;
		if (!p->fwd[i].valid && *free_index == PIPE_MAX_FWD)
			*free_index = i;
	}
	return PIPE_MAX_FWD;
}

static int fwd_delete(struct pipe *p, uint32_t i)
{
	if (i == PIPE_MAX_FWD)
		return CTL_ENOENT;
	if (p->fwd[i].plen)
		rte_lpm_delete(p->lpm, p->fwd[i].addr, p->fwd[i].plen);
	else
		p->fwd_default = -1;
	memset(&p->fwd[i], 0, sizeof(p->fwd[i]));
	return CTL_OK;
}

static int write_fwd(struct pipe *p, const struct ctl_entry *e)
{
	uint32_t addr, i, free_index;
	struct fwd_entry *fwd;
	if (e->plen > 32)
		return CTL_EINVAL;
	addr = e->plen ? e->match.dip & (0xFFFFFFFFu << (32 - e->plen)) : 0;
	if (addr != e->match.dip)
		return CTL_EINVAL; /* P4Runtime: masked-off bits must be zero */
	i = fwd_find(p, addr, e->plen, &free_index);
	if (e->op == CTL_OP_DELETE)
		return fwd_delete(p, i);
	if (e->action != CTL_A_ROUTE && e->action != CTL_A_ROUTE_HOST && e->action != CTL_A_DROP)
		return CTL_EINVAL;
	if (e->action != CTL_A_DROP && e->port >= PIPE_MAX_PORTS)
		return CTL_EINVAL;
	if (e->op == CTL_OP_INSERT) {
		if (i != PIPE_MAX_FWD)
			return CTL_EEXIST;
		if (free_index == PIPE_MAX_FWD)
			return CTL_EFULL;
		i = free_index;
	} else if (i == PIPE_MAX_FWD) {
		return CTL_ENOENT;
	}
	fwd = &p->fwd[i];
	fwd->addr = addr;
	fwd->plen = e->plen;
	fwd->action = e->action;
	fwd->port = e->port;
	memcpy(fwd->smac, e->smac, 6);
	memcpy(fwd->dmac, e->dmac, 6);
	fwd->valid = 1;
	if (e->plen == 0) {
		p->fwd_default = (int32_t)i;
		return CTL_OK;
	}
	if (rte_lpm_add(p->lpm, addr, e->plen, i) < 0) {
		memset(fwd, 0, sizeof(*fwd));
		return CTL_EFULL;
	}
	return CTL_OK;
}

int pipe_write(struct pipe *p, const struct ctl_entry *e, uint32_t now_ms)
{
	if (e->op < CTL_OP_INSERT || e->op > CTL_OP_DELETE)
		return CTL_EINVAL;
	switch (e->table) {
	case CTL_T_OUT_SESSION:
	case CTL_T_IN_SESSION:
		return write_session(p, e, now_ms);
	case CTL_T_PORT_ROLE:
		return write_port(p, e);
	case CTL_T_LOCAL_ADDR:
		return write_local(p, e);
	case CTL_T_IPV4_FWD:
		return write_fwd(p, e);
	default:
		return CTL_EINVAL;
	}
}

/* ---- registers, clear ---------------------------------------------------------------------- */
int pipe_reg_write(struct pipe *p, const struct ctl_regs *in)
{
	struct slot_regs *regs;
	if (in->slot >= p->cfg.max_slots)
		return CTL_EINVAL;
	regs = &p->regs[in->slot];
	regs->sent_hi = in->sent_hi;
	regs->ack_hi = in->ack_hi;
	regs->rcvd_ack_hi = in->rcvd_ack_hi;
	regs->new_rcvd_lo = in->new_rcvd_lo;
	regs->cut = in->cut;
	regs->old_ack_hi = in->old_ack_hi;
	regs->epoch = in->epoch;
	regs->flags = (uint8_t)in->flags;
	return CTL_OK;
}

void pipe_clear(struct pipe *p)
{
	rte_hash_reset(p->sessions);
	memset(p->entries, 0, (size_t)(p->cfg.max_entries + 1) * sizeof(struct session_entry));
	memset(p->regs, 0, (size_t)p->cfg.max_slots * sizeof(struct slot_regs));
	twopath_pool_reset(p);
	memset(p->ports, 0, sizeof(p->ports));
	p->n_local = 0;
	memset(p->fwd, 0, sizeof(p->fwd));
	rte_lpm_delete_all(p->lpm);
	p->fwd_default = -1;
	memset(&p->cnt, 0, sizeof(p->cnt));
}
