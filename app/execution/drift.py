"""Positions checked against the venue (issue 13), one account per call from the reconciler.

``check_account`` compares the ledger's positions (``positions``) with what the venue holds:
contract positions from ccxt ``fetch_positions``; on spot, the base currency's balance from
the last ``fetch_balance`` snapshot (``balances``, written by the same reconciler pass) —
a spot wallet may hold more than Tradewire bought, so only *less* is a drift. A difference is a
drift — a liquidation, a manual close or trade on the exchange, an alert whose order the
ledger missed — and becomes one open ``position_drifts`` row per (account, symbol, position
side) with a ``position_drift`` notification when it appears or changes; the row is resolved
when the two agree again. A hedge-mode account's long and short positions in a symbol are
compared side by side (the venue's ``hedged`` positions with ccxt's ``side``).

``sync_mode`` (per account): ``report`` (default) only reports. ``adopt`` makes the ledger
follow the venue once the same drift is seen on two passes in a row (a fill that was still
being recorded during the first pass cannot be adopted twice): the position row is set to the
venue's quantity and entry price — an adjustment recorded in the drift row (``action`` adopted),
never a fill, so fills, fees and realised PnL stay what the venue reported. A position adopted
as closed emits ``position.flat``, so its protective orders and exit ladders are cancelled as
after any other close.

Symbols with an entry on its way (intent pending or submitting, entry order not final) are
left for the next pass: their position is moving.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app import events
from app.config_file import AccountConfig
from app.db import unit_of_work
from app.domain.enums import IntentStatus
from app.domain.money import fmt
from app.domain.orders import OPEN_STATE_VALUES
from app.domain.symbols import base_quote
from app.execution import futures
from app.execution.ledger import NET
from app.execution.lifecycle import guarded
from app.execution.venues.base import Venue
from app.notify import notify_on_commit
from app.persistence.models import (
    Account,
    BalanceRecord,
    FuturesSettingRecord,
    OrderIntentRecord,
    OrderRecord,
    PositionDriftRecord,
    PositionRecord,
)

log = logging.getLogger(__name__)
# A spot wallet may hold slightly less than the fills say when a fee was taken in the base
# currency; below this fraction of the position a shortfall is not reported.
SPOT_TOLERANCE = Decimal("0.005")


@dataclass(frozen=True)
class Drift:
    symbol: str
    ledger: Decimal
    venue: Decimal
    entry_price: Decimal | None
    kind: str
    detail: str
    position_side: str = NET

    @property
    def key(self) -> tuple[str, str]:
        return self.symbol, self.position_side


Key = tuple[str, str]  # (symbol, position side): "net", or "long" / "short" in hedge mode


def check_account(account_id: uuid.UUID, venue: Venue) -> int:
    """Compare one account's positions with ``venue`` and record what differs (module
    docstring). Returns the number of new drifts. Raises ``VenueError`` when the venue
    cannot be read (the reconciler logs it and goes on)."""
    fetch = getattr(venue, "fetch_positions", None)
    reported = guarded(venue, fetch) if fetch is not None and venue.remote else None
    with unit_of_work() as session:
        account = session.get(Account, account_id)
        if account is None:
            return 0
        config = AccountConfig.model_validate(account.settings or {})
        ledger = {(s, side): q for s, side, q in session.execute(
            select(PositionRecord.symbol, PositionRecord.position_side, PositionRecord.quantity)
            .where(PositionRecord.account_id == account_id)).all()}
        busy = _busy(session, account_id)
        found = _contract_drifts(venue, ledger, reported) + _spot_drifts(session, venue, account_id, ledger)
        found = [d for d in found if d.symbol not in busy]
        if reported:
            _forget_contradicted(session, account_id, reported)
        return _record(session, account, venue.name, config.sync_mode, found, busy)


def _contract_drifts(venue: Any, ledger: dict[Key, Decimal], reported: list | None) -> list[Drift]:
    if reported is None:
        return []
    on_venue = {(p.symbol, p.position_side): p for p in reported}
    keys = {k for k, q in ledger.items() if q and venue.is_contract(k[0])} | set(on_venue)
    drifts = []
    for key in sorted(keys):
        ours, theirs = ledger.get(key, Decimal(0)), on_venue.get(key)
        venue_q = theirs.quantity if theirs is not None else Decimal(0)
        if ours != venue_q:
            drifts.append(_classify(key[0], ours, venue_q, theirs.entry_price if theirs is not None else None, key[1]))
    return drifts


def _spot_drifts(session: Session, venue: Any, account_id: uuid.UUID, ledger: dict[Key, Decimal]) -> list[Drift]:
    held = {s: q for (s, _), q in ledger.items()
            if q > 0 and hasattr(venue, "is_contract") and not venue.is_contract(s)}
    if not held or not venue.remote:
        return []
    balances = dict(session.execute(select(BalanceRecord.currency, BalanceRecord.total)
                                    .where(BalanceRecord.account_id == account_id)).all())
    drifts = []
    for symbol, quantity in sorted(held.items()):
        balance = balances.get(base_quote(symbol)[0], Decimal(0))
        if balance < quantity * (1 - SPOT_TOLERANCE):
            drifts.append(_classify(symbol, quantity, balance, None))
    return drifts


def _classify(symbol: str, ledger: Decimal, venue: Decimal, entry: Decimal | None, side: str = NET) -> Drift:
    which = f" ({side} position)" if side != NET else ""
    said = f"the ledger holds {fmt(ledger)} {symbol}{which}, the venue {fmt(venue)}"
    if venue == 0:
        return Drift(symbol, ledger, venue, entry, "closed_on_venue",
                     f"{said}: closed on the venue (liquidation, or closed by hand on the exchange)", side)
    if ledger == 0:
        return Drift(symbol, ledger, venue, entry, "unknown_position",
                     f"{said}: a position the ledger does not know (a trade by hand, or a missed alert)", side)
    kind = "side_mismatch" if (ledger > 0) != (venue > 0) else "size_mismatch"
    return Drift(symbol, ledger, venue, entry, kind, f"{said}: changed on the venue outside Tradewire", side)


def _busy(session: Session, account_id: uuid.UUID) -> set[str]:
    """Symbols whose position is moving: an entry intent pending or submitting, or an entry
    order not final (protective orders resting on the venue do not count)."""
    I, O = OrderIntentRecord, OrderRecord
    live = [IntentStatus.PENDING.value, IntentStatus.SUBMITTING.value]
    return set(session.execute(
        select(I.symbol).outerjoin(O, O.intent_id == I.id)
        .where(I.account_id == account_id, I.purpose == "entry",
               or_(I.status.in_(live), O.status.in_(OPEN_STATE_VALUES)))
    ).scalars())


def _forget_contradicted(session: Session, account_id: uuid.UUID, reported: list) -> None:
    """A remembered leverage the venue's position contradicts (changed by hand): forgotten,
    so the next entry sets it again."""
    remembered = dict(session.execute(select(FuturesSettingRecord.symbol, FuturesSettingRecord.leverage)
                                      .where(FuturesSettingRecord.account_id == account_id)).all())
    for position in reported:
        known = remembered.get(position.symbol)
        if known is not None and position.leverage is not None and known != position.leverage:
            log.warning("leverage of %s changed on the venue (%s, remembered %s): it is set again on the next entry",
                        position.symbol, fmt(position.leverage), fmt(known))
            futures.forget(session, account_id, position.symbol)


def _record(session: Session, account: Account, venue: str, sync_mode: str, found: list[Drift],
            busy: set[str]) -> int:
    now = datetime.now(UTC)
    open_rows = {(r.symbol, r.position_side): r for r in session.execute(select(PositionDriftRecord).where(
        PositionDriftRecord.account_id == account.id, PositionDriftRecord.resolved_at.is_(None))).scalars()}
    new = 0
    for drift in found:
        row = open_rows.pop(drift.key, None)
        if row is not None and (row.ledger_quantity, row.venue_quantity) == (drift.ledger, drift.venue):
            row.last_seen_at = now
            if sync_mode == "adopt":
                _adopt(session, account.id, drift, row, now)
            continue
        if row is not None:
            row.resolved_at = now
            session.flush()  # one open row per (account, symbol, position side)
        session.add(PositionDriftRecord(
            id=uuid.uuid4(), account_id=account.id, venue=venue, symbol=drift.symbol,
            position_side=drift.position_side, kind=drift.kind,
            ledger_quantity=drift.ledger, venue_quantity=drift.venue, venue_entry_price=drift.entry_price,
            sync_mode=sync_mode, action="reported", detail=drift.detail, detected_at=now, last_seen_at=now))
        _notify(session, account.name, venue, sync_mode, drift)
        log.warning("position drift on %s, account %s: %s", venue, account.name, drift.detail)
        new += 1
    for (symbol, _), row in open_rows.items():
        if symbol not in busy:
            row.resolved_at = now
    return new


def _adopt(session: Session, account_id: uuid.UUID, drift: Drift, row: PositionDriftRecord, now: datetime) -> None:
    """The ledger follows the venue: the position set to the venue's quantity (and entry
    price), marked on the drift row; realised PnL and fills untouched."""
    position = session.execute(select(PositionRecord).where(
        PositionRecord.account_id == account_id, PositionRecord.symbol == drift.symbol,
        PositionRecord.position_side == drift.position_side).with_for_update()
    ).scalar_one_or_none()
    if position is None:
        position = PositionRecord(account_id=account_id, symbol=drift.symbol, position_side=drift.position_side,
                                  quantity=Decimal(0))
        session.add(position)
    elif position.quantity != drift.ledger:
        return  # the ledger moved since it was read: the next pass looks again
    entry = drift.entry_price if drift.venue else None
    position.quantity = drift.venue
    position.average_price = entry if entry is not None or drift.venue == 0 else position.average_price
    row.action, row.resolved_at = "adopted", now
    row.detail = f"{row.detail}; adopted: ledger position {fmt(drift.ledger)} -> {fmt(drift.venue)} (an adjustment, not a fill)"
    if drift.venue == 0:  # closed on the venue: what protected it goes (protective orders, exit ladders)
        side = {} if drift.position_side == NET else {"position_side": drift.position_side}
        events.emit(session, events.POSITION_FLAT, {"account_id": str(account_id), "symbol": drift.symbol,
                                                    "venue": row.venue, "adopted": True, **side})
    log.warning("position of %s adopted from the venue: %s -> %s", drift.symbol, fmt(drift.ledger), fmt(drift.venue))


def _notify(session: Session, account: str, venue: str, sync_mode: str, drift: Drift) -> None:
    notify_on_commit(session, "position_drift", {
        "account": account, "venue": venue, "symbol": drift.symbol, "position_side": drift.position_side,
        "kind": drift.kind,
        "ledger_quantity": drift.ledger, "venue_quantity": drift.venue, "sync_mode": sync_mode,
        "detail": drift.detail,
    })
