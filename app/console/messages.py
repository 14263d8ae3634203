"""Paste-ready TradingView alert messages, one per dialect a TradingView alert can speak
(the README's "Alert dialects"). TradingView fills in the ``{{...}}`` placeholders; the
strategy's token rides in the webhook URL, so a message carries it only where its dialect
has a secret field of its own (3Commas ``secret``, OKX ``signalToken``)."""

import json

from app.admin.strategies import webhook_url

TOKEN_HIDDEN = "<token: shown once at creation; rotate for a new one>"

_TEMPLATES: dict[str, dict[str, object] | str] = {
    "tradewire": {
        "tradewire": 1, "symbol": "{{exchange}}:{{ticker}}", "action": "{{strategy.order.action}}",
        "size": "{{strategy.order.contracts}}", "size_unit": "base",
        "target_position": "{{strategy.market_position}}", "prev_position": "{{strategy.prev_market_position}}",
        "price": "{{close}}", "signal_time": "{{timenow}}", "comment": "{{strategy.order.id}}",
    },
    "tradingview": {
        "time": "{{timenow}}", "exchange": "{{exchange}}", "ticker": "{{ticker}}",
        "bar": {"time": "{{time}}", "close": "{{close}}"},
        "strategy": {"order_action": "{{strategy.order.action}}", "order_contracts": "{{strategy.order.contracts}}",
                     "order_price": "{{strategy.order.price}}", "order_id": "{{strategy.order.id}}",
                     "market_position": "{{strategy.market_position}}",
                     "prev_market_position": "{{strategy.prev_market_position}}"},
    },
    "traderspost": {
        "ticker": "{{ticker}}", "action": "{{strategy.order.action}}", "sentiment": "{{strategy.market_position}}",
        "quantity": "{{strategy.order.contracts}}", "price": "{{close}}", "time": "{{timenow}}",
    },
    "threecommas": {
        "secret": "{token}", "max_lag": "300", "timestamp": "{{timenow}}", "trigger_price": "{{close}}",
        "tv_exchange": "{{exchange}}", "tv_instrument": "{{ticker}}", "action": "{{strategy.order.action}}",
        "bot_uuid": "tradewire",
        "strategy_info": {"market_position": "{{strategy.market_position}}",
                          "prev_market_position": "{{strategy.prev_market_position}}"},
        "order": {"amount": "{{strategy.order.contracts}}", "currency_type": "base"},
    },
    "okx": {
        "signalToken": "{token}", "action": "{{strategy.order.action}}", "instrument": "{{ticker}}", "timestamp": "{{timenow}}",
        "maxLag": "60", "investmentType": "base", "amount": "{{strategy.order.contracts}}",
    },
    "octobot": "EXCHANGE={{exchange}}\nSYMBOL={{ticker}}\nSIGNAL=BUY",
}


def alert_messages(token: str | None) -> dict[str, str]:
    """Dialect → the message to paste; ``token`` None puts a placeholder where a secret goes."""
    secret = token or TOKEN_HIDDEN
    messages = {}
    for dialect, template in _TEMPLATES.items():
        text = template if isinstance(template, str) else json.dumps(template, indent=2)
        messages[dialect] = text.replace("{token}", secret)
    return messages


def shown_url(token: str | None) -> str:
    """The webhook URL, or its shape with the token hidden."""
    return webhook_url(token) if token else webhook_url(TOKEN_HIDDEN)
