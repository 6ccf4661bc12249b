"""common.redaction: credentials leave DSNs and URLs, and nothing else in a text changes."""

from __future__ import annotations

import ast
from pathlib import Path
from urllib.parse import quote

import pytest

from common.redaction import redact


def test_userinfo_password_is_masked_and_the_rest_kept():
    assert redact("postgresql://shop:s3cret@db:5432/shop") == "postgresql://shop:***@db:5432/shop"
    assert redact("postgresql+psycopg2://u:p%40ss@h/db?sslmode=require") == (
        "postgresql+psycopg2://u:***@h/db?sslmode=require"
    )


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://shop@db/shop",
        "sqlite:////tmp/shop.db",
        "s3://bucket/prefix/part-1.parquet",
        "http://127.0.0.1:8765/contacts?page=2&updated_since=2026-01-01",
        "https://example.org/users/a@b.org",
        "no URL at all, port 5432",
    ],
)
def test_text_without_credentials_is_unchanged(text):
    assert redact(text) == text


def test_a_one_letter_password_leaves_the_same_letter_elsewhere_intact():
    message = (
        "cannot connect to postgresql://shop:t@db:5432/shop: connection to server at "
        '"db", port 5432 failed: FATAL: password authentication failed for user "shop"'
    )
    assert redact(message) == message.replace("shop:t@", "shop:***@")


@pytest.mark.parametrize("password", ["p@ss:w/rd", "a%40b", "x?y#z@", ":/@"])
def test_passwords_with_url_special_characters(password):
    for written in (password, quote(password, safe="")):  # raw and percent-encoded
        dsn = f"postgresql://shop:{written}@db:5432/shop"
        assert redact(dsn) == "postgresql://shop:***@db:5432/shop", written
        assert password not in redact(f"failed on {dsn} (see the log)")


def test_the_password_elsewhere_in_the_text_stays():
    text = "user hunter2 said: postgresql://hunter2:hunter2@db/shop is hunter2's"
    assert redact(text) == "user hunter2 said: postgresql://hunter2:***@db/shop is hunter2's"


def test_secret_query_parameters_are_masked():
    url = (
        "https://api.example.org/v1?page=3&token=abc&api_key=k1&password=p"
        "&X-Amz-Signature=f00&sslmode=require"
    )
    assert redact(url) == (
        "https://api.example.org/v1?page=3&token=***&api_key=***&password=***"
        "&X-Amz-Signature=***&sslmode=require"
    )


def test_libpq_keyword_dsn_password_is_masked():
    assert redact("host=db port=5432 user=shop password=s3cret dbname=shop") == (
        "host=db port=5432 user=shop password=*** dbname=shop"
    )
    assert redact("host=db password='a b\\'c' dbname=shop") == "host=db password=*** dbname=shop"


def test_urls_inside_quotes_and_reprs():
    assert redact("unsupported DSN 'mysql://u:pw@h/db'") == "unsupported DSN 'mysql://u:***@h/db'"
    assert redact('missing "=" after "postgresql://u:pw@h" in connection info string') == (
        'missing "=" after "postgresql://u:***@h" in connection info string'
    )


def _imported_packages(folder: str) -> set[str]:
    root = Path(__file__).resolve().parent.parent
    found = set()
    for path in (root / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return found


def test_layers_share_redaction_without_depending_on_each_other():
    ours = {"common", "datagen", "ingestion", "lake", "orchestration"}
    assert _imported_packages("common") & ours <= {"common"}
    # the simulated outside world never imports our engine (DESIGN.md)
    assert _imported_packages("datagen") & ours <= {"datagen", "common"}
