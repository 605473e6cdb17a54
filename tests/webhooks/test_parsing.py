"""Envelope parsing and the event → facts table, without a database."""

from __future__ import annotations

import json

import pytest

from enrollpay.payments.facts import FactSource, FactStatus
from enrollpay.webhooks import parsing
from tests.webhooks.conftest import SAMPLES, VECTOR_BYTES, encode, sample


def test_every_documented_sample_summarises():
    for name, document in SAMPLES.items():
        if name.startswith("_"):
            continue
        summary = parsing.summarize(encode(document))
        assert summary.problem is None
        assert summary.event == name
        assert summary.account_id == document["account_id"]
        payment = document["payload"]["payment"]["entity"]
        assert summary.razorpay_payment_id == payment["id"]
        assert summary.razorpay_order_id == payment["order_id"]
        assert summary.created_at is not None


def test_refunds_are_indexed_by_their_payment():
    document = sample("refund.processed")
    del document["payload"]["payment"]
    summary = parsing.summarize(encode(document))
    assert summary.razorpay_payment_id == document["payload"]["refund"]["entity"]["payment_id"]
    assert summary.razorpay_order_id is None


@pytest.mark.parametrize("created_at", [None, "1567675356", True, -1, 10**20, 1.5])
def test_a_strange_created_at_is_left_out_not_fatal(created_at):
    document = sample("payment.captured")
    document["created_at"] = created_at
    summary = parsing.summarize(encode(document))
    assert summary.problem is None and summary.created_at is None


def test_summarize_never_raises_on_odd_payloads():
    for payload in (
        {"payment": []},
        {"payment": {"entity": "x"}},
        {"payment": {"entity": {"id": 5, "order_id": ["x"]}}},
        {"order": None},
    ):
        document = {"entity": "event", "event": "payment.captured", "payload": payload}
        summary = parsing.summarize(json.dumps(document).encode())
        assert summary.problem is None
        assert (summary.razorpay_payment_id, summary.razorpay_order_id) == (None, None)


def test_the_sdk_vector_interprets_as_one_fact():
    envelope = parsing.parse_envelope(VECTOR_BYTES)
    (fact,) = parsing.interpret(envelope, "Evt1").facts
    assert (fact.status, fact.source, fact.reference, fact.amount) == (
        FactStatus.captured,
        FactSource.webhook,
        "Evt1",
        1000000,
    )


def test_the_dispatch_table_covers_the_payment_events():
    assert set(parsing.FACT_BUILDERS) == {
        "payment.authorized",
        "payment.captured",
        "payment.failed",
        "order.paid",
    }


def test_entity_may_be_left_out_but_not_wrong():
    document = sample("payment.captured")
    del document["entity"]
    assert parsing.parse_envelope(encode(document)).event == "payment.captured"
    document["entity"] = "refund"
    with pytest.raises(parsing.UnusableBody):
        parsing.parse_envelope(encode(document))
