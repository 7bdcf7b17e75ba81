"""The pages over HTTP: statuses, redirects, refusals in words, 404 for what
the viewer may not see. (The browser journey is in test_journey.py.)"""

import re
import uuid

import pytest

from plaudit.models import Cycle, Nomination
from plaudit.services import audit_chain
from tests.factories import make_criterion, make_cycle, make_nomination, make_team
from tests.helpers import audit_rows, row_count

ADMIN_PAGES = ["/app/cycles", "/app/cycles/new", "/app/people", "/app/people/import", "/app/audit"]
EVERYONE_PAGES = ["/app/", "/app/me", "/app/nominate"]


def _errors(response) -> list[str]:
    return re.findall(r'class="field-error" id="e-([^"]+)">([^<]*)<', response.text)


@pytest.mark.parametrize("path", ADMIN_PAGES + EVERYONE_PAGES)
def test_every_page_asks_a_signed_out_visitor_to_sign_in(browser, path):
    response = browser.get(path)
    assert response.status_code == 303 and response.headers["location"].startswith("/app/login?next=")


@pytest.mark.parametrize("path", ADMIN_PAGES + EVERYONE_PAGES)
def test_admin_sees_every_page(browser, person, path):
    browser.sign_in(person("admin"))
    response = browser.get(path)
    assert response.status_code == 200
    assert response.text.count("<h1") == 1


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_pages_refuse_others_in_words(browser, person, path):
    browser.sign_in(person("manager"))
    response = browser.get(path)
    assert response.status_code == 403
    assert "You may not do this" in response.text and "Traceback" not in response.text


def test_header_shows_the_links_the_role_allows(browser, person):
    browser.sign_in(person("employee"))
    page = browser.get("/app/").text
    assert ">Nominate<" in page and ">My nominations<" in page
    assert ">People<" not in page and ">Cycles<" not in page and ">Audit log<" not in page


@pytest.mark.parametrize("path", ["/app/cycles/{id}", "/app/cycles/{id}/edit", "/app/cycles/{id}/results",
                                  "/app/cycles/{id}/nominate", "/app/cycles/{id}/finalize"])
def test_objects_the_viewer_may_not_see_are_404(browser, person, session, path):
    draft = make_cycle(session, status="draft")
    browser.sign_in(person("employee"))
    for target in (path.format(id=draft.id), path.format(id=uuid.uuid4()), path.format(id="not-an-id")):
        response = browser.get(target)
        assert response.status_code == 404, target
        assert "Page not found" in response.text and "Back to Home" in response.text


def test_unknown_page_is_a_page_in_words(browser):
    response = browser.get("/app/no/such/page")
    assert response.status_code == 404 and "Page not found" in response.text


def _cycle_form(**overrides) -> dict:
    form = {
        "time_zone": "Europe/Berlin", "name": "Spring awards", "description": "",
        "nomination_opens_at": "2030-01-10T00:00", "nomination_closes_at": "2030-01-20T00:00",
        "approval_opens_at": "2030-01-10T00:00", "approval_closes_at": "2030-01-30T00:00",
        "rating_min": "1", "rating_max": "5", "required_approvals": "1", "max_nominations_per_nominator": "",
        "award_slots": "3", "winner_cooldown_cycles": "0", "nominator_roles": ["employee", "manager"],
        "score_normalization": "none", "criteria_count": "1", "criteria-0-id": "", "criteria-0-name": "Impact",
        "criteria-0-description": "", "criteria-0-weight": "0.6", "action": "save",
    }
    return {**form, **overrides}


def test_cycle_editor_creates_adds_criteria_and_publishes_with_refusals_in_words(browser, person, session):
    admin = person("admin")
    browser.sign_in(admin)
    created = browser.post("/app/cycles/new", _cycle_form())
    assert created.status_code == 303
    cycle = session.query(Cycle).filter_by(name="Spring awards").one()
    assert cycle.nomination_opens_at.isoformat() == "2030-01-09T23:00:00+00:00"  # Berlin's midnight, in UTC
    edit = f"/app/cycles/{cycle.id}/edit"
    impact_id = re.search(r'name="criteria-0-id" value="([^"]+)"', browser.get(edit).text).group(1)
    form = _cycle_form(criteria_count="2", action="publish", **{
        "criteria-0-id": impact_id, "criteria-1-id": "", "criteria-1-name": "Craft", "criteria-1-description": "",
        "criteria-1-weight": "0.35"})
    refused = browser.post(edit, form)
    assert refused.status_code == 422
    assert ("weights", "Criteria weights sum to 0.9500, not 1") in _errors(refused)
    assert "0.9500" in refused.text
    assert session.get(Cycle, cycle.id).status == "draft"
    bad = browser.post(edit, {**form, "criteria-1-weight": "0.12345", "rating_max": "x"})
    assert {"criteria-1-weight", "rating_max"} <= {field for field, _ in _errors(bad)}
    published = browser.post(edit, {**form, "criteria-1-weight": "0.4"})
    assert published.status_code == 303 and published.headers["location"] == f"/app/cycles/{cycle.id}"
    session.expire_all()
    assert session.get(Cycle, cycle.id).status == "published"
    assert len(audit_rows(session, entity_id=cycle.id, action="cycle.publish")) == 1


