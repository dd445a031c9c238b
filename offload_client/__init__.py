"""The Offload client: the only code in the console that talks HTTP to Offload."""

from offload_client.client import (
    DEFAULT_SANDBOX_API_KEY,
    DEFAULT_SANDBOX_URL,
    OffloadClient,
)
from offload_client.errors import (
    OffloadAPIError,
    OffloadConnectError,
    OffloadError,
    OffloadProtocolError,
    OffloadUnknownOutcome,
)
from offload_client.models import (
    NOTHING_SCHEDULED,
    AttachmentLink,
    CaseState,
    CreatedCase,
    InputAccepted,
    InputRequest,
)

__all__ = [
    "DEFAULT_SANDBOX_API_KEY",
    "DEFAULT_SANDBOX_URL",
    "NOTHING_SCHEDULED",
    "AttachmentLink",
    "CaseState",
    "CreatedCase",
    "InputAccepted",
    "InputRequest",
    "OffloadAPIError",
    "OffloadClient",
    "OffloadConnectError",
    "OffloadError",
    "OffloadProtocolError",
    "OffloadUnknownOutcome",
]
