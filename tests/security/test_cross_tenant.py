"""Someone else's ids answer 404 and change nothing (SPEC §1.3, §4.3), for every learner and
platform endpoint that takes an id in its path — enumerated from `app.openapi()`, so a new
endpoint fails `test_every_id_taking_endpoint_has_probes` until it is added to `ID_MAP`.

The attackers are learner B (a token) and platform B (its API key acting for its own learner
with X-On-Behalf-Of); the victims are learner A and platform A's learner, each with a real
enrolled, pending and failed enrollment, a captured payment, and (platform A) external ids and a
draft course. After every probe the whole database (audit tables aside) must be unchanged.

Single examples already exist (tests/enrollments/test_access.py, tests/refunds/test_learner.py,
tests/platform/test_on_behalf.py); this module is the systematic sweep."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from enrollpay.auth.session import SESSION_COOKIE
from enrollpay.auth.tokens import SESSION_AUDIENCE, issue_access_token
from enrollpay.enrollments.paylink import payment_token
from enrollpay.kit.clock import utcnow
from tests.conftest import assert_error, full_size
from tests.security.conftest import (
    Operation,
    Tenant,
    World,
    changes,
    database_rows,
    operations,
)

# Small: every endpoint, both attackers and both victims, one enrollment state per endpoint
# (rotating); full: every enrollment state of every victim.
EVERY_ENROLLMENT_STATE = full_size()


@dataclass(frozen=True)
class Probe:
    values: dict[str, str]  # path parameters
    status: int
    code: str | None = None
    body: dict[str, Any] | None = None
    added: frozenset[str] = frozenset()  # tables that may gain rows (the attacker's own)
    check: Callable[[Any], None] | None = None
    why: str = ""


ProbeMaker = Callable[[World, Tenant, Tenant], list[Probe]]


def _states(victim: Tenant, index: int) -> list[str]:
    states = list(victim.enrollments)  # enrolled, pending, failed
    return states if EVERY_ENROLLMENT_STATE else [states[index % len(states)]]


def _enrollment_probes(body: dict[str, Any] | None = None, index: int = 0) -> ProbeMaker:
    def make(world: World, victim: Tenant, attacker: Tenant) -> list[Probe]:
        return [
            Probe({"enrollment_id": victim.enrollments[state]}, 404, "not_found", body=body)
            for state in _states(victim, index)
        ]

    return make


def _verify_probes(world: World, victim: Tenant, attacker: Tenant) -> list[Probe]:
    signed = {k: victim.paid[k] for k in ("razorpay_payment_id", "razorpay_order_id")}
    signed["razorpay_signature"] = victim.paid["razorpay_signature"]
    probes = _enrollment_probes(signed, index=1)(world, victim, attacker)
    # The victim's genuine Checkout fields on the attacker's own enrollment: the order is not
    # one of that enrollment's orders, so the signature does not count (SPEC §4.2).
    probes.append(
        Probe(
            {"enrollment_id": attacker.enrollments["pending"]},
            400,
            "invalid_signature",
            body=signed,
            why="victim's payment on the attacker's enrollment",
        )
    )
    return probes


def _not_enrolled(response: Any) -> None:
    assert response.json()["course"]["enrollment_status"] == "not_enrolled", response.text


def _no_access(response: Any) -> None:
    body = response.json()
    assert body["has_access"] is False and body["enrollment_id"] is None, body
    assert body["course_progress"] == 0, body


def _course_probes(
    published: tuple[int, str | None], check: Callable[[Any], None] | None = None, **extra: Any
) -> ProbeMaker:
    """Courses are public while published (SPEC §4.1): the answer must just not show the
    victim's enrollment. A platform's draft course is nobody's to see: 404."""

    def make(world: World, victim: Tenant, attacker: Tenant) -> list[Probe]:
        probes = [
            Probe(
                {"course_id": world.courses["paid"]["id"]},
                published[0],
                published[1],
                check=check,
                why="published course the victim is enrolled in",
                **extra,
            )
        ]
        if victim.course_external_id is not None:
            draft = world.courses[f"draft of {victim.name}"]["id"]
            probes.append(Probe({"course_id": draft}, 404, "not_found", why="draft", **extra))
        return probes

    return make


