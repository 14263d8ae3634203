"""Remote control from Telegram: a ``telegram`` notification channel with ``command_chat_ids``
also takes commands from those chats, long-polled by the scheduler (no inbound port).

``/status``, ``/positions``, ``/signal ID`` answer at once; ``/halt``, ``/reduce``, ``/resume``
(an account, or every account) and ``/closeall ACCOUNT`` ask to confirm with an inline button
and act only on its one-time callback. ``control`` runs the loop (offset, allowlist, nonces,
audit); ``commands`` reads and acts through the admin API's services.
"""

from app.notify.telegram.control import control_forever, controlled_channels, poll_once

__all__ = ["control_forever", "controlled_channels", "poll_once"]
