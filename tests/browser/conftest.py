"""The console in a real browser: a `cancelgate serve` process (with its in-process worker) on
a migrated database of its own, seeded through the command line and the API, a webhook
receiver, and Debian's chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.api.console_support import Operator, create_operator
from tests.receiver import Receiver, receiving
from tests.support import (
    CANCELGATE,
    REQUEST,
    SUBSCRIPTIONS,
    VERSION_8,
    clean_env,
    free_port,
    location_id,
    migrated_database,
    poll_outcome,
    query,
    running,
    token_for,
    wait_until,
)

CHROMIUM = "/usr/bin/chromium"
# Generous, bounded waits: the machine has 2 cores and other tests run beside these.
WAIT_MS = 30_000
expect.set_options(timeout=WAIT_MS)
SCREENSHOTS_ENV = "CANCELGATE_SCREENSHOTS"
APPOINTMENT_FIXTURES = "/api/connect/sandbox/appointments"
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Credentials:
    """An API client of a tenant, as `cancelgate clients create` printed it."""

    tenant: str
    client_id: str
    secret: str


@dataclass(frozen=True)
class Site:
    """The running console and what was seeded into it."""

    base: str
    database_url: str
    operator: Operator
    receiver: Receiver
    orders: Credentials  # the tenant whose cancellations were requested
    spare: Credentials  # a tenant of its own, for the test that disables its client
    failed_then_delivered: int  # a request whose delivery failed once (500), then succeeded
    delivered: int  # a request whose delivery succeeded at once

    def url(self, path: str) -> str:
        """The absolute URL of a path of the site."""
        return self.base + path


def create_client(database_url: str, tmp_path: Path, tenant: str, name: str) -> Credentials:
    """`cancelgate clients create`, as an installation's administrator runs it."""
    env = clean_env(tmp_path) | {"DATABASE_URL": database_url, "CANCELGATE_LOG_LEVEL": "WARNING"}
    done = subprocess.run(
        [CANCELGATE, "clients", "create", "--tenant", tenant, "--name", name],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    return Credentials(tenant, printed["client_id"], printed["client_secret"])


def delivery_statuses(database_url: str) -> list[str]:
    """Every webhook delivery's status, oldest first."""
    return [
        row[0] for row in query(database_url, "SELECT status FROM webhook_deliveries ORDER BY id")
    ]


def cancel(http: httpx.Client, headers: dict[str, str], appointment_id: int) -> int:
    """Request a cancellation through the API and wait for its outcome; the request's id."""
    response = http.post(REQUEST, json={"appointmentId": appointment_id}, headers=headers)
    assert response.status_code == 201, response.text
    location = response.headers["location"]
    assert poll_outcome(http, location, headers).status_code == 200
    return location_id(location)


def seed(base: str, database_url: str, receiver: Receiver, orders: Credentials) -> tuple[int, int]:
    """Two appointments cancelled through the API, each with a webhook delivery to the
    receiver: the first answered 500 once (then retried), the second 200 at once."""
    headers = {"Authorization": f"Bearer {token_for(base, orders.client_id, orders.secret)}"}
    headers |= VERSION_8
    with httpx.Client(base_url=base, timeout=30) as http:
        made = http.post(
            APPOINTMENT_FIXTURES, json={"scenario": "booked", "count": 2}, headers=headers
        )
        assert made.status_code == 201, made.text
        first, second = (fixture["appointmentId"] for fixture in made.json())
        body = {
            "url": receiver.url,
            "events": ["appointment.cancelled"],
            "description": "Orders system",
        }
        subscribed = http.post(SUBSCRIPTIONS, json=body, headers=headers)
        assert subscribed.status_code == 201, subscribed.text
        receiver.answers = [500]
        failed_then_delivered = cancel(http, headers, first)
        receiver.wait_for(2, timeout=60)
        delivered = cancel(http, headers, second)
        receiver.wait_for(3, timeout=60)
    # The attempts are written once answered: the pages read them from the database.
    wait_until(
        lambda: delivery_statuses(database_url) == ["succeeded", "succeeded"],
        60,
        "both deliveries succeeded",
    )
    return failed_then_delivered, delivered


@pytest.fixture(scope="module")
def site(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A serve process (API, console and worker) on 127.0.0.1, on a seeded database of its own."""
    tmp = tmp_path_factory.mktemp("console-site")
    with migrated_database(database_url) as url, receiving() as receiver:
        made = create_operator(url, tmp, "ops@example.com", PASSWORD)
        assert made.returncode == 0, made.stderr
        operator = Operator(json.loads(made.stdout)["email"], PASSWORD)
        orders = create_client(url, tmp, "acme-telco", "Acme Telco orders")
        spare = create_client(url, tmp, "beta-telco", "Beta Telco billing")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            "DATABASE_URL": url,
            "CANCELGATE_DATA_DIR": str(tmp),
            "CANCELGATE_SANDBOX": "true",
            "CANCELGATE_WEBHOOK_ALLOW_INSECURE": "true",
            "CANCELGATE_WEBHOOK_RETRY_SCHEDULE": "0.5,0.5,0.5,0.5",
            "CANCELGATE_WEBHOOK_TIMEOUT_SECONDS": "5",
            # A disabled client's token is refused at its very next request.
            "CANCELGATE_PRINCIPAL_CACHE_SECONDS": "0",
        }
        # serve runs its worker in process unless --no-worker: it delivers the webhooks.
        args = ["serve", "--port", str(port)]
        with running(args, env, tmp / "serve.log", base + "/healthz"):
            first, second = seed(base, url, receiver, orders)
            yield Site(base, url, operator, receiver, orders, spare, first, second)


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Browser]:
    """Debian's chromium, headless, for one module.

    Started after the site and stopped before it: while Playwright's sync API runs, its event
    loop counts as the thread's running loop, and the site's seeding and the other tests'
    fixtures call asyncio.run.
    """
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `make browser-tools` installs Debian's chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, timeout=WAIT_MS * 2)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a browser context of its own (no cookie from another test)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(WAIT_MS)
    context.set_default_navigation_timeout(WAIT_MS)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tests put their screenshots: $CANCELGATE_SCREENSHOTS if set (the README's
    docs/console), else a temporary directory."""
    chosen = os.environ.get(SCREENSHOTS_ENV)
    if not chosen:
        return tmp_path_factory.mktemp("screenshots")
    path = Path(chosen)
    path.mkdir(parents=True, exist_ok=True)
    return path


def shoot(page: Page, directory: Path, name: str) -> Path:
    """A screenshot of the page's content (its body, as tall as it is) as `<name>.png`."""
    path = directory / f"{name}.png"
    page.locator("body").screenshot(path=str(path), animations="disabled")
    return path
