"""HMAC-signed records: the identity of an issued template and the seal of a municipal summary.

The signed payload is every field but the signature, in sorted `key=value` form; the key comes from the
workspace (SVOD_SIGNING_KEY), so a file edited by hand or issued by another installation fails verification.
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import BaseModel


class SignedRecord(BaseModel):
    signature: str = ""

    def payload(self) -> bytes:
        fields = self.model_dump(exclude={"signature"})
        return "|".join(f"{k}={fields[k]}" for k in sorted(fields)).encode()

    def signed(self, key: str):
        return self.model_copy(
            update={"signature": hmac.new(key.encode(), self.payload(), hashlib.sha256).hexdigest()}
        )

    def verify(self, key: str) -> bool:
        return hmac.compare_digest(self.signed(key).signature, self.signature)

    def rows(self) -> list[tuple[str, str]]:
        """Key/value rows as stored on a hidden sheet, signature last."""
        fields = self.model_dump()
        return [(k, str(fields[k])) for k in [*[k for k in fields if k != "signature"], "signature"]]

    @classmethod
    def from_rows(cls, rows) -> SignedRecord:
        values = {str(r[0]): str(r[1]) for r in rows if len(r) > 1 and r[0] in cls.model_fields}
        return cls(**values)
