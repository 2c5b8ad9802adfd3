"""The daemon's side of the state store: what each event changed, committed in one go.

:mod:`dysco_proto.checkpoint` decides what of the agent is durable and exports it;
:mod:`controller.store` keeps it in SQLite. A :class:`Checkpointer` sits between them: after
each event :meth:`~Checkpointer.note` records what the event touched (sessions, port cursors,
the entries its actions write or remove, the replay window of the peer it heard from);
:meth:`~Checkpointer.commit` writes all of that since the last commit as one transaction (its
cost follows the number of changes, never the number of sessions); :meth:`~Checkpointer.load`
restores a previous instance's agent. The daemon decides *when* (before anything leaves the
process) and what to do when the store fails (``docs/controller.md``, Restart and
persistence).
"""

from __future__ import annotations

import json
from typing import Any

from controller.store import Change, StateStore
from dysco_pipeline import pipeline as pl
from dysco_proto.actions import Action, InstallEntry, ModifyEntry, RemoveEntry
from dysco_proto.agent import Agent
from dysco_proto.checkpoint import (
    CheckpointError,
    Tracker,
    dropped_requests,
    export_cursor,
    export_hop,
    export_meta,
    restore_parts,
)
from dysco_proto.entries import EntryKey, MappingEntry

Restored = tuple[list[Action], dict[EntryKey, MappingEntry]]


