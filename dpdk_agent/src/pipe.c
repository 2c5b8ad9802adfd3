/* Dysco pipeline of the DPDK agent. See pipe.h; mirrors p4src/shared/control/ *.p4. */
#include "pipe.h"

#include <errno.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_lpm.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#define ETH_HLEN 14
#define ETHERTYPE_IPV4 0x0800
#define PROTO_TCP 6
#define PROTO_UDP 17
#define CONTROL_PORT 35000
#define DROP_PORT 511

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_ACK 0x10

struct fwd_entry {
	uint32_t addr; /* host order, masked */
	uint8_t plen;
	uint8_t valid;
	uint8_t action; /* CTL_A_ROUTE / CTL_A_DROP */
	uint8_t pad;
	uint16_t port;
	uint8_t smac[6], dmac[6];
};

struct port_entry {
	uint8_t valid;
	uint8_t action; /* CTL_A_HOST_PORT / CTL_A_NETWORK_PORT */
	uint8_t agent_id;
};

struct pipe {
	struct pipe_cfg cfg;
	struct rte_hash *h;
	struct dentry *ents;
	struct twopath *two;
	uint32_t *two_free;
	uint32_t n_two_free;
	struct regs *regs;
	struct port_entry ports[PIPE_MAX_PORTS];
	uint32_t local[PIPE_MAX_LOCAL]; /* host order */
	uint32_t n_local;
	struct fwd_entry fwd[PIPE_MAX_FWD];
	struct rte_lpm *lpm;   /* prefixes /1../32 */
	int32_t fwd_default;   /* index of the /0 entry, -1 if none (rte_lpm has no depth 0) */
	struct rte_mempool *mp;
	struct pipe_sink sink;
	struct pipe_counters cnt;
	uint64_t bytes;
	uint8_t orig[PIPE_MAX_FRAME]; /* copy of a mirrored frame as it arrived */
};

/* ---- serial-number arithmetic (sign of the 32-bit difference) ------------------------------ */
static inline int seq_gt(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }
static inline int seq_ge(uint32_t a, uint32_t b) { return (int32_t)(a - b) >= 0; }
static inline uint32_t seq_max(uint32_t a, uint32_t b) { return seq_ge(a, b) ? a : b; }
static inline uint32_t seq_min(uint32_t a, uint32_t b) { return seq_ge(a, b) ? b : a; }

/* ---- byte access ------------------------------------------------------------------------------ */
static inline uint32_t rd32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
static inline void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

/* ---- Internet checksum (RFC 1071 / RFC 1624) ---------------------------------------------- */
static inline uint64_t sum_words(const uint8_t *b, uint32_t n, uint64_t s)
{
	uint32_t i = 0;
	for (; i + 8 <= n; i += 8)
		s += rd16(b + i) + rd16(b + i + 2) + rd16(b + i + 4) + rd16(b + i + 6);
	for (; i + 1 < n; i += 2)
		s += rd16(b + i);
	if (n & 1)
		s += (uint32_t)b[n - 1] << 8;
	return s;
}
static inline uint16_t fold(uint64_t s)
{
	while (s >> 16)
		s = (s & 0xFFFF) + (s >> 16);
	return (uint16_t)s;
}
/* RFC 1624 eq. 3 over several words: HC' = ~(~HC + ~m + m'), m and m' folded sums. */
static inline uint16_t csum_replace(uint16_t hc, uint64_t old_sum, uint64_t new_sum)
{
	uint64_t s = (uint64_t)(uint16_t)~hc + (uint16_t)~fold(old_sum) + fold(new_sum);
	return (uint16_t)~fold(s);
}

/* ---- parsing (p4src/v1model/include/parser.p4) ---------------------------------------------- */
struct pkt {
	uint8_t *b;
	uint32_t len;
	uint32_t l3, l4;
	uint32_t doff;
	uint32_t paylen;
	uint8_t is_ipv4;  /* Ethernet + IPv4 header present */
	uint8_t is_tcp;   /* IPv4 ihl=5, not fragmented, TCP */
	uint8_t is_udp;
	uint8_t flags;
	/* recognised TCP option layouts: offsets from the TCP header, 0 = absent */
	uint8_t ts_off;      /* NOP NOP TS: TSval at ts_off */
	uint8_t sack_off;    /* NOP NOP SACK: first block at sack_off */
	uint8_t sack_n;
	uint8_t synopt_off;  /* MSS SACKOK TS: TSval at synopt_off */
	uint8_t opt_other;   /* option bytes left unparsed */
};

static void parse_options(struct pkt *k)
{
	const uint8_t *o = k->b + k->l4 + 20;
	uint32_t rem = k->doff - 20, i = 0;
	k->ts_off = k->sack_off = k->sack_n = k->synopt_off = 0;
	if (k->doff < 32) { /* 0-11 option bytes: no recognised layout */
		k->opt_other = rem != 0;
		return;
	}
	/* parse_opts_first */
	if (rd32(o) == 0x0101080A) {
		k->ts_off = 20 + 4;
		i = 12;
		rem -= 12;
		if (rem == 0 || rem == 4 || rem == 8)
			goto done;
		if ((rd32(o + i) & 0xFFFFFF00) != 0x01010500)
			goto done;
		goto sack;
	}
	if ((rd32(o) & 0xFFFFFF00) == 0x01010500)
		goto sack;
	if (rem == 12)
		goto done;
	if ((((uint64_t)rd32(o) << 32 | rd32(o + 4)) & 0xFFFF0000FFFFFFFFull) ==
	    0x020400000402080Aull) {
		k->synopt_off = 20 + 8;
		i = 16;
		rem -= 16;
		if (rem == 0)
			goto done;
		if ((rd32(o + i) & 0xFFFFFF00) != 0x01030300)
			goto done;
		i += 4;
		rem -= 4;
		if (rem == 0 || rem == 4)
			goto done;
		if (rd32(o + i) != 0xFD084459)
			goto done;
		i += 8;
		rem -= 8;
		goto done;
	}
	goto done;
sack: {
	uint32_t w = rd32(o + i), n = 0;
	switch (w) {
	case 0x0101050A: n = 1; break;
	case 0x01010512: n = 2; break;
	case 0x0101051A: n = 3; break;
	case 0x01010522: n = 4; break;
	default: goto done;
	}
	if (rem < 4 + 8 * n)
		goto done;
	k->sack_off = (uint8_t)(20 + i + 4);
	k->sack_n = (uint8_t)n;
	rem -= 4 + 8 * n;
}
done:
	k->opt_other = rem != 0;
}

