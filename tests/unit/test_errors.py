"""The one table from error codes to HTTP statuses matches API.md, and every
domain error has a row in it."""

import json

import pytest

from plaudit.api.errors import STATUS_BY_CODE, problem
from plaudit.errors import ALL_ERRORS, DomainError, ValidationFailed

# API.md, "Errors": status and code, copied verbatim.
API_MD_TABLE = {
    "unauthenticated": 401,
    "forbidden": 403,
    "not_approver": 403,
    "conflict_of_interest": 403,
    "not_found": 404,
    "cycle_state": 409,
    "window_closed": 409,
    "duplicate_nomination": 409,
    "quota_exceeded": 409,
    "nomination_state": 409,
    "weights_invalid": 409,
    "approvals_open": 409,
    "not_finalized": 409,
    "duplicate_name": 409,
    "validation_error": 422,
    "invalid_windows": 422,
    "invalid_nominee": 422,
    "self_nomination": 422,
    "invalid_ratings": 422,
    "ineligible_nominee": 422,
    "import_invalid": 422,
    "database_unavailable": 503,
}


@pytest.mark.parametrize(("code", "status"), API_MD_TABLE.items())
def test_each_spec_code_has_the_spec_status(code, status):
    assert STATUS_BY_CODE[code] == status


def test_the_platform_adds_only_codes_the_spec_cannot_have():
    """Beyond API.md: 405 for a wrong method and 500 for a bug, nothing else."""
    assert set(STATUS_BY_CODE) - set(API_MD_TABLE) == {"method_not_allowed", "internal_error"}


@pytest.mark.parametrize("error", ALL_ERRORS, ids=lambda e: e.__name__)
def test_every_domain_error_maps_to_a_spec_code(error: type[DomainError]):
    assert error.code in API_MD_TABLE


def test_every_spec_code_has_a_domain_error():
    assert {e.code for e in ALL_ERRORS} == set(API_MD_TABLE)


@pytest.mark.parametrize("code", STATUS_BY_CODE)
def test_problem_body_has_the_agreed_shape(code):
    response = problem(code, "what happened", errors=[{"loc": ["body", "x"], "msg": "bad"}])
    body = json.loads(response.body)
    assert response.media_type == "application/problem+json"
    assert response.status_code == STATUS_BY_CODE[code] == body["status"]
    with_errors = code in ("validation_error", "import_invalid")
    expected = {"type", "title", "status", "detail", "code"} | ({"errors"} if with_errors else set())
    assert set(body) == expected
    assert body["code"] == code and body["detail"] == "what happened"
    if code == "unauthenticated":
        assert response.headers["www-authenticate"] == "Bearer"
    else:
        assert "www-authenticate" not in response.headers


def test_validation_errors_keep_their_locations():
    error = ValidationFailed("bad", errors=[{"loc": ["body", "weight"], "msg": "too big"}])
    body = json.loads(problem(error.code, error.message, errors=error.errors).body)
    assert body["errors"] == [{"loc": ["body", "weight"], "msg": "too big"}]
