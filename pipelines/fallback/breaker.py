"""A circuit breaker per provider name, on an injectable clock.

closed -> open after ``failure_threshold`` consecutive failures, or at once on
a non-retryable failure (a bad key will not fix itself); open -> half-open
once ``reset_after`` seconds have passed; half-open lets one trial call
through: success closes the circuit, failure opens it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from pipelines.errors import ConfigError, InvalidTransition

DEFAULT_FAILURE_THRESHOLD = 3
DEFAULT_RESET_AFTER = 30.0


class BreakerState(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


_ALLOWED: dict[BreakerState, frozenset[BreakerState]] = {
    BreakerState.CLOSED: frozenset({BreakerState.OPEN}),
    BreakerState.OPEN: frozenset({BreakerState.HALF_OPEN}),
    BreakerState.HALF_OPEN: frozenset({BreakerState.CLOSED, BreakerState.OPEN}),
}


@dataclass
class _Circuit:
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    trial_in_flight: bool = False


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int = DEFAULT_FAILURE_THRESHOLD,
        reset_after: float = DEFAULT_RESET_AFTER,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or reset_after < 0:
            raise ConfigError("failure_threshold must be >= 1 and reset_after >= 0")
        self.failure_threshold = failure_threshold
        self.reset_after = reset_after
        self._clock = clock
        self._circuits: dict[str, _Circuit] = {}

    def state(self, name: str) -> BreakerState:
        circuit = self._circuits.get(name)
        if circuit is None:
            return BreakerState.CLOSED
        self._maybe_half_open(circuit)
        return circuit.state

    def allow(self, name: str) -> bool:
        """May a call go to ``name`` now? In half-open, only one trial at a time."""
        circuit = self._circuits.setdefault(name, _Circuit())
        self._maybe_half_open(circuit)
        if circuit.state is BreakerState.CLOSED:
            return True
        if circuit.state is BreakerState.HALF_OPEN and not circuit.trial_in_flight:
            circuit.trial_in_flight = True
            return True
        return False

    def record_success(self, name: str) -> None:
        circuit = self._circuits.setdefault(name, _Circuit())
        self._maybe_half_open(circuit)
        circuit.failures = 0
        circuit.trial_in_flight = False
        if circuit.state is BreakerState.HALF_OPEN:
            self._move(circuit, BreakerState.CLOSED)
        elif circuit.state is BreakerState.OPEN:
            # A last-resort call to an open provider worked: trust it again.
            self._move(circuit, BreakerState.HALF_OPEN)
            self._move(circuit, BreakerState.CLOSED)

    def record_failure(self, name: str, *, retryable: bool = True) -> None:
        circuit = self._circuits.setdefault(name, _Circuit())
        self._maybe_half_open(circuit)
        circuit.failures += 1
        circuit.trial_in_flight = False
        if circuit.state is BreakerState.OPEN:
            circuit.opened_at = self._clock()  # still failing: wait a full period again
        elif (
            circuit.state is BreakerState.HALF_OPEN
            or not retryable
            or circuit.failures >= self.failure_threshold
        ):
            self._move(circuit, BreakerState.OPEN)
            circuit.opened_at = self._clock()

    def _maybe_half_open(self, circuit: _Circuit) -> None:
        if (
            circuit.state is BreakerState.OPEN
            and self._clock() - circuit.opened_at >= self.reset_after
        ):
            self._move(circuit, BreakerState.HALF_OPEN)

    @staticmethod
    def _move(circuit: _Circuit, new: BreakerState) -> None:
        if new not in _ALLOWED[circuit.state]:
            raise InvalidTransition(f"breaker {circuit.state.value} -> {new.value}")
        circuit.state = new
        circuit.trial_in_flight = False
