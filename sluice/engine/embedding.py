"""An OpenAI-compatible embeddings client: texts in, float32 vectors out.

It speaks the ``POST /v1/embeddings`` protocol that OpenAI and many
self-hosted servers share (``{"model", "input", "dimensions", "user"}`` in,
``{"data": [{"index", "embedding"}]}`` out), in batches of 128 texts as
Milvus's openai provider does, and checks what comes back the way Milvus
does: one embedding per text, each of the output field's dimension.
Failures are refused in Milvus's words (plain errors, code 65535).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import orjson

from sluice.errors import RequestError

#: Texts per call (Milvus's openai provider ``maxBatch``).
MAX_BATCH = 128


@dataclass(frozen=True)
class OpenAIEmbedder:
    url: str
    api_key: str
    model: str
    #: The output field's dimension: every embedding must have it.
    dim: int
    #: ``dimensions`` sent to the service (0: not sent, the model's default).
    dimensions: int = 0
    user: str = ""
    timeout: float = 30.0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32 embeddings, in the order of ``texts``."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), MAX_BATCH):
            batch = list(texts[start : start + MAX_BATCH])
            out[start : start + len(batch)] = self._call(batch)
        return out

    def _call(self, batch: list[str]) -> np.ndarray:
        body: dict[str, object] = {"model": self.model, "input": batch, "encoding_format": "float"}
        if self.dimensions:
            body["dimensions"] = self.dimensions
        if self.user:
            body["user"] = self.user
        request = urllib.request.Request(
            self.url,
            data=orjson.dumps(body),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.api_key}",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = orjson.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            raise RequestError(
                f"Call service failed, errs:[{exc.code} {exc.reason}: {detail}]"
            ) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise RequestError(f"Call service failed, errs:[{exc}]") from None
        except orjson.JSONDecodeError:
            raise RequestError("Call service failed, errs:[the response is not JSON]") from None
        return self._vectors(payload, len(batch))

    def _vectors(self, payload: object, expected: int) -> np.ndarray:
        items = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(items, list):
            raise RequestError("Call service failed, errs:[the response has no data]")
        if len(items) != expected:
            raise RequestError(
                "get embedding failed, the number of texts and embeddings does not match "
                f"text:[{expected}], embedding:[{len(items)}]"
            )
        ordered = sorted(items, key=lambda item: int(item.get("index", 0)))
        rows = []
        for item in ordered:
            embedding = item.get("embedding") if isinstance(item, dict) else None
            if not isinstance(embedding, list):
                raise RequestError("Call service failed, errs:[an item has no embedding]")
            if len(embedding) != self.dim:
                raise RequestError(
                    f"the required embedding dim is [{self.dim}], but the embedding obtained "
                    f"from the model is [{len(embedding)}]"
                )
            rows.append(embedding)
        return np.asarray(rows, dtype=np.float32)
