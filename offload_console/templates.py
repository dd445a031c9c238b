"""Built-in case bodies: the seed's W-9 request, and the demo cases made from it."""

from __future__ import annotations

import copy
import json
from pathlib import Path

# The seed's W-9 request, kept once: examples/w9.json (the CLI's example) links to this file.
W9_TEMPLATE: dict = json.loads(Path(__file__).with_name("w9.json").read_text())

DEMO_VENDORS = [
    (
        "vendor_2048",
        "Northstar Supplies",
        "Maya Chen",
        "ap@northstar.example",
        "America/Los_Angeles",
        "input_needed",
    ),
    (
        "vendor_2051",
        "Harbor Freight Lines",
        "Luis Ortega",
        "billing@harbor.example",
        "America/Chicago",
        "two_questions",
    ),
    (
        "vendor_2060",
        "Kestrel Analytics",
        "Priya Nair",
        "finance@kestrel.example",
        "Europe/London",
        "complete",
    ),
    (
        "vendor_2077",
        "Blue Fjord AS",
        "Ingrid Dahl",
        "post@bluefjord.example",
        "Europe/Oslo",
        "complete",
    ),
    (
        "vendor_2081",
        "Sakura Components",
        "Kenji Sato",
        "ar@sakura.example",
        "Asia/Tokyo",
        "input_needed",
    ),
    (
        "vendor_2090",
        "Old Mill Bakery",
        "Sam Reed",
        "sam@oldmill.example",
        "America/New_York",
        "bounced",
    ),
    (
        "vendor_2093",
        "Quartz Legal LLP",
        "Dana Wu",
        "office@quartz.example",
        "America/Denver",
        "rejected",
    ),
    (
        "vendor_2099",
        "Silent Partners Co",
        "Alex Kim",
        "ap@silent.example",
        "Australia/Sydney",
        "max_retries",
    ),
]


def w9_case(
    reference: str,
    company: str,
    name: str,
    address: str,
    timezone: str,
    scenario: str | None = None,
) -> dict:
    body = copy.deepcopy(W9_TEMPLATE)
    body["clientReferenceId"] = reference
    body["goal"]["knowledge"]["vendorName"] = company
    body["counterparty"] = {
        "address": address,
        "name": name,
        "company": company,
        "timezone": timezone,
    }
    if scenario:
        body["metadata"] = {"sandboxScenario": scenario}
    return body