def test_cycle_page_closes_previews_and_finalizes(browser, person, session):
    admin, alice, bob = person("admin"), person(), person()
    cycle = make_cycle(session)
    make_criterion(session, cycle, name="Impact")
    make_nomination(session, cycle, alice, bob)
    browser.sign_in(admin)
    page = browser.get(f"/app/cycles/{cycle.id}")
    assert "Live ranking preview" in page.text and "1 nomination is still undecided" in page.text
    assert browser.post(f"/app/cycles/{cycle.id}/close-nominations", page=f"/app/cycles/{cycle.id}").status_code == 303
    again = browser.post(f"/app/cycles/{cycle.id}/close-nominations", page=f"/app/cycles/{cycle.id}")
    assert again.status_code == 409 and "The nomination window is not open" in again.text
    assert browser.post(f"/app/cycles/{cycle.id}/close-approvals", page=f"/app/cycles/{cycle.id}").status_code == 303
    confirm = browser.get(f"/app/cycles/{cycle.id}/finalize")
    assert "1 nomination is still undecided" in confirm.text
    done = browser.post(f"/app/cycles/{cycle.id}/finalize")
    assert done.headers["location"] == f"/app/cycles/{cycle.id}/results"
    assert browser.get(f"/app/cycles/{cycle.id}/results").status_code == 200
    assert browser.get(f"/app/cycles/{cycle.id}/results.csv").text.startswith("rank,")


def test_nominate_shows_each_refusal_next_to_its_field(browser, person, session):
    alice, bob = person(), person(display_name="Bob Builder")
    cycle = make_cycle(session)
    browser.sign_in(alice)
    page = f"/app/cycles/{cycle.id}/nominate"
    short = browser.post(page, {"colleague": f"Bob Builder <{bob.email}>", "justification": "short"})
    assert ("justification", "must be 10-5000 characters after trimming") in _errors(short)
    done = browser.post(page, {"colleague": bob.email, "justification": "Bob rebuilt the deploy pipeline."})
    assert done.status_code == 303
    duplicate = browser.post(page, {"colleague": "bob builder", "justification": "Bob rebuilt it again, twice."})
    assert ("colleague", "You already nominated this person in this cycle") in _errors(duplicate)
    myself = browser.post(page, {"colleague": alice.email, "justification": "I am great, honestly."})
    assert ("colleague", "You cannot nominate yourself") in _errors(myself)
    nobody = browser.post(page, {"colleague": "zz-nobody-zz", "justification": "Nobody at all, really."})
    assert _errors(nobody)[0][0] == "colleague"
    assert row_count(session, Nomination) == 1


def test_colleague_search_suggests_active_people(browser, person):
    browser.sign_in(person())
    bob = person(display_name="Bobby Search")
    found = browser.get("/app/people/search?q=bobby").json()["items"]
    assert found == [{"id": str(bob.id), "label": f"Bobby Search <{bob.email}>"}]


def test_people_add_person_and_sign_in_link(browser, new_browser, person, session):
    browser.sign_in(person("admin"))
    bad = browser.post("/app/people", {"email": "nope", "display_name": "X", "role": "employee", "team_id": ""})
    assert _errors(bad)[0][0] == "email"
    added = browser.post("/app/people", {"email": "new.one@example.org", "display_name": "New One",
                                         "role": "employee", "team_id": ""})
    assert added.status_code == 303
    page = browser.get("/app/people?q=new.one").text
    person_id = re.search(r"/app/people/([0-9a-f-]+)/sign-in-link", page).group(1)
    shown = browser.post(f"/app/people/{person_id}/sign-in-link", page="/app/people")
    link = re.search(r'readonly value="http://testserver(/app/set-password/[^"]+)"', shown.text).group(1)
    assert new_browser().get(link).status_code == 200