class Checkpointer:
    """Changes noted since the last commit, and the commit of them to one
    :class:`~controller.store.StateStore`.

    ``noted`` counts the notes taken and ``committed`` the count at the last commit: a send
    that carries the count of its emission needs a commit only if that is not committed yet.
    """

    def __init__(self, store: StateStore, agent_id: int) -> None:
        self.store = store
        self.agent_id = agent_id
        self.noted = 0
        self.committed = 0
        self.unsaved = False
        self._saved_meta: tuple[Any, ...] | None = None
        self._saved_replay: dict[str, tuple[int, int]] = {}
        self._dirty_hops: set[int] = set()
        self._dirty_pairs: set[tuple[str, str]] = set()
        self._dirty_entries: dict[EntryKey, MappingEntry | None] = {}
        self._pending_replay: dict[str, tuple[int, int]] = {}
        self._rng_state: Any = None
        self._rng_text = ""

    def note(self, agent: Agent, tracker: Tracker, actions: list[Action]) -> None:
        """Note what the last event changed: the sessions ``tracker`` saw it touch, the
        entries ``actions`` write or remove, the replay window of the latest peer."""
        hop_ids, pairs = tracker.take()
        self._dirty_hops |= hop_ids
        self._dirty_pairs |= pairs
        for a in actions:
            if isinstance(a, InstallEntry | ModifyEntry):
                self._dirty_entries[a.entry.key] = a.entry
            elif isinstance(a, RemoveEntry):
                self._dirty_entries[a.key] = None
        last = agent.codec.replay.latest()
        if last is not None and self._saved_replay.get(last[0]) != last[1:]:
            self._pending_replay[last[0]] = (last[1], last[2])
        self.unsaved = True
        self.noted += 1

    @property
    def changed(self) -> bool:
        """Sessions, port cursors or entries noted and not committed yet."""
        return bool(self._dirty_hops or self._dirty_pairs or self._dirty_entries)

    def commit(self, agent: Agent, tracker: Tracker) -> None:
        """Commit everything noted since the last commit as one transaction. On
        ``sqlite3.Error`` or :class:`~controller.store.StoreError` nothing is forgotten: the
        next commit retries it all."""
        c = Change()
        if self._dirty_hops:
            dropped = dropped_requests(agent)
            for hid in self._dirty_hops:
                hop = agent.records.get(hid)
                if hop is None:
                    c.hops_del.append(hid)
                else:
                    c.hops_put.append((hid, _dumps(export_hop(agent, hop, dropped))))
            tracker.take()  # the export's own reads
        for pair in self._dirty_pairs:
            cur = export_cursor(agent, pair)
            if cur is not None:
                c.cursors.append((pair[0], pair[1], cur))
        for key, entry in self._dirty_entries.items():
            if entry is None:
                c.entries_del.append(key_text(key))
            else:
                c.entries_put.append((key_text(key), _dumps(entry_json(entry, self.agent_id))))
        marks = _meta_marks(agent)
        if marks != self._saved_meta:
            c.meta = self._meta_text(agent, marks[-2])
        c.replay = [(s, t, b) for s, (t, b) in self._pending_replay.items()]
        self.store.commit(c)
        self._saved_meta = marks
        self._saved_replay.update(self._pending_replay)
        self._dirty_hops = set()
        self._dirty_pairs = set()
        self._dirty_entries = {}
        self._pending_replay = {}
        self.unsaved = False
        self.committed = self.noted

    def _meta_text(self, agent: Agent, rng_state: Any) -> str:
        """``export_meta(agent)`` as JSON; the random generator's state (625 integers, most of
        the row) is encoded again only when it moved (the key order differs, not the object)."""
        meta = export_meta(agent)
        rng = meta.pop("rng")
        if rng_state != self._rng_state:
            self._rng_text = _dumps(rng)
            self._rng_state = rng_state
        return _dumps(meta)[:-1] + ',"rng":' + self._rng_text + "}"

    def load(self, agent: Agent, device: str) -> Restored | None:
        """Open the store and restore a previous instance's state into ``agent`` (sessions,
        counters, cursors, replay windows); returns the restore actions and the entries the
        previous instance installed, or ``None`` for an empty store (then made ``device``'s).

        Raises :class:`~controller.store.StoreError`, :class:`CheckpointError` or
        ``ValueError`` for an unusable store (``agent`` is then half-restored: replace it).
        """
        self.store.open()
        loaded = self.store.load()
        if loaded is None:
            self.store.reset(device)
            return None
        if loaded.device != device:
            raise CheckpointError(f"state of device {loaded.device!r}")
        actions = restore_parts(agent, loaded.meta, loaded.hops, loaded.cursors)
        entries = {}
        for item in loaded.entries:
            try:
                e = entry_from_json(item)
            except Exception as err:  # any shape error of one stored entry
                raise CheckpointError(f"malformed entry {str(item)[:80]}: {err}") from None
            entries[e.key] = e
        for sender, top, bits in loaded.replay:
            agent.codec.replay.load(sender, top, bits)
            self._saved_replay[sender] = (top, bits)
        return actions, entries

    def forget_replay(self) -> None:
        """Forget the replay windows loaded from a store found unusable."""
        self._saved_replay = {}


def _meta_marks(agent: Agent) -> tuple[Any, ...]:
    """What the agent-wide record depends on (re-exported only when one of them moved)."""
    return (
        agent._next_record_id,
        agent._next_slot,
        agent._next_token,
        agent._msg_id,
        agent._req_number,
        agent._rng.getstate(),
        tuple(agent.right_done),
    )


def key_text(k: EntryKey) -> str:
    """An entry key as the store's primary key."""
    return f"{k.direction.value}|{k.match}"


def entry_json(e: MappingEntry, agent_id: int) -> list[Any]:
    """An entry as stored: its table entry (table, match, action, parameters)."""
    te = pl.entry_to_table(e, agent_id)
    return [te.table.value, dict(te.match), te.action.value, dict(te.params)]


def entry_from_json(item: list[Any]) -> MappingEntry:
    """The entry :func:`entry_json` stored."""
    return pl.entry_from_table(pl.TableEntry.build(item[0], item[1], item[2], item[3]))[1]


_dumps = json.JSONEncoder(separators=(",", ":")).encode  # one encoder, not one per call


__all__ = ["Checkpointer", "Restored", "entry_from_json", "entry_json", "key_text"]
