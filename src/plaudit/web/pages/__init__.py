"""The pages, one module per area; each has a `router`."""

from plaudit.web.pages import home, profile, signin

ROUTERS = [signin.router, home.router, profile.router]
