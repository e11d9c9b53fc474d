"""Chapter 10's walk: the bad design fixed one checklist item at a time ends with every item passing."""

from __future__ import annotations

from wssim.check import ITEMS, review
from wssim.lessons import design_review


def test_fixing_the_bad_design_item_by_item_passes_every_item():
    brought = design_review.load("bad")
    steps, fixed = design_review.walk(brought)
    titles = [spec.title for spec in ITEMS]
    assert set(steps.iloc[0][titles]) == {"fail"} and steps["failing"].iloc[0] == len(ITEMS)
    assert set(steps.iloc[-1][titles]) == {"pass"} and steps["failing"].iloc[-1] == 0
    assert list(steps["failing"]) == sorted(steps["failing"], reverse=True)  # no fix breaks another item
    assert {i.verdict for i in review(fixed, quick=True).items} == {"pass"}
    assert fixed.gateways.count == int(design_review.change(steps, "gateways.count")) > brought.gateways.count
    assert fixed.backplane.kind == design_review.change(steps, "backplane.kind") == "kafka"


def test_the_review_table_has_one_row_per_item_with_its_fix():
    table = design_review.verdicts(design_review.load("bad"))
    assert list(table.index) == [spec.title for spec in ITEMS]
    assert (table["verdict"] == "fail").all() and (table["fix"] != "").all()
    assert design_review.failing(design_review.load("good")) == 0
