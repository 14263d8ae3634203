"""The replay report: deterministic JSON (same inputs, same bytes) and the CLI's table.

Shape (``REPORT_VERSION`` 1): ``inputs``, ``period``, ``fill_model``, ``metrics`` (definitions),
``notes``, ``comparison`` (one row of headline figures per configuration) and ``configurations``
(each: ``summary``, ``per_symbol``, ``per_confidence``, ``trades``, ``open_positions``,
``untraded``, ``untraded_by_check``, ``equity_curve``). Money is exact decimal text; ratios are
numbers rounded to 6 decimals; times ISO-8601 UTC. No wall-clock time, no random id.
"""

import json
from collections import Counter
from decimal import Decimal, localcontext
from typing import Any

from app.domain.money import MONEY_CONTEXT, fmt
from app.replay import metrics
from app.replay.engine import Simulation, utc
from app.replay.inputs import ReplaySignal
from app.replay.ledger import Trade

REPORT_VERSION = 1
SHOWN = Decimal("1e-8")  # averages and ratios of money are shown to 8 decimals


def money(value: Decimal | None) -> str | None:
    if value is None:
        return None
    with localcontext(MONEY_CONTEXT):
        return fmt(value.quantize(SHOWN) if value.as_tuple().exponent < -8 else value)  # type: ignore[operator]


def ratio(value: float | Decimal | None) -> float | None:
    return None if value is None else round(float(value), 6)


def configuration(sim: Simulation, signals: list[ReplaySignal], periods_per_year: float, risk_free: float) -> dict[str, Any]:
    """One configuration's section of the report."""
    ledger, start = sim.ledger, sim.config.account.starting_balance
    final = sim.marks[-1][1]
    seconds = sim.end - sim.start
    pnls = [t.pnl for t in ledger.trades]
    wins, losses = [p for p in pnls if p > 0], [p for p in pnls if p <= 0]
    with localcontext(MONEY_CONTEXT):
        total_return = float(final / start - 1) if start > 0 else 0.0
        unrealised = final - start - ledger.realised
    drawdown = metrics.max_drawdown(sim.marks)
    returns = metrics.period_returns(sim.period_marks)
    traded = sum(1 for o in sim.outcomes.values() if o.filled)
    summary = {
        "starting_equity": money(start), "final_equity": money(final),
        "total_return": ratio(total_return), "annualised_return": ratio(metrics.annualised(total_return, seconds)),
        "realised_pnl": money(ledger.realised), "fees": money(ledger.fees), "unrealised_pnl": money(unrealised),
        "trades": len(pnls), "wins": len(wins), "losses": len(losses),
        "win_rate": ratio(len(wins) / len(pnls)) if pnls else None,
        "profit_factor": ratio(metrics.profit_factor(pnls)),
        "average_win": money(_mean(wins)), "average_loss": money(_mean(losses)),
        "largest_win": money(max(wins)) if wins else None, "largest_loss": money(min(losses)) if losses else None,
        "max_drawdown": {
            "amount": money(drawdown.amount), "percent": ratio(drawdown.fraction * 100),
            "peak_at": _iso(drawdown.peak_at), "trough_at": _iso(drawdown.trough_at),
            "recovered_at": _iso(drawdown.recovered_at), "duration_seconds": int(drawdown.duration),
        },
        "sharpe": ratio(metrics.sharpe(returns, periods_per_year, risk_free)),
        "sortino": ratio(metrics.sortino(returns, periods_per_year, risk_free)),
        "exposure": ratio(ledger.any_exposure / seconds) if seconds > 0 else None,
        "fills": ledger.fill_count,
        "signals": {"total": len(signals), "traded": traded, "untraded": len(signals) - traded},
    }
    untraded = [_untraded(s, sim) for s in signals if not sim.outcomes.get(s.n) or not sim.outcomes[s.n].filled]
    return {
        "name": sim.config.name,
        "config": {"account": sim.config.account_name, "strategy": sim.config.strategy_name,
                   "strategy_settings": sim.config.strategy.model_dump(mode="json"),
                   "risk": sim.config.limits.model_dump(mode="json"),
                   "starting_balance": money(start), "quote_currency": sim.config.account.quote_currency,
                   "venue": sim.config.account.venue, "min_notional": money(sim.config.account.min_notional)},
        "summary": summary,
        "per_symbol": _per_symbol(sim, seconds),
        "per_confidence": _per_confidence(sim, signals),
        "trades": [_trade(t, signals) for t in ledger.trades],
        "open_positions": [_open(t, sim) for _, t in sorted(ledger.open_trades.items())],
        "untraded_by_check": dict(sorted(Counter(sim.outcomes[u["n"]].check or "other" for u in untraded
                                                 if u["n"] in sim.outcomes).items())),
        "untraded": untraded,
        "equity_curve": [[_iso(at), money(value)] for at, value in sim.period_marks] + (
            [[_iso(sim.marks[-1][0]), money(final)]] if sim.marks[-1][0] > sim.period_marks[-1][0] else []),
    }


