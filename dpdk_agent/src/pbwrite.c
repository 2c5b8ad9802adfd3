/* P4Runtime WriteRequest decoding in C (the fast install path).
 *
 * The P4Runtime server (Python) hands the agent the serialized p4.v1.WriteRequest as it came
 * off the wire; the agent decodes the updates (protobuf wire format, only the fields the Dysco
 * pipeline uses) with a schema the server sent when the pipeline was set (P4Info ids ->
 * agent table/action/field codes and bit widths), applies them in order and returns one
 * google.rpc code per update. Semantics equal those of dysco_targets/entities.py CtlCodec.
 *
 * Before anything is applied, every update is walked once (check_update): the request must be
 * in the plain form a protobuf serializer writes (only the fields below, each singular field
 * at most once, table entries only, well-formed varints); anything else makes pbw_write
 * return -1 with nothing applied, and the server then takes its Python path (full parse, its
 * own entry check). A table entry in that form is checked with the P4Runtime rules of
 * controller/p4rt/validate.py (EntryValidator.diagnose), in the same order and with the same
 * google.rpc codes (empty bytestring, duplicate or unknown field/parameter, no match value,
 * a match of another kind than the field's, bad prefix length, unknown action, priority on a table without priorities: INVALID_ARGUMENT;
 * a bytestring longer than ceil(bitwidth / 8) or a value wider than the field: OUT_OF_RANGE;
 * unknown table: NOT_FOUND); an entry that fails is not applied, and the server runs its
 * Python check only on the updates that failed (for the message).
 */
#include "pbwrite.h"

#include <stdlib.h>
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
		if (s == 63 && b > 1)
			return -1; /* more than 64 bits */
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

/* ---- the entry check (before anything is applied) ------------------------------------------ */
#define PB_OUT_OF_RANGE 11
#define MAX_ENTRY_MATCH 16

struct pb_match {
	uint32_t fid;
	uint8_t kind; /* FieldMatch field number of the match kind: 2 exact, 3 ternary, 4 lpm,
			 6 range, 7 optional; 0 none */
	int32_t plen;
	int fk; /* index in the table's match specs (set by check_rules) */
	struct pb_reader a, b; /* value (ternary: value, mask; range: low, high) */
};

struct pb_param {
	uint32_t pid;
	int fk; /* index in the action's parameter specs (set by check_rules) */
	struct pb_reader value;
};

struct pb_entry {
	uint32_t tid;
	int32_t priority;
	int n_match, has_table_action, has_action, is_default, n_params;
	uint32_t aid;
	const struct table_spec *t;  /* set by check_rules */
	const struct action_spec *a; /* set by check_rules when has_action */
	struct pb_match match[MAX_ENTRY_MATCH];
	struct pb_param params[MAX_FIELDS];
};

/* Next field of a message in plain form: at most one occurrence of each singular field
 * (bit num of *once; num < 32), with the wire type want. -1 otherwise. */
static int plain_field(struct pb_reader *r, uint32_t *once, uint32_t *num, uint64_t *v,
		       struct pb_reader *sub)
{
	uint32_t wt;
	if (field(r, num, &wt, v, sub))
		return -1;
	if (*num == 0 || *num >= 32 || (*once & (1u << *num)))
		return -1;
	return (int)wt;
}

/* Exact{value=1}, Optional{value=1}, LPM{value=1, prefix_len=2}, Ternary{value=1, mask=2},
 * Range{low=1, high=2}: bytes fields, LPM's field 2 an int32. */
static int walk_kind(struct pb_reader k, struct pb_match *m)
{
	uint32_t once = 0, num;
	uint64_t v;
	struct pb_reader sub;
	while (k.p < k.end) {
		int wt = plain_field(&k, &once, &num, &v, &sub);
		if (num == 1 && wt == 2)
			m->a = sub;
		else if (num == 2 && m->kind == 4 && wt == 0)
			m->plen = (int32_t)(uint32_t)v;
		else if (num == 2 && (m->kind == 3 || m->kind == 6) && wt == 2)
			m->b = sub;
		else
			return -1;
		once |= 1u << num;
	}
	return 0;
}

