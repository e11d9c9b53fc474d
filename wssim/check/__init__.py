"""``wssim check``: the senior checklist applied to a design, as an automated review.

============  =========================================================================================
module        one job
============  =========================================================================================
items         the checklist items, and the shape of an answer (Check, Fix, ItemResult)
figures       the design's numbers: traffic, load per gateway, fan-out, capacities (closed forms)
static        the arithmetic checks of every item, each with a fix that passes
probes        scaled-down simulations derived from the design, one per dynamic item
dynamic       the checks a probe's runs answer
review        runs it all, and finds the fixes that pass together
render        the terminal table;  page: the HTML page;  output: check.json and its JSON Schema
============  =========================================================================================

Python API: ``review(config, quick=False) -> Review``; ``write_json(review, folder)``.
"""

from wssim.check.items import ITEM_IDS, ITEMS, Check, Fix, ItemResult
from wssim.check.output import SCHEMA_PATH, review_json, write_json
from wssim.check.review import Review, apply_fixes, review

__all__ = [
    "ITEMS",
    "ITEM_IDS",
    "SCHEMA_PATH",
    "Check",
    "Fix",
    "ItemResult",
    "Review",
    "apply_fixes",
    "review",
    "review_json",
    "write_json",
]