/* Parser plus the ingress sanity checks of p4src/v1model/dysco.p4 and the checksum
 * verification of DyscoVerifyChecksum. Returns PK_DROP (malformed, not IPv4, bad checksum),
 * PK_ROUTE (IPv4 that is neither parsed TCP nor UDP: fragments, other protocols), PK_TCP or
 * PK_UDP. */
enum { PK_DROP = -1, PK_ROUTE = 0, PK_TCP = 1, PK_UDP = 2 };

/* Recompute with the checksum field zeroed and compare with the stored value (so a stored
 * 0xFFFF where the computation gives 0x0000 is a mismatch, as in bmv2). */
static inline int csum_ok_ipv4(const uint8_t *ip)
{
	uint64_t s = sum_words(ip, 20, 0) - rd16(ip + 10);
	uint16_t c = (uint16_t)~fold(s);
	return c == rd16(ip + 10);
}

static int parse(uint8_t *b, uint32_t len, struct pkt *k)
{
	uint32_t tot, proto;
	uint8_t *ip;
	uint64_t s;
	k->b = b;
	k->len = len;
	k->is_ipv4 = k->is_tcp = k->is_udp = 0;
	if (len < ETH_HLEN + 20 || rd16(b + 12) != ETHERTYPE_IPV4)
		return PK_DROP;
	k->l3 = ETH_HLEN;
	ip = b + k->l3;
	k->is_ipv4 = 1;
	tot = rd16(ip + 2);
	if ((ip[0] >> 4) != 4 || (ip[0] & 0xF) != 5 || tot < 20 || tot + ETH_HLEN > len)
		return PK_DROP;
	if (!csum_ok_ipv4(ip))
		return PK_DROP;
	k->l4 = k->l3 + 20;
	proto = ip[9];
	/* parse_ipv4: MF clear and offset 0, else the rest is payload */
	if ((ip[6] & 0x20) || (rd16(ip + 6) & 0x1FFF))
		return PK_ROUTE;
	if (proto == PROTO_TCP) {
		if (len < k->l4 + 20)
			return PK_DROP;
		k->doff = (uint32_t)(b[k->l4 + 12] >> 4) * 4u;
		if (k->doff < 20 || tot < 20 + k->doff)
			return PK_DROP;
		k->paylen = tot - 20 - k->doff;
		k->flags = b[k->l4 + 13];
		k->is_tcp = 1;
		/* bmv2 sums every byte after the IPv4 header (trailing bytes included), with the
		 * pseudo-header length from total_len. */
		s = sum_words(ip + 12, 8, 0) + PROTO_TCP + (tot - 20);
		s = sum_words(b + k->l4, len - k->l4, s) - rd16(b + k->l4 + 16);
		{
			uint16_t c = (uint16_t)~fold(s);
			if (c != rd16(b + k->l4 + 16))
				return PK_DROP;
		}
		parse_options(k);
		return PK_TCP;
	}
	if (proto == PROTO_UDP) {
		if (len < k->l4 + 8 || tot < 28)
			return PK_DROP;
		k->is_udp = 1;
		return PK_UDP;
	}
	return PK_ROUTE;
}

/* ---- creation ------------------------------------------------------------------------------- */
static uint32_t key_hash(const void *key, uint32_t len, uint32_t init)
{
	return rte_hash_crc(key, len, init);
}

struct pipe *pipe_create(const struct pipe_cfg *cfg, struct rte_mempool *mp)
{
	struct pipe *p;
	struct rte_hash_parameters hp;
	struct rte_lpm_config lc;
	struct rte_malloc_socket_stats st;
	size_t before;
	uint32_t i;
	int sock = cfg->socket_id < 0 ? 0 : cfg->socket_id;

	rte_malloc_get_socket_stats(sock, &st);
	before = st.heap_allocsz_bytes;
	p = rte_zmalloc("dysco_pipe", sizeof(*p), 64);
	if (!p)
		return NULL;
	p->cfg = *cfg;
	p->mp = mp;
	memset(&hp, 0, sizeof(hp));
	hp.name = "dysco_sessions";
	hp.entries = cfg->max_entries;
	hp.key_len = sizeof(struct pkey);
	hp.hash_func = key_hash;
	hp.hash_func_init_val = 0;
	hp.socket_id = cfg->socket_id;
	hp.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
	p->h = rte_hash_create(&hp);
	if (!p->h)
		return NULL;
	p->ents = rte_zmalloc("dysco_ents", (size_t)(cfg->max_entries + 1) * sizeof(struct dentry),
			      64);
	p->regs = rte_zmalloc("dysco_regs", (size_t)cfg->max_slots * sizeof(struct regs), 64);
	p->two = rte_zmalloc("dysco_two", (size_t)cfg->max_two * sizeof(struct twopath), 64);
	p->two_free = rte_zmalloc("dysco_two_free", (size_t)cfg->max_two * sizeof(uint32_t), 64);
	if (!p->ents || !p->regs || !p->two || !p->two_free)
		return NULL;
	for (i = 0; i < cfg->max_two; i++)
		p->two_free[i] = cfg->max_two - 1 - i;
	p->n_two_free = cfg->max_two;
	/* Session memory: hash, entry array, registers, two-path pool (the fixed-size port,
	 * local-address and forwarding tables are not per session and not counted). */
	rte_malloc_get_socket_stats(sock, &st);
	p->bytes = st.heap_allocsz_bytes - before;
	p->fwd_default = -1;
	memset(&lc, 0, sizeof(lc));
	lc.max_rules = PIPE_MAX_FWD;
	lc.number_tbl8s = 256;
	p->lpm = rte_lpm_create("dysco_fwd", cfg->socket_id, &lc);
	if (!p->lpm)
		return NULL;
	return p;
}

void pipe_set_sink(struct pipe *p, const struct pipe_sink *sink) { p->sink = *sink; }
uint64_t pipe_table_bytes(const struct pipe *p) { return p->bytes; }
const struct pipe_cfg *pipe_config(const struct pipe *p) { return &p->cfg; }
const struct pipe_counters *pipe_counters(const struct pipe *p) { return &p->cnt; }
uint32_t pipe_count(const struct pipe *p) { return (uint32_t)rte_hash_count(p->h); }

/* ---- table management --------------------------------------------------------------------- */
static void key_from_ctl(const struct ctl_entry *e, struct pkey *k)
{
	k->sip = rte_cpu_to_be_32(e->match.sip);
	k->dip = rte_cpu_to_be_32(e->match.dip);
	k->sport = rte_cpu_to_be_16(e->match.sport);
	k->dport = rte_cpu_to_be_16(e->match.dport);
	k->proto = e->proto;
	k->dir = e->table == CTL_T_OUT_SESSION ? DIR_OUT : DIR_IN;
	k->agent_id = e->table == CTL_T_OUT_SESSION ? e->agent_id : 0;
	k->pad = 0;
}