/* FieldMatch{field_id=1, exact=2 | ternary=3 | lpm=4 | range=6 | optional=7}: one kind. */
static int walk_match(struct pb_reader r, struct pb_match *m)
{
	uint32_t once = 0, num;
	uint64_t v;
	struct pb_reader sub;
	m->fid = 0;
	m->kind = 0;
	m->plen = 0;
	m->a.p = m->a.end = m->b.p = m->b.end = r.end;
	while (r.p < r.end) {
		int wt = plain_field(&r, &once, &num, &v, &sub);
		if (num == 1 && wt == 0)
			m->fid = (uint32_t)v;
		else if ((num == 2 || num == 3 || num == 4 || num == 6 || num == 7) && wt == 2) {
			if (m->kind)
				return -1; /* two kinds: the last one would win; not plain */
			m->kind = (uint8_t)num;
			if (walk_kind(sub, m))
				return -1;
		} else
			return -1;
		once |= 1u << num;
	}
	return 0;
}

/* TableAction{action=1}, Action{action_id=1, params=4}, Param{param_id=2, value=3}. */
static int walk_action(struct pb_reader ta, struct pb_entry *pe)
{
	uint32_t once = 0, num;
	uint64_t v;
	struct pb_reader sub, act = {NULL, NULL};
	while (ta.p < ta.end) {
		int wt = plain_field(&ta, &once, &num, &v, &sub);
		if (num != 1 || wt != 2)
			return -1;
		once |= 1u << num;
		act = sub;
		pe->has_action = 1;
	}
	if (!pe->has_action)
		return 0;
	once = 0;
	while (act.p < act.end) {
		int wt = plain_field(&act, &once, &num, &v, &sub);
		if (num == 1 && wt == 0) {
			pe->aid = (uint32_t)v;
			once |= 1u << num;
		} else if (num == 4 && wt == 2) {
			struct pb_param *q;
			uint32_t ponce = 0, pn;
			struct pb_reader s2;
			if (pe->n_params == MAX_FIELDS)
				return -1;
			q = &pe->params[pe->n_params++];
			q->pid = 0;
			q->value.p = q->value.end = sub.end;
			while (sub.p < sub.end) {
				int pw = plain_field(&sub, &ponce, &pn, &v, &s2);
				if (pn == 2 && pw == 0)
					q->pid = (uint32_t)v;
				else if (pn == 3 && pw == 2)
					q->value = s2;
				else
					return -1;
				ponce |= 1u << pn;
			}
		} else
			return -1;
	}
	return 0;
}

/* TableEntry{table_id=1, match=2, action=3, priority=4, controller_metadata=5,
 * is_default_action=8, idle_timeout_ns=9}. */
static int walk_entry(struct pb_reader te, struct pb_entry *pe)
{
	uint32_t once = 0, num;
	uint64_t v;
	struct pb_reader sub;
	pe->tid = 0;
	pe->priority = 0;
	pe->n_match = pe->has_table_action = pe->has_action = pe->is_default = pe->n_params = 0;
	pe->aid = 0;
	pe->t = NULL;
	pe->a = NULL;
	while (te.p < te.end) {
		int wt = plain_field(&te, &once, &num, &v, &sub);
		if (num == 2 && wt == 2) {
			if (pe->n_match == MAX_ENTRY_MATCH || walk_match(sub, &pe->match[pe->n_match]))
				return -1;
			pe->n_match++;
			continue; /* repeated */
		}
		if (num == 1 && wt == 0)
			pe->tid = (uint32_t)v;
		else if (num == 3 && wt == 2) {
			pe->has_table_action = 1;
			if (walk_action(sub, pe))
				return -1;
		} else if (num == 4 && wt == 0)
			pe->priority = (int32_t)(uint32_t)v;
		else if (num == 8 && wt == 0)
			pe->is_default = v != 0;
		else if ((num == 5 || num == 9) && wt == 0)
			; /* controller_metadata, idle_timeout_ns */
		else
			return -1;
		once |= 1u << num;
	}
	return 0;
}

/* P4Runtime bytestring rules: non-empty, at most ceil(width / 8) bytes, the value fits. */
static int check_bytes(struct pb_reader b, uint32_t width)
{
	size_t n = (size_t)(b.end - b.p), nbytes = (width + 7) / 8;
	if (n == 0)
		return CTL_EINVAL;
	if (n > nbytes)
		return PB_OUT_OF_RANGE;
	if (n == nbytes && (width % 8) && (b.p[0] >> (width % 8)))
		return PB_OUT_OF_RANGE;
	return CTL_OK;
}

