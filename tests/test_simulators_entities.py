"""Declared simulator entities: deterministic records, relations that hold, cascading deletes that remove
exactly what hangs from a record, and a truth without deleted records."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from simulators.entities import Entity, Nested, Ref, World


def world(companies: int = 7, jobs: int = 23, notes: int = 40) -> World:
    return World([
        Entity("companies", companies, build=lambda rng, i: {"name": f"Company {i}"}),
        Entity("jobs", jobs, build=lambda rng, i: {"title": f"Job {i}", "hours": rng.randint(1, 9)},
               refs=(Ref("companies", "company_id", cascade=True),),
               nested=(Nested("lines", lambda rng, parent, pos: {"qty": rng.randint(1, 5)}, most=3),)),
        Entity("notes", notes, build=lambda rng, i: {"body": "x"},
               refs=(Ref("jobs", "job_id", cascade=True), Ref("companies", "about_id", optional=True))),
    ])


def test_records_are_deterministic_and_relations_point_at_real_parents():
    a, b = world(), world()
    assert a.truth("jobs") == b.truth("jobs")
    companies = set(a.truth("companies"))
    for job in a.truth("jobs").values():
        assert job["company_id"] in companies
        assert all(isinstance(line["id"], int) for line in job["lines"])
    every_line = [line["id"] for job in a.truth("jobs").values() for line in job["lines"]]
    assert len(every_line) == len(set(every_line))


@given(st.integers(1, 12), st.integers(0, 40), st.integers(0, 60))
def test_children_inverts_parent(companies, jobs, notes):
    w = world(companies, jobs, notes)
    ref = w.entities["jobs"].refs[0]
    for parent in range(companies):
        assert sorted(w.children("jobs", ref, parent)) == [i for i in range(jobs) if w.parent("jobs", ref, i) == parent]


@given(st.integers(1, 8), st.integers(1, 30), st.integers(0, 50), st.randoms(use_true_random=False), st.integers(0, 6))
def test_cascading_deletes_remove_exactly_the_descendants(companies, jobs, notes, rng, n):
    w = world(companies, jobs, notes)
    for _ in range(2):
        w.insert("jobs", rng)
        w.insert("notes", rng)
    before = {name: w.truth(name) for name in w.entities}
    removed = w.delete_random(rng, n)
    gone = {(name, w.id_of(name, i)) for name, i in removed}
    after = {name: w.truth(name) for name in w.entities}
    for name in w.entities:
        assert set(after[name]) == set(before[name]) - {ident for kind, ident in gone if kind == name}
    # no live job or note points at a deleted parent through a cascading ref
    companies_left, jobs_left = set(after["companies"]), set(after["jobs"])
    assert all(j["company_id"] in companies_left for j in after["jobs"].values())
    assert all(n["job_id"] in jobs_left for n in after["notes"].values())


def test_edits_change_a_record_and_move_its_time():
    w = world()
    old = w.record("jobs", 3)
    w.data["jobs"].edit(3)
    new = w.record("jobs", 3)
    assert new["updated_at"] >= old["updated_at"] and new["id"] == old["id"]
    w.edit_random(random.Random(1), 6)
