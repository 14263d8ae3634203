"""SQLAlchemy 2.0 typed mappings of every table. Money is NUMERIC, time is timestamptz.

Unique constraints carry the idempotency: (source, strategy, idempotency_key) for signals,
client_order_id for intents, (venue, client_order_id) for orders, (venue, trade_id) for fills.
"""

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    text,
    Boolean,
    DateTime,
    false,
    ForeignKey,
    Identity,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

Money = Numeric(38, 18)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _id() -> Mapped[uuid.UUID]:
    return mapped_column(Uuid, primary_key=True, default=uuid.uuid4)


def _created() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class Account(Base):
    """A venue plus credentials (by env-var name, never the secret) plus risk limits."""

    __tablename__ = "accounts"
    id: Mapped[uuid.UUID] = _id()
    name: Mapped[str] = mapped_column(String(64), unique=True)
    venue: Mapped[str] = mapped_column(String(64))
    trading_state: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    state_reason: Mapped[str | None] = mapped_column(Text)
    state_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = _created()


class Strategy(Base):
    """A signal producer bound to an account. Only the sha256 of its token is stored."""

    __tablename__ = "strategies"
    id: Mapped[uuid.UUID] = _id()
    name: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    created_at: Mapped[datetime] = _created()


class ApiKey(Base):
    """A key for /api/v1/signals and /api/v1/predictions, scoped to strategies (ids; empty: none).

    Only the sha256 of the key is stored. Optional request signing uses that hash as the
    HMAC-SHA256 key, so the server can verify signatures without keeping the plaintext.
    """

    __tablename__ = "api_keys"
    id: Mapped[uuid.UUID] = _id()
    name: Mapped[str] = mapped_column(String(64))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    strategy_ids: Mapped[list[str]] = mapped_column(JSONB, default=list)
    require_signature: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = _created()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SignalRecord(Base):
    """Every authenticated request, parsed or not. ``raw_body`` has its secrets redacted."""

    __tablename__ = "signals"
    __table_args__ = (
        UniqueConstraint("source", "strategy_id", "idempotency_key"),
        Index("ix_signals_received_at", "received_at"),
    )
    id: Mapped[uuid.UUID] = _id()
    source: Mapped[str] = mapped_column(String(16))
    strategy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("strategies.id"))
    dialect: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    symbol: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(16))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    raw_body: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str | None] = mapped_column(String(128))
    signal_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RiskDecisionRecord(Base):
    """The risk engine's answer for one signal: every check's outcome and the quantity."""

    __tablename__ = "risk_decisions"
    # One decision per (signal, account): a strategy's signal fans out to its subscribed accounts.
    __table_args__ = (UniqueConstraint("signal_id", "account_id", name="uq_risk_decisions_signal_id_account_id"),)
    id: Mapped[uuid.UUID] = _id()
    signal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("signals.id"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    approved: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text)
    checks: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    quantity: Mapped[Decimal | None] = mapped_column(Money)
    created_at: Mapped[datetime] = _created()


class OrderIntentRecord(Base):
    """An approved, venue-agnostic order: the outbox row a worker executes."""

    __tablename__ = "order_intents"
    __table_args__ = (
        Index("ix_order_intents_status_created", "status", "created_at"),
        # Risk reads these under the account's lock (app.risk.state): keep them index-only.
        Index("ix_order_intents_account_created", "account_id", "created_at"),
        Index("ix_order_intents_account_symbol_created", "account_id", "symbol", "created_at"),
        Index(
            "ix_order_intents_account_live",
            "account_id",
            postgresql_where=text("status IN ('pending', 'submitting')"),
        ),
    )
    id: Mapped[uuid.UUID] = _id()
    signal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("signals.id"), index=True)
    decision_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("risk_decisions.id"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    venue: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(8))
    order_type: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[Decimal] = mapped_column(Money)
    limit_price: Mapped[Decimal | None] = mapped_column(Money)
    reference_price: Mapped[Decimal | None] = mapped_column(Money)
    time_in_force: Mapped[str | None] = mapped_column(String(8))
    reduce_only: Mapped[bool] = mapped_column(Boolean, default=False)
    stop_loss: Mapped[Decimal | None] = mapped_column(Money)
    take_profit: Mapped[Decimal | None] = mapped_column(Money)
    sequence: Mapped[int] = mapped_column(default=0)
    client_order_id: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _created()
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(default=0)
    # Protective orders (issue 5): a stop-loss / take-profit intent points at its entry.
    purpose: Mapped[str] = mapped_column(String(16), default="entry", server_default="entry")
    parent_intent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("order_intents.id"))
    trigger_price: Mapped[Decimal | None] = mapped_column(Money)
    # Hedge mode (issue 13): the position side (long / short) the order acts on; None: one-way (net).
    position_side: Mapped[str | None] = mapped_column(String(8))
    # An entry whose signal or strategy gives it an exit ladder (app.followups.ladder), decided with it.
    exit_ladder: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class OrderRecord(Base):
    """An order on a venue. Its status follows ``app.domain.orders.TRANSITIONS``."""

    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("venue", "client_order_id"),)
    id: Mapped[uuid.UUID] = _id()
    intent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("order_intents.id"), unique=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    venue: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(8))
    order_type: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[Decimal] = mapped_column(Money)
    limit_price: Mapped[Decimal | None] = mapped_column(Money)
    client_order_id: Mapped[str] = mapped_column(String(64))
    venue_order_id: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(24))
    filled_quantity: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    average_price: Mapped[Decimal | None] = mapped_column(Money)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    # The never-twice lifecycle (issue 5): when the last send started, how many sends (same
    # client order id) were made, and since when the outcome of a send is unknown.
    last_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    send_count: Mapped[int] = mapped_column(default=0, server_default="0")
    position_side: Mapped[str | None] = mapped_column(String(8))  # hedge mode: its intent's
    in_doubt_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OrderEventRecord(Base):
    """One row per order state transition."""

    __tablename__ = "order_events"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(Text)
    ts_event: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()


