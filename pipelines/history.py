"""The chat history a voice session's replies build on, and what barge-in does to it.

Bounded to ``limit`` messages, oldest dropped first. A reply remembers where
its messages went (``ReplyRun.user_index``, ``assistant_index``); when it is
cut off, its assistant message becomes what the user actually heard, or, if
nothing was heard, the reply and the user message it answered are taken out.
"""

from __future__ import annotations

from pipelines.providers.base import ChatMessage
from pipelines.reply import ReplyRun


class ConversationHistory:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        # Mutated in place only: the session hands this very list out.
        self.messages: list[ChatMessage] = []

    def append(self, message: ChatMessage, current: ReplyRun | None) -> int:
        """Add ``message``; returns its index. ``current``'s user index follows a trim."""
        messages = self.messages
        messages.append(message)
        overflow = len(messages) - self.limit
        if overflow > 0:
            del messages[:overflow]
            if current and current.user_index is not None:
                current.user_index -= overflow
        return len(messages) - 1

    def heard(self, run: ReplyRun, heard: str) -> None:
        """``run`` was cut off after ``heard`` played: that is what the agent said."""
        message = ChatMessage("assistant", heard, interrupted=True)
        if run.assistant_index is not None and run.assistant_index < len(self.messages):
            self.messages[run.assistant_index] = message
        else:
            self.append(message, None)

    def forget(self, run: ReplyRun) -> None:
        """``run`` was cut off before any of it played: take out what it added."""
        for index in sorted(
            (i for i in (run.assistant_index, run.user_index) if i is not None), reverse=True
        ):
            if index < len(self.messages):
                del self.messages[index]
