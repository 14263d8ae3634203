"""Page 3: accounts (balances, equity, trading state with the kill switch, the venue's
circuit breaker), positions, and open orders with cancel."""

import uuid
from urllib.parse import urlencode
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.admin.accounts import TradingStateBody, list_accounts, set_trading_state
from app.admin.orders import list_venues
from app.console import services
from app.console.web import Acting, Form, Signed, back, field_errors, render
from app.deps import SessionDep
from app.domain.enums import TradingState
from app.errors import AppError

router = APIRouter()
MEANING = {
    "ACTIVE": "trades normally",
    "REDUCING": "lets only orders that reduce a position through",
    "HALTED": "denies every order (the kill switch)",
}


def _context(session: SessionDep) -> dict[str, Any]:
    accounts = list_accounts(session)
    return {"accounts": accounts, "positions": services.marked_positions(session, accounts),
            "orders": services.open_orders(session), "venues": list_venues(session),
            "states": [s.value for s in TradingState], "meaning": MEANING, "confirm": None, "confirm_close": None,
            "errors": {}}


@router.get("/accounts", response_class=HTMLResponse)
def accounts_page(request: Request, session: SessionDep, console: Signed, confirm: str | None = None,
                  state: str | None = None, close: str | None = None, symbol: str | None = None,
                  side: str = "net") -> HTMLResponse:
    """``?confirm=NAME&state=STATE`` asks to confirm a trading-state change, ``?close=NAME&symbol=SYMBOL``
    (``&side=long|short`` for a hedge-mode position) to confirm closing a position (nothing changes yet)."""
    context = _context(session)
    if close is not None:
        account = next((a for a in context["accounts"] if a.name == close), None)
        position = next((p for p in account.open_positions if (p.symbol, p.position_side) == (symbol, side)),
                        None) if account else None
        if position is None:
            which = symbol if side == "net" else f"{symbol} {side}"
            context["errors"] = {"close": f"{close} has no open {which} position"}
            return render(request, "accounts.html", console, status_code=404, **context)
        context["confirm_close"] = {"account": account.name, "position": position,
                                    "trading_state": account.trading_state,
                                    "strategy": services.exit_strategy(session, account.name)}
    if confirm is not None:
        try:
            body = TradingStateBody.model_validate({"state": state or ""})
        except ValidationError as e:
            context["errors"] = {f"state:{confirm}": field_errors(e).get("state", "not a trading state")}
            return render(request, "accounts.html", console, status_code=422, **context)
        context["confirm"] = {"account": confirm, "state": body.state.value, "meaning": MEANING[body.state.value]}
    return render(request, "accounts.html", console, **context)


@router.post("/accounts/{name}/trading-state", response_class=HTMLResponse)
def trading_state(name: str, request: Request, form: Form, session: SessionDep, console: Acting) -> Response:
    """Sets the state when the form says ``confirm=yes`` (the confirmation's button); any other
    POST goes to the confirmation first."""
    try:
        body = TradingStateBody.model_validate({"state": form.get("state", "")})
    except ValidationError as e:
        errors = {f"state:{name}": field_errors(e).get("state", "not a trading state")}
        return render(request, "accounts.html", console, status_code=422, **_context(session) | {"errors": errors})
    if form.get("confirm") != "yes":
        return RedirectResponse(f"/accounts?{urlencode({'confirm': name, 'state': body.state.value})}", 303)
    try:
        answer = set_trading_state(name, body, session)
    except AppError as e:
        session.rollback()  # the admin service opens its own transaction
        errors = {f"state:{name}": e.message}
        return render(request, "accounts.html", console, status_code=e.status_code,
                      **_context(session) | {"errors": errors})
    return back(console, "/accounts", f"{answer.name}: {answer.previous_state} → {answer.trading_state}")


@router.post("/orders/{order_id}/cancel", response_class=HTMLResponse)
def cancel_order(order_id: str, request: Request, session: SessionDep, console: Acting) -> Response:
    try:
        order = services.cancel(session, uuid.UUID(order_id))
    except (ValueError, AppError) as e:
        message = e.message if isinstance(e, AppError) else f"no order {order_id}"
        return back(console, "/accounts", f"Not canceled: {message}")
    return back(console, "/accounts", f"Order {order.client_order_id} is {order.status}")


@router.post("/positions/close", response_class=HTMLResponse)
def close_position(request: Request, form: Form, session: SessionDep, console: Acting) -> Response:
    """Closes ``account``'s ``symbol`` position with an ``exit`` signal when the form says
    ``confirm=yes``; any other POST goes to the confirmation first."""
    account, symbol, side = form.get("account", ""), form.get("symbol", ""), form.get("side") or "net"
    if form.get("confirm") != "yes":
        query = {"close": account, "symbol": symbol} | ({"side": side} if side != "net" else {})
        return RedirectResponse(f"/accounts?{urlencode(query)}#close-confirm", 303)
    try:
        closed = services.close_position(session, account, symbol, console.operator.name, side)
    except AppError as e:
        return back(console, "/accounts", f"{account} {symbol} not closed: {e.message}")
    reason = f" ({closed.reason})" if closed.reason else ""
    signal = f"signal {closed.signal_id}" if closed.signal_id else "no signal recorded"
    return back(console, "/accounts",
                f"Close {account} {symbol}: exit {closed.status}{reason}, {signal} (through strategy {closed.strategy})")
