"""Password hashing with argon2id, run off the event loop (it is slow on purpose)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from tenancy.errors import InvalidInput

MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 256


@dataclass(frozen=True, slots=True)
class HashingCost:
    # argon2-cffi's defaults (RFC 9106 low-memory profile); tests pass a cheap cost.
    time_cost: int = 3
    memory_kib: int = 65_536
    parallelism: int = 4


class Passwords:
    def __init__(self, cost: HashingCost | None = None) -> None:
        cost = cost or HashingCost()
        self._hasher = PasswordHasher(
            time_cost=cost.time_cost, memory_cost=cost.memory_kib, parallelism=cost.parallelism
        )
        # A real hash to verify against when the account does not exist, so a
        # login for an unknown email costs as much as one with a wrong password
        # (made on first need: building the hasher should stay cheap).
        self._decoy: str | None = None

    @staticmethod
    def check_policy(password: str) -> None:
        if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
            raise InvalidInput(
                f"password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
            )

    async def hash(self, password: str) -> str:
        self.check_policy(password)
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        if stored_hash is None:
            if self._decoy is None:
                self._decoy = await asyncio.to_thread(self._hasher.hash, "decoy, never matches")
            stored_hash = self._decoy
        return await asyncio.to_thread(self._verify, stored_hash, password)

    def _verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False
