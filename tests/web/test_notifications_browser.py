"""The Notifications page (WEB.md) in a real browser: Playwright driving the
system's Chromium against the app served by uvicorn, every control found by
the accessible name WEB.md gives it, axe-core on the page (no "serious" or
"critical" violation). The notifications are written by the services, as
the events happen: a cycle is published, the user's nomination is approved.

Chromium as `tests.web.browser` says (skipped without it, except under CI=true)."""

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect, sync_playwright
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from plaudit.api.app import create_app
from plaudit.clock import FixedClock
from plaudit.db.session import transaction
from plaudit.services import approvals, cycles, nominations
from plaudit.services.teams import create_team, update_team
from plaudit.services.users import create_user
from tests.factories import make_criterion, make_cycle
from tests.helpers import served
from tests.web.browser import ARGS, require_chromium
from tests.web.conftest import PASSWORD, give_password

CHROMIUM = require_chromium()


@pytest.fixture
def web_server(committed_db: Engine) -> Iterator[str]:
    with served(create_app(engine=committed_db)) as base_url:
        yield base_url


@pytest.fixture
def notified(committed_db: Engine) -> str:
    """Eve (an employee with a password) told twice by the services: the
    cycle "Spring awards" is published, and her nomination of Sam is approved
    by their manager. Returns her email."""
    now = datetime.now(UTC)
    clock = FixedClock(now)
    factory = sessionmaker(committed_db, expire_on_commit=False)
    with transaction(factory) as session:
        admin = create_user(session, None, email="hana@example.org", display_name="Hana Admin", role="admin")
        team = create_team(session, None, name="Engineering")
        manager = create_user(session, None, email="maya@example.org", display_name="Maya Patel", role="manager",
                              team_id=team.id)
        update_team(session, None, team.id, manager_id=manager.id)
        eve = create_user(session, None, email="eve@example.org", display_name="Eve Johnson", role="employee",
                          team_id=team.id)
        sam = create_user(session, None, email="sam@example.org", display_name="Sam Okafor", role="employee",
                          team_id=team.id)
        give_password(session, eve)
        cycle = make_cycle(session, now=now, status="draft", name="Spring awards")
        criterion = make_criterion(session, cycle, name="Impact")
        cycles.publish_cycle(session, admin, cycle.id, now=now)
    with transaction(factory) as session:  # a later transaction: a newer notification
        nomination = nominations.create_nomination(
            session, session.merge(eve), cycle.id, nominee_id=sam.id,
            justification="Sam rebuilt the release pipeline and taught everyone how it works.", clock=clock)
        approvals.submit_approval(session, session.merge(manager), nomination.id, decision="approve",
                                  ratings=[{"criterion_id": criterion.id, "value": 5}], clock=clock)
    return eve.email


def accessible(page: Page) -> None:
    violations = Axe().run(page).response["violations"]
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in violations
           if v["impact"] in ("serious", "critical")]
    assert bad == [], f"{page.url}: {bad}"


def test_a_user_reads_their_notifications_and_the_unread_count_goes_away(web_server: str, notified: str):
    assert CHROMIUM, "browser tests need Chromium: apt-get install -y chromium"
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = chromium.new_context(viewport={"width": 1100, "height": 800}, locale="en-GB")
            context.set_default_timeout(10_000)
            page = context.new_page()
            page.goto(web_server + "/app/")
            page.get_by_label("Email").fill(notified)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("Hello")
            main_nav = page.get_by_role("navigation", name="Main")

            # Two unread: the header says so; the page lists both, newest first.
            main_nav.get_by_role("link", name="Notifications 2", exact=True).click()
            expect(page).to_have_url(re.compile("/app/notifications$"))
            expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
            accessible(page)
            items = page.locator("ul.notifications > li")
            expect(items).to_have_count(2)
            expect(items.nth(0).get_by_role("link")).to_have_text("Your nomination of Sam Okafor was approved")
            expect(items.nth(1).get_by_role("link")).to_have_text("Nominations are open: Spring awards")
            expect(items.get_by_text("new", exact=True)).to_have_count(2)

            # Opening one reads it and goes where it points.
            page.get_by_role("link", name="Your nomination of Sam Okafor was approved").click()
            expect(page).to_have_url(re.compile("/app/my/nominations$"))
            main_nav.get_by_role("link", name="Notifications 1", exact=True).click()
            expect(items.get_by_text("new", exact=True)).to_have_count(1)
            expect(items.nth(1).get_by_text("new", exact=True)).to_be_visible()

            # Mark all as read: the count goes away.
            page.get_by_role("button", name="Mark all as read").click()
            expect(page.get_by_role("status")).to_have_text("All notifications are marked as read.")
            expect(items.get_by_text("new", exact=True)).to_have_count(0)
            link = main_nav.get_by_role("link", name="Notifications", exact=True)
            expect(link).to_be_visible()
            expect(link.locator(".count")).to_have_count(0)
            accessible(page)

            # The email preference: Email me notifications, Save.
            checkbox = page.get_by_label("Email me notifications")
            expect(checkbox).to_be_checked()
            checkbox.uncheck()
            page.get_by_role("button", name="Save").click()
            expect(page.get_by_role("status")).to_have_text("Email notifications are off.")
            expect(page.get_by_label("Email me notifications")).not_to_be_checked()
        finally:
            chromium.close()
