"""Sources for tests: a SQLite claims system whose rows get corrected the way real systems do
(`Source`: the incremental and clock runs), and the golden folder the way real exports arrive
(Excel's quirks, several files per table, GB18030, Parquet: the folder-source tests)."""
from __future__ import annotations

import csv
import io
import re

import numpy as np
import pandas as pd

from claimpulse import demo
from claimpulse.schema import SOURCE_TABLES

from ..conftest import GOLDEN

TABLES = tuple(SOURCE_TABLES)


# ----------------------------------------------------------------------------- a claims system


class Source:
    """A SQLite claims system whose rows we correct the way real systems do."""

    def __init__(self, path, n_claims=400, days=40, seed=5):
        self.url = f"sqlite:///{path}"
        self.frames = demo.generate(n_claims=n_claims, days=days, seed=seed)
        self.clock = pd.Timestamp.now(tz="UTC").floor("s") - pd.Timedelta(hours=2)
        demo.write_frames(self.url, self.frames)

    def stamp(self) -> str:
        # every correction gets a fresh, strictly later updated_at
        self.clock += pd.Timedelta(seconds=1)
        return self.clock.isoformat()

    def save(self):
        demo.write_frames(self.url, self.frames)

    def closed_claims(self):
        ev = self.frames["claim_events"]
        return ev.loc[ev["event_type"] == "closed", "claim_id"].unique()

    # --- the corrections -------------------------------------------------------------
    def move_milestone(self, rng):
        ev = self.frames["claim_events"]
        idx = rng.choice(ev.index[ev["event_type"] == "closed"])
        t = pd.Timestamp(ev.at[idx, "occurred_at"]).tz_localize("Asia/Shanghai")
        t = min(t + pd.Timedelta(days=int(rng.integers(1, 4))), pd.Timestamp.now(tz="Asia/Shanghai") - pd.Timedelta(hours=3))
        ev.at[idx, "occurred_at"] = t.isoformat()
        ev.at[idx, "updated_at"] = self.stamp()

    def late_survey(self, rng):
        s = self.frames["surveys"]
        claim = rng.choice(self.closed_claims())
        row = {"response_id": f"LATE{len(s):06d}{rng.integers(1e6)}", "claim_id": claim,
               "responded_at": (pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=int(rng.integers(0, 3)), hours=3)).isoformat(),
               "csat": int(rng.integers(1, 6)), "nps": int(rng.integers(0, 11)), "effort": int(rng.integers(1, 8)),
               "comment": "迟到的回访", "updated_at": self.stamp()}
        self.frames["surveys"] = pd.concat([s, pd.DataFrame([row]).astype({"csat": "Int64", "nps": "Int64", "effort": "Int64"})],
                                           ignore_index=True)

    def new_claim(self, rng):
        c, ev = self.frames["claims"], self.frames["claim_events"]
        src = rng.choice(self.closed_claims())
        new_id = f"NEW{rng.integers(1e9):09d}"
        row = c[c["claim_id"] == src].copy()
        row["claim_id"], row["updated_at"] = new_id, self.stamp()
        evs = ev[ev["claim_id"] == src].copy()
        evs["event_id"] = [f"{new_id}-E{i}" for i in range(len(evs))]
        evs["claim_id"], evs["updated_at"] = new_id, self.stamp()
        self.frames["claims"] = pd.concat([c, row], ignore_index=True)
        self.frames["claim_events"] = pd.concat([ev, evs], ignore_index=True)

    def delete_then_correct(self, rng):
        s = self.frames["surveys"]
        i = rng.choice(s.index)
        row = s.loc[[i]].copy()
        row["csat"] = (row["csat"].fillna(3) % 5 + 1).astype("Int64")
        row["updated_at"] = self.stamp()
        self.frames["surveys"] = pd.concat([s.drop(index=i), row], ignore_index=True)

    def cost_after_closure(self, rng):
        k = self.frames["customer_costs"]
        claim = rng.choice(self.closed_claims())
        row = {"cost_id": f"LATECOST{rng.integers(1e9)}", "claim_id": claim, "cost_type": "travel",
               "incurred_at": (pd.Timestamp.now(tz="UTC") - pd.Timedelta(hours=5)).isoformat(),
               "quantity": 2.0, "amount": np.nan, "currency": None, "updated_at": self.stamp()}
        self.frames["customer_costs"] = pd.concat([k, pd.DataFrame([row])], ignore_index=True)

    def change_dimension(self, rng):
        c = self.frames["claims"]
        i = rng.choice(c.index[c["claim_id"].isin(self.closed_claims())])
        c.at[i, "channel"] = "branch" if c.at[i, "channel"] != "branch" else "web"
        c.at[i, "updated_at"] = self.stamp()

    def break_then_fix(self, rng):
        c = self.frames["claims"]
        i = rng.choice(c.index[c["claim_id"].isin(self.closed_claims())])
        claim, old = c.at[i, "claim_id"], c.at[i, "product_line"]
        c.at[i, "product_line"] = "spaceship"
        c.at[i, "updated_at"] = self.stamp()

        def fix():
            cur = self.frames["claims"]  # other corrections may have replaced the frame
            hit = cur["claim_id"] == claim
            cur.loc[hit, "product_line"] = old
            cur.loc[hit, "updated_at"] = self.stamp()

        return fix

    def hard_delete_complaint(self, rng):
        k = self.frames["complaints"]
        if len(k):
            self.frames["complaints"] = k.drop(index=rng.choice(k.index)).reset_index(drop=True)


