"""Leverage, margin mode and position mode on the venue before an entry (issue 13).

``settle(intent_id, venue)`` runs before an entry intent is claimed. What the entry wants is
the signal's ``leverage`` / ``margin_mode``, else the account's ``[accounts.NAME.futures]``
(per-symbol overrides first); ``position_mode`` comes from the account. It is compared with
what Tradewire remembers for (account, symbol) in ``futures_settings``; with nothing
remembered, with what the venue reports (ccxt ``fetch_leverage`` / ``fetch_margin_mode``).
Only what differs is set, with ccxt's ``set_position_mode``, ``set_margin_mode`` and
``set_leverage`` in that order (a margin-mode switch can reset the leverage), and remembered:
a setting is sent once, never again before each order.

A setting the venue refuses refuses the entry: its order is DENIED with the venue's message
and nothing is sent — never an order at the wrong leverage. A venue that cannot be reached
leaves the intent pending (the sweeper brings it back). ``position_mode = "hedge"`` is set
with the account's first entry in the symbol (Binance and Bybit refuse the switch while a
position is open: the entry is then refused with the venue's message).

No session is held across a venue call: read, call, then write.
"""

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.config_file import AccountConfig
from app.db import unit_of_work
from app.domain.money import fmt
from app.errors import OrderRejected, VenueError
from app.execution.lifecycle import guarded
from app.execution.venues.base import Venue
from app.persistence.models import Account, FuturesSettingRecord, OrderEventRecord, OrderIntentRecord, SignalRecord
from app.risk.futures import wanted

log = logging.getLogger(__name__)
FIELDS = ("position_mode", "margin_mode", "leverage")  # the order they are set in


@dataclass(frozen=True)
class Settled:
    """``go``: send the entry. Else ``refusal`` (deny it with this reason) or, when None, wait
    (the venue could not be reached). ``note`` says what was set or found, for the trace."""

    go: bool
    refusal: str | None = None
    note: str | None = None


GO = Settled(True)


@dataclass
class _Entry:
    account_id: uuid.UUID
    intent_id: uuid.UUID
    symbol: str
    want: dict[str, Any]
    remembered: dict[str, Any] | None
    refusal: str | None = None
    done: dict[str, Any] = field(default_factory=dict)


def settle(intent_id: uuid.UUID, venue: Venue) -> Settled:
    """Make the venue's settings for the intent's symbol what its entry wants (module docstring)."""
    if not getattr(venue, "supports_futures_settings", False):
        return GO
    entry = _load(intent_id, venue)
    if entry is None:
        return GO
    if entry.refusal is not None:
        return Settled(False, entry.refusal)
    todo = _differing(entry.want, entry.remembered)
    if not todo:
        return Settled(True, note=f"futures: {_words(entry.want)} already set on {venue.name}")
    if entry.remembered is None:
        todo = _differing(todo, _venue_reports(venue, entry.symbol))
    try:
        for name in FIELDS:
            if name in todo:
                _apply(venue, entry.symbol, name, todo[name], entry.want)
                entry.done[name] = todo[name]
    except OrderRejected as e:
        _remember(entry, venue)
        log.warning("intent %s: %s refused a futures setting: %s", intent_id, venue.name, e.message)
        return Settled(False, f"{venue.name} refused the futures settings ({_words(todo)}): {e.message}")
    except VenueError as e:
        _remember(entry, venue)
        log.warning("intent %s waits: futures settings on %s failed: %s", intent_id, venue.name, e.message)
        return Settled(False)
    _remember(entry, venue, complete=True)
    told = f"set {_words(entry.done)}" if entry.done else "found already set"
    return Settled(True, note=f"futures: {told} on {venue.name} ({_words(entry.want)})")


def note_on_order(order_id: uuid.UUID, settled: Settled) -> None:
    """The settings note as an event of the order (same status before and after), so the
    signal's trace shows what the entry traded at."""
    if settled.note is None:
        return
    with unit_of_work() as session:
        status = session.execute(select(OrderEventRecord.to_status).where(OrderEventRecord.order_id == order_id)
                                 .order_by(OrderEventRecord.id.desc()).limit(1)).scalar_one_or_none()
        if status is not None:
            session.add(OrderEventRecord(order_id=order_id, from_status=status, to_status=status,
                                         reason=settled.note, ts_event=datetime.now(UTC)))


