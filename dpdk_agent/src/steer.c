/* Two-path steering of an OUT packet on an out_two_path entry (SlotState, SLOT_OP_OUT;
 * p4src/v1model/include/slot_state.p4): old path, new path, or SPLIT (punted: one pass cannot
 * send it). */
#include "pipe_internal.h"

/* Whether a SACK block of pkt ends after lo (new_ack) or starts before it (old path). */
static int sack_ends_after(const struct packet *pkt, uint32_t lo)
{
	const uint8_t *tcp = pkt->data + pkt->l4_off;
	uint32_t i;
	for (i = 0; i < pkt->sack_blocks; i++)
		if (seq_gt(rd32(tcp + pkt->sack_off + 8 * i + 4), lo))
			return 1;
	return 0;
}

static int sack_starts_before(const struct packet *pkt, uint32_t lo)
{
	const uint8_t *tcp = pkt->data + pkt->l4_off;
	uint32_t i;
	for (i = 0; i < pkt->sack_blocks; i++)
		if (seq_gt(lo, rd32(tcp + pkt->sack_off + 8 * i)))
			return 1;
	return 0;
}

/* The path of data [seq, seq + seq_len) by the cutoff: PATH_OLD, PATH_NEW or PATH_SPLIT (the
 * data straddles the cutoff). acks_new: a pure ack that acks new-path data, or sent once the
 * host acked all of the peer's old-path data, goes the new way. */
static int path_by_cut(const struct slot_regs *regs, uint32_t seq, uint32_t seq_len,
		       int acks_new)
{
	if (seq_len == 0)
		return acks_new ? PATH_NEW : PATH_OLD;
	if (!(regs->flags & RV_CUT) || !seq_gt(seq + seq_len, regs->cut))
		return PATH_OLD;
	return seq_ge(seq, regs->cut) ? PATH_NEW : PATH_SPLIT;
}

/* Returns PATH_OLD, PATH_NEW or PATH_SPLIT. Every non-RST ack raises old_ack_hi by the ack the
 * old path sees (split or not). */
int steer_two_path(struct slot_regs *regs, const struct twopath_entry *twopath,
		   const struct packet *pkt, uint32_t seq, uint32_t ack, uint32_t seq_len)
{
	int has_ack = !!(pkt->tcp_flags & TCP_ACK);
	int lo_valid = !!(regs->flags & RV_NEW_RCVD_LO);
	uint32_t lo = regs->new_rcvd_lo;
	int acks_new = has_ack && lo_valid && seq_gt(ack, lo); /* acks data of the new path */
	uint32_t old_path_ack = acks_new ? lo : ack;
	int path;

	if (pkt->tcp_flags & TCP_RST)
		return PATH_SPLIT;
	/* peer_acked: the old path's far end may have folded, so pure acks leave it (it gets one
	 * copy if it has not seen the ack: SPLIT below) */
	path = path_by_cut(regs, seq, seq_len,
			   seq_len == 0 && has_ack && (acks_new || peer_acked(regs, twopath)));
	/* an old-path pure ack carries seq min(seq, cut) (pipeline.md 5.2): one above the cut
	 * needs its seq rewritten */
	if (path == PATH_OLD && seq_len == 0 && (regs->flags & RV_CUT) && seq_gt(seq, regs->cut))
		path = PATH_SPLIT;
	if (!has_ack)
		return path;
	if (path == PATH_OLD) {
		if (acks_new || (lo_valid && sack_ends_after(pkt, lo)))
			path = PATH_SPLIT;
	} else if (path == PATH_NEW) {
		if (!(regs->flags & RV_OLD_ACK_HI) || seq_gt(old_path_ack, regs->old_ack_hi) ||
		    (lo_valid && sack_starts_before(pkt, lo)))
			path = PATH_SPLIT;
	}
	regs->old_ack_hi = reg_max(regs, RV_OLD_ACK_HI, regs->old_ack_hi, old_path_ack);
	return path;
}