def _mean(values: list[Decimal]) -> Decimal | None:
    if not values:
        return None
    with localcontext(MONEY_CONTEXT):
        return sum(values, Decimal(0)) / len(values)


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else utc(epoch).isoformat()


def _signal_ref(signals: list[ReplaySignal], n: int | None) -> dict[str, Any] | None:
    if n is None:
        return None
    item = signals[n]
    summary = item.summary
    ref: dict[str, Any] = {"n": n, "ref": item.ref, "received_at": item.received_at.isoformat()}
    if summary is not None:
        ref.update(action=summary.action, price=money(summary.price),
                   confidence=money(summary.confidence), comment=summary.comment)
    return ref


def _trade(trade: Trade, signals: list[ReplaySignal]) -> dict[str, Any]:
    entry_value, entry_qty = (trade.bought_value, trade.bought) if trade.side == "long" else (trade.sold_value, trade.sold)
    exit_value, exit_qty = (trade.sold_value, trade.sold) if trade.side == "long" else (trade.bought_value, trade.bought)
    with localcontext(MONEY_CONTEXT):
        entry_price = entry_value / entry_qty if entry_qty else None
        exit_price = exit_value / exit_qty if exit_qty else None
        result = float(trade.pnl / entry_value) if entry_value else None
    return {
        "n": trade.n, "symbol": trade.symbol, "side": trade.side, "quantity": money(trade.quantity),
        "entry_at": _iso(trade.entry_at), "entry_price": money(entry_price),
        "exit_at": _iso(trade.exit_at), "exit_price": money(exit_price), "exit_reason": trade.exit_reason,
        "pnl": money(trade.pnl), "fees": money(trade.fees), "return": ratio(result), "fills": trade.fills,
        "entry_signal": _signal_ref(signals, trade.entry_signal), "exit_signal": _signal_ref(signals, trade.exit_signal)
        if trade.exit_reason == "signal" else None,
    }


def _open(trade: Trade, sim: Simulation) -> dict[str, Any]:
    state = sim.ledger.positions[trade.symbol]
    close = sim.series[trade.symbol].last_close(sim.end)
    return {"symbol": trade.symbol, "side": trade.side, "quantity": money(state.quantity),
            "average_price": money(state.average_price), "mark_price": money(close),
            "entry_at": _iso(trade.entry_at), "entry_signal": trade.entry_signal}


def _untraded(item: ReplaySignal, sim: Simulation) -> dict[str, Any]:
    outcome = sim.outcomes.get(item.n)
    summary = item.summary
    return {"n": item.n, "ref": item.ref, "received_at": item.received_at.isoformat(),
            "symbol": summary.symbol if summary else None, "action": summary.action if summary else None,
            "confidence": money(summary.confidence) if summary else None,
            "reason": (outcome.reason if outcome and outcome.reason else "no order filled")}


def _per_symbol(sim: Simulation, seconds: float) -> list[dict[str, Any]]:
    rows = []
    symbols = sorted({t.symbol for t in sim.ledger.trades} | set(sim.ledger.open_trades) | set(sim.ledger.exposure))
    for symbol in symbols:
        pnls = [t.pnl for t in sim.ledger.trades if t.symbol == symbol]
        fees = sum((t.fees for t in sim.ledger.trades if t.symbol == symbol), Decimal(0))
        wins = sum(1 for p in pnls if p > 0)
        rows.append({"symbol": symbol, "trades": len(pnls), "wins": wins,
                     "win_rate": ratio(wins / len(pnls)) if pnls else None,
                     "realised_pnl": money(sum(pnls, Decimal(0))), "fees": money(fees),
                     "profit_factor": ratio(metrics.profit_factor(pnls)),
                     "exposure": ratio(sim.ledger.exposure.get(symbol, 0.0) / seconds) if seconds > 0 else None})
    return rows


def confidence_bucket(confidence: Decimal) -> str:
    """Tenths: ``0.8-0.9`` holds 0.80 ≤ c < 0.90; 1.0 falls in ``0.9-1.0``."""
    low = min(int(confidence * 10), 9)
    return f"{low / 10:.1f}-{(low + 1) / 10:.1f}"


