"""Tickerly alerts: a JSON message with ``ticker``, ``action``, ``prev_position``, ``quantity`` and ``pointer``.

Spec: tickerly.net/standard-alert-message-structure (``{"ticker": "{{ticker}}", "action":
"{{strategy.order.action}}", "prev_position": "{{strategy.prev_market_position}}", "quantity":
"{{strategy.order.contracts}}", "pointer": "…"}``), …/alert-message-structure (fixed values:
``{"ticker": "BTCUSDT", "action": "buy", "prev_position": "flat", "quantity": "0.1", "pointer":
"m1K3Y"}``), …/directional-alerts (enter / exit long / short), …/close-all-alert-message and
…/set-hedge-mode-alerts.

- ``ticker`` → symbol (any TradingView form: ``BTCUSDT.P`` is the perpetual).
- ``action`` ``buy`` / ``sell`` → buy / sell; ``prev_position`` ``flat`` / ``long`` / ``short`` →
  prev_position: Tickerly's "exit long" is a sell after long, which Tradewire's risk engine reads as
  closing the long. ``quantity`` ({{strategy.order.contracts}}) → base units; absent → the account's
  sizing rule.
- ``closeall`` ``"true"`` → exit (flatten the ticker's position); as at Tickerly, action and quantity
  are then ignored.
- ``pointer`` names the Tickerly exchange account, a credential: never copied into the signal and
  redacted from everything stored (``app.ingest.parsers.body.SECRET_FIELDS``).
- A sell after a long (``prev_position`` long) or a buy after a short is Tickerly's "exit" of that
  position (tickerly.net/directional-alerts): the target is flat, so it closes and never reverses;
  in hedge mode it closes that side.
- Refused, naming the key: ``hedgemode`` (Tickerly's hedge-mode alert is documented only in part;
  in Tradewire hedge mode is the account's ``position_mode``, and the standard alert's action and
  prev_position say which side it acts on) and any other key (Tickerly's limit alerts among them): a limit asked for must not become
  a market order.

Tickerly's messages carry no time: the idempotency key uses the time the alert arrived.
"""

from datetime import datetime
from typing import Any

from app.domain.enums import Action, PositionSide, SizeUnit
from app.domain.signal import Signal, Size
from app.errors import SignalParseError
from app.ingest.parsers import values

NAME = "tickerly"

_ACTIONS = {"buy": Action.BUY, "sell": Action.SELL}
_KNOWN = {"ticker", "action", "prev_position", "quantity", "pointer", "closeall"}
_REFUSED = {
    "hedgemode": "hedge mode is the account's setting in Tradewire ([accounts.NAME.futures] position_mode = "
                 "\"hedge\"): send the standard alert without hedgemode; its action and prev_position say "
                 "which side it opens or closes",
}


def detect(data: dict[str, Any] | str) -> bool:
    """A JSON object with Tickerly's ``pointer`` and a ``ticker``."""
    if not isinstance(data, dict):
        return False
    keys = values.fold_keys(data)
    return "pointer" in keys and "ticker" in keys


def parse(data: dict[str, Any] | str, received_at: datetime) -> Signal:
    """Raises ``SignalParseError`` naming the key: a missing ticker or action, a refused key, a word
    outside the vocabulary above, a leftover placeholder, a quantity that is not a positive number."""
    if not isinstance(data, dict):
        raise SignalParseError("a Tickerly alert is a JSON object", field="body")
    for name in data:
        key = str(name).lower()
        if key in _REFUSED or key not in _KNOWN:
            why = _REFUSED.get(key) or f"Tradewire reads {', '.join(sorted(_KNOWN))}"
            raise SignalParseError(f"the Tickerly element {values.show(name)} has no Tradewire equivalent: {why}",
                                   field=str(name)[:200])
    fields = {k: v for k, v in values.fold_keys(data).items() if k != "pointer"}
    values.reject_placeholders(fields)
    symbol, raw_symbol, prefix = values.symbol(fields.get("ticker"), "ticker")
    closeall = _closeall(fields.get("closeall"))
    prev = values.position(fields.get("prev_position"), "prev_position")
    key = values.derive_key(NAME, symbol, fields, received_at)
    common = {"dialect": NAME, "idempotency_key": key, "symbol": symbol, "raw_symbol": raw_symbol, "exchange": prefix}
    if closeall:
        return Signal(**common, action=Action.EXIT, target_position=PositionSide.FLAT, prev_position=prev)
    action = values.choice(fields.get("action"), "action", _ACTIONS)
    if action is None:
        raise SignalParseError("action is missing (buy or sell; {{strategy.order.action}})", field="action")
    quantity = values.amount(fields.get("quantity"), "quantity", SizeUnit.BASE)
    size = Size(amount=quantity, unit=SizeUnit.BASE) if quantity is not None else None
    exits = (action == Action.SELL and prev == PositionSide.LONG) or (action == Action.BUY and prev == PositionSide.SHORT)
    return Signal(**common, action=action, prev_position=prev, size=size,
                  target_position=PositionSide.FLAT if exits else None)


def _closeall(raw: Any) -> bool:
    """``closeall``: absent, or ``"true"`` (Tickerly's only value; a bare JSON ``true`` too)."""
    if raw is None or raw is True or (isinstance(raw, str) and raw.strip().lower() in ("", "true")):
        return raw is True or (isinstance(raw, str) and raw.strip().lower() == "true")
    raise SignalParseError(f"closeall can only be \"true\", got {values.show(raw)}", field="closeall")
