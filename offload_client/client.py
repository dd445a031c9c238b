"""``OffloadClient``: create, get, attachment link, provide input, over httpx.

Rules (from the API contract, ``docs/offload-api.md``):
- every call sends ``x-api-key``; timeouts are explicit;
- GETs are retried (at most 3 attempts) on connection failures, timeouts, 429 and 5xx, with
  capped exponential backoff and jitter, honouring ``Retry-After``;
- POSTs are never resent automatically. A POST that fails before the connection is made
  raises :class:`OffloadConnectError` (certainly not received); one that was sent and got no
  answer or a 5xx raises :class:`OffloadUnknownOutcome` / an ambiguous :class:`OffloadAPIError`.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from offload_client.errors import (
    OffloadAPIError,
    OffloadConnectError,
    OffloadProtocolError,
    OffloadUnknownOutcome,
)
from offload_client.models import AttachmentLink, CaseState, CreatedCase, InputAccepted
from offload_client.text import storable

DEFAULT_SANDBOX_URL = "http://127.0.0.1:8788"
DEFAULT_SANDBOX_API_KEY = "sandbox-local-key"
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
RETRYABLE_STATUS = {429, 500, 502, 503, 504}
MAX_GET_ATTEMPTS = 3


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class OffloadClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        max_connections: int = 20,
        get_attempts: int = MAX_GET_ATTEMPTS,
    ):
        self.base_url = base_url.rstrip("/")
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._sleep = sleep
        self._get_attempts = max(1, min(get_attempts, MAX_GET_ATTEMPTS))
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"x-api-key": api_key, "accept": "application/json"},
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=max_connections),
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OffloadClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:  # never the key
        return f"OffloadClient({self.base_url!r})"

    # -- the four routes -------------------------------------------------------------------

    def create_case(self, body: dict) -> CreatedCase:
        data = self._post("/cases", body)
        case_id = data.get("caseId")
        if not isinstance(case_id, str) or not case_id:
            raise OffloadProtocolError("POST", "/cases", 200, "no caseId in data")
        return CreatedCase(case_id=case_id)

    def get_case(self, case_id: str, *, include_transcript: bool = False) -> CaseState:
        params = {"includeTranscript": "true"} if include_transcript else None
        data = self._get(f"/cases/{quote(case_id, safe='')}", params=params)
        return CaseState.from_data(data)

    def get_attachment(self, case_id: str, attachment_id: str) -> AttachmentLink:
        path = f"/cases/{quote(case_id, safe='')}/attachments/{quote(attachment_id, safe='')}"
        data = self._get(path)
        url = data.get("downloadUrl")
        if not isinstance(url, str):
            raise OffloadProtocolError("GET", path, 200, "no downloadUrl in data")
        return AttachmentLink(
            attachment_id=str(data.get("attachmentId", attachment_id)),
            name=data.get("name"),
            size=data.get("size"),
            type=data.get("type"),
            download_url=url,
            expires_at=data.get("expiresAt"),
            raw=data,
        )

    def provide_input(
        self, case_id: str, input_request_id: str, provided_context: str
    ) -> InputAccepted:
        path = f"/cases/{quote(case_id, safe='')}/input"
        data = self._post(
            path, {"inputRequestId": input_request_id, "providedContext": provided_context}
        )
        return InputAccepted(
            case_id=str(data.get("caseId", case_id)),
            input_request_id=str(data.get("inputRequestId", input_request_id)),
        )

    # -- transport -------------------------------------------------------------------------

    def _get(self, path: str, params: dict | None = None) -> dict:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.get(path, params=params)
            except httpx.TransportError as exc:
                if attempt >= self._get_attempts:
                    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                        raise OffloadConnectError("GET", path, type(exc).__name__) from None
                    raise OffloadUnknownOutcome("GET", path, type(exc).__name__) from None
                self._sleep(self._backoff(attempt, None))
                continue
            if response.status_code in RETRYABLE_STATUS and attempt < self._get_attempts:
                self._sleep(self._backoff(attempt, _retry_after(response)))
                continue
            return self._parse(response, "GET", path)

    def _post(self, path: str, body: dict) -> dict:
        try:
            response = self._http.post(path, json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise OffloadConnectError("POST", path, type(exc).__name__) from None
        except httpx.TransportError as exc:
            # Sent (or partly sent) with no answer: Offload may have acted on it.
            raise OffloadUnknownOutcome("POST", path, type(exc).__name__) from None
        return self._parse(response, "POST", path)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self._backoff_cap * 4)
        ceiling = min(self._backoff_cap, self._backoff_base * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not crypto

    @staticmethod
    def _parse(response: httpx.Response, method: str, path: str) -> dict:
        try:
            body: Any = storable(response.json())[0]
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            body = None
        if response.is_success:
            if (
                isinstance(body, dict)
                and body.get("ok") is True
                and isinstance(body.get("data"), dict)
            ):
                return body["data"]
            raise OffloadProtocolError(method, path, response.status_code, "no success envelope")
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and isinstance(error.get("code"), str):
            code = error["code"]
            message = str(error.get("message") or "")
        else:
            # Throttling and gateway errors may come without Offload's envelope.
            code = {429: "RATE_LIMITED"}.get(response.status_code) or (
                "INTERNAL_ERROR" if response.status_code >= 500 else f"HTTP_{response.status_code}"
            )
            text = response.text.strip().replace("\n", " ")
            message = text[:200] or response.reason_phrase
        raise OffloadAPIError(
            response.status_code, code, message, method, path, _retry_after(response)
        )