class FillRecord(Base):
    """A trade on a venue: ``quantity`` in base units, ``price`` quote per base, ``fee`` in ``fee_currency``."""

    __tablename__ = "fills"
    __table_args__ = (UniqueConstraint("venue", "trade_id"), Index("ix_fills_account_ts_event", "account_id", "ts_event"))
    id: Mapped[uuid.UUID] = _id()
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), index=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    venue: Mapped[str] = mapped_column(String(64))
    trade_id: Mapped[str] = mapped_column(String(128))
    symbol: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[Decimal] = mapped_column(Money)
    price: Mapped[Decimal] = mapped_column(Money)
    fee: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    fee_currency: Mapped[str | None] = mapped_column(String(16))
    realized_pnl: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    ts_event: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()


class PositionRecord(Base):
    """Position per (account, symbol, position side): signed base quantity, average entry,
    realised PnL net of fees. ``position_side`` is ``net`` for one-way mode (one position per
    symbol, either sign) and ``long`` / ``short`` for a hedge-mode account (one per side: the
    long's quantity is never negative, the short's never positive)."""

    __tablename__ = "positions"
    __table_args__ = (UniqueConstraint("account_id", "symbol", "position_side"),)
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    symbol: Mapped[str] = mapped_column(String(64))
    position_side: Mapped[str] = mapped_column(String(8), default="net", server_default="net")
    quantity: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    average_price: Mapped[Decimal | None] = mapped_column(Money)
    realized_pnl: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class BalanceRecord(Base):
    """Balance per (account, currency): the paper venue's own book, or a real venue's last snapshot."""

    __tablename__ = "balances"
    __table_args__ = (UniqueConstraint("account_id", "currency"),)
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    currency: Mapped[str] = mapped_column(String(16))
    total: Mapped[Decimal] = mapped_column(Money)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class MarketRecord(Base):
    """A venue's market as ccxt describes it (``market`` is ccxt's unified market structure),
    refreshed by the workers; risk reads precision and limits from it without calling the venue."""

    __tablename__ = "markets"
    __table_args__ = (UniqueConstraint("venue", "symbol"),)
    id: Mapped[uuid.UUID] = _id()
    venue: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(64))
    market: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class VenueBreakerRecord(Base):
    """Circuit breaker of one venue, shared by every process: consecutive failures of venue
    calls; ``opened_at`` set while open (its intents wait), cleared by a successful probe."""

    __tablename__ = "venue_breakers"
    venue: Mapped[str] = mapped_column(String(64), primary_key=True)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_failure_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_probe_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class ForeignOrderRecord(Base):
    """An open order on a venue that Tradewire did not place, as the reconciler last saw it.
    Reported only, never touched; the row goes when the order is no longer open."""

    __tablename__ = "foreign_orders"
    __table_args__ = (UniqueConstraint("account_id", "venue_order_id"),)
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    venue: Mapped[str] = mapped_column(String(64))
    venue_order_id: Mapped[str] = mapped_column(String(128))
    client_order_id: Mapped[str | None] = mapped_column(String(128))
    symbol: Mapped[str] = mapped_column(String(64))
    side: Mapped[str | None] = mapped_column(String(8))
    order_type: Mapped[str | None] = mapped_column(String(32))
    quantity: Mapped[Decimal | None] = mapped_column(Money)
    price: Mapped[Decimal | None] = mapped_column(Money)
    status: Mapped[str | None] = mapped_column(String(24))
    note: Mapped[str | None] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EventRecord(Base):
    """A state change that causes more work, written in the same transaction as the change
    (the transactional outbox, generalised): ``kind`` names it (``intent.ready``,
    ``order.terminal``, ``entry.filled``, ``position.flat``, ``cancel.requested``,
    ``notification``), ``payload`` carries ids and plain values. The relay turns it into an
    RQ job with the deterministic id ``job_id`` after commit and by periodic sweep;
    ``handled_at`` is set when its handler has done the work (kinds whose outcome is visible
    elsewhere, such as an intent's status, leave it empty)."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_signal", "signal_id"),
        Index("ix_events_unhandled", "created_at", postgresql_where=text("handled_at IS NULL")),
    )
    id: Mapped[uuid.UUID] = _id()
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    signal_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("signals.id"))
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id"))
    job_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created()
    handled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CandleRecord(Base):
    """One OHLCV candle of a market-data source: ``ts`` is its open time; prices in quote per
    base, ``volume`` in base units. The live (still open) candle is rewritten until it closes."""

    __tablename__ = "candles"
    __table_args__ = (UniqueConstraint("source", "symbol", "timeframe", "ts"),)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(64))
    timeframe: Mapped[str] = mapped_column(String(8))
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    open: Mapped[Decimal] = mapped_column(Money)
    high: Mapped[Decimal] = mapped_column(Money)
    low: Mapped[Decimal] = mapped_column(Money)
    close: Mapped[Decimal] = mapped_column(Money)
    volume: Mapped[Decimal] = mapped_column(Money)


# --- Security (issue 17): credential vault, operator tokens, audit log -----------------------
from sqlalchemy import Integer, LargeBinary  # noqa: E402  (appended section)


class AccountCredentialsRecord(Base):
    """An account's exchange credentials, encrypted (``app.security.vault``): ``ciphertext`` is
    AES-GCM under a per-record data key, ``wrapped_key`` that data key under the master key
    ``master_key_id``. ``revision`` changes on every write, so each process notices a rotation
    before its next venue call. ``fingerprint`` is the API key's last 4 characters."""

    __tablename__ = "account_credentials"
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    revision: Mapped[uuid.UUID] = mapped_column(Uuid)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    master_key_id: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(8))
    permissions: Mapped[list[str] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()
    updated_by: Mapped[str | None] = mapped_column(String(64))


class OperatorTokenRecord(Base):
    """A named operator token with a role (viewer, operator, admin). Only its sha256 is stored;
    a name is unique among tokens not revoked."""

    __tablename__ = "operator_tokens"
    __table_args__ = (
        Index("ix_operator_tokens_active_name", "name", unique=True, postgresql_where=text("revoked_at IS NULL")),
    )
    id: Mapped[uuid.UUID] = _id()
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = _created()
    created_by: Mapped[str | None] = mapped_column(String(64))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditRecord(Base):
    """One state-changing admin request: who (token name; None when authentication failed),
    what (method, path, the body's summary with secrets redacted), when, from where, outcome."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"), Index("ix_audit_log_actor_at", "actor", "at"))
    id: Mapped[uuid.UUID] = _id()
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(Text)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    client: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))


# --- Replay (issue 15): a replay's own table; it never writes live state ---------------------


class ReplayRecord(Base):
    """One replay (``app.replay``): the ``request`` as asked (inputs, period, configurations, fill
    model), an uploaded file's text in ``input_text``, progress in signals, and the ``report``
    as the exact JSON text the engine produced (text, not JSONB, so its bytes are kept).
    ``status``: queued, running, done, failed (``error`` says why)."""

    __tablename__ = "replays"
    __table_args__ = (Index("ix_replays_created_at", "created_at"),)
    id: Mapped[uuid.UUID] = _id()
    status: Mapped[str] = mapped_column(String(16))
    request: Mapped[dict[str, Any]] = mapped_column(JSONB)
    input_text: Mapped[str | None] = mapped_column(Text)
    signals_total: Mapped[int | None] = mapped_column(BigInteger)
    signals_done: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    report: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# --- Futures settings and venue drift (issue 13): app.execution.futures, app.execution.drift --


class FuturesSettingRecord(Base):
    """What Tradewire last set (or found) on the venue for one (account, symbol): leverage,
    margin mode, position mode. An entry sets only what differs from this row, so a setting is
    sent once, not before every order; the drift check forgets a row the venue contradicts."""

    __tablename__ = "futures_settings"
    __table_args__ = (UniqueConstraint("account_id", "symbol"),)
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    symbol: Mapped[str] = mapped_column(String(64))
    leverage: Mapped[Decimal | None] = mapped_column(Money)
    margin_mode: Mapped[str | None] = mapped_column(String(16))
    position_mode: Mapped[str | None] = mapped_column(String(16))
    intent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # the entry it was set for
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class PositionDriftRecord(Base):
    """A difference between the ledger's position and the venue's, as the reconciler found it
    (a liquidation, a manual close on the exchange, a missed alert). One open row per
    (account, symbol, position side) while it lasts (``resolved_at`` empty); ``action`` says what was done:
    ``reported`` (``sync_mode = "report"``) or ``adopted`` (the ledger was moved to the venue's
    quantity by an adjustment, never a fill)."""

    __tablename__ = "position_drifts"
    __table_args__ = (
        Index("uq_position_drifts_open", "account_id", "symbol", "position_side", unique=True,
              postgresql_where=text("resolved_at IS NULL")),
        Index("ix_position_drifts_detected_at", "detected_at"),
    )
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    venue: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(64))
    position_side: Mapped[str] = mapped_column(String(8), default="net", server_default="net")
    kind: Mapped[str] = mapped_column(String(32))
    ledger_quantity: Mapped[Decimal] = mapped_column(Money)
    venue_quantity: Mapped[Decimal] = mapped_column(Money)
    venue_entry_price: Mapped[Decimal | None] = mapped_column(Money)
    sync_mode: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text)
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# --- Exit ladders (issue 13): take-profits, stops, break-even, trailing, emulated from market data


class ExitLadderRecord(Base):
    """The exit ladder of one entry (``app.domain.ladder``): ``spec`` as asked (an ``ExitLadder``
    dump), where it stands (``entry_price``, ``quantity``, ``closed``, ``taken``, ``stop``,
    ``trail``, ``best``; prices quote per base, quantities base units) and ``status``
    (active, done, cancelled). ``source`` / ``symbol``: the market data that drives it (emulated
    mode); ``mode`` ``native``: its take-profits and stop are trigger orders on the venue,
    listed in ``orders``, and it moves on their outcomes (``app.followups.native_ladder``).
    ``version`` grows with every step; a step is written only over the version it was computed
    from, so one trigger acts once whichever process sees it. The id derives from the entry
    intent's (uuid5)."""

    __tablename__ = "exit_ladders"
    __table_args__ = (
        Index("ix_exit_ladders_active", "source", "symbol", postgresql_where=text("status = 'active'")),
        Index("ix_exit_ladders_account_symbol", "account_id", "symbol"),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    entry_intent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("order_intents.id"), unique=True)
    signal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("signals.id"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    venue: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(8))
    mode: Mapped[str] = mapped_column(String(16), default="emulated")
    position_side: Mapped[str | None] = mapped_column(String(8))  # hedge mode: the side it protects
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # native mode: the intent ids of the ladder's current orders on the venue,
    # {"take_profits": {"1": id, ...}, "stop": id}; replaced ones are no longer listed
    orders: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(String(16))
    entry_price: Mapped[Decimal] = mapped_column(Money)
    quantity: Mapped[Decimal] = mapped_column(Money)
    closed: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    taken: Mapped[int] = mapped_column(default=0)
    stop: Mapped[Decimal | None] = mapped_column(Money)
    trail: Mapped[Decimal | None] = mapped_column(Money)
    best: Mapped[Decimal | None] = mapped_column(Money)
    version: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


# --- Portfolios (issue 19): one rebalance per (signal, account), app.portfolio ---------------


class RebalanceRecord(Base):
    """One rebalance of an account to target weights (``app.portfolio``): ``plan`` as decided
    (weights, prices and where they came from, equity and cash in the quote currency, threshold,
    fee rate), ``legs`` with each leg's planned order and outcome (intent, order status, filled
    quantity, average price, reason), and ``status``: ``pending_sells`` (the sells are on their
    way; the buys wait for them), ``buying``, then ``complete`` or ``incomplete`` (``reason`` says
    which legs failed and why), or ``rejected`` (nothing ordered; ``reason``). Its decision is
    the risk decision of (``signal_id``, ``account_id``)."""

    __tablename__ = "rebalances"
    __table_args__ = (
        UniqueConstraint("signal_id", "account_id"),
        Index("ix_rebalances_strategy_created", "strategy_id", "created_at"),
        Index("ix_rebalances_running", "account_id", postgresql_where=text("status IN ('pending_sells', 'buying')")),
    )
    id: Mapped[uuid.UUID] = _id()
    signal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("signals.id"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    strategy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("strategies.id"))
    venue: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    plan: Mapped[dict[str, Any]] = mapped_column(JSONB)
    legs: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
