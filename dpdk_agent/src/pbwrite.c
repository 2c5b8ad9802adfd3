/* P4Runtime WriteRequest decoding in C (the fast install path).
 *
 * The P4Runtime server (Python) hands the agent the serialized p4.v1.WriteRequest as it came
 * off the wire; the agent decodes the updates (protobuf wire format, only the fields the Dysco
 * pipeline uses) with a schema the server sent when the pipeline was set (P4Info ids ->
 * agent table/action/field codes and bit widths), applies them in order and returns one
 * google.rpc code per update. Semantics equal those of dysco_targets/entities.py CtlCodec.
 */
#include "pbwrite.h"

#include <string.h>

#include "ctl_proto.h"

#define MAX_TABLES 16
#define MAX_ACTIONS 32
#define MAX_FIELDS 32

struct field_spec {
	uint32_t id;
	uint8_t code;  /* enum pb_field */
	uint8_t width; /* bits */
	uint8_t lpm;
};

struct table_spec {
	uint32_t id;
	uint8_t table; /* enum ctl_table */
	uint8_t n_match, n_exact;
	struct field_spec match[8];
	uint32_t actions[8]; /* allowed P4 action ids */
	uint8_t n_actions;
};

struct action_spec {
	uint32_t id;
	uint8_t action; /* enum ctl_action */
	uint8_t n_params;
	struct field_spec params[MAX_FIELDS];
};

static struct table_spec schema_tables[MAX_TABLES];
static struct action_spec schema_actions[MAX_ACTIONS];
static int n_schema_tables, n_schema_actions, schema_loaded;

/* ---- protobuf wire format ---------------------------------------------------------------- */
struct pb_reader {
	const uint8_t *p, *end;
};

static int varint(struct pb_reader *r, uint64_t *v)
{
	uint64_t x = 0;
	int s = 0;
	while (r->p < r->end && s < 64) {
		uint8_t b = *r->p++;
		x |= (uint64_t)(b & 0x7F) << s;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
		s += 7;
	}
	return -1;
}

/* Next field: returns 0 and sets tag/wire type; length-delimited fields give sub. */
static int field(struct pb_reader *r, uint32_t *num, uint32_t *wt, uint64_t *v,
		 struct pb_reader *sub)
{
	uint64_t key, len;
	if (varint(r, &key))
		return -1;
	*num = (uint32_t)(key >> 3);
	*wt = (uint32_t)(key & 7);
	switch (*wt) {
	case 0:
		return varint(r, v);
	case 1:
		if (r->end - r->p < 8)
			return -1;
		r->p += 8;
		return 0;
	case 2:
		if (varint(r, &len) || (uint64_t)(r->end - r->p) < len)
			return -1;
		sub->p = r->p;
		sub->end = r->p + len;
		r->p += len;
		return 0;
	case 5:
		if (r->end - r->p < 4)
			return -1;
		r->p += 4;
		return 0;
	default:
		return -1;
	}
}

/* A big-endian bytestring as an integer that must fit in width bits (<= 64). */
static int bytes_uint(const struct pb_reader *b, uint8_t width, uint64_t *out)
{
	uint64_t v = 0;
	const uint8_t *p = b->p;
	while (p < b->end && *p == 0)
		p++;
	if (b->end - p > 8)
		return -1;
	for (; p < b->end; p++)
		v = v << 8 | *p;
	if (width < 64 && (v >> width))
		return -1;
	*out = v;
	return 0;
}