# ----------------------------------------------------------------------------- exported folders


def golden(table: str) -> pd.DataFrame:
    return pd.read_csv(GOLDEN / f"{table}.csv", dtype=str, keep_default_na=False)


def excel_time(value: str) -> str:
    """`2026-03-01T09:00:00+08:00` -> `2026/03/01 09:00` (naive local, as Excel writes it)."""
    if not value:
        return value
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):00\+08:00", value)
    assert m, value
    y, mo, d, h, mi = m.groups()
    return f"{y}/{int(mo)}/{int(d)} {h}:{mi}" if int(d) % 2 else f"{y}/{mo}/{d} {h}:{mi}"


def thousands(value: str) -> str:
    """`20000.00` -> `20,000.00` (Excel's number format)."""
    if not value:
        return value
    whole, _, frac = value.partition(".")
    return f"{int(whole):,}" + (f".{frac}" if frac else "")


def quirky(table: str) -> pd.DataFrame:
    """The golden rows of `table` with the Excel quirks applied to its values."""
    df = golden(table)
    for col, kind in SOURCE_TABLES[table].columns.items():
        if col not in df:
            continue
        if kind == "timestamp":
            df[col] = df[col].map(excel_time)
        elif kind == "decimal":
            df[col] = df[col].map(thousands)
    if table == "surveys":
        df.loc[0, "comment"] = "很满意,\r\n第二行 \"引号\""
    if table == "complaints":
        df.loc[0, "category"] = "denial\nsecond line, with comma"
    return df


def write_csv(df: pd.DataFrame, path, encoding: str = "utf-8", bom: bool = True) -> None:
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    data = buf.getvalue().encode(encoding)
    if bom and encoding == "utf-8":
        data = b"\xef\xbb\xbf" + data
    path.write_bytes(data)


def excel_folder(dst, encoding: str = "utf-8"):
    """Golden source as an Excel user exports it: quirks, several files per table."""
    dst.mkdir()
    for t in TABLES:
        df = quirky(t)
        if t == "claim_events":  # one file per day of events
            day = df["occurred_at"].str.slice(0, 10).str.replace("/", "-")
            for i, (d, part) in enumerate(df.groupby(day, sort=True)):
                write_csv(part, dst / f"claim_events_{d}.csv", encoding, bom=i == 0)
        elif t == "customer_costs":
            write_csv(df.iloc[:2], dst / "customer_costs_part1.csv", encoding)
            write_csv(df.iloc[2:], dst / "CUSTOMER_COSTS_part2.CSV", encoding)
        else:
            write_csv(df, dst / f"{t}.csv", encoding)
    return dst


def parquet_folder(dst):
    """Golden source partly as Parquet (typed columns), partly CSV, a table split over both."""
    dst.mkdir()
    claims = golden("claims")
    for col in ("claimed_amount", "paid_amount"):
        claims[col] = pd.to_numeric(claims[col].replace("", None)).astype("float64")
    for col in ("reported_at", "updated_at"):
        claims[col] = pd.to_datetime(claims[col], utc=True).dt.tz_convert("Asia/Shanghai")
    claims.to_parquet(dst / "claims.parquet")
    ev = golden("claim_events")
    ev.iloc[:9].to_parquet(dst / "claim_events_1.parquet")
    write_csv(ev.iloc[9:], dst / "claim_events_2.csv")
    surveys = golden("surveys")
    for col in ("csat", "nps", "effort"):
        surveys[col] = pd.to_numeric(surveys[col].replace("", None)).astype("Int64")
    surveys.to_parquet(dst / "surveys.parquet")
    for t in ("complaints", "customer_costs"):
        write_csv(golden(t), dst / f"{t}.csv", bom=False)
    return dst
