"""What a platform does with its key: learners and courses by its own ids, and the learner
endpoints on behalf of its learners (X-On-Behalf-Of), up to a whole paid enrollment through
the sandbox. A platform acts only for its own learners, never for admins or people who signed
up themselves."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from enrollpay.users.models import Role, User
from tests.conftest import assert_error
from tests.courses.factories import create_course
from tests.enrollments.helpers import initialize, pay, payment_status, verify
from tests.platform.api_keys import API, key_headers, platform_key, upsert_learner

ACCESS_URL = "https://lms.example.com/courses/python-101"


@pytest.fixture
async def key(client, admin_headers) -> str:
    return await platform_key(client, admin_headers)


async def learner_of(client, key: str, external_id: str = "lms-user-42") -> dict[str, Any]:
    response = await upsert_learner(client, key, external_id)
    assert response.status_code in (200, 201), response.text
    learner: dict[str, Any] = response.json()
    return learner


async def sync_course(client, key: str, course_external_id: str, **fields: Any) -> Any:
    return await client.put(
        f"{API}/platform/courses/{course_external_id}",
        json={"title": "Python 101", "price": 4999, **fields},
        headers=key_headers(key),
    )


# ---- learners -------------------------------------------------------------------------------


async def test_upsert_learner_creates_then_updates_the_same_learner(client, key):
    created = await upsert_learner(client, key, "lms-user-42", phone="+919876543210")
    assert created.status_code == 201, created.text
    learner = created.json()
    assert learner["id"].startswith("usr_")
    assert learner["external_id"] == "lms-user-42"
    assert learner["email"] == "lms-user-42@learners.example.com"
    assert learner["phone"] == "+919876543210"

    again = await upsert_learner(client, key, "lms-user-42", phone="+919876543210")
    assert again.status_code == 200, again.text
    assert again.json() == learner

    changed = await upsert_learner(
        client, key, "lms-user-42", email="Asha.Rao@Example.com", full_name="Asha R."
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["id"] == learner["id"]
    assert changed.json()["email"] == "asha.rao@example.com"
    assert changed.json()["full_name"] == "Asha R."

    fetched = await client.get(f"{API}/platform/learners/lms-user-42", headers=key_headers(key))
    assert fetched.json() == changed.json()
    missing = await client.get(f"{API}/platform/learners/nobody", headers=key_headers(key))
    assert_error(missing, 404, "learner_not_found")


async def test_external_ids_may_contain_slashes(client, key):
    created = await upsert_learner(client, key, "urn:lms/users/42", email="u42@example.com")
    assert created.status_code == 201, created.text
    learner = created.json()
    fetched = await client.get(
        f"{API}/platform/learners/urn:lms/users/42", headers=key_headers(key)
    )
    assert fetched.json() == learner
    me = await client.get(f"{API}/me", headers=key_headers(key, "urn:lms/users/42"))
    assert me.json()["id"] == learner["id"]


async def test_upsert_learner_refuses_the_email_of_someone_elses_account(client, key, make_user):
    await make_user(email="asha@example.com", password=None)
    taken = await upsert_learner(client, key, "lms-user-42", email="ASHA@example.com")
    assert_error(taken, 409, "email_taken")
    missing = await client.get(f"{API}/platform/learners/lms-user-42", headers=key_headers(key))
    assert_error(missing, 404, "learner_not_found")


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "full_name": "A"},
        {"email": "a@example.com", "full_name": ""},
        {"email": "a@example.com", "full_name": "A", "role": "admin"},
        {"email": "a@example.com", "full_name": "A", "phone": "12"},
    ],
)
async def test_upsert_learner_validates_the_body(client, key, body):
    response = await client.put(
        f"{API}/platform/learners/lms-1", json=body, headers=key_headers(key)
    )
    assert_error(response, 422, "validation_error")


# ---- courses --------------------------------------------------------------------------------


async def test_course_sync_creates_then_updates_by_external_id(client, key, admin_headers):
    created = await sync_course(client, key, "py-101", capacity=30, access_url=ACCESS_URL)
    assert created.status_code == 201, created.text
    course = created.json()
    assert course["id"].startswith("crs_") and course["external_id"] == "py-101"
    assert course["status"] == "draft" and course["price"] == 4999  # the admin API's defaults
    assert course["capacity"] == 30

    again = await sync_course(client, key, "py-101", capacity=30, access_url=ACCESS_URL)
    assert again.status_code == 200, again.text
    assert {**again.json(), "updated_at": None} == {**course, "updated_at": None}

    # Fields left out keep their value; null clears a nullable one.
    changed = await sync_course(
        client, key, "py-101", price=3999, status="published", access_url=None
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["id"] == course["id"] and body["price"] == 3999 and body["status"] == "published"
    assert body["capacity"] == 30 and body["access_url"] is None

    fetched = await client.get(f"{API}/platform/courses/py-101", headers=key_headers(key))
    assert fetched.json() == body
    admin_view = await client.get(f"{API}/admin/courses/{course['id']}", headers=admin_headers)
    assert admin_view.json() == body
    missing = await client.get(f"{API}/platform/courses/py-999", headers=key_headers(key))
    assert_error(missing, 404, "not_found")


async def test_a_platform_syncs_only_its_own_courses(client, key, admin_headers):
    ours = await sync_course(client, key, "py-101")
    assert ours.status_code == 201, ours.text
    other_key = await platform_key(client, admin_headers, platform_name="Other LMS")

    taken = await sync_course(client, other_key, "py-101", price=1)
    assert_error(taken, 409, "external_id_taken")
    hidden = await client.get(f"{API}/platform/courses/py-101", headers=key_headers(other_key))
    assert_error(hidden, 404, "not_found")
    unchanged = await client.get(f"{API}/platform/courses/py-101", headers=key_headers(key))
    assert unchanged.json()["price"] == 4999

    # A course an admin made (with an external_id of its own) is not any platform's.
    await create_course(client, admin_headers, title="Admin's", external_id="admin-1")
    assert_error(await sync_course(client, key, "admin-1"), 409, "external_id_taken")
    admin_only = await client.get(f"{API}/platform/courses/admin-1", headers=key_headers(key))
    assert_error(admin_only, 404, "not_found")


@pytest.mark.parametrize(
    "fields",
    [
        {"discount_price": 5000},  # not below the price
        {"price": 0.5},  # below Razorpay's minimum
        {"external_id": "other"},  # the path names the course
        {"prerequisites": []},  # admin API only
        {"status": None},
    ],
)
async def test_course_sync_validates_like_the_admin_api(client, key, fields):
    response = await sync_course(client, key, "py-101", **fields)
    assert_error(response, 422, "validation_error")
    missing = await client.get(f"{API}/platform/courses/py-101", headers=key_headers(key))
    assert_error(missing, 404, "not_found")


# ---- on behalf of a learner -------------------------------------------------------------------


async def test_a_platform_enrolls_its_learner_end_to_end(client, key):
    course = (
        await sync_course(client, key, "py-101", status="published", access_url=ACCESS_URL)
    ).json()
    learner = await learner_of(client, key)
    headers = key_headers(key, "lms-user-42")

    started = await initialize(client, headers, course["id"])
    assert started.status_code == 201, started.text
    enrollment_id = started.json()["enrollment_id"]
    session = started.json()["payment_session"]
    assert session["prefill"]["email"] == learner["email"]

    paid = await pay(client, session["razorpay_order_id"])
    verified = await verify(client, headers, enrollment_id, paid)
    assert verified.status_code == 200, verified.text
    assert verified.json()["enrollment_status"] == "enrolled"

    # Our user id works as well as the platform's.
    by_user_id = key_headers(key, learner["id"])
    status = await payment_status(client, by_user_id, enrollment_id)
    assert status["enrollment_status"] == "enrolled" and status["payment_status"] == "completed"

    access = await client.get(f"{API}/courses/{course['id']}/access", headers=headers)
    assert access.json()["has_access"] is True
    assert access.json()["next_lesson_url"] == ACCESS_URL
    progress = await client.put(
        f"{API}/courses/{course['id']}/progress", json={"progress": 50}, headers=headers
    )
    assert progress.status_code == 200, progress.text
    assert progress.json()["course_progress"] == 50

    listed = await client.get(f"{API}/enrollments", headers=headers)
    [item] = listed.json()["items"]
    assert item["id"] == enrollment_id and item["status"] == "enrolled"
    catalog = await client.get(f"{API}/courses/{course['id']}", headers=headers)
    assert catalog.json()["course"]["enrollment_status"] == "enrolled"


async def test_another_platform_cannot_act_for_or_read_this_learner(
    client, db, admin_headers, key, make_user
):
    course = await create_course(client, admin_headers, price=0)  # free: enrolled at once
    learner = await learner_of(client, key)
    started = await initialize(client, key_headers(key, "lms-user-42"), course["id"])
    enrollment_id = started.json()["enrollment_id"]

    other_key = await platform_key(client, admin_headers, platform_name="Other LMS")
    refused = await client.get(f"{API}/enrollments", headers=key_headers(other_key, learner["id"]))
    assert_error(refused, 404, "learner_not_found")  # as if there were no such learner
    # Its external ids are its own: the same one names nobody on the other platform.
    unknown = await client.get(f"{API}/enrollments", headers=key_headers(other_key, "lms-user-42"))
    assert_error(unknown, 404, "learner_not_found")

    await learner_of(client, other_key, "other-7")
    as_other = key_headers(other_key, "other-7")
    for path in (f"/enrollments/{enrollment_id}", f"/enrollments/{enrollment_id}/payment-status"):
        assert_error(await client.get(f"{API}{path}", headers=as_other), 404, "not_found")


async def test_a_platform_cannot_act_for_admins_self_signed_up_or_deactivated_accounts(
    client, db, key, make_user
):
    admin, _ = await make_user(role=Role.admin, email="ops@example.com", password=None)
    self_signed_up, _ = await make_user(email="someone@example.com", password=None)
    for user in (admin, self_signed_up):  # not the platform's: as if unknown
        refused = await client.get(f"{API}/enrollments", headers=key_headers(key, user.id))
        assert_error(refused, 404, "learner_not_found")

    learner = await learner_of(client, key)
    for change, message in (
        ({"role": Role.admin}, "admin"),
        ({"role": Role.learner, "is_active": False}, "deactivated"),
    ):
        async with db.transaction() as session:
            await session.execute(update(User).where(User.id == learner["id"]).values(**change))
        refused = await client.get(f"{API}/enrollments", headers=key_headers(key, "lms-user-42"))
        assert message in assert_error(refused, 403, "forbidden")["message"]


async def test_learner_endpoints_need_x_on_behalf_of_with_a_key(client, admin_headers, key):
    course = await create_course(client, admin_headers)
    for method, path, body in (
        ("GET", "/enrollments", None),
        ("GET", "/me", None),
        ("POST", "/enrollments/initialize", {"course_id": course["id"]}),
        ("GET", f"/courses/{course['id']}/access", None),
    ):
        response = await client.request(method, f"{API}{path}", json=body, headers=key_headers(key))
        error = assert_error(response, 400, "on_behalf_of_required")
        assert "X-On-Behalf-Of" in error["message"]

    # Public endpoints answer a key without a learner as they answer a visitor.
    public = await client.get(f"{API}/courses/{course['id']}", headers=key_headers(key))
    assert public.status_code == 200, public.text
    assert public.json()["course"]["enrollment_status"] == "not_enrolled"


async def test_unknown_learners_are_not_found(client, key):
    for on_behalf_of in ("nobody", "usr_00000000000000000000000000"):
        response = await client.get(f"{API}/enrollments", headers=key_headers(key, on_behalf_of))
        assert_error(response, 404, "learner_not_found")


async def test_session_cookie_and_csrf_do_not_apply_to_key_calls(client, admin_headers, key):
    course = await create_course(client, admin_headers, price=0)
    await learner_of(client, key)
    client.cookies.set("enrollpay_session", "not-a-session")
    started = await initialize(client, key_headers(key, "lms-user-42"), course["id"])
    assert started.status_code == 201, started.text
    assert started.json()["status"] == "enrolled"