static void set_field(struct ctl_entry *e, uint8_t code, uint64_t v)
{
	switch (code) {
	case PBF_PORT: e->port = (uint16_t)v; break;
	case PBF_AGENT_ID: e->agent_id = (uint8_t)v; break;
	case PBF_SIP: e->match.sip = (uint32_t)v; break;
	case PBF_DIP: e->match.dip = (uint32_t)v; break;
	case PBF_PROTO: e->proto = (uint8_t)v; break;
	case PBF_SPORT: e->match.sport = (uint16_t)v; break;
	case PBF_DPORT: e->match.dport = (uint16_t)v; break;
	case PBF_RW_SIP: e->rw.sip = (uint32_t)v; break;
	case PBF_RW_DIP: e->rw.dip = (uint32_t)v; break;
	case PBF_RW_SPORT: e->rw.sport = (uint16_t)v; break;
	case PBF_RW_DPORT: e->rw.dport = (uint16_t)v; break;
	case PBF_SEQ: e->d.seq = (uint32_t)v; break;
	case PBF_ACK: e->d.ack = (uint32_t)v; break;
	case PBF_TSVAL: e->d.tsval = (uint32_t)v; break;
	case PBF_TSECR: e->d.tsecr = (uint32_t)v; break;
	case PBF_WIN: e->d.win_shift = (int8_t)(uint8_t)v; break;
	case PBF_SLOT: e->slot = (uint32_t)v; break;
	case PBF_ROLE: e->role = (uint8_t)v; break;
	case PBF_EPOCH: e->epoch = (uint32_t)v; break;
	case PBF_PEER_CUT: e->peer_cut = (uint32_t)v; break;
	case PBF_PEER_CUT_VALID: e->peer_cut_valid = (uint8_t)v; break;
	case PBF_NEW_SIP: e->new_rw.sip = (uint32_t)v; break;
	case PBF_NEW_DIP: e->new_rw.dip = (uint32_t)v; break;
	case PBF_NEW_SPORT: e->new_rw.sport = (uint16_t)v; break;
	case PBF_NEW_DPORT: e->new_rw.dport = (uint16_t)v; break;
	case PBF_NEW_SEQ: e->new_d.seq = (uint32_t)v; break;
	case PBF_NEW_ACK: e->new_d.ack = (uint32_t)v; break;
	case PBF_NEW_TSVAL: e->new_d.tsval = (uint32_t)v; break;
	case PBF_NEW_TSECR: e->new_d.tsecr = (uint32_t)v; break;
	case PBF_NEW_WIN: e->new_d.win_shift = (int8_t)(uint8_t)v; break;
	case PBF_SMAC:
	case PBF_DMAC: {
		uint8_t *m = code == PBF_SMAC ? e->smac : e->dmac;
		for (int i = 5; i >= 0; i--, v >>= 8)
			m[i] = (uint8_t)v;
		break;
	}
	default: break;
	}
}

/* ---- schema -------------------------------------------------------------------------------- */
/* Layout (little-endian): u32 n_tables, tables[], u32 n_actions, actions[]
 *   table:  u32 id, u8 table, u8 n_match, u8 n_actions, u8 pad,
 *           n_match * (u32 id, u8 code, u8 width, u8 lpm, u8 pad), n_actions * u32 action id
 *   action: u32 id, u8 action, u8 n_params, u16 pad, n_params * (u32 id, u8 code, u8 width,
 *           u16 pad) */
int pbw_load_schema(const uint8_t *b, uint32_t len)
{
	const uint8_t *p = b, *end = b + len;
	uint32_t n, i, j;
#define NEED(k)                                                                                \
	do {                                                                                   \
		if ((size_t)(end - p) < (size_t)(k))                                          \
			return CTL_EINVAL;                                                     \
	} while (0)
	schema_loaded = 0;
	NEED(4);
	memcpy(&n, p, 4);
	p += 4;
	if (n > MAX_TABLES)
		return CTL_EINVAL;
	n_schema_tables = (int)n;
	for (i = 0; i < n; i++) {
		struct table_spec *t = &schema_tables[i];
		memset(t, 0, sizeof(*t));
		NEED(8);
		memcpy(&t->id, p, 4);
		t->table = p[4];
		t->n_match = p[5];
		t->n_actions = p[6];
		p += 8;
		if (t->n_match > 8 || t->n_actions > 8)
			return CTL_EINVAL;
		for (j = 0; j < t->n_match; j++) {
			NEED(8);
			memcpy(&t->match[j].id, p, 4);
			t->match[j].code = p[4];
			t->match[j].width = p[5];
			t->match[j].lpm = p[6];
			if (!t->match[j].lpm)
				t->n_exact++;
			p += 8;
		}
		for (j = 0; j < t->n_actions; j++) {
			NEED(4);
			memcpy(&t->actions[j], p, 4);
			p += 4;
		}
	}
	NEED(4);
	memcpy(&n, p, 4);
	p += 4;
	if (n > MAX_ACTIONS)
		return CTL_EINVAL;
	n_schema_actions = (int)n;
	for (i = 0; i < n; i++) {
		struct action_spec *a = &schema_actions[i];
		memset(a, 0, sizeof(*a));
		NEED(8);
		memcpy(&a->id, p, 4);
		a->action = p[4];
		a->n_params = p[5];
		p += 8;
		if (a->n_params > MAX_FIELDS)
			return CTL_EINVAL;
		for (j = 0; j < a->n_params; j++) {
			NEED(8);
			memcpy(&a->params[j].id, p, 4);
			a->params[j].code = p[4];
			a->params[j].width = p[5];
			p += 8;
		}
	}
#undef NEED
	schema_loaded = 1;
	return CTL_OK;
}