/* Index of id in specs[0..n) or -1 (P4Info ids are usually 1..n in order: tried first). */
static inline int spec_index(const struct field_spec *specs, int n, uint32_t id)
{
	int k;
	if (id - 1 < (uint32_t)n && specs[id - 1].id == id)
		return (int)id - 1;
	for (k = 0; k < n; k++)
		if (specs[k].id == id)
			return k;
	return -1;
}

/* EntryValidator.diagnose (controller/p4rt/validate.py), rule for rule and in its order.
 * The schema's tables have exact and LPM fields only (the pipeline contract), so none needs
 * a priority. */
static int check_rules(struct pb_entry *pe)
{
	const struct table_spec *t = NULL;
	const struct action_spec *a = NULL;
	uint64_t seen = 0, pseen = 0;
	int i, k, rc;
	for (k = 0; k < n_schema_tables; k++)
		if (schema_tables[k].id == pe->tid)
			t = &schema_tables[k];
	if (!t)
		return CTL_ENOENT;
	pe->t = t;
	for (i = 0; i < pe->n_match; i++) {
		struct pb_match *m = &pe->match[i];
		int fk = m->fk = spec_index(t->match, t->n_match, m->fid);
		if (fk < 0)
			return CTL_EINVAL; /* unknown match field */
		if (seen & (1ull << fk))
			return CTL_EINVAL; /* given twice */
		seen |= 1ull << fk;
		if (m->kind && m->kind != (t->match[fk].lpm ? 4 : 2))
			return CTL_EINVAL; /* a match of another kind than the field's */
		switch (m->kind) {
		case 4:
			if (m->plen <= 0 || (uint32_t)m->plen > t->match[fk].width)
				return CTL_EINVAL; /* bad prefix length */
			/* fall through */
		case 2:
		case 7:
			if ((rc = check_bytes(m->a, t->match[fk].width)))
				return rc;
			break;
		case 3:
		case 6:
			if ((rc = check_bytes(m->a, t->match[fk].width)) ||
			    (rc = check_bytes(m->b, t->match[fk].width)))
				return rc;
			break;
		default:
			return CTL_EINVAL; /* no match value */
		}
	}
	if (pe->priority != 0)
		return CTL_EINVAL; /* a priority on a table without priorities */
	if (!pe->has_action)
		return CTL_OK;
	for (k = 0; k < n_schema_actions; k++)
		if (schema_actions[k].id == pe->aid)
			a = &schema_actions[k];
	if (!a)
		return CTL_EINVAL; /* unknown action */
	pe->a = a;
	for (i = 0; i < pe->n_params; i++) {
		struct pb_param *q = &pe->params[i];
		int fk = q->fk = spec_index(a->params, a->n_params, q->pid);
		if (fk < 0)
			return CTL_EINVAL; /* unknown parameter */
		if (pseen & (1ull << fk))
			return CTL_EINVAL; /* given twice */
		pseen |= 1ull << fk;
		if ((rc = check_bytes(q->value, a->params[fk].width)))
			return rc;
	}
	return CTL_OK;
}

/* Update{type=1, entity=2}, Entity{table_entry=2}: -1 if not in plain form (nothing is
 * applied then), else the entry check's code (0: decode and apply it); *type the update's. */
static int check_update(struct pb_reader u, struct pb_entry *pe, int32_t *type)
{
	uint32_t once = 0, num;
	uint64_t v;
	struct pb_reader sub, ent = {NULL, NULL}, te = {NULL, NULL};
	int has_ent = 0, has_te = 0;
	*type = 0;
	while (u.p < u.end) {
		int wt = plain_field(&u, &once, &num, &v, &sub);
		if (num == 1 && wt == 0)
			*type = (int32_t)(uint32_t)v; /* an enum: int32 */
		else if (num == 2 && wt == 2) {
			ent = sub;
			has_ent = 1;
		} else
			return -1;
		once |= 1u << num;
	}
	if (!has_ent)
		return -1; /* no entity: the server's path */
	once = 0;
	while (ent.p < ent.end) {
		int wt = plain_field(&ent, &once, &num, &v, &sub);
		if (num != 2 || wt != 2)
			return -1; /* other entities (clone sessions, registers...): the server's path */
		once |= 1u << num;
		te = sub;
		has_te = 1;
	}
	if (!has_te || walk_entry(te, pe))
		return -1;
	return check_rules(pe);
}

