"""The console's catalog pages: courses and coupons as the admin API shows them (prices with
GST, seats and redemptions held by real enrollments), and forms whose fields are exactly what
the API takes: each form is submitted the way static/admin.js sends it (JSON, session cookie,
X-CSRF-Token), then the page is read again."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
import stamina

from tests.courses.factories import create_coupon, create_course
from tests.enrollments.helpers import API, initialize, pay, verify


@pytest.fixture(autouse=True)
def _no_backoff_waits():
    with stamina.set_testing(True, attempts=2, cap=True):
        yield


@dataclass
class ApiForm:
    attrs: dict[str, str]
    fields: list[dict[str, str]] = field(default_factory=list)
    button: str = ""


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[ApiForm] = []
        self._form: ApiForm | None = None
        self._in_button = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form" and "data-api-url" in values:
            self._form = ApiForm(values)
        elif self._form is not None and tag in ("input", "select", "textarea") and "name" in values:
            self._form.fields.append({"tag": tag, **values})
        elif (
            self._form is not None and tag == "option" and self._form.fields[-1]["tag"] == "select"
        ):
            # A select's value: its selected option's, else its first option's.
            select = self._form.fields[-1]
            if "value" not in select or ("selected" in values and "selected" not in select):
                select["value"] = values.get("value", "")
                if "selected" in values:
                    select["selected"] = ""
        elif self._form is not None and tag == "button":
            self._in_button = True

    def handle_data(self, data: str) -> None:
        if self._form is not None and self._in_button:
            self._form.button += data.strip()

    def handle_endtag(self, tag: str) -> None:
        if tag == "button":
            self._in_button = False
        elif tag == "form":
            if self._form is not None:
                self.forms.append(self._form)
            self._form = None


def api_form(html: str, button: str) -> ApiForm:
    """The admin.js form whose submit button says `button`."""
    parser = _FormParser()
    parser.feed(html)
    [form] = [f for f in parser.forms if f.button == button]
    return form


def buttons(html: str) -> list[str]:
    parser = _FormParser()
    parser.feed(html)
    return [form.button for form in parser.forms]


async def submit(
    client: httpx.AsyncClient, form: ApiForm, **typed: str
) -> tuple[httpx.Response, str]:
    """What admin.js sends for `form` with `typed` entered into its fields (by name); returns
    the answer and the page admin.js goes to next."""
    body: dict[str, Any] = {}
    for spec in form.fields:
        name = spec["name"]
        if spec.get("type") == "checkbox":
            body[name] = "checked" in spec
            continue
        text = typed.pop(name, spec.get("value", "")).strip()
        if text == "":
            continue  # empty fields are left out
        kind = spec.get("data-type")
        if kind == "number":
            body[name] = float(text) if "." in text else int(text)
        elif kind == "json":
            body[name] = json.loads(text)
        elif kind == "list":
            body[name] = [item.strip() for item in text.split(",") if item.strip()]
        else:
            body[name] = text
    assert not typed, f"the form has no field {sorted(typed)}"
    response = await client.request(
        form.attrs.get("data-api-method", "POST"),
        form.attrs["data-api-url"],
        json=body,
        headers={"X-CSRF-Token": client.cookies["csrf"]},
    )
    then = form.attrs.get("data-then", "reload")
    if then == "reload":
        return response, ""
    return response, then.replace("{id}", response.json().get("id", ""))


def row_of(html: str, record_id: str) -> str:
    return html.split(f'<tr id="{record_id}">', 1)[1].split("</tr>", 1)[0]


def squash(html: str) -> str:
    return re.sub(r"\s+", " ", html)


async def page(client: httpx.AsyncClient, url: str) -> str:
    response = await client.get(url)
    assert response.status_code == 200, response.text
    return squash(response.text)


async def test_course_pages_show_the_catalog_and_their_forms_drive_the_api(
    client, admin, make_user
):
    _, headers = admin
    python = await create_course(
        client,
        headers,
        title="Python",
        price=4999,
        discount_price=3999,
        capacity=2,
        enrollment_deadline="2099-01-01T00:00:00Z",
    )
    basics = await create_course(
        client, headers, title="Basics", price=0, status="draft", prerequisites=[python["id"]]
    )
    old = await create_course(client, headers, title="Old <course>", price=100, status="archived")
    _, learner = await make_user(password=None)
    response = await initialize(client, learner, python["id"])  # pending: holds a seat
    assert response.status_code == 201, response.text

    html = await page(client, "/admin/courses")
    assert "GST 18% is added to the price." in html
    row = row_of(html, python["id"])
    assert (
        f'<a href="/admin/courses/{python["id"]}">Python</a><br><code>{python["id"]}</code>' in row
    )
    assert '<span class="tag ok">published</span>' in row
    cells = re.findall(r'<td class="num">(.*?)</td>', row)
    assert [squash(re.sub(r"<[^>]+>", " ", cell)).strip() for cell in cells] == [
        "₹4,999.00",
        "₹3,999.00 active",
        "₹719.82",  # 18 % of the discounted price
        "₹4,718.82",
        "1 of 2",
    ]
    assert "01 Jan 2099, 05:30 IST" in row
    assert '<span class="tag">archived</span>' in row_of(html, old["id"])
    assert "Old &lt;course&gt;" in html  # escaped
    assert "0 of ∞" in row_of(html, basics["id"])
    drafts = await page(client, "/admin/courses?status=draft")
    assert basics["id"] in drafts and python["id"] not in drafts and old["id"] not in drafts
    assert '<option value="draft" selected>' in drafts
    everything = await page(client, "/admin/courses?status=bogus&cursor=nope")  # never a 422
    assert all(course["id"] in everything for course in (python, basics, old))

    html = await page(client, f"/admin/courses/{python['id']}")
    for link in (
        f"/admin/enrollments?course_id={python['id']}",
        f"/admin/analytics?course_id={python['id']}",
        f"/admin/audit-log?target_id={python['id']}",
        f"/courses/{python['id']}",
    ):
        assert f'href="{link}"' in html
    assert "1 of 2 (1 left)" in html
    assert buttons(html) == [
        "Archive",
        "Save changes",
        "Remove the discount",
        "Remove the seat limit",
        "Remove the enrollment deadline",
    ]

    response, _ = await submit(client, api_form(html, "Remove the seat limit"))
    assert response.status_code == 200, response.text
    response, _ = await submit(client, api_form(html, "Archive"))
    assert response.status_code == 200, response.text
    html = await page(client, f"/admin/courses/{python['id']}")
    assert '<span class="tag">archived</span>' in html and "1 of ∞" in html
    assert buttons(html)[:2] == ["Publish", "Save changes"]
    assert "Remove the seat limit" not in buttons(html)

    html = await page(client, f"/admin/courses/{basics['id']}")
    assert f'<a href="/admin/courses/{python["id"]}">Python</a>' in html  # its prerequisite
    assert f'href="/courses/{basics["id"]}"' not in html  # a draft has no public page
    assert buttons(html)[:3] == ["Publish", "Archive", "Save changes"]

    # Create through the list page's form, then edit only the title through the new page's.
    create = api_form(await page(client, "/admin/courses"), "Create course")
    response, then = await submit(
        client,
        create,
        title="Rust",
        price="1499.50",
        status="published",
        capacity="10",
        prerequisites=f"{python['id']}, {basics['id']}",
        description="Ownership\nand borrowing",
    )
    assert response.status_code == 201, response.text
    rust = response.json()
    assert then == f"/admin/courses/{rust['id']}"
    assert (rust["price"], rust["capacity"], rust["refund_window_days"]) == (1499.5, 10, 7)
    assert rust["prerequisites"] == [python["id"], basics["id"]]
    html = await page(client, then)
    response, _ = await submit(client, api_form(html, "Save changes"), title="Rust 2")
    assert response.status_code == 200, response.text
    html = await page(client, then)
    assert "<h1>Rust 2</h1>" in html and "₹1,499.50" in html and "0 of 10 (10 left)" in html
    audit = await client.get(f"{API}/admin/audit-log", params={"target_id": rust["id"]})
    newest = audit.json()["items"][0]
    assert (newest["action"], newest["details"]) == ("course.update", {"title": "Rust 2"})

    missing = await client.get("/admin/courses/crs_nothing")
    assert missing.status_code == 404 and "<h1>Course not found</h1>" in missing.text


async def test_coupon_pages_count_the_redemptions_real_enrollments_hold(client, admin, make_user):
    _, headers = admin
    python = await create_course(client, headers, title="Python", price=4999)
    save = await create_coupon(
        client,
        headers,
        code="SAVE10",
        course_ids=[python["id"]],
        max_redemptions=5,
        per_user_limit=1,
        valid_until="2099-01-01T00:00:00Z",
        min_amount=1000,
    )
    flat = await create_coupon(
        client, headers, code="FLAT500", discount_type="flat", discount_value=500, active=False
    )
    # Three learners use SAVE10: one pays, one stays pending, one cancels (its hold is freed).
    learners = [(await make_user(password=None))[1] for _ in range(3)]
    started = []
    for learner in learners:
        response = await initialize(client, learner, python["id"], coupon_code="save10")
        assert response.status_code == 201, response.text
        started.append(response.json())
    paid = await pay(client, started[0]["payment_session"]["razorpay_order_id"])
    response = await verify(client, learners[0], started[0]["enrollment_id"], paid)
    assert response.json()["enrollment_status"] == "enrolled", response.text
    response = await client.post(
        f"{API}/enrollments/{started[2]['enrollment_id']}/cancel", headers=learners[2]
    )
    assert response.status_code == 200, response.text

    html = await page(client, "/admin/coupons")
    row = row_of(html, save["id"])
    assert f'<a href="/admin/coupons/{save["id"]}"><code>SAVE10</code></a>' in row
    assert '<span class="tag ok">active</span>' in row
    cells = re.findall(r'<td class="num">(.*?)</td>', row)
    assert [cell.strip() for cell in cells] == ["10% off", "2 / 5", "1", "₹1,000.00"]
    assert "any time \N{EN DASH} 01 Jan 2099, 05:30 IST" in row
    assert f'<a href="/admin/courses/{python["id"]}">Python</a>' in row
    row = row_of(html, flat["id"])
    assert '<span class="tag">inactive</span>' in row and "All courses" in row
    cells = re.findall(r'<td class="num">(.*?)</td>', row)
    assert [cell.strip() for cell in cells] == ["₹500.00 off", "0 / ∞", "∞", "—"]
    inactive = await page(client, "/admin/coupons?active=inactive")
    assert flat["id"] in inactive and save["id"] not in inactive
    both = await page(client, "/admin/coupons?active=maybe&cursor=x")
    assert flat["id"] in both and save["id"] in both

    html = await page(client, f"/admin/coupons/{save['id']}")
    assert "<dt>Redemptions / limit</dt><dd>2 / 5</dd>" in html
    assert f'href="/admin/audit-log?target_id={save["id"]}"' in html
    assert buttons(html) == [
        "Deactivate",
        "Save changes",
        "Apply to every course",
        "Remove the end",
        "Remove the redemption limit",
        "Remove the per-learner limit",
        "Remove the minimum amount",
    ]
    for button in ("Deactivate", "Apply to every course"):
        response, _ = await submit(client, api_form(html, button))
        assert response.status_code == 200, response.text
    response, _ = await submit(client, api_form(html, "Save changes"), max_redemptions="2")
    assert response.status_code == 200, response.text
    html = await page(client, f"/admin/coupons/{save['id']}")
    assert '<span class="tag">inactive</span>' in html and buttons(html)[0] == "Activate"
    assert "<dt>Redemptions / limit</dt><dd>2 / 2</dd>" in html
    assert "All courses" in html and "Apply to every course" not in buttons(html)

    create = api_form(await page(client, "/admin/coupons"), "Create coupon")
    response, then = await submit(
        client, create, code="new-year", discount_type="flat", discount_value="250"
    )
    assert response.status_code == 201, response.text
    assert (response.json()["active"], response.json()["course_ids"]) == (True, [])
    html = await page(client, then)
    assert "<h1>Coupon <code>NEW-YEAR</code></h1>" in html and "₹250.00 off" in html

    missing = await client.get("/admin/coupons/cpn_nothing")
    assert missing.status_code == 404 and "<h1>Coupon not found</h1>" in missing.text
