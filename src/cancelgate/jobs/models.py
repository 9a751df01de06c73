"""The table of job attempts that did not succeed: what went wrong, and what the upstream said.

A successful attempt needs no row of its own: procrastinate's events (`started`,
`succeeded`) time it and the job's feature table records the upstream's answer. Only the
rare attempts that ask for a retry or fail write here, so the hot path pays nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from cancelgate.db.base import Base


class JobAttemptError(Base):
    """One attempt of a job that asked for a retry (`retry`) or raised (`failed`)."""

    __tablename__ = "job_attempt_errors"
    __table_args__ = (Index("ix_job_attempt_errors_job_id", "job_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # procrastinate's job id; no foreign key: the queue may delete finished jobs.
    job_id: Mapped[int] = mapped_column(BigInteger)
    task: Mapped[str] = mapped_column(String(100))
    # 1 for the first attempt.
    attempt: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(10))
    error: Mapped[str] = mapped_column(Text)
    # The upstream calls the attempt made: [{upstream, operation, outcome, ms}].
    upstream: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
