"""The pages, one module per area; each has a `router`."""

from plaudit.web.pages import audit, cycles, home, nominate, people, profile, results, signin

ROUTERS = [module.router for module in (signin, home, profile, nominate, cycles, results, people, audit)]
