"""Exit ladders: an entry's take-profits, stop-loss, break-even move and trailing stop
(``app.domain.ladder`` is the model and its state machine), native on the venue or emulated
by Tradewire from market data.

* On ``entry.filled`` of an entry whose signal (or else strategy) has an ``exit_ladder``, the
  ladder's row is written (``exit_ladders``, id uuid5 of the entry intent): sized on what the
  entry has filled, priced from its average fill. Each later fill of the same entry (a
  partially filled limit) re-sizes it. The entry's own ``stop_loss`` is the ladder's unless the
  ladder names one; no separate protective orders are written for it.
* ``mode`` ``native`` where the venue can hold the orders (a real venue whose adapter
  ``supports_protective_orders`` for the symbol: Bybit / OKX perpetuals, Binance futures): its
  take-profits and stop rest on the venue as reduce-only trigger orders and it moves on their
  outcomes (``app.followups.native_ladder``), so they act while Tradewire is down. Its trailing
  stop, if any, follows market data here (``step`` → ``native_ladder.follow_price``): each
  raise of the trail replaces the stop order on the venue.
* ``mode`` ``emulated`` elsewhere (the paper venue, Binance spot): ``on_market_update(source,
  symbol)`` — a listener of the market-data streamer,
  registered by the ``tradewire marketdata`` process — advances each active ladder on the
  symbol with the fresh price. A step is written in one transaction: the ladder's new state
  (only over the version it was computed from, so one trigger acts once however many
  processes or restarts see it), a reduce-only market intent per exit (id uuid5 of the ladder
  and the step: written at most once) with its ``intent.ready``, a ``ladder.step`` event on the
  signal (its trace) and an ``exit_ladder`` notification. Exits are market orders cut to the
  position by the execution service (``reduce_only``), so an exit that races a manual close
  never opens a new position.
* On ``position.flat``, or when the listener finds the position closed or reversed by any other
  path (an exit alert, a manual close adopted by the reconciler), what is left is cancelled
  (native: with its orders on the venue; the scheduler's ``native_ladder.check_positions``
  covers a close adopted from the venue).
"""

import logging
import time
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from app import events
from app.config_file import AccountConfig, market_data_source
from app.db import unit_of_work
from app.domain import ladder as model
from app.domain.enums import IntentStatus, OrderSide, OrderType
from app.domain.intents import client_order_id_for
from app.domain.marketdata import Quote
from app.marketdata import cache
from app.marketdata.sources import source_config
from app.errors import TemporaryVenueError
from app.followups import native_ladder
from app.followups.ladder_rows import columns, position_gone, record, state_of, write
from app.persistence.models import (
    Account,
    ExitLadderRecord,
    OrderIntentRecord,
    OrderRecord,
    SignalRecord,
    Strategy,
)

log = logging.getLogger(__name__)
NAMESPACE = uuid.UUID("5d0c1f7a-92e4-4b53-8a6e-3c1d7f20b4a9")
SEQUENCE_OFFSET = 2000  # after the entry and its protective orders
KEYS_TTL_SECONDS = 1.0
_keys: tuple[float, frozenset[tuple[str, str]]] = (0.0, frozenset())

# --------------------------------------------------------------------------- start / resize
def spec_for(session: Session, entry: OrderIntentRecord) -> model.ExitLadder | None:
    """The entry's ladder: its signal's ``exit_ladder``, else its strategy's; the entry's own
    ``stop_loss`` fills in a ladder without one. None for an exit (reduce-only) or no ladder."""
    if entry.reduce_only:
        return None
    row = session.execute(
        select(SignalRecord.payload, Strategy.settings)
        .join(Strategy, Strategy.id == SignalRecord.strategy_id).where(SignalRecord.id == entry.signal_id)
    ).one_or_none()
    raw = None
    if row is not None:
        raw = (row.payload or {}).get("exit_ladder") or (row.settings or {}).get("exit_ladder")
    if not raw:
        return None
    spec = model.ExitLadder.model_validate(raw)
    if spec.stop_loss is None and spec.stop_loss_percent is None and entry.stop_loss is not None:
        spec = spec.model_copy(update={"stop_loss": entry.stop_loss})
    return spec


def start_or_resize(entry_intent_id: uuid.UUID) -> str | None:
    """Write (or re-size) the entry's ladder from what its order has filled; idempotent.
    Returns what it did, or None when the entry has no ladder (protective orders apply)."""
    with unit_of_work() as session:
        entry = session.get(OrderIntentRecord, entry_intent_id)
        spec = spec_for(session, entry) if entry is not None else None
        if spec is None:
            return None
        order = session.execute(select(OrderRecord).where(OrderRecord.intent_id == entry.id)).scalar_one()
        if order.filled_quantity <= 0 or order.average_price is None:
            return "exit ladder: the entry has not filled"
        ladder_id = uuid.uuid5(NAMESPACE, str(entry.id))
        outcome, source, stale = _start_or_resize(session, entry, order, spec, ladder_id)
    if source is not None:
        cache.request(source, entry.symbol)  # the streamer watches the symbol from now on
    if native_ladder.cancel_stale(ladder_id, stale):
        raise TemporaryVenueError(f"exit ladder {ladder_id}: replaced orders not cancelled yet; retried")
    return outcome