def _per_confidence(sim: Simulation, signals: list[ReplaySignal]) -> list[dict[str, Any]]:
    """Signals with a confidence, by bucket: how many, how many traded, the trades they opened."""
    buckets: dict[str, dict[str, Any]] = {}
    for item in signals:
        if item.summary is None or item.summary.confidence is None:
            continue
        row = buckets.setdefault(confidence_bucket(item.summary.confidence),
                                 {"signals": 0, "traded": 0, "pnls": []})
        row["signals"] += 1
        row["traded"] += bool(sim.outcomes.get(item.n) and sim.outcomes[item.n].filled)
    for trade in sim.ledger.trades:
        entry = signals[trade.entry_signal].summary
        confidence = entry.confidence if entry is not None else None
        if confidence is not None:
            buckets[confidence_bucket(confidence)]["pnls"].append(trade.pnl)
    rows = []
    for bucket, row in sorted(buckets.items()):
        pnls, wins = row["pnls"], sum(1 for p in row["pnls"] if p > 0)
        rows.append({"bucket": bucket, "signals": row["signals"], "traded": row["traded"], "trades": len(pnls),
                     "wins": wins, "win_rate": ratio(wins / len(pnls)) if pnls else None,
                     "realised_pnl": money(sum(pnls, Decimal(0))), "profit_factor": ratio(metrics.profit_factor(pnls))})
    return rows


COMPARED = ("final_equity", "total_return", "annualised_return", "realised_pnl", "fees", "trades", "win_rate",
            "profit_factor", "average_win", "average_loss", "max_drawdown", "sharpe", "sortino", "exposure")


def comparison(sections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Headline figures, one row per configuration (side by side in the CLI's table)."""
    rows = []
    for section in sections:
        summary = section["summary"]
        row: dict[str, Any] = {"config": section["name"]}
        for key in COMPARED:
            row[key] = summary[key]
        row["max_drawdown"] = summary["max_drawdown"]["amount"]
        row["max_drawdown_percent"] = summary["max_drawdown"]["percent"]
        row["signals_traded"] = summary["signals"]["traded"]
        rows.append(row)
    return rows


def dumps(report: dict[str, Any]) -> str:
    """The report's canonical text: keys in the order built, no spaces, UTF-8 (byte-identical
    for identical inputs)."""
    return json.dumps(report, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def table(report: dict[str, Any]) -> str:
    """The comparison side by side (a column per configuration), then trades by confidence
    bucket and why signals traded nothing."""
    rows = report["comparison"]
    labels = [("final equity", "final_equity"), ("total return %", "total_return"),
              ("annualised return %", "annualised_return"), ("realised PnL (net of fees)", "realised_pnl"),
              ("fees", "fees"), ("trades", "trades"), ("win rate %", "win_rate"), ("profit factor", "profit_factor"),
              ("average win", "average_win"), ("average loss", "average_loss"), ("max drawdown", "max_drawdown"),
              ("max drawdown %", "max_drawdown_percent"), ("Sharpe", "sharpe"), ("Sortino", "sortino"),
              ("exposure %", "exposure"), ("signals traded", "signals_traded")]
    percent = {"total_return", "annualised_return", "win_rate", "exposure"}
    lines = [["", *[r["config"] for r in rows]]]
    for label, key in labels:
        lines.append([label, *[_cell(r[key], key in percent) for r in rows]])
    out = [_render(lines)]
    for section in report["configurations"]:
        if section["per_confidence"]:
            grid = [["confidence", "signals", "traded", "trades", "win rate %", "realised PnL", "profit factor"]]
            grid += [[b["bucket"], str(b["signals"]), str(b["traded"]), str(b["trades"]), _cell(b["win_rate"], True),
                      _cell(b["realised_pnl"]), _cell(b["profit_factor"])] for b in section["per_confidence"]]
            out.append(f"\n{section['name']}: by confidence\n" + _render(grid))
        if section["untraded_by_check"]:
            counts = ", ".join(f"{k} {v}" for k, v in section["untraded_by_check"].items())
            out.append(f"{section['name']}: signals that traded nothing, by reason: {counts}")
    return "\n".join(out)


def _cell(value: Any, percent: bool = False) -> str:
    if value is None:
        return "-"
    if percent:
        return f"{float(value) * 100:.2f}"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, str):
        try:
            return f"{Decimal(value):,.2f}"
        except ArithmeticError:
            return value
    return str(value)


def _render(grid: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in grid) for i in range(len(grid[0]))]
    return "\n".join("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
                     for row in grid)