/* ---- the agent entry of a checked TableEntry ------------------------------------------- */
/* pe passed check_rules (fields and parameters known, once each, of the field's kind, values
 * within their widths). The rest of dysco_targets/entities.py CtlCodec: default actions are
 * fixed (UNIMPLEMENTED); every exact field, an action of the table the agent has, every
 * parameter, and an action unless DELETE (INVALID_ARGUMENT). */
static int decode_entry(const struct pb_entry *pe, uint8_t op, struct ctl_entry *e)
{
	const struct table_spec *t = pe->t;
	const struct action_spec *a = pe->a;
	uint32_t seen = 0;
	uint64_t v;
	int i, k;
	memset(e, 0, sizeof(*e));
	e->op = op;
	if (pe->is_default)
		return 12; /* UNIMPLEMENTED */
	e->table = t->table;
	if (t->table == CTL_T_OUT_SESSION || t->table == CTL_T_IN_SESSION)
		e->proto = 6;
	for (i = 0; i < pe->n_match; i++) {
		const struct pb_match *m = &pe->match[i];
		const struct field_spec *f = &t->match[m->fk];
		if (bytes_uint(&m->a, f->width, &v))
			return CTL_EINVAL;
		if (f->lpm) {
			e->match.dip = (uint32_t)v;
			e->plen = (uint8_t)m->plen;
		} else {
			set_field(e, f->code, v);
			seen++;
		}
	}
	if (seen != t->n_exact)
		return CTL_EINVAL;
	if (!pe->has_table_action)
		return op == CTL_OP_DELETE ? CTL_OK : CTL_EINVAL;
	if (!pe->has_action)
		return CTL_EINVAL;
	for (k = 0; k < t->n_actions; k++)
		if (t->actions[k] == pe->aid)
			break;
	if (k == t->n_actions || !a || !a->action)
		return CTL_EINVAL;
	e->action = a->action;
	for (i = 0; i < pe->n_params; i++) {
		const struct field_spec *f = &a->params[pe->params[i].fk];
		if (bytes_uint(&pe->params[i].value, f->width, &v))
			return CTL_EINVAL;
		set_field(e, f->code, v);
	}
	if (pe->n_params != a->n_params)
		return CTL_EINVAL;
	return CTL_OK;
}

/* Walk a serialized WriteRequest: check and decode every update first (-1 with nothing
 * applied if one is not in plain form or there are more than max), then apply those that
 * passed, in order. */
int pbw_write(const uint8_t *b, uint32_t len, int32_t *res, uint32_t max,
	      int (*apply)(void *ctx, const struct ctl_entry *e), void *ctx)
{
	static struct ctl_entry *decoded;
	static uint32_t decoded_cap;
	struct pb_reader r = {b, b + len}, sub;
	uint32_t num, wt, n = 0, i;
	uint64_t v;
	struct pb_entry pe;
	if (!schema_loaded)
		return -1;
	while (r.p < r.end) {
		if (field(&r, &num, &wt, &v, &sub))
			return -1;
		if (num == 4 && wt == 2)
			n++;
	}
	if (n > max)
		return -1;
	if (n > decoded_cap) {
		uint32_t cap = n < 1024 ? 1024 : n;
		struct ctl_entry *d = realloc(decoded, (size_t)cap * sizeof(*d));
		if (!d)
			return -1;
		decoded = d;
		decoded_cap = cap;
	}
	r.p = b;
	i = 0;
	while (r.p < r.end) {
		int32_t type;
		int rc;
		if (field(&r, &num, &wt, &v, &sub))
			return -1;
		if (num != 4 || wt != 2)
			continue;
		rc = check_update(sub, &pe, &type);
		if (rc < 0)
			return -1;
		if (rc == CTL_OK)
			rc = type < 1 || type > 3 ? CTL_EINVAL
						  : decode_entry(&pe, (uint8_t)type, &decoded[i]);
		res[i++] = rc;
	}
	for (i = 0; i < n; i++)
		if (res[i] == CTL_OK)
			res[i] = apply(ctx, &decoded[i]);
	return (int)n;
}