def _start_or_resize(session: Session, entry: OrderIntentRecord, order: OrderRecord, spec: model.ExitLadder,
                     ladder_id: uuid.UUID) -> tuple[str, str | None, list[uuid.UUID]]:
    """The ladder started or re-sized in the caller's transaction: what it did, the market-data
    source to watch (emulated), the native orders to cancel after commit (replaced)."""
    side = OrderSide(entry.side)
    state = model.start(spec, side, order.average_price, order.filled_quantity)
    native = native_ladder.native_capable(entry, spec)
    # a native ladder follows market data only for its trailing stop (native_ladder.follow_price)
    source = None if native and spec.trailing_stop is None else _source_of(session, entry.account_id)
    inserted = session.execute(pg_insert(ExitLadderRecord).values(
        id=ladder_id, entry_intent_id=entry.id, signal_id=entry.signal_id, account_id=entry.account_id,
        venue=entry.venue, symbol=entry.symbol, source=source, side=side.value,
        mode=native_ladder.NATIVE if native else "emulated", position_side=entry.position_side,
        spec=spec.model_dump(mode="json", exclude_none=True), version=0, **columns(state),
    ).on_conflict_do_nothing().returning(ExitLadderRecord.id)).scalar_one_or_none()
    row = session.get(ExitLadderRecord, ladder_id, with_for_update=True, populate_existing=True)
    native = row.mode == native_ladder.NATIVE
    if inserted is not None:
        prices = model.take_profit_prices(spec, side, state.entry_price)
        record(session, row, "started", {
            "entry_price": state.entry_price, "quantity": state.quantity, "take_profits": prices,
            "stop": state.stop, "monitored": source is not None})
        stale = native_ladder.sync(session, row) if native else []
        return f"exit ladder started: {len(prices)} take-profit(s) on {state.quantity}", source, stale
    if row.status != model.ACTIVE or order.filled_quantity <= row.quantity:
        return "exit ladder already sized", source, native_ladder.sync(session, row) if native else []
    resized = model.resize(state_of(row), order.filled_quantity, order.average_price)
    before = row.quantity
    write(session, row, resized)
    record(session, row, "resized", {"from": before, "quantity": resized.quantity, "entry_price": resized.entry_price})
    stale = native_ladder.sync(session, row) if native else []
    return f"exit ladder re-sized from {before} to {resized.quantity}", source, stale


def _source_of(session: Session, account_id: uuid.UUID) -> str | None:
    settings = session.execute(select(Account.settings).where(Account.id == account_id)).scalar_one_or_none()
    return market_data_source(AccountConfig.model_validate(settings or {}))


# --------------------------------------------------------------------------- market data
def on_market_update(source: str, symbol: str) -> int:
    """Advance the active ladders on ``symbol`` of ``source`` with the fresh quote; returns how
    many moved. Errors are logged per ladder, never raised (the listener must not stop)."""
    if (source, symbol) not in _active_keys():
        return 0
    quote, _ = cache.usable_quote(source, symbol, source_config(source).max_quote_age_seconds)
    if quote is None:
        return 0
    with unit_of_work() as session:
        ids = session.execute(select(ExitLadderRecord.id).where(
            ExitLadderRecord.status == model.ACTIVE, ExitLadderRecord.source == source,
            ExitLadderRecord.symbol == symbol)).scalars().all()
    moved = 0
    for ladder_id in ids:
        try:
            moved += step(ladder_id, quote)
        except Exception:
            log.exception("exit ladder %s could not step; it stays as it was", ladder_id)
    return moved


def step(ladder_id: uuid.UUID, quote: Quote) -> int:
    """One ladder at ``quote``: its moves written once (see the module); returns how many."""
    with unit_of_work() as session:
        row = session.get(ExitLadderRecord, ladder_id)
        if row is None or row.status != model.ACTIVE:
            return 0
        if row.mode == native_ladder.NATIVE:
            moved, stale = _step_native(session, row, quote)
        else:
            return _step_emulated(session, row, quote)
    native_ladder.cancel_stale(ladder_id, stale)  # failures are logged; the ladder's next event retries
    return moved


def _step_emulated(session: Session, row: ExitLadderRecord, quote: Quote) -> int:
    """An emulated ladder at ``quote``: its moves and exits written once (module docstring)."""
    if position_gone(session, row):
        _cancel(session, row, "the position was closed")
        return 1
    state = state_of(row)
    price = _market_price(quote, state.exit_side)
    if price is None:
        return 0
    new, moves = model.advance(model.ExitLadder.model_validate(row.spec), state, price)
    if new == state:
        return 0
    version = row.version
    if not write(session, row, new):
        return 0  # another process stepped it from the same version first
    entry = session.get(OrderIntentRecord, row.entry_intent_id)
    for move in moves:
        intent_id = _exit(session, row, entry, move, version) if move.is_exit else None
        record(session, row, move.kind, {
            "index": move.index, "price": move.price, "trigger": move.trigger, "quantity": move.quantity,
            "stop": move.stop, "intent_id": intent_id})
    return len(moves)