/* ---- decoding one TableEntry ------------------------------------------------------------ */
static int decode_match(const struct table_spec *t, struct pb_reader m, struct ctl_entry *e,
			uint32_t *seen)
{
	uint32_t num, wt, fid = 0, k;
	uint64_t v = 0;
	struct pb_reader sub, exact = {NULL, NULL}, lpm = {NULL, NULL};
	int has_exact = 0, has_lpm = 0, other = 0;
	const struct field_spec *f = NULL;
	while (m.p < m.end) {
		if (field(&m, &num, &wt, &v, &sub))
			return CTL_EINVAL;
		if (num == 1 && wt == 0)
			fid = (uint32_t)v;
		else if (num == 2 && wt == 2) {
			exact = sub;
			has_exact = 1;
		} else if (num == 4 && wt == 2) {
			lpm = sub;
			has_lpm = 1;
		} else if (num == 3 || num == 6 || num == 7 || num == 100)
			other = 1;
	}
	for (k = 0; k < t->n_match; k++)
		if (t->match[k].id == fid)
			f = &t->match[k];
	if (!f || other)
		return CTL_EINVAL;
	if (f->lpm) {
		uint64_t plen = 0, val = 0;
		struct pb_reader vb = {NULL, NULL};
		if (!has_lpm)
			return CTL_EINVAL;
		while (lpm.p < lpm.end) {
			if (field(&lpm, &num, &wt, &v, &sub))
				return CTL_EINVAL;
			if (num == 1 && wt == 2)
				vb = sub;
			else if (num == 2 && wt == 0)
				plen = v;
		}
		if (vb.p && bytes_uint(&vb, f->width, &val))
			return CTL_EINVAL;
		if (plen > f->width)
			return CTL_EINVAL;
		e->match.dip = (uint32_t)val;
		e->plen = (uint8_t)plen;
	} else {
		struct pb_reader vb = {NULL, NULL};
		if (!has_exact)
			return CTL_EINVAL;
		while (exact.p < exact.end) {
			if (field(&exact, &num, &wt, &v, &sub))
				return CTL_EINVAL;
			if (num == 1 && wt == 2)
				vb = sub;
		}
		if (!vb.p)
			vb = exact; /* empty value */
		if (bytes_uint(&vb, f->width, &v))
			return CTL_EINVAL;
		set_field(e, f->code, v);
		(*seen)++;
	}
	return CTL_OK;
}

static int decode_action(const struct table_spec *t, struct pb_reader ta, struct ctl_entry *e)
{
	uint32_t num, wt, aid = 0, k, n = 0;
	uint64_t v;
	struct pb_reader sub, act = {NULL, NULL};
	const struct action_spec *a = NULL;
	int has_act = 0;
	while (ta.p < ta.end) {
		if (field(&ta, &num, &wt, &v, &sub))
			return CTL_EINVAL;
		if (num == 1 && wt == 2) {
			act = sub;
			has_act = 1;
		}
	}
	if (!has_act)
		return CTL_EINVAL;
	{
		struct pb_reader r = act;
		while (r.p < r.end) {
			if (field(&r, &num, &wt, &v, &sub))
				return CTL_EINVAL;
			if (num == 1 && wt == 0)
				aid = (uint32_t)v;
		}
	}
	for (k = 0; k < t->n_actions; k++)
		if (t->actions[k] == aid)
			break;
	if (k == t->n_actions)
		return CTL_EINVAL;
	for (k = 0; k < (uint32_t)n_schema_actions; k++)
		if (schema_actions[k].id == aid)
			a = &schema_actions[k];
	if (!a || !a->action)
		return CTL_EINVAL;
	e->action = a->action;
	while (act.p < act.end) {
		if (field(&act, &num, &wt, &v, &sub))
			return CTL_EINVAL;
		if (num == 4 && wt == 2) { /* Param */
			uint32_t pid = 0, pn, pw;
			struct pb_reader val = {NULL, NULL}, s2;
			const struct field_spec *f = NULL;
			while (sub.p < sub.end) {
				if (field(&sub, &pn, &pw, &v, &s2))
					return CTL_EINVAL;
				if (pn == 2 && pw == 0)
					pid = (uint32_t)v;
				else if (pn == 3 && pw == 2)
					val = s2;
			}
			for (k = 0; k < a->n_params; k++)
				if (a->params[k].id == pid)
					f = &a->params[k];
			if (!f)
				return CTL_EINVAL;
			if (!val.p)
				val.p = val.end = sub.end;
			if (bytes_uint(&val, f->width, &v))
				return CTL_EINVAL;
			set_field(e, f->code, v);
			n++;
		}
	}
	if (n != a->n_params)
		return CTL_EINVAL;
	return CTL_OK;
}

