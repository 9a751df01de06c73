"""The console as an operator uses it, in Debian's chromium: logging in (and failing to), finding
a request by id and reading its timeline, redelivering a webhook, disabling a client, and the
login page in front of every page without a valid session. The screenshots the README shows are
taken here."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import Site, shoot
from tests.support import VERSION_8, count, poll_until, token_for

pytestmark = pytest.mark.e2e
SESSION_COOKIE = "cg_console"
# An authenticated GET of the Connect API: answers while the client is enabled.
SCENARIOS = "/api/connect/sandbox/scenarios"


def log_in(page: Page, site: Site, password: str | None = None) -> None:
    """Fill and send the login form the page shows."""
    page.get_by_label("Email").fill(site.operator.email)
    page.get_by_label("Password").fill(site.operator.password if password is None else password)
    page.get_by_role("button", name="Log in").click()


def logged_in(page: Page, site: Site) -> None:
    """Log in from the login page; on the overview."""
    page.goto(site.url("/console/login"))
    log_in(page, site)
    expect(page).to_have_url(site.url("/console"))


def nav(page: Page, name: str) -> Locator:
    """A link of the console's navigation bar."""
    return page.locator("header nav").get_by_role("link", name=name, exact=True)


def login_url(site: Site, target: str) -> str:
    """The login page that sends the operator on to `target` once logged in."""
    return site.url("/console/login?" + urlencode({"next": target}))


def session_cookies(page: Page) -> list[str]:
    """The values of the console session cookies the browser holds."""
    return [c.get("value", "") for c in page.context.cookies() if c.get("name") == SESSION_COOKIE]


def reload_until(page: Page, locator: Locator, text: str, what: str) -> None:
    """Reload the page until `locator` contains `text` (what the worker writes shows up once it
    has written it); bounded."""

    def shown() -> str:
        page.reload()
        return locator.inner_text()

    poll_until(shown, lambda seen: text in seen, timeout=60, what=what)