def _step_native(session: Session, row: ExitLadderRecord, quote: Quote) -> tuple[int, list[uuid.UUID]]:
    """A native ladder's trailing stop at ``quote`` (its take-profits and stop move on their
    orders' outcomes); the orders it replaced are cancelled after commit."""
    row = session.get(ExitLadderRecord, row.id, with_for_update=True, populate_existing=True)
    price = _market_price(quote, state_of(row).exit_side)
    if row.status != model.ACTIVE or price is None:
        return 0, []
    return native_ladder.follow_price(session, row, price)


def _market_price(quote: Quote, exit_side: OrderSide) -> Decimal | None:
    """The last trade, else the top of book an exit would take (``app.domain.matching.triggered``)."""
    if quote.last is not None:
        return quote.last
    return quote.bid if exit_side == OrderSide.SELL else quote.ask


def _active_keys() -> frozenset[tuple[str, str]]:
    """(source, symbol) pairs with an active ladder, read at most once a second per process."""
    global _keys
    expires, keys = _keys
    if expires > time.monotonic():
        return keys
    with unit_of_work() as session:
        rows = session.execute(select(ExitLadderRecord.source, ExitLadderRecord.symbol).distinct().where(
            ExitLadderRecord.status == model.ACTIVE, ExitLadderRecord.source.is_not(None))).all()
    keys = frozenset((r.source, r.symbol) for r in rows)
    _keys = (time.monotonic() + KEYS_TTL_SECONDS, keys)
    return keys


def forget_active() -> None:
    """Read the active ladders again on the next update (tests, a restart)."""
    global _keys
    _keys = (0.0, frozenset())


def watch_active() -> int:
    """Ask the streamer to watch every symbol an active ladder runs on (at the market-data
    process's start: the watch list expires a day after the last request)."""
    for source, symbol in _active_keys():
        cache.request(source, symbol)
    return len(_keys[1])


# --------------------------------------------------------------------------- cancel
def cancel_for(account_id: uuid.UUID, symbol: str) -> int:
    """``position.flat``: cancel the account's active ladders in ``symbol`` whose position is
    gone (one opened again since is left alone). Returns how many."""
    with unit_of_work() as session:
        rows = session.execute(select(ExitLadderRecord).where(
            ExitLadderRecord.account_id == account_id, ExitLadderRecord.symbol == symbol,
            ExitLadderRecord.status == model.ACTIVE).with_for_update()).scalars().all()
        native = {row.id: native_ladder.sync(session, row) for row in rows if row.mode == native_ladder.NATIVE}
        gone = [row for row in rows if row.id not in native and position_gone(session, row)]
        for row in gone:
            _cancel(session, row, "the position was closed")
        ended = sum(1 for row in rows if row.id in native and row.status == model.CANCELLED)
    for ladder_id, stale in native.items():
        native_ladder.cancel_stale(ladder_id, stale)  # failures are logged; the reconciler follows those orders
    return len(gone) + ended


def _cancel(session: Session, row: ExitLadderRecord, reason: str) -> None:
    state = state_of(row)
    if write(session, row, model.cancel(state)):
        record(session, row, "cancelled", {"reason": reason, "left": state.remaining, "taken": state.taken})


def _exit(session: Session, row: ExitLadderRecord, entry: OrderIntentRecord, move: model.Move,
          version: int) -> uuid.UUID:
    """The reduce-only market intent of an exit move and its ``intent.ready`` (once per step)."""
    intent_id = uuid.uuid5(NAMESPACE, f"{row.id}:{move.kind}:{move.index or 0}")
    inserted = session.execute(pg_insert(OrderIntentRecord).values(
        id=intent_id, signal_id=entry.signal_id, decision_id=entry.decision_id, account_id=entry.account_id,
        venue=entry.venue, symbol=entry.symbol, side=state_of(row).exit_side.value,
        order_type=OrderType.MARKET.value, quantity=move.quantity, limit_price=None, reference_price=move.price,
        time_in_force=None, reduce_only=True, stop_loss=None, take_profit=None,
        sequence=entry.sequence + SEQUENCE_OFFSET + version, client_order_id=client_order_id_for(intent_id),
        status=IntentStatus.PENDING.value, purpose="entry", parent_intent_id=entry.id, trigger_price=move.trigger,
        position_side=entry.position_side,
    ).on_conflict_do_nothing().returning(OrderIntentRecord.id)).scalar_one_or_none()
    if inserted is not None:
        events.emit(session, events.INTENT_READY, {"intent_id": str(intent_id), "venue": entry.venue},
                    signal_id=entry.signal_id, job_id=client_order_id_for(intent_id))
    return intent_id


def describe(payload: dict[str, Any]) -> str:
    """The ``ladder.step`` handler: the move is done already (written with the step)."""
    return f"exit ladder {payload.get('ladder_id')}: {payload.get('step')}"