static int decode_entry(struct pb_reader te, uint8_t op, struct ctl_entry *e)
{
	uint32_t num, wt, tid = 0, k, seen = 0;
	uint64_t v;
	struct pb_reader sub, matches[8], action = {NULL, NULL};
	int nm = 0, has_action = 0, is_default = 0, rc;
	const struct table_spec *t = NULL;
	memset(e, 0, sizeof(*e));
	e->op = op;
	while (te.p < te.end) {
		if (field(&te, &num, &wt, &v, &sub))
			return CTL_EINVAL;
		if (num == 1 && wt == 0)
			tid = (uint32_t)v;
		else if (num == 2 && wt == 2) {
			if (nm == 8)
				return CTL_EINVAL;
			matches[nm++] = sub;
		} else if (num == 3 && wt == 2) {
			action = sub;
			has_action = 1;
		} else if (num == 8 && wt == 0)
			is_default = v != 0;
	}
	for (k = 0; k < (uint32_t)n_schema_tables; k++)
		if (schema_tables[k].id == tid)
			t = &schema_tables[k];
	if (!t)
		return CTL_ENOENT;
	if (is_default)
		return 12; /* UNIMPLEMENTED */
	e->table = t->table;
	if (t->table == CTL_T_OUT_SESSION || t->table == CTL_T_IN_SESSION)
		e->proto = 6;
	for (k = 0; k < (uint32_t)nm; k++) {
		rc = decode_match(t, matches[k], e, &seen);
		if (rc)
			return rc;
	}
	if (seen != t->n_exact)
		return CTL_EINVAL;
	if (has_action) {
		rc = decode_action(t, action, e);
		if (rc)
			return rc;
	} else if (op != CTL_OP_DELETE) {
		return CTL_EINVAL;
	}
	return CTL_OK;
}

/* Walk a serialized WriteRequest; for each update call apply (or record the decode error). */
int pbw_write(const uint8_t *b, uint32_t len, int32_t *res, uint32_t max,
	      int (*apply)(void *ctx, const struct ctl_entry *e), void *ctx)
{
	struct pb_reader r = {b, b + len}, sub;
	uint32_t num, wt, n = 0;
	uint64_t v;
	if (!schema_loaded)
		return -1;
	while (r.p < r.end) {
		if (field(&r, &num, &wt, &v, &sub))
			return -1;
		if (num != 4 || wt != 2)
			continue;
		if (n == max)
			return -1;
		{
			/* Update { type = 1; entity = 2 } ; Entity { table_entry = 2 } */
			struct pb_reader u = sub, ent = {NULL, NULL}, te = {NULL, NULL}, s2;
			uint64_t type = 0;
			int has_ent = 0, has_te = 0;
			struct ctl_entry e;
			while (u.p < u.end) {
				if (field(&u, &num, &wt, &v, &s2))
					return -1;
				if (num == 1 && wt == 0)
					type = v;
				else if (num == 2 && wt == 2) {
					ent = s2;
					has_ent = 1;
				}
			}
			if (has_ent) {
				while (ent.p < ent.end) {
					if (field(&ent, &num, &wt, &v, &s2))
						return -1;
					if (num == 2 && wt == 2) {
						te = s2;
						has_te = 1;
					}
				}
			}
			if (!has_te)
				res[n] = 12; /* UNIMPLEMENTED: only table entries */
			else if (type < 1 || type > 3)
				res[n] = CTL_EINVAL;
			else {
				int rc = decode_entry(te, (uint8_t)type, &e);
				res[n] = rc ? rc : apply(ctx, &e);
			}
			n++;
		}
	}
	return (int)n;
}