def test_people_import_dry_run_then_apply(browser, person, session):
    browser.sign_in(person("admin"))
    bad = b"email,display_name,role\nfine@example.org,Fine,employee\nbroken,,boss\n"
    refused = browser.post("/app/people/import", {"action": "check"}, files={"file": ("p.csv", bad, "text/csv")})
    assert refused.status_code == 422 and "Nothing was changed" in refused.text
    assert "must be one of employee" in refused.text
    good = b"email,display_name,role,team\nfine@example.org,Fine Person,employee,Imported team\n"
    checked = browser.post("/app/people/import", {"action": "check"}, files={"file": ("p.csv", good, "text/csv")})
    assert checked.status_code == 200 and "fine@example.org" in checked.text and "Apply import" in checked.text
    assert audit_rows(session, action="people_import.apply") == []
    carried = re.search(r'name="file_data" value="([^"]+)"', checked.text).group(1)
    applied = browser.post("/app/people/import", {"action": "apply", "file_data": carried},
                           page="/app/people/import")
    assert applied.status_code == 303
    assert len(audit_rows(session, action="people_import.apply")) == 1


def test_audit_log_filters_and_names(browser, person, session):
    admin = person("admin", display_name="Audrey Admin")
    browser.sign_in(admin)
    browser.post("/app/cycles/new", _cycle_form(name="Audited cycle"))
    page = browser.get("/app/audit?entity_type=cycle&actor=audrey")
    assert page.status_code == 200 and "cycle.create" in page.text and "name: Audited cycle" in page.text
    bad = browser.get("/app/audit?since=yesterday")
    assert bad.status_code == 422 and ("since", "must be a date") in _errors(bad)


def test_audit_log_shows_the_last_verification_and_its_time(browser, person, session, clock):
    browser.sign_in(person("admin"))
    assert "has not been verified yet" in browser.get("/app/audit").text
    report = audit_chain.ChainReport(sealed=12, unsealed=3, head_hash="ab" * 32)
    audit_chain.record_verification(session, report, clock=clock)
    assert "Hash chain verified" in browser.get("/app/audit").text
    assert "12 sealed entries match; 3 newer ones not sealed yet" in browser.get("/app/audit").text
    problem = "audit row x (position 5) is missing"
    broken = audit_chain.ChainReport(sealed=4, unsealed=0, head_hash=None, problem=problem)
    audit_chain.record_verification(session, broken, clock=clock)
    page = browser.get("/app/audit").text
    assert "Hash chain check failed" in page and problem in page


def test_approvals_queue_progress_and_save_and_next(browser, person, session):
    manager = person("manager")
    team = make_team(session, manager=manager)
    alice, bob, carol = person(team=team), person(team=team), person(team=team)
    cycle = make_cycle(session)
    impact = make_criterion(session, cycle, name="Impact")
    first = make_nomination(session, cycle, alice, bob)
    second = make_nomination(session, cycle, alice, carol)
    browser.sign_in(manager)
    queue = browser.get("/app/approvals")
    assert "0 of 2 decided" in queue.text
    assert 'class="count">2<' in queue.text  # the header's count
    page = f"/app/approvals/{first.id}"
    decide = browser.get(page)
    assert "<legend>Impact</legend>" in decide.text and first.justification in decide.text
    missing = browser.post(page, {"decision": "approve"})
    assert missing.status_code == 422 and (f"rating-{impact.id}", "Choose a rating for Impact") in _errors(missing)
    reject = browser.post(page, {"decision": "reject", "comment": "  "})
    assert reject.status_code == 422 and _errors(reject)[0][0] == "comment"
    approved = browser.post(page, {"decision": "approve", f"rating-{impact.id}": "4"})
    assert approved.headers["location"] == f"/app/approvals/{second.id}"  # save and next
    assert "1 of 2 decided" in browser.get("/app/approvals").text
    last = browser.post(f"/app/approvals/{second.id}", {"decision": "reject", "comment": "Not this time."})
    assert last.headers["location"] == "/app/approvals"
    session.expire_all()
    assert (session.get(Nomination, first.id).status, session.get(Nomination, second.id).status) == (
        "approved", "rejected")


