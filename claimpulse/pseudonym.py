"""customer_key: a keyed hash (HMAC-SHA256) of customer_id, computed vectorized in DuckDB.

The key comes from $CLAIMPULSE_PSEUDONYM_KEY; without it nothing personal can be loaded,
so the pipeline refuses to start. The demo source alone (the demo SQLite file under data/)
runs with the one fixed DEMO_KEY; no other source may use it, even when it is set by hand.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

ENV_VAR = "CLAIMPULSE_PSEUDONYM_KEY"
# The only demo key. The Makefile sets none: `make run` reads the demo source, which gets this.
DEMO_KEY = b"claimpulse-demo-key-not-for-production"


class MissingSecretError(RuntimeError):
    pass


def pseudonym_key(allow_demo: bool = False) -> bytes:
    """$CLAIMPULSE_PSEUDONYM_KEY; the demo key only when `allow_demo` (the demo source)."""
    value = os.environ.get(ENV_VAR, "")
    if value:
        key = value.encode("utf-8")
        if key == DEMO_KEY and not allow_demo:
            raise MissingSecretError(
                f"{ENV_VAR} is the demo key, which only the demo source may use: set it to your "
                f"own secret (always the same value) for this source")
        return key
    if allow_demo:
        return DEMO_KEY
    raise MissingSecretError(
        f"{ENV_VAR} is not set: it keys the hash that replaces customer_id in the warehouse. "
        f"Set it, always to the same value, and rerun.")


def _pads(key: bytes) -> tuple[bytes, bytes]:
    # RFC 2104: keys longer than the block are hashed first, shorter ones zero-padded.
    import hashlib

    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def customer_keys(customer_id: pd.Series, key: bytes) -> pd.Series:
    """HMAC-SHA256(key, customer_id) as 64 hex chars; null stays null. Same index as input."""
    import duckdb
    import pandas as pd

    ipad, opad = _pads(key)
    frame = pd.DataFrame({"c": customer_id.astype("string")})
    con = duckdb.connect()
    try:
        con.register("ids", frame)
        out = con.execute(
            "SELECT CASE WHEN c IS NULL THEN NULL ELSE "
            "sha256($opad || unhex(sha256($ipad || encode(c)))) END AS h FROM ids",
            {"ipad": ipad, "opad": opad},
        ).fetch_df()["h"]
    finally:
        con.close()
    out.index = customer_id.index
    return out.astype("string")
