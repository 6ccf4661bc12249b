"""The synthetic CRM: generator invariants, and its REST API over real loopback HTTP."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from datagen.crm import CONTACTS_SCHEMA, DEALS_SCHEMA, crm_row_counts, generate_crm
from datagen.crm_api import CrmApiServer, TokenBucket, main

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    return generate_crm(n_customers=1_000, seed=42)


@pytest.fixture(scope="module")
def client(tables: dict[str, pa.Table]) -> Iterator[httpx.Client]:
    # Generous limits: these tests exercise paging, not throttling.
    with (
        CrmApiServer(tables, TOKEN, requests_per_second=1_000.0, burst=1_000) as api,
        httpx.Client(base_url=api.url, timeout=5.0) as http,
    ):
        yield http


def test_generate_crm_is_deterministic_per_seed() -> None:
    first, again = generate_crm(500, seed=7), generate_crm(500, seed=7)
    other = generate_crm(500, seed=8)
    for name in ("contacts", "deals"):
        assert first[name].equals(again[name])
        assert not first[name].equals(other[name])


def test_generate_crm_volumes_schema_and_values(tables: dict[str, pa.Table]) -> None:
    contacts, deals = tables["contacts"], tables["deals"]
    assert {"contacts": contacts.num_rows, "deals": deals.num_rows} == crm_row_counts(1_000)
    assert (contacts.num_rows, deals.num_rows) == (400, 200)
    assert contacts.schema == CONTACTS_SCHEMA and deals.schema == DEALS_SCHEMA
    assert contacts["contact_id"].to_pylist() == list(range(1, 401))

    customer_ids = contacts["customer_id"].to_pylist()
    assert len(set(customer_ids)) == len(customer_ids)
    assert all(1 <= cid <= 1_000 for cid in customer_ids)
    for row in contacts.select(["customer_id", "email"]).to_pylist():
        assert re.fullmatch(rf"[a-z]+\.[a-z]+{row['customer_id']}@example\.com", row["email"])
    assert set(contacts["lifecycle_stage"].to_pylist()) <= {
        "lead",
        "marketing_qualified",
        "sales_qualified",
        "customer",
    }

    amounts = deals["amount"].to_pylist()
    assert all(500 <= a <= 50_000 and round(a, 2) == a for a in amounts)
    assert set(deals["currency"].to_pylist()) == {"USD"}
    assert set(deals["stage"].to_pylist()) <= {"open", "won", "lost"}

    for table in (contacts, deals):
        created, updated = table["created_at"].to_pylist(), table["updated_at"].to_pylist()
        assert all(ISO_UTC.match(ts) for ts in created + updated)
        assert all("2025-11-01" <= c[:10] <= "2026-10-31" for c in created)
        assert all(u >= c for c, u in zip(created, updated, strict=True))


def test_generate_crm_minimum_volumes() -> None:
    tiny = generate_crm(1, seed=0)
    assert (tiny["contacts"].num_rows, tiny["deals"].num_rows) == (1, 1)
    assert tiny["contacts"]["customer_id"].to_pylist() == [1]
    with pytest.raises(ValueError, match="n_customers"):
        generate_crm(0, seed=0)


def test_deals_reference_existing_contacts_created_before_them(
    tables: dict[str, pa.Table],
) -> None:
    contacts, deals = tables["contacts"], tables["deals"]
    joined = deals.join(
        contacts.select(["contact_id", "created_at"]).rename_columns(
            ["contact_id", "contact_created_at"]
        ),
        "contact_id",
        join_type="left outer",
    )
    assert joined.num_rows == deals.num_rows
    assert joined["contact_created_at"].null_count == 0
    assert pc.all(pc.greater_equal(joined["created_at"], joined["contact_created_at"])).as_py()


def test_health_needs_no_token(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("resource", "id_column"), [("contacts", "contact_id"), ("deals", "deal_id")]
)
def test_pagination_walks_every_row_once_in_cursor_order(
    client: httpx.Client, tables: dict[str, pa.Table], resource: str, id_column: str
) -> None:
    rows, page, pages = [], 1, 0
    while page is not None:
        body = client.get(f"/v1/{resource}", params={"page": page, "per_page": 37}, headers=AUTH)
        assert body.status_code == 200
        payload = body.json()
        assert payload["page"] == page and payload["per_page"] == 37
        assert payload["total"] == tables[resource].num_rows
        assert len(payload["data"]) <= 37
        rows.extend(payload["data"])
        page, pages = payload["next_page"], pages + 1

    ids = [row[id_column] for row in rows]
    assert len(rows) == tables[resource].num_rows
    assert len(set(ids)) == len(ids)
    assert set(ids) == set(tables[resource][id_column].to_pylist())
    assert pages == -(-len(rows) // 37)
    keys = [(row["updated_at"], row[id_column]) for row in rows]
    assert keys == sorted(keys)
    assert rows[0] in tables[resource].to_pylist()  # records come back as generated


def test_page_past_the_end_is_empty(client: httpx.Client) -> None:
    payload = client.get("/v1/deals", params={"page": 99}, headers=AUTH).json()
    assert payload["data"] == [] and payload["next_page"] is None and payload["total"] == 200


def test_default_page_size(client: httpx.Client) -> None:
    payload = client.get("/v1/contacts", headers=AUTH).json()
    assert (payload["page"], payload["per_page"], len(payload["data"])) == (1, 100, 100)
    assert payload["next_page"] == 2


def test_updated_since_returns_only_strictly_newer_rows(
    client: httpx.Client, tables: dict[str, pa.Table]
) -> None:
    updated = sorted(tables["contacts"]["updated_at"].to_pylist())
    cutoff = updated[len(updated) // 2]
    expected = sum(ts > cutoff for ts in updated)
    payload = client.get(
        "/v1/contacts", params={"updated_since": cutoff, "per_page": 500}, headers=AUTH
    ).json()
    assert payload["total"] == expected == len(payload["data"])
    assert all(row["updated_at"] > cutoff for row in payload["data"])

    # The same instant with an explicit offset filters identically.
    offset_form = cutoff.replace("Z", "+00:00")
    same = client.get(
        "/v1/contacts", params={"updated_since": offset_form, "per_page": 500}, headers=AUTH
    ).json()
    assert same["total"] == expected


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}]
)
def test_missing_or_wrong_token_is_401(client: httpx.Client, headers: dict[str, str]) -> None:
    response = client.get("/v1/contacts", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"per_page": "0"}, "per_page"),
        ({"per_page": "501"}, "per_page"),
        ({"per_page": "ten"}, "per_page"),
        ({"page": "-1"}, "page"),
        ({"updated_since": "yesterday"}, "updated_since"),
    ],
)
def test_invalid_query_parameter_is_400_naming_it(
    client: httpx.Client, params: dict[str, str], parameter: str
) -> None:
    response = client.get("/v1/contacts", params=params, headers=AUTH)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_parameter" and body["parameter"] == parameter
    assert parameter in body["message"]


def test_unknown_resource_is_404(client: httpx.Client) -> None:
    response = client.get("/v1/invoices", headers=AUTH)
    assert response.status_code == 404
    assert "contacts" in response.json()["message"]
    assert client.get("/nope", headers=AUTH).status_code == 404


def test_exhausted_bucket_is_429_with_retry_after_then_recovers(
    tables: dict[str, pa.Table],
) -> None:
    with (
        CrmApiServer(tables, TOKEN, requests_per_second=2.0, burst=2) as api,
        httpx.Client(base_url=api.url, headers=AUTH, timeout=5.0) as http,
    ):
        assert [http.get("/v1/deals").status_code for _ in range(2)] == [200, 200]
        limited = http.get("/v1/deals")
        assert limited.status_code == 429
        assert limited.json()["error"] == "rate_limited"
        retry_after = int(limited.headers["Retry-After"])
        assert retry_after >= 1

        time.sleep(retry_after)
        assert http.get("/v1/deals").status_code == 200


def test_token_bucket_refills_at_rate_up_to_burst() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=4.0, burst=2, clock=lambda: now[0])
    assert bucket.try_acquire() == 0.0 and bucket.try_acquire() == 0.0
    assert bucket.try_acquire() == pytest.approx(0.25)
    now[0] = 10.0  # a long idle period refills only up to the burst
    assert [bucket.try_acquire() == 0.0 for _ in range(3)] == [True, True, False]


def test_server_refuses_empty_token(tables: dict[str, pa.Table]) -> None:
    with pytest.raises(ValueError, match="CRM_API_TOKEN"):
        CrmApiServer(tables, token="")


def test_cli_exits_with_one_line_error_without_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRM_API_TOKEN", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["--scale", "0.001", "--port", "0"])
    message = str(exit_info.value.code)
    assert "CRM_API_TOKEN" in message and "\n" not in message
