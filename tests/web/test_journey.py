"""The journey of WEB.md in a real browser: Playwright driving the system's
Chromium against the real app served by uvicorn, finding every control by
its label or role as WEB.md names it, with axe-core checking every page
(no "serious" or "critical" violation). It takes the README's screenshots:
into the test's tmp_path, or into docs/screenshots/ with
PLAUDIT_UPDATE_SCREENSHOTS=1.

Chromium is Debian's (`apt-get install -y chromium`); Playwright's own
browser download is never used. Without Chromium the module is skipped with
one line saying how to install it, except under CI=true, where it fails.
"""

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from plaudit.api.app import create_app
from plaudit.db.session import transaction
from plaudit.services.teams import create_team, update_team
from plaudit.services.users import create_user
from tests.helpers import served
from tests.web.browser import ARGS, require_chromium
from tests.web.conftest import PASSWORD, give_password

CHROMIUM = require_chromium()

from axe_playwright_python.sync_playwright import Axe  # noqa: E402
from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

# The README's screenshots are refreshed on request only, so that running the
# suite leaves the work tree clean: PLAUDIT_UPDATE_SCREENSHOTS=1.
README_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PEOPLE_CSV = (
    "email,display_name,role,team,team_manager_email\n"
    "lena.fischer@example.org,Lena Fischer,employee,Design,\n"
    "omar.haddad@example.org,Omar Haddad,team_lead,Design,\n"
    "maya.patel@example.org,Maya Patel,manager,Engineering,maya.patel@example.org\n"
)


@pytest.fixture
def web_server(committed_db: Engine) -> Iterator[str]:
    """The real app under uvicorn, on a database whose transactions commit."""
    with served(create_app(engine=committed_db)) as base_url:
        yield base_url


@pytest.fixture
def org(committed_db: Engine) -> dict[str, str]:
    """An admin, a manager with a team of three, each with a password; the emails by role."""
    factory = sessionmaker(committed_db, expire_on_commit=False)
    with transaction(factory) as session:
        admin = create_user(session, None, email="hana@example.org", display_name="Hana Admin", role="admin")
        team = create_team(session, None, name="Engineering")
        manager = create_user(session, None, email="maya.patel@example.org", display_name="Maya Patel",
                              role="manager", team_id=team.id)
        update_team(session, None, team.id, manager_id=manager.id)
        eve = create_user(session, None, email="eve@example.org", display_name="Eve Johnson", role="employee",
                          team_id=team.id)
        create_user(session, None, email="sam@example.org", display_name="Sam Okafor", role="employee",
                    team_id=team.id)
        create_user(session, None, email="leo@example.org", display_name="Leo Tanaka", role="team_lead",
                    team_id=team.id)
        for user in (admin, manager, eve):
            give_password(session, user)
    return {"admin": "hana@example.org", "manager": "maya.patel@example.org", "employee": "eve@example.org"}


class Checked:
    """A signed-in browser tab whose every page is checked by axe-core."""

    checked: set[str] = set()  # pages (paths, ids left out) already checked, in any tab

    def __init__(self, page: Page, base: str, shots: Path) -> None:
        self.page, self.base, self.axe, self.shots = page, base, Axe(), shots

    def accessible(self, state: str = "") -> None:
        """axe-core on the page, once per page (and `state`, such as a form showing its errors)."""
        key = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "{id}", self.page.url.removeprefix(self.base)) + state
        if key in self.checked:
            return
        self.checked.add(key)
        violations = self.axe.run(self.page).response["violations"]
        bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in violations
               if v["impact"] in ("serious", "critical")]
        assert bad == [], f"{self.page.url}: {bad}"

    def sign_in(self, email: str) -> None:
        self.page.goto(self.base + "/app/")
        expect(self.page).to_have_url(re.compile(r"/app/login\?next="))
        self.accessible()
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.get_by_role("heading", level=1)).to_contain_text("Hello")
        self.accessible()

    def nav(self, name: str) -> None:
        self.page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()
        self.accessible()

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)