def forget(session: Session, account_id: uuid.UUID, symbol: str) -> None:
    """Drop what is remembered for (account, symbol): the next entry reads the venue again."""
    session.execute(delete(FuturesSettingRecord).where(FuturesSettingRecord.account_id == account_id,
                                                       FuturesSettingRecord.symbol == symbol))


def _load(intent_id: uuid.UUID, venue: Venue) -> _Entry | None:
    with unit_of_work() as session:
        row = session.execute(
            select(OrderIntentRecord.account_id, OrderIntentRecord.symbol, OrderIntentRecord.purpose,
                   OrderIntentRecord.reduce_only, Account.settings, SignalRecord.payload)
            .join(Account, Account.id == OrderIntentRecord.account_id)
            .outerjoin(SignalRecord, SignalRecord.id == OrderIntentRecord.signal_id)
            .where(OrderIntentRecord.id == intent_id)
        ).one_or_none()
        if row is None or row.purpose != "entry" or row.reduce_only or not venue.is_contract(row.symbol):
            return None
        config = AccountConfig.model_validate(row.settings or {})
        payload = row.payload or {}
        remembered = session.execute(select(FuturesSettingRecord).where(
            FuturesSettingRecord.account_id == row.account_id, FuturesSettingRecord.symbol == row.symbol)
        ).scalar_one_or_none()
        known = {name: getattr(remembered, name) for name in FIELDS} if remembered is not None else None
    leverage = Decimal(str(payload["leverage"])) if payload.get("leverage") is not None else None
    want = wanted(config.futures, row.symbol, leverage, payload.get("margin_mode"))
    entry = _Entry(row.account_id, intent_id, row.symbol,
                   {"position_mode": config.futures.position_mode, "margin_mode": want.margin_mode,
                    "leverage": want.leverage}, known)
    if want.leverage is not None and want.max_leverage is not None and want.leverage > want.max_leverage:
        entry.refusal = (f"leverage {fmt(want.leverage)}x ({want.leverage_from}) exceeds max_leverage "
                         f"{fmt(want.max_leverage)}x for {row.symbol}")
    return entry


def _differing(want: dict[str, Any], known: dict[str, Any] | None) -> dict[str, Any]:
    """The wanted values (not None) that ``known`` does not already hold."""
    known = known or {}
    return {k: v for k, v in want.items() if v is not None and not _same(v, known.get(k))}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return a is not None and b is not None and Decimal(str(a)) == Decimal(str(b))
    return a == b


def _venue_reports(venue: Venue, symbol: str) -> dict[str, Any]:
    """The symbol's leverage and margin mode as the venue reports them ({} when it cannot say)."""
    try:
        state = guarded(venue, venue.futures_state, symbol)  # type: ignore[attr-defined]
    except VenueError as e:
        log.info("%s: futures settings of %s not readable (%s); they are set", venue.name, symbol, e.message)
        return {}
    return {"leverage": state.leverage, "margin_mode": state.margin_mode}


def _apply(venue: Any, symbol: str, name: str, value: Any, want: dict[str, Any]) -> None:
    if name == "position_mode":
        guarded(venue, venue.set_position_mode, symbol, value == "hedge")
    elif name == "margin_mode":
        guarded(venue, venue.set_margin_mode, symbol, value, want.get("leverage"))
    else:
        guarded(venue, venue.set_leverage, symbol, value)


def _remember(entry: _Entry, venue: Venue, *, complete: bool = False) -> None:
    """Remember what is now known to be on the venue: what was set, and (``complete``) every
    wanted value (set now or found already so)."""
    values = dict(entry.remembered or {})
    values |= {k: v for k, v in entry.want.items() if v is not None} if complete else entry.done
    if not values:
        return
    now = datetime.now(UTC)
    row = {name: values.get(name) for name in FIELDS} | {"intent_id": entry.intent_id, "updated_at": now,
                                                         "note": f"set for intent {entry.intent_id} on {venue.name}"}
    with unit_of_work() as session:
        session.execute(pg_insert(FuturesSettingRecord).values(id=uuid.uuid4(), account_id=entry.account_id,
                                                               symbol=entry.symbol, **row)
                        .on_conflict_do_update(index_elements=["account_id", "symbol"], set_=row))


def _words(values: dict[str, Any]) -> str:
    parts = []
    if values.get("position_mode"):
        parts.append(f"position mode {values['position_mode']}")
    if values.get("margin_mode"):
        parts.append(f"margin {values['margin_mode']}")
    if values.get("leverage") is not None:
        parts.append(f"leverage {fmt(Decimal(str(values['leverage'])))}x")
    return ", ".join(parts) or "nothing"