def _platform_learner_get(world: World, victim: Tenant, attacker: Tenant) -> list[Probe]:
    if victim.learner_external_id is None:
        return []
    return [Probe({"external_id": victim.learner_external_id}, 404, "learner_not_found")]


def _platform_learner_put(world: World, victim: Tenant, attacker: Tenant) -> list[Probe]:
    """External ids are per platform: B's PUT makes B's own learner, never touches A's."""
    if victim.learner_external_id is None:
        return []

    def distinct(response: Any) -> None:
        assert response.json()["id"] != victim.user_id, response.text

    return [
        Probe(
            {"external_id": victim.learner_external_id},
            201,
            body={"email": "fresh@b.example.com", "full_name": "B's own"},
            added=frozenset({"users"}),
            check=distinct,
        )
    ]


def _platform_course_get(world: World, victim: Tenant, attacker: Tenant) -> list[Probe]:
    if victim.course_external_id is None:
        return []
    return [Probe({"external_id": victim.course_external_id}, 404, "not_found")]


def _platform_course_put(world: World, victim: Tenant, attacker: Tenant) -> list[Probe]:
    """Course external ids are unique across platforms (platform/courses.py): 409, unchanged."""
    if victim.course_external_id is None:
        return []
    return [
        Probe(
            {"external_id": victim.course_external_id},
            409,
            "external_id_taken",
            body={"title": "Hijacked", "price": 1},
        )
    ]


E = "/api/v1/enrollments/{enrollment_id}"
C = "/api/v1/courses/{course_id}"
ID_MAP: dict[tuple[str, str], ProbeMaker] = {
    ("GET", E): _enrollment_probes(index=0),
    ("GET", f"{E}/payment-status"): _enrollment_probes(index=1),
    ("POST", f"{E}/verify-payment"): _verify_probes,
    ("POST", f"{E}/retry-payment"): _enrollment_probes(index=2),
    ("POST", f"{E}/cancel"): _enrollment_probes({"reason": "not mine"}, index=1),
    ("POST", f"{E}/refund"): _enrollment_probes({"reason": "not mine"}, index=0),
    ("GET", C): _course_probes((200, None), _not_enrolled),
    ("GET", f"{C}/quote"): _course_probes((200, None)),
    ("POST", f"{C}/views"): _course_probes((200, None), body={}),
    ("GET", f"{C}/access"): _course_probes((200, None), _no_access),
    ("PUT", f"{C}/progress"): _course_probes((409, "invalid_state"), body={"progress": 90}),
    ("GET", "/api/v1/platform/learners/{external_id}"): _platform_learner_get,
    ("PUT", "/api/v1/platform/learners/{external_id}"): _platform_learner_put,
    ("GET", "/api/v1/platform/courses/{external_id}"): _platform_course_get,
    ("PUT", "/api/v1/platform/courses/{external_id}"): _platform_course_put,
}


def id_taking_operations(app: Any) -> list[Operation]:
    """Learner and platform operations with a path parameter (admin ones are admin-only and
    swept by tests/security/test_tokens.py; the webhook takes no id)."""
    found = [op for op in operations(app) if op.params and not op.is_admin]
    # Reads first: platform B's PUT of platform A's learner external id makes B's own learner
    # with that id (ids are per platform), after which B's GET of it is B's own.
    return sorted(found, key=lambda op: op.method != "GET")


def test_every_id_taking_endpoint_has_probes(schema_app):
    found = {op.key for op in id_taking_operations(schema_app)}
    missing = sorted(found - set(ID_MAP))
    assert not missing, f"add these to ID_MAP in {__file__}: {missing}"
    stale = sorted(set(ID_MAP) - found)
    assert not stale, f"ID_MAP names endpoints that no longer exist: {stale}"


@dataclass
class Outcome:
    failures: list[str] = field(default_factory=list)
    probes: int = 0


