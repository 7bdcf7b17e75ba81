"""The pages, one module per area; each has a `router`."""

from plaudit.web.pages import (
    approvals,
    audit,
    cycles,
    home,
    my_nominations,
    nominate,
    notifications,
    people,
    profile,
    results,
    signin,
)

ROUTERS = [module.router for module in (
    signin, home, profile, nominate, my_nominations, approvals, cycles, results, people, audit, notifications)]