def test_approvals_queue_shows_names_as_text(browser, person, session):
    manager = person("manager")
    team = make_team(session, name="R&D <i>", manager=manager)
    nominator = person(team=team, display_name="O'Brien </td>")
    nominee = person(team=team, display_name='"Nina" <script>alert(1)</script>')
    cycle = make_cycle(session, name="Q4 & <b>")
    nomination = make_nomination(session, cycle, nominator, nominee)
    browser.sign_in(manager)
    page = browser.get("/app/approvals").text
    assert "<script>" not in page and "<b>" not in page and "<i>" not in page
    assert (f'<a href="/app/approvals/{nomination.id}">&quot;Nina&quot; &lt;script&gt;alert(1)&lt;/script&gt;</a>'
            ' <span class="muted">(R&amp;D &lt;i&gt;)</span>') in page
    assert "<td>Q4 &amp; &lt;b&gt;</td>" in page and "<td>O&#x27;Brien &lt;/td&gt;</td>" in page


def test_approvals_of_a_nomination_the_viewer_may_not_see_is_404(browser, person, session):
    cycle = make_cycle(session)
    nomination = make_nomination(session, cycle, person(), person())
    browser.sign_in(person("manager"))
    assert browser.get(f"/app/approvals/{nomination.id}").status_code == 404
    assert browser.post(f"/app/approvals/{nomination.id}", {"decision": "approve"},
                        page="/app/approvals").status_code == 404


def test_my_nominations_edit_and_withdraw(browser, person, session):
    alice, bob = person(), person(display_name="Bob Withdrawn")
    cycle = make_cycle(session)
    nomination = make_nomination(session, cycle, alice, bob)
    browser.sign_in(alice)
    mine = browser.get("/app/my/nominations")
    assert "Bob Withdrawn" in mine.text and cycle.name in mine.text
    edit = f"/app/nominations/{nomination.id}/edit"
    assert browser.post(edit, {"justification": "too short"}).status_code == 422
    assert browser.post(edit, {"justification": "A better and longer reason."}).status_code == 303
    withdrawn = browser.post(f"/app/nominations/{nomination.id}/withdraw", page="/app/my/nominations")
    assert withdrawn.status_code == 303
    session.expire_all()
    assert session.get(Nomination, nomination.id).status == "withdrawn"
    other = person()
    browser.client.cookies.clear()
    browser.sign_in(other)
    assert browser.get(edit).status_code == 404


def test_home_shows_open_cycles_nominations_and_the_queue(browser, person, session):
    manager, alice = person("manager"), person()
    cycle = make_cycle(session)
    make_nomination(session, cycle, manager, alice)
    browser.sign_in(manager)
    home = browser.get("/app/")
    assert cycle.name in home.text and "Nominate a colleague" in home.text and "days left" in home.text
    assert "wait for your decision" in home.text or "waits for your decision" in home.text
    assert alice.display_name in home.text


def test_what_if_weights_rank_without_storing(browser, person, session):
    admin, alice, bob = person("admin"), person(), person()
    cycle = make_cycle(session)
    impact = make_criterion(session, cycle, name="Impact", weight="0.5")
    craft = make_criterion(session, cycle, name="Craft", weight="0.5", position=1)
    make_nomination(session, cycle, alice, bob)
    browser.sign_in(admin)
    page = f"/app/cycles/{cycle.id}"
    off = browser.post(f"{page}/preview", {f"weight-{impact.id}": "0.7", f"weight-{craft.id}": "0.2",
                                           "normalization": "none"}, page=page)
    assert off.status_code == 422 and _errors(off)[0][0] == "what_if" and "0.9000" in _errors(off)[0][1]
    tried = browser.post(f"{page}/preview", {f"weight-{impact.id}": "0.8", f"weight-{craft.id}": "0.2",
                                             "normalization": "none"}, page=page)
    assert tried.status_code == 200 and "What-if ranking" in tried.text and 'value="0.8"' in tried.text
    session.expire_all()
    assert str(session.get(type(impact), impact.id).weight) == "0.5000"


def test_editor_of_a_published_cycle_saves_the_fields_it_may_change(browser, person, session):
    browser.sign_in(person("admin"))
    cycle = make_cycle(session, description="Old words")
    make_criterion(session, cycle, name="Impact")
    edit = f"/app/cycles/{cycle.id}/edit"
    page = browser.get(edit).text
    fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page))
    form = {k: v for k, v in fields.items() if k != "csrf_token" and not k.endswith("-remove")}  # as sent
    form.update(description="New words", score_normalization="none", action="save",
                nominator_roles=["employee", "team_lead", "manager", "admin"])
    saved = browser.post(edit, form)
    assert saved.status_code == 303
    session.expire_all()
    assert session.get(Cycle, cycle.id).description == "New words"
    renamed = browser.post(edit, {**form, "criteria-0-name": "Reach"})
    assert renamed.status_code == 422
    assert "Criteria can change only while the cycle is a draft; this one is published" in renamed.text