def test_the_journey(web_server: str, org: dict[str, str], tmp_path: Path):
    shots = README_SCREENSHOTS if os.environ.get("PLAUDIT_UPDATE_SCREENSHOTS") == "1" else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            def tab() -> Checked:
                context = chromium.new_context(viewport={"width": 1100, "height": 800}, timezone_id="Europe/Berlin",
                                               locale="en-GB")
                context.set_default_timeout(10_000)
                return Checked(context.new_page(), web_server, shots)

            admin, employee, manager = tab(), tab(), tab()

            # The admin creates a cycle with three criteria, sees the total, publishes.
            admin.sign_in(org["admin"])
            admin.nav("Cycles")
            admin.page.get_by_role("link", name="New cycle").click()
            admin.accessible()
            admin.page.get_by_label("Name", exact=True).fill("Spring awards")
            admin.page.get_by_label("Description", exact=True).fill("Recognise the colleagues who made this spring.")
            admin.page.get_by_role("button", name="Create cycle").click()
            for index, (name, weight) in enumerate((("Impact", "0.5"), ("Collaboration", "0.3"), ("Craft", "0.1"))):
                admin.page.get_by_label(f"Criterion {index + 1} name").fill(name)
                admin.page.get_by_label(f"Criterion {index + 1} weight").fill(weight)
                if index < 2:
                    admin.page.get_by_role("button", name="Add criterion").click()
            total = admin.page.locator("#weights-total")
            expect(total).to_have_text("0.9000")
            admin.page.get_by_role("button", name="Publish").click()
            expect(admin.page.locator("#e-weights")).to_have_text("Criteria weights sum to 0.9000, not 1")
            admin.accessible("refused")
            admin.page.get_by_label("Criterion 3 weight").fill("0.2")
            expect(total).to_have_text("1.0000")  # the live total, before anything is sent
            admin.page.get_by_role("button", name="Publish").click()
            expect(admin.page.get_by_role("heading", level=1)).to_contain_text("Spring awards")
            expect(admin.page.locator(".flash")).to_have_text("The cycle is published.")
            admin.accessible()

            # The employee nominates a colleague, then sees the duplicate refused in words.
            employee.sign_in(org["employee"])
            employee.shot("home")
            employee.nav("Nominate")
            for _ in range(2):
                employee.page.get_by_label("Colleague").fill("sam@example.org")
                employee.page.get_by_label("Justification").fill(
                    "Sam rebuilt the release pipeline and taught the whole team how it works.")
                expect(employee.page.locator("#justification-count")).to_have_text("72 of 5000 characters")
                employee.page.get_by_role("button", name="Submit nomination").click()
                employee.accessible()
                if "/my/nominations" in employee.page.url:
                    expect(employee.page.get_by_role("cell", name="Sam Okafor (Engineering)")).to_be_visible()
                    employee.nav("Nominate")
            expect(employee.page.locator("#e-colleague")).to_have_text(
                "You already nominated this person in this cycle")
            employee.accessible("refused")
            employee.shot("nominate")
            employee.page.get_by_label("Colleague").fill("Leo")
            employee.page.get_by_label("Justification").fill("Leo ran every retro with care and patience.")
            employee.page.get_by_role("button", name="Submit nomination").click()
            expect(employee.page).to_have_url(re.compile("/app/my/nominations$"))

            # The manager rates and approves, and the next nomination opens by itself.
            manager.sign_in(org["manager"])
            manager.nav("Approvals 2")
            expect(manager.page.locator("#progress")).to_have_text("0 of 2 decided")
            manager.shot("approvals")
            manager.page.get_by_role("link", name="Start with the first").click()
            manager.accessible()
            first = manager.page.url
            for criterion, value in (("Impact", "5"), ("Collaboration", "4"), ("Craft", "4")):
                manager.page.get_by_role("group", name=criterion).get_by_label(value, exact=True).check()
            manager.page.get_by_label("Comment").fill("Deserved.")
            manager.page.get_by_role("button", name="Approve").click()
            expect(manager.page.locator(".flash")).to_contain_text("Here is the next one.")
            assert manager.page.url != first and "/app/approvals/" in manager.page.url
            expect(manager.page.get_by_text("1 of 2 decided")).to_be_visible()
            manager.accessible()

            # The admin closes approvals now, previews, finalizes seeing the undecided count.
            admin.nav("Cycles")
            admin.page.get_by_role("link", name="Spring awards").click()
            admin.page.get_by_role("button", name="Close approvals now").click()
            expect(admin.page.locator(".flash")).to_contain_text("Approvals are closed")
            expect(admin.page.get_by_role("heading", name="Live ranking preview")).to_be_visible()
            expect(admin.page.get_by_role("cell", name="Sam Okafor")).to_be_visible()
            admin.accessible()
            for criterion, weight in (("Impact", "0.6"), ("Collaboration", "0.2"), ("Craft", "0.2")):
                admin.page.get_by_label(f"Weight of {criterion}").fill(weight)
            admin.page.get_by_role("button", name="Preview with these weights").click()
            expect(admin.page.get_by_role("heading", name="What-if ranking")).to_be_visible()
            expect(admin.page.get_by_role("cell", name="4.600000")).to_be_visible()  # 0.6*5 + 0.2*4 + 0.2*4
            admin.accessible("what-if")
            admin.shot("cycle-preview")
            admin.page.get_by_role("link", name="Finalize").click()
            expect(admin.page.locator("#undecided")).to_contain_text("1 nomination is still undecided")
            admin.accessible()
            admin.page.get_by_role("button", name="Finalize").click()
            expect(admin.page.get_by_role("heading", level=1)).to_contain_text("Results: Spring awards")
            expect(admin.page.get_by_role("link", name="Download CSV")).to_be_visible()
            admin.accessible()
            admin.shot("results")

            # The employee sees the winners.
            employee.page.goto(admin.page.url)
            expect(employee.page.get_by_role("heading", name="Winners")).to_be_visible()
            expect(employee.page.get_by_text("Sam Okafor")).to_be_visible()
            employee.accessible()

            # The admin checks an import file: the dry run's report.
            admin.nav("People")
            admin.page.get_by_role("link", name="Import CSV").click()
            admin.page.get_by_label("CSV file").set_input_files(
                files=[{"name": "people.csv", "mimeType": "text/csv", "buffer": PEOPLE_CSV.encode()}])
            admin.page.get_by_role("button", name="Check file").click()
            expect(admin.page.get_by_role("button", name="Apply import")).to_be_visible()
            admin.accessible("dry run")
            admin.shot("people-import")
            admin.nav("Audit log")
            expect(admin.page.get_by_role("cell", name="Hana Admin").first).to_be_visible()
            admin.page.get_by_role("link", name="Hana Admin").click()  # the profile
            expect(admin.page.get_by_role("heading", name="Change password")).to_be_visible()
            admin.accessible()
            admin.page.get_by_role("button", name="Sign out").click()
            expect(admin.page.get_by_role("heading", level=1)).to_have_text("Sign in")
            for check in (admin, employee, manager):
                check.page.set_viewport_size({"width": 390, "height": 800})  # a phone's width
            employee.page.goto(web_server + "/app/")
            employee.accessible("phone")
            employee.shot("home-phone")
        finally:
            chromium.close()