static int fill_entry(struct pipe *p, struct dentry *d, const struct ctl_entry *e)
{
	struct twopath *t;
	int need_two;
	if ((e->table == CTL_T_OUT_SESSION &&
	     e->action != CTL_A_OUT_REWRITE && e->action != CTL_A_OUT_TWO_PATH) ||
	    (e->table == CTL_T_IN_SESSION && e->action != CTL_A_IN_REWRITE))
		return CTL_EINVAL;
	if (e->slot >= p->cfg.max_slots)
		return CTL_EINVAL;
	need_two = e->action == CTL_A_OUT_TWO_PATH || e->peer_cut_valid;
	if (need_two) {
		if (!d->two) {
			if (!p->n_two_free)
				return CTL_EFULL;
			d->two = 1 + p->two_free[--p->n_two_free];
		}
		t = &p->two[d->two - 1];
		memset(t, 0, sizeof(*t));
		if (e->action == CTL_A_OUT_TWO_PATH) {
			t->two_path = 1;
			t->rw_sip = rte_cpu_to_be_32(e->new_rw.sip);
			t->rw_dip = rte_cpu_to_be_32(e->new_rw.dip);
			t->rw_sport = rte_cpu_to_be_16(e->new_rw.sport);
			t->rw_dport = rte_cpu_to_be_16(e->new_rw.dport);
			t->d_seq = e->new_d.seq;
			t->d_ack = e->new_d.ack;
			t->d_tsval = e->new_d.tsval;
			t->d_tsecr = e->new_d.tsecr;
			t->win_shift = e->new_d.win_shift;
		}
		t->peer_cut = e->peer_cut;
		t->peer_cut_valid = e->peer_cut_valid ? 1 : 0;
	} else if (d->two) {
		p->two_free[p->n_two_free++] = d->two - 1;
		d->two = 0;
	}
	d->rw_sip = rte_cpu_to_be_32(e->rw.sip);
	d->rw_dip = rte_cpu_to_be_32(e->rw.dip);
	d->rw_sport = rte_cpu_to_be_16(e->rw.sport);
	d->rw_dport = rte_cpu_to_be_16(e->rw.dport);
	d->d_seq = e->d.seq;
	d->d_ack = e->d.ack;
	d->d_tsval = e->d.tsval;
	d->d_tsecr = e->d.tsecr;
	d->win_shift = e->d.win_shift;
	d->slot = e->slot;
	d->epoch = e->epoch;
	d->role = e->role;
	return CTL_OK;
}

static int write_session(struct pipe *p, const struct ctl_entry *e, uint32_t now_ms)
{
	struct pkey k;
	int32_t pos;
	struct dentry tmp;
	int rc;

	key_from_ctl(e, &k);
	switch (e->op) {
	case CTL_OP_INSERT:
		if (rte_hash_lookup(p->h, &k) >= 0)
			return CTL_EEXIST;
		memset(&tmp, 0, sizeof(tmp));
		rc = fill_entry(p, &tmp, e);
		if (rc)
			return rc;
		pos = rte_hash_add_key(p->h, &k);
		if (pos < 0) {
			if (tmp.two)
				p->two_free[p->n_two_free++] = tmp.two - 1;
			return pos == -ENOSPC ? CTL_EFULL : CTL_EINVAL;
		}
		tmp.last_used = now_ms;
		p->ents[pos] = tmp;
		return CTL_OK;
	case CTL_OP_MODIFY:
		pos = rte_hash_lookup(p->h, &k);
		if (pos < 0)
			return CTL_ENOENT;
		tmp = p->ents[pos];
		rc = fill_entry(p, &tmp, e);
		if (rc)
			return rc;
		p->ents[pos] = tmp;
		return CTL_OK;
	case CTL_OP_DELETE:
		pos = rte_hash_del_key(p->h, &k);
		if (pos < 0)
			return CTL_ENOENT;
		if (p->ents[pos].two)
			p->two_free[p->n_two_free++] = p->ents[pos].two - 1;
		memset(&p->ents[pos], 0, sizeof(struct dentry));
		return CTL_OK;
	default:
		return CTL_EINVAL;
	}
}

static int write_port(struct pipe *p, const struct ctl_entry *e)
{
	struct port_entry *pe;
	if (e->port >= PIPE_MAX_PORTS)
		return CTL_EINVAL;
	pe = &p->ports[e->port];
	if (e->op == CTL_OP_DELETE) {
		if (!pe->valid)
			return CTL_ENOENT;
		memset(pe, 0, sizeof(*pe));
		return CTL_OK;
	}
	if (e->action != CTL_A_HOST_PORT && e->action != CTL_A_NETWORK_PORT)
		return CTL_EINVAL;
	if (e->op == CTL_OP_INSERT && pe->valid)
		return CTL_EEXIST;
	if (e->op == CTL_OP_MODIFY && !pe->valid)
		return CTL_ENOENT;
	pe->valid = 1;
	pe->action = e->action;
	pe->agent_id = e->action == CTL_A_HOST_PORT ? e->agent_id : 0;
	return CTL_OK;
}

static int write_local(struct pipe *p, const struct ctl_entry *e)
{
	uint32_t a = e->match.dip, i;
	for (i = 0; i < p->n_local; i++)
		if (p->local[i] == a)
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
	p->local[p->n_local++] = a;
	return CTL_OK;
}

