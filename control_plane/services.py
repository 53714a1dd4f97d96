"""The control plane's shared services, built once per app from settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from control_plane.credentials.crypto import SecretBox
from control_plane.settings import Settings
from pipelines.agent import ProviderSpec
from pipelines.knowledge import Retriever
from pipelines.providers.base import LLMProvider
from pipelines.providers.registry import ProviderRegistry
from tenancy.accounts import AccountPolicy
from tenancy.db.engine import Database, DatabaseConfig
from tenancy.outbox import LogMailer, Mailer, SmtpConfig, SmtpMailer
from tenancy.passwords import HashingCost, Passwords
from tenancy.ratelimit import RateLimit, RateLimiter, build_rate_limiter

# Builds the LLM for an agent from its ordered fallback list (first = preferred).
LLMFactory = Callable[[Sequence[ProviderSpec]], LLMProvider]
# Knowledge retrieval for an agent's linked knowledge bases (organisation id,
# knowledge base ids) -> a Retriever, or None; set by the knowledge area.
RetrieverFactory = Callable[[str, tuple[str, ...]], Retriever | None]
# Called with an organisation id when a platform admin suspends it, so live
# sessions (voice, WebSocket chat) of that organisation can be ended.
SuspensionListener = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Limits:
    per_key: RateLimit
    per_ip: RateLimit
    auth_per_ip: RateLimit
    max_request_bytes: int


@dataclass
class Services:
    settings: Settings
    db: Database
    passwords: Passwords
    accounts: AccountPolicy
    limiter: RateLimiter
    limits: Limits
    mailer: Mailer
    secret_box: SecretBox
    llm_factory: LLMFactory
    suspension_listeners: list[SuspensionListener] = field(default_factory=list)
    retriever_factory: RetrieverFactory | None = None


def database_config(settings: Settings) -> DatabaseConfig:
    url = settings.resolved_database_url
    postgres = url.startswith("postgresql")
    return DatabaseConfig(
        url=url,
        schema=settings.database_schema if postgres else None,
        app_role=(settings.database_app_role or None) if postgres else None,
    )


def registry_llm_factory(registry: ProviderRegistry) -> LLMFactory:
    """LLMs from the pipelines' provider registry (instances shared per spec)."""

    def build(specs: Sequence[ProviderSpec]) -> LLMProvider:
        return registry.llm(specs)

    return build


def build_services(settings: Settings) -> Services:
    window = settings.rate_limit_window_seconds
    mailer: Mailer = LogMailer()
    if settings.smtp_host:
        mailer = SmtpMailer(
            SmtpConfig(
                host=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username,
                password=settings.smtp_password,
                sender=settings.smtp_sender,
                starttls=settings.smtp_starttls,
            )
        )
    return Services(
        settings=settings,
        db=Database(database_config(settings)),
        passwords=Passwords(
            HashingCost(
                time_cost=settings.password_time_cost,
                memory_kib=settings.password_memory_kib,
                parallelism=settings.password_parallelism,
            )
        ),
        accounts=AccountPolicy(
            session_ttl=timedelta(hours=settings.session_ttl_hours),
            require_verified_email=settings.require_email_verification,
            public_url=settings.public_url or f"http://{settings.host}:{settings.port}",
        ),
        limiter=build_rate_limiter(settings.redis_url),
        limits=Limits(
            per_key=RateLimit(settings.rate_limit_per_key, window),
            per_ip=RateLimit(settings.rate_limit_per_ip, window),
            auth_per_ip=RateLimit(settings.rate_limit_auth_per_ip, window),
            max_request_bytes=settings.max_request_bytes,
        ),
        mailer=mailer,
        secret_box=SecretBox(settings.secret_key),
        # install_platform swaps in the voice runtime's registry, to share models.
        llm_factory=registry_llm_factory(ProviderRegistry()),
    )
