"""Sign in, sign out, and set a password with a one-time link."""

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from plaudit.api.deps import ClockDep, SessionDep
from plaudit.errors import NotFound
from plaudit.services import passwords, signin
from plaudit.web import auth
from plaudit.web.forms import FORM, FormError, refusals, text
from plaudit.web.pages.common import page_router
from plaudit.web.render import render

router = page_router()

WRONG = "Email or password is wrong"


@router.get("/login")
def login_page(request: Request, session: SessionDep, clock: ClockDep, next: str = "/app/") -> Response:
    if signin.session_user(session, request.cookies.get(auth.SESSION_COOKIE), now=clock.now()) is not None:
        return auth.redirect(auth.safe_next(next))
    return render(request, "signin/login.html", {"email": "", "next": auth.safe_next(next)})


@router.post("/login")
def login(request: Request, form: auth.Form, session: SessionDep, clock: ClockDep) -> Response:
    email, next_ = text(form, "email"), auth.safe_next(text(form, "next"))
    attempt = signin.sign_in(session, email, text(form, "password"), now=clock.now())
    if attempt.retry_at is not None:
        return render(request, "signin/throttled.html", {"retry_at": attempt.retry_at}, status=429)
    if attempt.secret is None:
        return render(request, "signin/login.html", {"email": email, "next": next_}, status=401,
                      errors={FORM: WRONG})
    return auth.start(auth.redirect(next_), attempt.secret)


@router.post("/logout")
def logout(request: Request, form: auth.Form, session: SessionDep) -> Response:
    secret = request.cookies.get(auth.SESSION_COOKIE)
    if secret:
        signin.sign_out(session, secret)
    return auth.end(auth.redirect("/app/login", flash="You are signed out."))


@router.get("/set-password/{token}")
def set_password_page(request: Request, token: str, session: SessionDep, clock: ClockDep) -> HTMLResponse:
    try:
        _, user = passwords.link_user(session, token, now=clock.now())
    except NotFound:
        return _dead_link(request)
    return render(request, "signin/set_password.html", {"person": user, "token": token})


@router.post("/set-password/{token}")
def set_password(request: Request, token: str, form: auth.Form, session: SessionDep, clock: ClockDep) -> Response:
    now = clock.now()
    try:
        with refusals(session):
            user = passwords.set_password_with_link(
                session, token, new_password=text(form, "new_password"),
                repeat_password=text(form, "repeat_password"), now=now,
            )
    except FormError as refused:
        try:
            _, person = passwords.link_user(session, token, now=now)
        except NotFound:
            return _dead_link(request)
        return render(request, "signin/set_password.html", {"person": person, "token": token}, status=422,
                      errors=refused.errors)
    secret = signin.start_session(session, user, now=now)
    return auth.start(auth.redirect("/app/", flash="Your password is set. Welcome to Plaudit."), secret)


def _dead_link(request: Request) -> HTMLResponse:
    return render(request, "error.html", {
        "status": 404, "title": "This link does not work",
        "detail": "It was already used, has expired, or is not a Plaudit link. Ask your HR admin for a new one.",
    }, status=404)