async def test_someone_elses_ids_are_404_and_change_nothing(app, client, db, world: World):
    outcome = Outcome()
    for op in id_taking_operations(app):
        for victim in world.victims:
            for attacker in world.attackers:
                if op.is_platform and attacker.key is None:
                    continue  # a learner's token gets 403 on every /platform call, any id
                headers = attacker.headers
                if op.is_platform:
                    assert attacker.key is not None
                    headers = {"Authorization": f"Bearer {attacker.key}"}
                for probe in ID_MAP[op.key](world, victim, attacker):
                    outcome.probes += 1
                    before = await database_rows(db)
                    response = await client.request(
                        op.method, op.fill(**probe.values), json=probe.body, headers=headers
                    )
                    after = await database_rows(db)
                    label = f"{op.method} {op.fill(**probe.values)} as {attacker.name} "
                    label += f"on {victim.name}'s ids {probe.why}"
                    if response.status_code != probe.status:
                        outcome.failures.append(f"{label}: {response.status_code} {response.text}")
                        continue
                    if probe.code is not None:
                        assert_error(response, probe.status, probe.code)
                    if probe.check is not None:
                        probe.check(response)
                    changed = {
                        name: diff
                        for name, diff in changes(before, after).items()
                        if diff["removed_or_changed"] or name not in probe.added
                    }
                    if changed:
                        outcome.failures.append(f"{label}: database changed {changed}")
    assert not outcome.failures, "\n".join(outcome.failures)
    assert outcome.probes >= len(ID_MAP) * 2  # the sweep really ran

    # The ids were real: their owners still read them (so the 404s were about ownership).
    for victim in world.victims:
        for enrollment_id in victim.enrollments.values():
            mine = await client.get(f"/api/v1/enrollments/{enrollment_id}", headers=victim.headers)
            assert mine.status_code == 200, mine.text


async def test_on_behalf_of_another_platforms_learner_is_indistinguishable_from_unknown(
    client, db, world: World
):
    key_b = world.platform_b.key
    assert key_b is not None
    before = await database_rows(db)
    for victim in world.victims:  # a self-signed-up learner and platform A's learner
        response = await client.get(
            "/api/v1/enrollments",
            headers={"Authorization": f"Bearer {key_b}", "X-On-Behalf-Of": victim.user_id},
        )
        unknown = await client.get(
            "/api/v1/enrollments",
            headers={
                "Authorization": f"Bearer {key_b}",
                "X-On-Behalf-Of": "usr_00000000000000000000000000",
            },
        )
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == unknown.json()["error"]["code"]
    assert changes(before, await database_rows(db)) == {}


async def test_web_pages_with_ids_answer_404_to_someone_else(app, client, db, world: World):
    """The pages outside the OpenAPI document that take an enrollment or course id (listed by
    hand): learner B signed in by cookie, and B's own payment link used on A's enrollment."""
    settings = app.state.settings
    b = world.learner_b
    session = issue_access_token(settings, b.user_id, audience=SESSION_AUDIENCE).token
    b_link = payment_token(settings, b.enrollments["pending"], utcnow() + timedelta(minutes=30))
    before = await database_rows(db)
    failures = []
    for victim in world.victims:
        for state, enrollment_id in victim.enrollments.items():
            client.cookies.set(SESSION_COOKIE, session)
            page = await client.get(f"/checkout/{enrollment_id}")
            if page.status_code != 404:
                failures.append(f"/checkout/{enrollment_id} ({state}): {page.status_code}")
            client.cookies.clear()
            for method, path in (
                ("GET", f"/pay/{enrollment_id}"),
                ("GET", f"/pay/{enrollment_id}/status"),
                ("POST", f"/pay/{enrollment_id}/callback"),
            ):
                for query in ({"t": b_link}, {}):
                    response = await client.request(
                        method,
                        path,
                        params=query,
                        data={k: victim.paid[k] for k in victim.paid if k.startswith("razorpay_")}
                        if method == "POST"
                        else None,
                    )
                    if response.status_code != 404 or "invalid" not in response.text:
                        failures.append(f"{method} {path} {list(query)}: {response.status_code}")
        draft = world.courses.get(f"draft of {victim.name}")
        if draft is not None:
            client.cookies.set(SESSION_COOKIE, session)
            page = await client.get(f"/courses/{draft['id']}")
            if page.status_code != 404:
                failures.append(f"/courses/{draft['id']} (draft): {page.status_code}")
    client.cookies.clear()
    assert not failures, "\n".join(failures)
    assert changes(before, await database_rows(db)) == {}
    # B's link works on B's own enrollment: the refusals above were about ownership.
    own = await client.get(f"/pay/{b.enrollments['pending']}", params={"t": b_link})
    assert own.status_code == 200, own.text
