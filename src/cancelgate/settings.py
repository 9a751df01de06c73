"""Process settings, read from the environment (prefix CANCELGATE_, plus DATABASE_URL)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def split_units(text: str) -> set[str]:
    """Business units from comma-separated text: `TT, bb` → {"TT", "BB"}."""
    return {u.strip().upper() for u in text.split(",") if u.strip()}


def split_seconds(text: str) -> tuple[float, ...]:
    """Waits in seconds from comma-separated text: `5, 300,` → (5.0, 300.0)."""
    return tuple(float(part) for part in text.split(",") if part.strip())


class Settings(BaseSettings):
    """Every knob of a cancelgate process; defaults suit a local sandbox."""

    model_config = SettingsConfigDict(env_prefix="CANCELGATE_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "CANCELGATE_DATABASE_URL"),
    )
    data_dir: Path = Path("./var")
    public_base_url: str | None = None

    token_lifetime_seconds: int = 3000
    # A verified token is trusted this long without checking again (0: check every request).
    principal_cache_seconds: float = 5.0
    assertion_max_lifetime_seconds: int = 3600
    clock_skew_seconds: int = 60

    # Versions 1 and 2 of every Connect endpoint are deprecated since this instant (RFC 9745).
    deprecation_date: str = "2024-07-01T00:00:00Z"
    deprecation_link: str = "https://github.com/cancelgate/cancelgate#api-versions"
    # The longest `Retry-After` a 202 gives (it says when the outcome is likely, up to this).
    retry_after_seconds: int = 5
    # `Prefer: wait=N` on the status GETs holds the answer at most this long (RFC 7240) …
    long_poll_max_seconds: int = Field(default=30, ge=0, le=30)
    # … and at most this many requests per process at once (the rest are answered at once).
    long_poll_max_waiting: int = 1000
    # Request bodies past this size are refused with 413 (ours are well under 2 KiB).
    max_body_bytes: int = 64 * 1024

    # Rate limits per client and endpoint family (cancelgate/rate_limits.py): a rate and a
    # burst each, enforced as "at most burst requests in any burst/rate seconds". Off: no limit
    # and no RateLimit fields (`make bench`).
    rate_limits: bool = True
    # Shared by every process that names the same Redis (and key prefix); unset: per process.
    redis_url: str | None = None
    rate_limit_key_prefix: str = "cancelgate:rate-limits"
    rate_limit_status_per_second: float = Field(default=20.0, gt=0)
    rate_limit_status_burst: int = Field(default=40, ge=1)
    rate_limit_commands_per_second: float = Field(default=10.0, gt=0)
    rate_limit_commands_burst: int = Field(default=20, ge=1)
    # Tokens issued per client id.
    rate_limit_tokens_per_minute: float = Field(default=5.0, gt=0)
    rate_limit_tokens_burst: int = Field(default=5, ge=1)
    rate_limit_ux_per_second: float = Field(default=10.0, gt=0)
    rate_limit_ux_burst: int = Field(default=10, ge=1)
    # Failed authentications per client id at the token endpoint: after this many in the
    # window, each further attempt waits 1 s, then 2, 4 … up to the maximum (then 429).
    rate_limit_token_failures: int = Field(default=5, ge=1)
    rate_limit_token_failure_window_seconds: int = Field(default=900, ge=1)
    rate_limit_token_failure_max_delay_seconds: int = Field(default=60, ge=1)

    cancellation_ponr_hours: int = 48
    business_timezone: str = "Australia/Sydney"
    # The sandbox (fixtures on demand, tenant test clocks, loopback webhooks) for this process,
    # whatever the installation says; `serve --demo` and `cancelgate sandbox on` turn it on for
    # every process of the installation.
    sandbox: bool = False

    nbn_mode: Literal["simulator", "http"] = "simulator"
    nbn_base_url: str = "http://127.0.0.1:8090"
    nbn_connect_timeout_seconds: float = 2.0
    nbn_read_timeout_seconds: float = 10.0
    sim_slow_seconds: float = 3.0

    csg_mode: Literal["simulator", "http"] = "simulator"
    csg_base_url: str = "http://127.0.0.1:8090"
    csg_connect_timeout_seconds: float = 2.0
    # The whole CSG call, whatever the adapter: past it the UX API answers 500.
    csg_timeout_seconds: float = 10.0
    sim_csg_slow_seconds: float = 20.0
    # Business units the UX API serves (2-letter ISO 3166 codes; comma-separated in the env).
    ux_business_units: Annotated[frozenset[str], NoDecode] = frozenset(
        {"TT", "BB", "JM", "PA", "PR"}
    )

    # Allow http and loopback webhook URLs (demo and tests); never private ranges.
    webhook_allow_insecure: bool = False
    webhook_timeout_seconds: float = 15.0
    # An egress proxy for every webhook delivery (e.g. smokescreen): it resolves and enforces
    # the address policy itself. Unset: cancelgate dials the address it checked, no proxy.
    webhook_proxy: str | None = None
    # Waits before each retry (seconds; comma-separated in the env), each with full jitter.
    webhook_retry_schedule: Annotated[tuple[float, ...], NoDecode] = (
        5, 300, 1800, 7200, 18000, 36000, 36000,
    )  # fmt: skip
    # A subscription whose deliveries have failed for this long is disabled.
    webhook_disable_after_seconds: float = 5 * 24 * 3600

    job_max_attempts: int = 8
    job_retry_base_seconds: float = 2.0
    worker_concurrency: int = 10
    # API processes also run a job worker unless this is off (`serve --no-worker`).
    in_process_worker: bool = True
    # How often an idle worker looks for scheduled jobs that have come due.
    worker_poll_seconds: float = 5.0
    worker_heartbeat_seconds: float = 5.0
    stalled_after_seconds: float = 20.0

    @field_validator("ux_business_units", mode="before")
    @classmethod
    def _business_units(cls, value: object) -> object:
        """Parsed once, here: `TT,bb` → {"TT", "BB"}."""
        if isinstance(value, str):
            return frozenset(split_units(value))
        return value

    @field_validator("webhook_retry_schedule", mode="before")
    @classmethod
    def _retry_schedule(cls, value: object) -> object:
        """Parsed once, here: `5,300` → (5.0, 300.0)."""
        return split_seconds(value) if isinstance(value, str) else value

    # Connections each process may open to PostgreSQL for requests, jobs and the job queue.
    db_pool_size: int = 20

    log_level: str = "INFO"
    log_json: bool = True

    # The operator console at /console (answered only once an operator exists, else 404) and
    # how long one of its sessions lasts. Failed logins wait as failed token authentications
    # do (the rate_limit_token_failure_* knobs, per email).
    console: bool = True
    console_session_hours: int = Field(default=8, ge=1)

    # Prometheus metrics: `GET /metrics` on the API port and the measured upstream ports; off,
    # neither (and no per-request timing).
    metrics: bool = True


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
