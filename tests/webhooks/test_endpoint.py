"""POST /api/v1/webhooks/razorpay: the raw-body signature check, storing once per event id, and
answering 2xx for everything correctly signed."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from enrollpay.payments.gateway.signatures import webhook_signature
from enrollpay.webhooks import service
from tests.conftest import assert_error
from tests.webhooks.conftest import (
    SECRET,
    VECTOR_BYTES,
    VECTOR_SIGNATURE,
    deliver,
    encode,
    inbox,
    only_row,
    processing_jobs,
    sample,
)


def _flip(raw: bytes, index: int) -> bytes:
    return raw[:index] + bytes([raw[index] ^ 0x01]) + raw[index + 1 :]


class TestRazorpaysPublishedVector:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"RAZORPAY_WEBHOOK_SECRET": "key_secret"}

    async def test_the_raw_vector_is_accepted_and_stored_byte_for_byte(self, client, db):
        response = await deliver(client, VECTOR_BYTES, signature=VECTOR_SIGNATURE)
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "accepted"}
        row = await only_row(db)
        assert row.body_bytes() == VECTOR_BYTES
        assert row.raw_body == VECTOR_BYTES.decode()
        assert (row.event, row.status, row.event_id) == (
            "payment.authorized",
            "pending",
            "EvtTest0000001",
        )
        assert (row.razorpay_payment_id, row.razorpay_order_id) == (
            "pay_6koWN7bvxujzxM",
            "order_100000000order",
        )
        assert row.account_id is None  # the SDK's fixture has none
        assert row.body_sha256 == hashlib.sha256(VECTOR_BYTES).hexdigest()
        assert len(await processing_jobs(db)) == 1

    @pytest.mark.parametrize(
        "changed",
        [
            pytest.param(VECTOR_BYTES + b"\n", id="trailing-newline"),
            pytest.param(VECTOR_BYTES.rstrip(), id="stripped"),
            pytest.param(_flip(VECTOR_BYTES, len(VECTOR_BYTES) // 2), id="one-bit"),
            pytest.param(encode(json.loads(VECTOR_BYTES)), id="reserialised"),
        ],
    )
    async def test_any_changed_byte_is_refused(self, client, db, changed):
        response = await deliver(client, changed, signature=VECTOR_SIGNATURE)
        assert_error(response, 400, "invalid_signature")
        assert await inbox(db) == []
        assert await processing_jobs(db) == []


class TestSecretRotation:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"RAZORPAY_WEBHOOK_SECRET": "old-secret, key_secret"}

    async def test_old_and_new_secrets_are_both_accepted(self, client, db):
        old = await deliver(client, VECTOR_BYTES, secret="old-secret", event_id="EvtOld")
        failed = sample("payment.failed")
        new = await deliver(client, failed, secret="key_secret", event_id="EvtNew")
        vector = await deliver(client, VECTOR_BYTES, signature=VECTOR_SIGNATURE, event_id="EvtVec")
        assert [r.status_code for r in (old, new, vector)] == [200, 200, 200]
        assert {row.event_id for row in await inbox(db)} == {"EvtOld", "EvtNew", "EvtVec"}

    async def test_a_third_secret_is_refused(self, client, db):
        response = await deliver(client, VECTOR_BYTES, secret="someone-else")
        assert_error(response, 400, "invalid_signature")
        assert await inbox(db) == []


class TestRefusedSignatures:
    @pytest.mark.parametrize(
        ("signature", "reason"),
        [
            (None, "missing"),
            ("", "missing"),
            ("0" * 64, "invalid"),
            ("not hex at all", "invalid"),
            (webhook_signature(encode(sample("payment.captured")), "wrong-secret"), "invalid"),
        ],
    )
    async def test_missing_or_wrong_signature_is_400_and_stores_nothing(
        self, client, db, record_fact, signature, reason
    ):
        before = service.rejected_signatures[reason]
        response = await deliver(
            client, sample("payment.captured"), secret=None, signature=signature
        )
        error = assert_error(response, 400, "invalid_signature")
        assert error["details"] == {"reason": reason}
        assert service.rejected_signatures[reason] == before + 1
        assert await inbox(db) == []
        assert await processing_jobs(db) == []
        assert record_fact.calls == 0

    async def test_the_signature_is_over_the_body_not_the_headers(self, client, db):
        body = encode(sample("payment.captured"))
        signed_other = webhook_signature(encode(sample("payment.failed")), SECRET)
        response = await deliver(client, body, signature=signed_other)
        assert_error(response, 400, "invalid_signature")
        assert await inbox(db) == []

    async def test_uppercase_hex_and_whitespace_are_tolerated(self, client, db):
        body = encode(sample("payment.captured"))
        signature = f" {webhook_signature(body, SECRET).upper()} "
        response = await deliver(client, body, signature=signature)
        assert response.status_code == 200, response.text


class TestStoringOnce:
    async def test_a_redelivery_is_2xx_with_one_row_and_one_job(self, client, db):
        body = encode(sample("payment.captured"))
        first = await deliver(client, body, event_id="EvtDuplicate01")
        again = [await deliver(client, body, event_id="EvtDuplicate01") for _ in range(2)]
        assert first.json() == {"status": "accepted"}
        assert [(r.status_code, r.json()) for r in again] == [(200, {"status": "duplicate"})] * 2
        row = await only_row(db)
        assert row.deliveries == 3
        (job,) = await processing_jobs(db)
        assert job.payload == {"inbox_id": row.id}
        assert job.dedupe_key == f"webhook:{row.id}"

    async def test_other_event_ids_are_other_rows(self, client, db):
        body = encode(sample("payment.captured"))
        await deliver(client, body, event_id="EvtA")
        await deliver(client, body, event_id="EvtB")
        assert [row.event_id for row in await inbox(db)] == ["EvtA", "EvtB"]
        assert len(await processing_jobs(db)) == 2

    async def test_a_known_event_id_with_other_bytes_is_kept_under_its_own_id(self, client, db):
        """Headers are not signed: another signed body under a known id is not dropped."""
        first = encode(sample("payment.captured"))
        other = encode(sample("payment.failed"))
        await deliver(client, first, event_id="EvtReused")
        response = await deliver(client, other, event_id="EvtReused")
        assert response.json() == {"status": "accepted"}
        original, kept = await inbox(db)
        assert (original.event_id, original.deliveries) == ("EvtReused", 1)
        assert kept.event_id == "sha256:" + hashlib.sha256(other).hexdigest()
        assert kept.event_id_derived is True
        assert kept.event == "payment.failed"
        assert len(await processing_jobs(db)) == 2
        # … and its own redelivery is a duplicate of that row.
        again = await deliver(client, other, event_id="EvtReused")
        assert again.json() == {"status": "duplicate"}
        assert len(await inbox(db)) == 2

    async def test_a_claimed_id_in_the_derived_form_cannot_take_other_bytes_name(self, client, db):
        """A header naming another body's hash must not occupy that body's derived id."""
        genuine = encode(sample("payment.captured"))
        forged_name = "sha256:" + hashlib.sha256(genuine).hexdigest()
        other = encode(sample("payment.failed"))
        await deliver(client, other, event_id=forged_name)
        response = await deliver(client, genuine, event_id=None)
        assert response.json() == {"status": "accepted"}
        rows = await inbox(db)
        assert sorted(row.event for row in rows) == ["payment.captured", "payment.failed"]
        assert all(
            row.event_id == "sha256:" + hashlib.sha256(row.body_bytes()).hexdigest() for row in rows
        )

    @pytest.mark.parametrize(
        "event_id",
        [None, "", "x" * 65, "has space", "semi;colon", "ünïcode".encode()],
        ids=["missing", "empty", "too-long", "space", "semicolon", "non-ascii"],
    )
    async def test_without_a_usable_event_id_the_body_hash_is_the_id(self, client, db, event_id):
        body = encode(sample("payment.captured"))
        headers: dict[str, Any] = {}
        if event_id is not None:
            headers["X-Razorpay-Event-Id"] = event_id
        first = await deliver(client, body, event_id=None, headers=headers)
        second = await deliver(client, body, event_id=None, headers=headers)
        assert [first.json(), second.json()] == [{"status": "accepted"}, {"status": "duplicate"}]
        row = await only_row(db)
        assert row.event_id == "sha256:" + hashlib.sha256(body).hexdigest()
        assert row.event_id_derived is True
        assert len(await processing_jobs(db)) == 1


class TestSignedButUnusable:
    @pytest.mark.parametrize(
        ("body", "problem"),
        [
            (b"", "not JSON"),
            (b"not json", "not JSON"),
            (b"[1, 2, 3]", "not a JSON object"),
            (b'{"entity": "event", "event": "payment.captured", "created_at": NaN}', "not JSON"),
            (b'{"entity": "payment", "event": "x.y", "payload": {}}', "entity is not 'event'"),
            (b'{"entity": "event", "payload": {}}', "no valid 'event'"),
            (b'{"entity": "event", "event": "a b", "payload": {}}', "no valid 'event'"),
            (b'{"entity": "event", "event": "x.y", "payload": []}', "'payload' is not an object"),
            (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        ],
        ids=[
            "empty",
            "text",
            "array",
            "nan",
            "other-entity",
            "no-event",
            "bad-event-name",
            "payload-not-object",
            "deeply-nested",
        ],
    )
    async def test_stored_as_failed_answered_2xx_no_job(self, client, db, body, problem):
        response = await deliver(client, body)
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "accepted"}
        row = await only_row(db)
        assert (row.status, row.outcome, row.event) == ("failed", "unusable body", None)
        assert problem in (row.last_error or "")
        assert row.processed_at is not None
        assert row.body_bytes() == body
        assert await processing_jobs(db) == []

    async def test_bytes_that_are_not_utf8_text_are_kept_exactly(self, client, db):
        for index, body in enumerate([b"\xff\xfe\x00garbage", b'{"a": "\x00"}']):
            response = await deliver(client, body, event_id=f"EvtBinary{index}")
            assert response.status_code == 200, response.text
        for row, body in zip(
            await inbox(db), [b"\xff\xfe\x00garbage", b'{"a": "\x00"}'], strict=True
        ):
            assert row.body_encoding == "base64"
            assert base64.b64decode(row.raw_body) == body
            assert row.body_bytes() == body
            assert row.status == "failed"


class TestWhatIsStored:
    async def test_selected_headers_and_the_envelope_summary(self, client, db):
        document = sample("order.paid")
        body = encode(document)
        response = await deliver(
            client,
            body,
            event_id="EvtHeaders0001",
            headers={"Authorization": "Bearer nope", "Cookie": "a=b", "X-Forwarded-For": "1.2.3.4"},
        )
        assert response.status_code == 200
        row = await only_row(db)
        assert row.headers == {
            "content-type": "application/json",
            "content-length": str(len(body)),
            "user-agent": "Razorpay-Webhook/v1",
            "x-razorpay-signature": webhook_signature(body, SECRET),
            "x-razorpay-event-id": "EvtHeaders0001",
            "x-forwarded-for": "1.2.3.4",
        }
        assert row.account_id == "acc_BFQ7uQEaa7j2z7"
        assert row.event_created_at is not None
        assert int(row.event_created_at.timestamp()) == document["created_at"]
        assert (row.razorpay_payment_id, row.razorpay_order_id) == (
            "pay_DESlfW9H8K9uqM",
            "order_DESlLckIVRkHWj",
        )
        assert (row.attempts, row.replays, row.deliveries) == (0, 0, 1)
        assert row.received_at is not None and row.id.startswith("whk_")
        assert SECRET not in json.dumps(row.headers) + row.raw_body

    async def test_ids_that_are_not_razorpay_ids_are_not_indexed(self, client, db):
        document = sample(
            "payment.captured", payment={"id": "pay_" + "x" * 500, "order_id": "<script>"}
        )
        document["account_id"] = "acc_" + "y" * 500
        await deliver(client, document)
        row = await only_row(db)
        assert (row.razorpay_payment_id, row.razorpay_order_id, row.account_id) == (
            None,
            None,
            None,
        )

    async def test_bodies_over_the_limit_are_413_before_anything(self, client, db, settings):
        body = b'{"pad": "' + b"x" * settings.MAX_REQUEST_BODY_BYTES + b'"}'
        response = await deliver(client, body)
        assert_error(response, 413, "payload_too_large")
        assert await inbox(db) == []

    async def test_only_post(self, client):
        assert_error(await client.get("/api/v1/webhooks/razorpay"), 405, "method_not_allowed")

    async def test_documented_in_openapi(self, client):
        spec = (await client.get("/openapi.json")).json()
        operation = spec["paths"]["/api/v1/webhooks/razorpay"]["post"]
        assert "400" in operation["responses"]
        names = {p["name"].lower() for p in operation["parameters"]}
        assert {"x-razorpay-signature", "x-razorpay-event-id"} <= names


class TestRealKeysWithoutAWebhookSecret:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {
            "RAZORPAY_KEY_ID": "rzp_test_AbCdEfGhIjKlMn",
            "RAZORPAY_KEY_SECRET": "real-key-secret",
            "RAZORPAY_WEBHOOK_SECRET": None,
        }

    async def test_every_delivery_is_refused_and_counted(self, client, db):
        """The API key secret is not the webhook secret (razorpay-facts.md §6): nothing can be
        verified until RAZORPAY_WEBHOOK_SECRET is set."""
        before = service.rejected_signatures["no_secret_configured"]
        body = encode(sample("payment.captured"))
        for secret in ("real-key-secret", SECRET):
            response = await deliver(client, body, secret=secret)
            error = assert_error(response, 400, "invalid_signature")
            assert error["details"] == {"reason": "no_secret_configured"}
        assert service.rejected_signatures["no_secret_configured"] == before + 2
        assert await inbox(db) == []