static int write_fwd(struct pipe *p, const struct ctl_entry *e)
{
	uint32_t addr, i, free_i = PIPE_MAX_FWD;
	if (e->plen > 32)
		return CTL_EINVAL;
	addr = e->plen ? e->match.dip & (0xFFFFFFFFu << (32 - e->plen)) : 0;
	if (addr != e->match.dip)
		return CTL_EINVAL; /* P4Runtime: masked-off bits must be zero */
	for (i = 0; i < PIPE_MAX_FWD; i++) {
		if (p->fwd[i].valid && p->fwd[i].addr == addr && p->fwd[i].plen == e->plen)
			break;
		if (!p->fwd[i].valid && free_i == PIPE_MAX_FWD)
			free_i = i;
	}
	if (e->op == CTL_OP_DELETE) {
		if (i == PIPE_MAX_FWD)
			return CTL_ENOENT;
		if (e->plen)
			rte_lpm_delete(p->lpm, addr, e->plen);
		else
			p->fwd_default = -1;
		memset(&p->fwd[i], 0, sizeof(p->fwd[i]));
		return CTL_OK;
	}
	if (e->action != CTL_A_ROUTE && e->action != CTL_A_DROP)
		return CTL_EINVAL;
	if (e->action == CTL_A_ROUTE && e->port >= PIPE_MAX_PORTS)
		return CTL_EINVAL;
	if (e->op == CTL_OP_INSERT) {
		if (i != PIPE_MAX_FWD)
			return CTL_EEXIST;
		if (free_i == PIPE_MAX_FWD)
			return CTL_EFULL;
		i = free_i;
	} else if (i == PIPE_MAX_FWD) {
		return CTL_ENOENT;
	}
	p->fwd[i].addr = addr;
	p->fwd[i].plen = e->plen;
	p->fwd[i].action = e->action;
	p->fwd[i].port = e->port;
	memcpy(p->fwd[i].smac, e->smac, 6);
	memcpy(p->fwd[i].dmac, e->dmac, 6);
	p->fwd[i].valid = 1;
	if (e->plen == 0) {
		p->fwd_default = (int32_t)i;
		return CTL_OK;
	}
	if (rte_lpm_add(p->lpm, addr, e->plen, i) < 0) {
		memset(&p->fwd[i], 0, sizeof(p->fwd[i]));
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

static void entry_to_ctl(const struct pipe *p, const struct pkey *k, const struct dentry *d,
			 struct ctl_entry *e, uint32_t now_ms)
{
	memset(e, 0, sizeof(*e));
	e->table = k->dir == DIR_OUT ? CTL_T_OUT_SESSION : CTL_T_IN_SESSION;
	e->action = k->dir == DIR_OUT ? CTL_A_OUT_REWRITE : CTL_A_IN_REWRITE;
	e->agent_id = k->agent_id;
	e->proto = k->proto;
	e->role = d->role;
	e->match.sip = rte_be_to_cpu_32(k->sip);
	e->match.dip = rte_be_to_cpu_32(k->dip);
	e->match.sport = rte_be_to_cpu_16(k->sport);
	e->match.dport = rte_be_to_cpu_16(k->dport);
	e->rw.sip = rte_be_to_cpu_32(d->rw_sip);
	e->rw.dip = rte_be_to_cpu_32(d->rw_dip);
	e->rw.sport = rte_be_to_cpu_16(d->rw_sport);
	e->rw.dport = rte_be_to_cpu_16(d->rw_dport);
	e->d.seq = d->d_seq;
	e->d.ack = d->d_ack;
	e->d.tsval = d->d_tsval;
	e->d.tsecr = d->d_tsecr;
	e->d.win_shift = d->win_shift;
	e->slot = d->slot;
	e->epoch = d->epoch;
	e->idle_ms = now_ms - d->last_used;
	if (d->two) {
		const struct twopath *t = &p->two[d->two - 1];
		if (t->two_path) {
			e->action = CTL_A_OUT_TWO_PATH;
			e->new_rw.sip = rte_be_to_cpu_32(t->rw_sip);
			e->new_rw.dip = rte_be_to_cpu_32(t->rw_dip);
			e->new_rw.sport = rte_be_to_cpu_16(t->rw_sport);
			e->new_rw.dport = rte_be_to_cpu_16(t->rw_dport);
			e->new_d.seq = t->d_seq;
			e->new_d.ack = t->d_ack;
			e->new_d.tsval = t->d_tsval;
			e->new_d.tsecr = t->d_tsecr;
			e->new_d.win_shift = t->win_shift;
		}
		e->peer_cut = t->peer_cut;
		e->peer_cut_valid = t->peer_cut_valid;
	}
}

/* Iterator: high byte = table phase, low bits = position within it. */
int pipe_read_next(struct pipe *p, uint64_t *it, uint8_t table, struct ctl_entry *out,
		   uint32_t now_ms)
{
	for (;;) {
		uint32_t phase = (uint32_t)(*it >> 40), pos = (uint32_t)(*it & 0xFFFFFFFFFFull);
		if (phase > CTL_T_IPV4_FWD)
			return 0;
		if (table != CTL_T_ALL && phase != table &&
		    !(phase == CTL_T_OUT_SESSION && table == CTL_T_IN_SESSION)) {
			*it = (uint64_t)(phase + 1) << 40;
			continue;
		}
		memset(out, 0, sizeof(*out));
		if (phase == CTL_T_PORT_ROLE) {
			for (; pos < PIPE_MAX_PORTS; pos++) {
				if (p->ports[pos].valid) {
					out->table = CTL_T_PORT_ROLE;
					out->port = (uint16_t)pos;
					out->action = p->ports[pos].action;
					out->agent_id = p->ports[pos].agent_id;
					*it = ((uint64_t)phase << 40) | (pos + 1);
					return 1;
				}
			}
		} else if (phase == CTL_T_LOCAL_ADDR) {
			if (pos < p->n_local) {
				out->table = CTL_T_LOCAL_ADDR;
				out->action = CTL_A_SET_LOCAL;
				out->match.dip = p->local[pos];
				*it = ((uint64_t)phase << 40) | (pos + 1);
				return 1;
			}
		} else if (phase == CTL_T_OUT_SESSION) {
			/* one hash for both session tables: phase OUT covers OUT and IN */
			const void *key;
			void *data;
			uint32_t hit = pos;
			int32_t r;
			while ((r = rte_hash_iterate(p->h, &key, &data, &hit)) >= 0) {
				const struct pkey *k = key;
				uint8_t t = k->dir == DIR_OUT ? CTL_T_OUT_SESSION : CTL_T_IN_SESSION;
				if (table != CTL_T_ALL && t != table)
					continue;
				entry_to_ctl(p, k, &p->ents[r], out, now_ms);
				*it = ((uint64_t)phase << 40) | hit;
				return 1;
			}
			*it = (uint64_t)(CTL_T_IPV4_FWD) << 40;
			continue;
		} else if (phase == CTL_T_IPV4_FWD) {
			for (; pos < PIPE_MAX_FWD; pos++) {
				const struct fwd_entry *f = &p->fwd[pos];
				if (f->valid) {
					out->table = CTL_T_IPV4_FWD;
					out->action = f->action;
					out->match.dip = f->addr;
					out->plen = f->plen;
					out->port = f->port;
					memcpy(out->smac, f->smac, 6);
					memcpy(out->dmac, f->dmac, 6);
					*it = ((uint64_t)phase << 40) | (pos + 1);
					return 1;
				}
			}
		}
		*it = (uint64_t)(phase + 1) << 40;
	}
}

int pipe_reg_read(struct pipe *p, uint32_t slot, struct ctl_regs *o)
{
	const struct regs *r;
	if (slot >= p->cfg.max_slots)
		return CTL_EINVAL;
	r = &p->regs[slot];
	o->slot = slot;
	o->sent_hi = r->sent_hi;
	o->ack_hi = r->ack_hi;
	o->rcvd_ack_hi = r->rcvd_ack_hi;
	o->new_rcvd_lo = r->new_rcvd_lo;
	o->cut = r->cut;
	o->old_ack_hi = r->old_ack_hi;
	o->epoch = r->epoch;
	o->flags = r->flags;
	return CTL_OK;
}

int pipe_reg_write(struct pipe *p, const struct ctl_regs *in)
{
	struct regs *r;
	if (in->slot >= p->cfg.max_slots)
		return CTL_EINVAL;
	r = &p->regs[in->slot];
	r->sent_hi = in->sent_hi;
	r->ack_hi = in->ack_hi;
	r->rcvd_ack_hi = in->rcvd_ack_hi;
	r->new_rcvd_lo = in->new_rcvd_lo;
	r->cut = in->cut;
	r->old_ack_hi = in->old_ack_hi;
	r->epoch = in->epoch;
	r->flags = (uint8_t)in->flags;
	return CTL_OK;
}

void pipe_clear(struct pipe *p)
{
	uint32_t i;
	rte_hash_reset(p->h);
	memset(p->ents, 0, (size_t)(p->cfg.max_entries + 1) * sizeof(struct dentry));
	memset(p->regs, 0, (size_t)p->cfg.max_slots * sizeof(struct regs));
	for (i = 0; i < p->cfg.max_two; i++)
		p->two_free[i] = p->cfg.max_two - 1 - i;
	p->n_two_free = p->cfg.max_two;
	memset(p->ports, 0, sizeof(p->ports));
	p->n_local = 0;
	memset(p->fwd, 0, sizeof(p->fwd));
	rte_lpm_delete_all(p->lpm);
	p->fwd_default = -1;
	memset(&p->cnt, 0, sizeof(p->cnt));
}

/* ---- packet-in --------------------------------------------------------------------------- */
struct pi {
	uint16_t ingress_port;
	uint8_t reason, direction, flags, agent_id;
	uint16_t slot;
	uint32_t token, epoch;
	uint8_t reg_valid;
	uint32_t sent_hi, ack_hi, rcvd_ack_hi, new_rcvd_lo, cut, old_ack_hi;
};

static void pi_encode(const struct pi *m, uint8_t *h)
{
	wr16(h, m->ingress_port);
	h[2] = m->reason;
	h[3] = m->direction;
	h[4] = m->flags;
	h[5] = m->agent_id;
	wr16(h + 6, m->slot);
	wr32(h + 8, m->token);
	wr32(h + 12, m->epoch);
	h[16] = m->reg_valid;
	wr32(h + 17, m->sent_hi);
	wr32(h + 21, m->ack_hi);
	wr32(h + 25, m->rcvd_ack_hi);
	wr32(h + 29, m->new_rcvd_lo);
	wr32(h + 33, m->cut);
	wr32(h + 37, m->old_ack_hi);
}

static void emit_pi(struct pipe *p, const struct pi *m, const uint8_t *data, uint32_t len)
{
	uint8_t h[PKT_IN_HDR_LEN];
	pi_encode(m, h);
	p->cnt.punt++;
	if (p->sink.pktin)
		p->sink.pktin(p->sink.ctx, h, data, len);
}

/* Packet-in register fields after a slot operation: invalid registers read as 0; old_ack_hi
 * is the value before this packet (pre_old_v: its valid bit then). */
static void pi_regs(struct pi *m, const struct regs *r, uint32_t pre_old, uint8_t pre_old_v)
{
	uint8_t f = r->flags;
	m->flags |= PI_FLAG_REGS;
	m->epoch = r->epoch;
	m->reg_valid = (uint8_t)((f & (RV_SENT_HI | RV_ACK_HI | RV_RCVD_ACK_HI | RV_NEW_RCVD_LO |
				       RV_CUT)) | pre_old_v);
	m->sent_hi = (f & RV_SENT_HI) ? r->sent_hi : 0;
	m->ack_hi = (f & RV_ACK_HI) ? r->ack_hi : 0;
	m->rcvd_ack_hi = (f & RV_RCVD_ACK_HI) ? r->rcvd_ack_hi : 0;
	m->new_rcvd_lo = (f & RV_NEW_RCVD_LO) ? r->new_rcvd_lo : 0;
	m->cut = (f & RV_CUT) ? r->cut : 0;
	m->old_ack_hi = pre_old_v ? pre_old : 0;
}

/* ---- registers ------------------------------------------------------------------------------ */
static inline void enter_epoch(struct regs *r, uint32_t epoch)
{
	if (epoch > r->epoch) {
		r->epoch = epoch;
		r->flags &= RV_EPOCH_KEEP;
	}
}
#define SMAX(r, field, bit, v)                                                                 \
	do {                                                                                   \
		if (!((r)->flags & (bit))) {                                                   \
			(r)->field = (v);                                                      \
			(r)->flags |= (bit);                                                   \
		} else                                                                         \
			(r)->field = seq_max((r)->field, (v));                                 \
	} while (0)
#define SMIN(r, field, bit, v)                                                                 \
	do {                                                                                   \
		if (!((r)->flags & (bit))) {                                                   \
			(r)->field = (v);                                                      \
			(r)->flags |= (bit);                                                   \
		} else                                                                         \
			(r)->field = seq_min((r)->field, (v));                                 \
	} while (0)

/* ---- rewrite ----------------------------------------------------------------------------- */
struct xlate {
	uint32_t sip, dip; /* network order */
	uint16_t sport, dport;
	uint32_t d_seq, d_ack, d_tsval, d_tsecr;
	int8_t win_shift;
	uint8_t set_ack; /* an old-path IN packet: ack := ack_val after the deltas */
	uint32_t ack_val;
};

static inline void xlate_one(const struct dentry *d, struct xlate *x)
{
	x->sip = d->rw_sip; x->dip = d->rw_dip; x->sport = d->rw_sport; x->dport = d->rw_dport;
	x->d_seq = d->d_seq; x->d_ack = d->d_ack; x->d_tsval = d->d_tsval; x->d_tsecr = d->d_tsecr;
	x->win_shift = d->win_shift;
}
static inline void xlate_two(const struct twopath *t, struct xlate *x)
{
	x->sip = t->rw_sip; x->dip = t->rw_dip; x->sport = t->rw_sport; x->dport = t->rw_dport;
	x->d_seq = t->d_seq; x->d_ack = t->d_ack; x->d_tsval = t->d_tsval; x->d_tsecr = t->d_tsecr;
	x->win_shift = t->win_shift;
}

static inline uint16_t rescale(uint16_t w, int8_t s)
{
	uint32_t v;
	if (s > 0) {
		v = (uint32_t)w << s;
		return v > 0xFFFF ? 0xFFFF : (uint16_t)v;
	}
	if (s < 0)
		return (uint16_t)(w >> -s);
	return w;
}

/* Rewrite (five-tuple), SeqAdjust (deltas, recognised option layouts only) and WindowScale;
 * TCP and IPv4 checksums updated incrementally (RFC 1624 eq. 3). */
static void rewrite_pkt(struct pkt *k, const struct xlate *x)
{
	uint8_t *ip = k->b + k->l3, *tcp = k->b + k->l4;
	uint8_t old[8 + 60];
	uint32_t hl = k->doff, j;
	uint64_t old_sum, new_sum;
	uint16_t tc;

	memcpy(old, ip + 12, 8);
	memcpy(old + 8, tcp, hl);
	memcpy(ip + 12, &x->sip, 4);
	memcpy(ip + 16, &x->dip, 4);
	memcpy(tcp, &x->sport, 2);
	memcpy(tcp + 2, &x->dport, 2);
	wr32(tcp + 4, rd32(tcp + 4) + x->d_seq);
	if (k->flags & F_ACK)
		wr32(tcp + 8, x->set_ack ? x->ack_val : rd32(tcp + 8) + x->d_ack);
	if (!(k->flags & F_SYN))
		wr16(tcp + 14, rescale(rd16(tcp + 14), x->win_shift));
	if (k->ts_off) {
		wr32(tcp + k->ts_off, rd32(tcp + k->ts_off) + x->d_tsval);
		wr32(tcp + k->ts_off + 4, rd32(tcp + k->ts_off + 4) + x->d_tsecr);
	}
	if (k->synopt_off) {
		wr32(tcp + k->synopt_off, rd32(tcp + k->synopt_off) + x->d_tsval);
		wr32(tcp + k->synopt_off + 4, rd32(tcp + k->synopt_off + 4) + x->d_tsecr);
	}
	for (j = 0; j < 2u * k->sack_n; j++)
		wr32(tcp + k->sack_off + 4 * j, rd32(tcp + k->sack_off + 4 * j) + x->d_ack);
	/* TCP checksum: pseudo-header addresses and the TCP header (checksum field left out). */
	tc = rd16(tcp + 16);
	old[8 + 16] = old[8 + 17] = 0;
	old_sum = sum_words(old, 8 + hl, 0);
	wr16(tcp + 16, 0);
	new_sum = sum_words(ip + 12, 8, sum_words(tcp, hl, 0));
	wr16(tcp + 16, csum_replace(tc, old_sum, new_sum));
	/* The IPv4 checksum is updated by route() together with the TTL. */
	{
		uint16_t ipc = rd16(ip + 10);
		wr16(ip + 10, csum_replace(ipc, sum_words(old, 8, 0), sum_words(ip + 12, 8, 0)));
	}
}

/* ---- forwarding (ipv4_fwd) ------------------------------------------------------------------- */
/* Route an IPv4 frame: TTL check, LPM, MACs, TTL decrement. Consumes m. The IPv4 checksum is
 * updated incrementally (the input was verified), or recomputed in full for packet-outs. */
static void route_csum_to(struct pipe *p, struct rte_mbuf *m, uint8_t *b, int full,
			  uint32_t dst)
{
	uint8_t *ip = b + ETH_HLEN;
	uint32_t nh;
	const struct fwd_entry *f;
	uint16_t c, oldw, neww;
	if (ip[8] <= 1) {
		p->cnt.drop++;
		rte_pktmbuf_free(m);
		return;
	}
	if (rte_lpm_lookup(p->lpm, dst, &nh) != 0) {
		if (p->fwd_default < 0) {
			p->cnt.drop++;
			rte_pktmbuf_free(m);
			return;
		}
		nh = (uint32_t)p->fwd_default;
	}
	f = &p->fwd[nh];
	if (f->action != CTL_A_ROUTE) {
		p->cnt.drop++;
		rte_pktmbuf_free(m);
		return;
	}
	memcpy(b, f->dmac, 6);
	memcpy(b + 6, f->smac, 6);
	oldw = rd16(ip + 8);
	ip[8]--;
	neww = rd16(ip + 8);
	c = rd16(ip + 10);
	if (full) {
		wr16(ip + 10, 0);
		wr16(ip + 10, (uint16_t)~fold(sum_words(ip, 20, 0)));
	} else {
		wr16(ip + 10, csum_replace(c, oldw, neww));
	}
	p->sink.tx(p->sink.ctx, m, f->port);
}

static inline void route_csum(struct pipe *p, struct rte_mbuf *m, uint8_t *b, int full)
{
	route_csum_to(p, m, b, full, rd32(b + ETH_HLEN + 16));
}

static inline void route(struct pipe *p, struct rte_mbuf *m, uint8_t *b)
{
	route_csum(p, m, b, 0);
}

/* ---- two-path steering (SlotState, SLOT_OP_OUT on an out_two_path entry) ------------------ */
/* Returns PATH_OLD (0), PATH_NEW (1) or -1 for SPLIT (p4src/v1model/include/slot_state.p4). */
static int steer(struct regs *r, const struct pkt *k, uint32_t seq, uint32_t ack,
		 uint32_t seq_len)
{
	const uint8_t *tcp = k->b + k->l4;
	int has_ack = !!(k->flags & F_ACK), rst = !!(k->flags & F_RST);
	int lo_v = !!(r->flags & RV_NEW_RCVD_LO), cut_v = !!(r->flags & RV_CUT);
	uint32_t lo = r->new_rcvd_lo, end = seq + seq_len, j;
	int ack_new = has_ack && lo_v && seq_gt(ack, lo);
	uint32_t a_old = ack_new ? lo : ack;
	int path = 0, split = 0;

	if (rst) {
		split = 1;
	} else {
		if (seq_len == 0)
			path = ack_new;
		else if (!cut_v || !seq_gt(end, r->cut))
			path = 0;
		else if (seq_ge(seq, r->cut))
			path = 1;
		else
			split = 1;
		if (!split && has_ack) {
			if (path == 0) {
				if (ack_new) {
					split = 1;
				} else if (lo_v) {
					for (j = 0; j < k->sack_n; j++)
						if (seq_gt(rd32(tcp + k->sack_off + 8 * j + 4), lo))
							split = 1;
				}
			} else {
				if (!(r->flags & RV_OLD_ACK_HI) || seq_gt(a_old, r->old_ack_hi)) {
					split = 1;
				} else if (lo_v) {
					for (j = 0; j < k->sack_n; j++)
						if (seq_gt(lo, rd32(tcp + k->sack_off + 8 * j)))
							split = 1;
				}
			}
		}
	}
	if (has_ack && !rst)
		SMAX(r, old_ack_hi, RV_OLD_ACK_HI, a_old);
	return split ? -1 : path;
}

/* ---- per-packet rules (Classify, SlotState, Decide, Forwarding) --------------------------- */
static void process_one(struct pipe *p, struct rte_mbuf *m, uint16_t in_port, uint32_t now_ms,
			struct pkt *k, int kind, int32_t pos, uint8_t agent_id, uint8_t direction)
{
	struct pi pi;
	struct dentry *d;
	struct regs *r;
	const struct twopath *t;
	uint8_t *tcp;
	uint32_t seq, ack, seq_len, pre_old;
	uint8_t pre_old_v, mirror = 0;
	uint8_t *orig = p->orig;
	uint32_t orig_len = 0;
	int path = 0, stale = 0;
	struct xlate x;

	if (kind == PK_DROP) {
		p->cnt.drop++;
		rte_pktmbuf_free(m);
		return;
	}
	if (kind == PK_ROUTE) {
		route(p, m, k->b);
		return;
	}
	memset(&pi, 0, sizeof(pi));
	pi.ingress_port = in_port;
	pi.agent_id = agent_id;
	if (kind == PK_UDP) {
		if (rd16(k->b + k->l4 + 2) == CONTROL_PORT) {
			uint32_t dip = rd32(k->b + k->l3 + 16), i;
			for (i = 0; i < p->n_local; i++) {
				if (p->local[i] == dip) {
					pi.reason = R_CONTROL;
					emit_pi(p, &pi, k->b, k->len);
					rte_pktmbuf_free(m);
					return;
				}
			}
		}
		route(p, m, k->b);
		return;
	}
	pi.direction = direction;
	d = pos >= 0 ? &p->ents[pos] : NULL;
	if (d) {
		pi.flags = PI_FLAG_ENTRY_HIT;
		pi.slot = d->slot;
	}
	if ((k->flags & (F_SYN | F_ACK)) == F_SYN) {
		pi.reason = R_SYN;
		emit_pi(p, &pi, k->b, k->len);
		rte_pktmbuf_free(m);
		return;
	}
	if ((k->flags & (F_SYN | F_ACK)) == (F_SYN | F_ACK) &&
	    (k->paylen || (d && d->role == CTL_ROLE_NEW))) {
		if (d)
			d->last_used = now_ms;
		pi.reason = R_SYNACK;
		emit_pi(p, &pi, k->b, k->len);
		rte_pktmbuf_free(m);
		return;
	}
	if (!d) {
		p->cnt.miss++;
		route(p, m, k->b);
		return;
	}
	p->cnt.hit++;
	d->last_used = now_ms;
	r = &p->regs[d->slot];
	enter_epoch(r, d->epoch);
	pre_old = r->old_ack_hi;
	pre_old_v = r->flags & RV_OLD_ACK_HI;
	tcp = k->b + k->l4;
	seq = rd32(tcp + 4);
	ack = rd32(tcp + 8);
	seq_len = k->paylen + !!(k->flags & F_SYN) + !!(k->flags & F_FIN);
	t = d->two ? &p->two[d->two - 1] : NULL;
	if (direction == DIR_OUT) {
		SMAX(r, sent_hi, RV_SENT_HI, seq + seq_len);
		if (k->flags & F_ACK)
			SMAX(r, ack_hi, RV_ACK_HI, ack);
		if (t && t->two_path)
			path = steer(r, k, seq, ack, seq_len);
		if (t && t->peer_cut_valid && !(r->flags & RV_LATCHED_PEER) &&
		    (r->flags & RV_ACK_HI) && seq_ge(r->ack_hi, t->peer_cut)) {
			r->flags |= RV_LATCHED_PEER;
			pi.flags |= PI_FLAG_LATCH_PEER;
		}
	} else {
		/* IN: the registers see the packet after rewrite */
		if (k->flags & F_ACK)
			SMAX(r, rcvd_ack_hi, RV_RCVD_ACK_HI, ack + d->d_ack);
		if (d->role == CTL_ROLE_NEW && (k->paylen || (k->flags & F_FIN)))
			SMIN(r, new_rcvd_lo, RV_NEW_RCVD_LO, seq + d->d_seq);
		if (!(r->flags & RV_LATCHED_OWN) && (r->flags & RV_CUT) &&
		    (r->flags & RV_RCVD_ACK_HI) && seq_ge(r->rcvd_ack_hi, r->cut)) {
			r->flags |= RV_LATCHED_OWN;
			pi.flags |= PI_FLAG_LATCH_OWN;
		}
		/* An old path (entry older than the slot's epoch): an ack below what the host
		 * already saw is raised on data and dropped on a pure ack (datapath.DataPath._in) */
		if (d->epoch < r->epoch && (k->flags & F_ACK) && !(k->flags & (F_RST | F_SYN)) &&
		    (r->flags & RV_RCVD_ACK_HI) && seq_gt(r->rcvd_ack_hi, ack + d->d_ack))
			stale = seq_len ? 1 : 2;
	}
	pi_regs(&pi, r, pre_old, pre_old_v);
	if (stale == 2) {
		if (pi.flags & PI_FLAG_LATCH_OWN) {
			pi.reason = R_LATCH;
			emit_pi(p, &pi, k->b, k->len);
		}
		p->cnt.drop++;
		rte_pktmbuf_free(m);
		return;
	}
	/* Decide */
	if (path < 0) {
		p->cnt.split++;
		pi.reason = R_SPLIT;
		emit_pi(p, &pi, k->b, k->len);
		rte_pktmbuf_free(m);
		return;
	}
	if (path == 1)
		xlate_two(t, &x);
	else
		xlate_one(d, &x);
	x.set_ack = stale == 1;
	x.ack_val = r->rcvd_ack_hi;
	if (k->opt_other && (x.d_ack || x.d_tsval || x.d_tsecr ||
			     (t && t->two_path && (r->flags & RV_NEW_RCVD_LO)))) {
		p->cnt.unsupported++;
		pi.reason = R_UNSUPPORTED_OPTIONS;
		emit_pi(p, &pi, k->b, k->len);
		rte_pktmbuf_free(m);
		return;
	}
	if (k->flags & F_SYN)
		mirror = R_SYNACK_MIRROR;
	else if (k->flags & F_RST)
		mirror = R_RST_MIRROR;
	else if (k->flags & F_FIN)
		mirror = R_FIN_MIRROR;
	else if (pi.flags & (PI_FLAG_LATCH_OWN | PI_FLAG_LATCH_PEER))
		mirror = R_LATCH;
	if (mirror) {
		/* the replica is the packet as it arrived (I2E clone) */
		orig_len = k->len < PIPE_MAX_FRAME ? k->len : PIPE_MAX_FRAME;
		memcpy(orig, k->b, orig_len);
	}
	{
		uint32_t arrived_dst = rd32(k->b + ETH_HLEN + 16);
		rewrite_pkt(k, &x);
		/* docs/pipeline.md section 2 (ipv4_fwd): an IN-rewritten packet is routed by the
		 * destination it arrived with (the local host's address), OUT by the new one */
		if (direction != DIR_OUT)
			route_csum_to(p, m, k->b, 0, arrived_dst);
		else
			route(p, m, k->b);
	}
	if (mirror) {
		pi.reason = mirror;
		emit_pi(p, &pi, orig, orig_len);
	}
}

static inline void classify_port(const struct pipe *p, uint16_t in_port, uint8_t *agent_id,
				 uint8_t *direction)
{
	const struct port_entry *pe = in_port < PIPE_MAX_PORTS ? &p->ports[in_port] : NULL;
	if (pe && pe->valid && pe->action == CTL_A_HOST_PORT) {
		*agent_id = pe->agent_id;
		*direction = DIR_OUT;
	} else {
		*agent_id = 0;
		*direction = DIR_IN;
	}
}

void pipe_process_burst(struct pipe *p, struct rte_mbuf **ms, uint16_t n, uint16_t in_port,
			uint32_t now_ms)
{
	struct pkt k[64];
	struct pkey keys[64];
	const void *kp[64];
	int32_t pos[64];
	int kind[64];
	uint16_t i, nk = 0, idx[64];
	uint8_t agent_id, direction;

	while (n > 64) {
		pipe_process_burst(p, ms, 64, in_port, now_ms);
		ms += 64;
		n -= 64;
	}
	classify_port(p, in_port, &agent_id, &direction);
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = ms[i];
		pos[i] = -1;
		k[i].is_ipv4 = 0;
		kind[i] = rte_pktmbuf_is_contiguous(m)
				  ? parse(rte_pktmbuf_mtod(m, uint8_t *), rte_pktmbuf_data_len(m), &k[i])
				  : PK_DROP;
		if (kind[i] == PK_TCP) {
			struct pkey *kk = &keys[i];
			const uint8_t *b = k[i].b;
			memcpy(&kk->sip, b + k[i].l3 + 12, 4);
			memcpy(&kk->dip, b + k[i].l3 + 16, 4);
			memcpy(&kk->sport, b + k[i].l4, 2);
			memcpy(&kk->dport, b + k[i].l4 + 2, 2);
			kk->proto = PROTO_TCP;
			kk->dir = direction;
			kk->agent_id = direction == DIR_OUT ? agent_id : 0;
			kk->pad = 0;
			kp[nk] = kk;
			idx[nk++] = i;
		}
	}
	if (nk) {
		int32_t res[64];
		if (rte_hash_lookup_bulk(p->h, kp, nk, res) == 0) {
			/* Overlap the cache (and TLB) misses of the burst: entries first, then the
			 * slot registers they name. */
			for (i = 0; i < nk; i++) {
				pos[idx[i]] = res[i];
				if (res[i] >= 0)
					rte_prefetch0(&p->ents[res[i]]);
			}
			for (i = 0; i < nk; i++)
				if (res[i] >= 0)
					rte_prefetch0(&p->regs[p->ents[res[i]].slot]);
		}
	}
	for (i = 0; i < n; i++)
		process_one(p, ms[i], in_port, now_ms, &k[i], kind[i], pos[i], agent_id, direction);
}

/* ---- packet-out (PacketOutIngress) ----------------------------------------------------------- */
void pipe_packet_out(struct pipe *p, const uint8_t *h, struct rte_mbuf *m, uint32_t now_ms)
{
	uint8_t op = h[0], flags = h[1];
	uint16_t egress = rd16(h + 2), slot = rd16(h + 4);
	uint32_t token = rd32(h + 6), epoch = rd32(h + 10);
	(void)now_ms;
	if (op == OP_FORWARD) {
		if (egress >= DROP_PORT || egress == PIPE_CPU_PORT || !m) {
			p->cnt.drop++;
			if (m)
				rte_pktmbuf_free(m);
			return;
		}
		p->sink.tx(p->sink.ctx, m, egress);
		return;
	}
	if (op == OP_ROUTE) {
		uint8_t *b = m ? rte_pktmbuf_mtod(m, uint8_t *) : NULL;
		uint32_t len = m ? rte_pktmbuf_data_len(m) : 0;
		if (!b || len < ETH_HLEN + 20 || rd16(b + 12) != ETHERTYPE_IPV4 ||
		    (b[ETH_HLEN] & 0xF) != 5) {
			p->cnt.drop++;
			if (m)
				rte_pktmbuf_free(m);
			return;
		}
		route_csum(p, m, b, 1);
		return;
	}
	if (op == OP_PROBE) {
		struct pi pi;
		struct regs *r;
		uint32_t pre_old;
		uint8_t pre_old_v;
		memset(&pi, 0, sizeof(pi));
		pi.ingress_port = PIPE_CPU_PORT;
		pi.reason = R_PROBE_REPLY;
		pi.slot = slot;
		pi.token = token;
		if (slot < p->cfg.max_slots) {
			r = &p->regs[slot];
			enter_epoch(r, epoch);
			pre_old = r->old_ack_hi;
			pre_old_v = r->flags & RV_OLD_ACK_HI;
			if ((flags & PO_FLAG_FREEZE) && !(r->flags & RV_CUT) &&
			    (r->flags & RV_SENT_HI)) {
				r->cut = r->sent_hi;
				r->flags |= RV_CUT;
			}
			pi_regs(&pi, r, pre_old, pre_old_v);
		}
		emit_pi(p, &pi, m ? rte_pktmbuf_mtod(m, uint8_t *) : NULL,
			m ? rte_pktmbuf_data_len(m) : 0);
		if (m)
			rte_pktmbuf_free(m);
		return;
	}
	p->cnt.drop++;
	if (m)
		rte_pktmbuf_free(m);
}
