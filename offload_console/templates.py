"""Built-in case bodies: the seed's W-9 request, and the demo cases made from it."""

from __future__ import annotations

import copy

W9_TEMPLATE: dict = {
    "clientReferenceId": "vendor_2048",
    "channel": "EMAIL",
    "maxAttempts": 3,
    "followUpDelayHours": 72,
    "goal": {
        "objective": "Collect a signed W-9 from the vendor",
        "knowledge": {
            "vendorName": "Northstar Supplies",
            "requestReason": "AP onboarding",
            "dueDate": "2026-04-04",
        },
    },
    "counterparty": {
        "address": "ap@northstar.example",
        "name": "Maya Chen",
        "company": "Northstar Supplies",
        "timezone": "America/Los_Angeles",
    },
    "senderPersona": {
        "name": "Avery",
        "role": "Accounts Payable",
        "company": "Offload Customer Inc.",
        "tone": "friendly, concise",
    },
    "constraints": ["Email only", "Do not mention legal action"],
    "resultSchema": {
        "type": "object",
        "properties": {
            "signedW9Received": {"type": "boolean"},
            "taxId": {"type": "string"},
            "documentUrl": {"type": "string"},
        },
        "required": ["signedW9Received"],
    },
}

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
