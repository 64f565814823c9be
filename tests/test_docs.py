"""The data-model docs are generated from the declarations: the committed pages must be what `make docs`
writes, every table and foreign key must appear, and each picture must open as an image."""

from __future__ import annotations

import pytest

from synckit import Child, Reconcile, Snapshot, Table
from tools import docs
from tools.vendors import FACTORIES


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_committed_pages_are_what_make_docs_writes(name):
    tables = docs.catalogue(name)
    page = docs.OUT / f"{name}.md"
    assert page.exists(), f"docs/data-model/{name}.md is missing; run make docs"
    assert page.read_text() == docs.page(name, tables), f"docs/data-model/{name}.md is out of date; run make docs"
    for entry in (e for t in tables for e in t.schemas()):
        assert f"## {entry['table']}" in page.read_text() or f"### {entry['table']}" in page.read_text()


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_pictures_open(name):
    import matplotlib.image

    picture = matplotlib.image.imread(docs.OUT / f"{name}.png")
    assert picture.ndim == 3 and picture.shape[0] > 100 and picture.shape[1] > 300


def _sample() -> list[Table]:
    noop = lambda window: iter(())  # noqa: E731
    return [
        Table("companies", ("id",), noop, columns={"id": "LONG", "name": "STRING"}, cursor="date_modified",
              deletes=(Reconcile(ids=lambda: iter(()), cascade=("jobs",)),), doc="Client companies."),
        Table("jobs", ("id",), noop, columns={"id": "LONG", "companyId": "LONG"}, refs={"companyId": "companies.id"},
              children=(Child("lines", key=("id",), columns={"id": "LONG"}),)),
        Table("staff", ("id",), noop, columns={"id": "LONG"}, deletes=(Snapshot(),)),
    ]


def test_a_page_shows_keys_reads_deletes_and_relations():
    text = docs.page("sample", _sample())
    assert "| `company_id` (`companyId` in the API) | LONG |  | companies.id |" in text
    assert "- `jobs.company_id` -> `companies.id`" in text
    assert "- `jobs_lines.parent_id` -> `jobs.id`" in text
    assert "cascades to jobs" in text and "snapshot comparison" in text
    assert "incremental: records with the cursor at or after the last committed value (cursor `date_modified`)" in text
    assert "### jobs_lines" in text and "- Primary key: `parent_id`, `id`" in text


def test_layers_put_a_table_below_what_it_references_even_with_cycles():
    rows = docs.layers(["a", "b", "c", "d"], [("b", "a"), ("c", "b"), ("a", "c"), ("d", "a")])
    assert sorted(n for row in rows for n in row) == ["a", "b", "c", "d"]


def test_drawing_writes_a_png(tmp_path):
    import matplotlib.image

    docs.draw("sample", _sample(), tmp_path / "sample.png")
    assert matplotlib.image.imread(tmp_path / "sample.png").shape[1] > 300