def test_login_lands_on_the_overview(page: Page, site: Site, screenshots: Path) -> None:
    page.goto(site.url("/console/login"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    shoot(page, screenshots, "login")
    log_in(page, site)
    expect(page).to_have_url(site.url("/console"))
    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
    expect(page.locator("header .me")).to_have_text(site.operator.email)
    [cookie] = [c for c in page.context.cookies() if c.get("name") == SESSION_COOKIE]
    # A script (or another site's form) gets nothing from the session cookie.
    assert cookie.get("httpOnly") is True and cookie.get("sameSite") == "Lax", cookie
    shoot(page, screenshots, "overview")


def test_a_wrong_password_shows_an_error_and_opens_no_session(page: Page, site: Site) -> None:
    page.goto(site.url("/console/login"))
    log_in(page, site, password="not the password")
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    expect(page).to_have_url(site.url("/console/login"))
    expect(page.get_by_label("Email")).to_have_value(site.operator.email)
    assert session_cookies(page) == []
    page.goto(site.url("/console"))
    expect(page).to_have_url(login_url(site, "/console"))
    audited = "SELECT count(*) FROM operator_audit WHERE action = %s"
    assert count(site.database_url, audited, "login.failed") == 1


def test_a_request_found_by_id_shows_its_timeline(
    page: Page, site: Site, screenshots: Path
) -> None:
    request_id = site.failed_then_delivered
    logged_in(page, site)
    nav(page, "Appointment cancellations").click()
    rows = page.locator("main table tbody tr")
    expect(rows).to_have_count(2)
    page.get_by_label("Id").fill(str(request_id))
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(rf"/console/requests\?(.*&)?id={request_id}(&|$)"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(site.orders.tenant)
    rows.first.get_by_role("link", name=str(request_id), exact=True).click()

    expect(page).to_have_url(site.url(f"/console/requests/{request_id}"))
    heading = page.get_by_role("heading", name=f"Appointment cancellation {request_id}")
    expect(heading).to_be_visible()
    timeline = page.locator("ol.timeline")
    expect(timeline).to_contain_text("requested")
    expect(timeline).to_contain_text("COMPLETED")
    expect(timeline).to_contain_text("event appointment.cancelled")
    delivery = page.locator("section.delivery")
    expect(delivery).to_have_count(1)
    expect(delivery.locator("h3")).to_contain_text(
        f"to {site.receiver.url}: succeeded (2 attempts)"
    )
    # The receiver answered 500 first, then 200 to the retry.
    expect(delivery.locator("tbody tr td:nth-child(2)")).to_have_text(["500", "200"])
    shoot(page, screenshots, "request")


def test_redelivering_a_webhook_sends_it_again(page: Page, site: Site) -> None:
    request_id = site.delivered
    logged_in(page, site)
    page.goto(site.url(f"/console/requests/{request_id}"))
    delivery = page.locator("section.delivery")
    expect(delivery.locator("h3")).to_contain_text("succeeded (1 attempts)")
    event_id = delivery.locator("p code").inner_text()
    delivery_id = delivery.locator("h3").inner_text().split()[1]
    received_before = len(site.receiver.requests)

    delivery.get_by_role("button", name="Redeliver").click()
    # Back on the request's page (the form's `next`).
    expect(page).to_have_url(site.url(f"/console/requests/{request_id}"))
    received = site.receiver.wait_for(received_before + 1, timeout=60)
    # The same event again (same webhook-id), sent by the worker to the subscription's URL.
    assert received[-1].headers["webhook-id"] == event_id
    reload_until(page, delivery.locator("h3"), "succeeded (2 attempts)", "the redelivery shown")
    expect(delivery.locator("tbody tr td:nth-child(2)")).to_have_text(["200", "200"])
    audited = "SELECT count(*) FROM operator_audit WHERE action = %s AND target = %s"
    assert count(site.database_url, audited, "webhook.redeliver", f"delivery:{delivery_id}") == 1


def test_disabling_a_client_refuses_its_tokens(page: Page, site: Site, screenshots: Path) -> None:
    spare = site.spare
    token = token_for(site.base, spare.client_id, spare.secret)
    bearer = {"Authorization": f"Bearer {token}", **VERSION_8}
    assert httpx.get(site.url(SCENARIOS), headers=bearer).status_code == 200
    logged_in(page, site)
    nav(page, "Clients").click()
    expect(page.get_by_role("heading", name="API clients")).to_be_visible()
    row = page.locator("main table tbody tr").filter(has_text=spare.client_id)
    other = page.locator("main table tbody tr").filter(has_text=site.orders.client_id)
    expect(row.locator("td").nth(3)).to_have_text("enabled")

    row.get_by_role("button", name="Disable").click()
    expect(page).to_have_url(site.url("/console/clients"))
    expect(row.locator("td").nth(3)).to_have_text("disabled")
    expect(row.get_by_role("button", name="Enable")).to_be_visible()
    expect(row.get_by_role("button", name="Disable")).to_have_count(0)
    expect(other.locator("td").nth(3)).to_have_text("enabled")
    shoot(page, screenshots, "clients")

    refused = httpx.post(
        site.url("/oauth/token"),
        data={"grant_type": "client_credentials"},
        auth=(spare.client_id, spare.secret),
    )
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    # The token it had before is refused too (the principal cache is off for these tests).
    old = httpx.get(site.url(SCENARIOS), headers=bearer)
    assert old.status_code == 401, old.text
    assert token_for(site.base, site.orders.client_id, site.orders.secret)


def test_a_page_without_a_valid_session_sends_to_login_and_back(page: Page, site: Site) -> None:
    page.goto(site.url("/console/clients"))
    expect(page).to_have_url(login_url(site, "/console/clients"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()

    # A cookie of the right name that the server never signed is no session either.
    page.context.add_cookies(
        [{"name": SESSION_COOKIE, "value": "forged", "domain": "127.0.0.1", "path": "/console"}]
    )
    target = "/console/requests?status=COMPLETED"
    page.goto(site.url(target))
    expect(page).to_have_url(login_url(site, target))
    log_in(page, site)
    expect(page).to_have_url(site.url(target))
    expect(page.get_by_role("heading", name="Appointment cancellations")).to_be_visible()
    expect(page.get_by_label("Status")).to_have_value("COMPLETED")
    expect(page.locator("main table tbody tr")).to_have_count(2)
    # Logging in replaced the forged cookie.
    [cookie] = session_cookies(page)
    assert cookie != "forged"
