"""What every cloud adapter shares: its name, where it points, its secret, its metrics.

The API key lives in one private attribute and is never part of a repr, a
log line or an error message (``error_map`` masks it if a provider echoes it).
"""

from __future__ import annotations

import logging

from pipelines.errors import ProviderError
from pipelines.providers.cloud.error_map import to_provider_error
from pipelines.providers.cloud.metrics import MetricsRecorder, MetricsSink, ProviderMetrics, Stage

log = logging.getLogger(__name__)

# Adapters fail over instead of retrying: the fallback chain decides, and an
# SDK's own backoff (seconds) would blow the first-byte deadline.
DEFAULT_MAX_RETRIES = 0
# Whole-request ceiling; first-byte deadlines are enforced by the fallback chain.
DEFAULT_TIMEOUT = 30.0


class CloudAdapter:
    stage: Stage = "llm"

    def __init__(
        self, *, name: str, base_url: str, api_key: str, on_metrics: MetricsSink | None
    ) -> None:
        self.name = name
        self.base_url = base_url
        self._api_key = api_key
        self._on_metrics = on_metrics
        self.last_metrics: ProviderMetrics | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, base_url={self.base_url!r})"

    async def aclose(self) -> None:
        """Release the adapter's HTTP connections (subclasses with clients override)."""

    def _recorder(self) -> MetricsRecorder:
        return MetricsRecorder(self.name, self.stage)

    def _error(self, exc: BaseException) -> ProviderError:
        return to_provider_error(exc, self.name, secrets=(self._api_key,))

    def _publish(self, recorder: MetricsRecorder, error: BaseException | None = None) -> None:
        metrics = recorder.finish(error)
        self.last_metrics = metrics
        if self._on_metrics is not None:
            try:
                self._on_metrics(metrics)
            except Exception:  # a broken sink must not break the call
                log.exception("metrics sink failed for %s", self.name)
