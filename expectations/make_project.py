"""(Re)writes the ClaimPulse GX project in this folder through GX's public API.

    .venv/bin/python expectations/make_project.py

The project is a GX 1.x File Data Context (``great_expectations.yml`` here) holding:

- ``suites/<table>.json``: one ExpectationSuite per source table (the rules; each
  expectation's ``meta.reason`` is its ClaimPulse reason code). These are the files to edit;
  run this script afterwards so the ids the other objects refer to stay consistent.
- a pandas data source ``claimpulse_sources`` with one dataframe asset per table (in
  ``great_expectations.yml``): a run hands GX each table as an in-memory frame;
- ``validation_definitions/<table>.json``: suite x the table's whole-dataframe batch;
- ``checkpoints/<table>.json``: the table's validation definition plus an
  UpdateDataDocsAction, with the result format ClaimPulse needs (COMPLETE, so every failing
  row's position comes back). Runs take their result format from it; they run the validation
  definitions and build the Data Docs once per run (claimpulse/validate.py says why), and a
  user can run a checkpoint by hand.

Nothing here is written at run time: the validation results store and the Data Docs site are
in the folder that ``CLAIMPULSE_DOCS_DIR`` names (see great_expectations.yml).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ["GX_ANALYTICS_ENABLED"] = "false"
ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from claimpulse.schema import TABLE_ORDER  # noqa: E402

DATASOURCE = "claimpulse_sources"
RESULT_FORMAT = {"result_format": "COMPLETE", "return_unexpected_index_query": False,
                 "partial_unexpected_count": 0}


def main() -> None:
    import great_expectations as gx

    # Suites are the hand-edited source: read them first, then rebuild everything else.
    suites = {}
    for table in TABLE_ORDER:
        data = json.loads((ROOT / "suites" / f"{table}.json").read_text(encoding="utf-8"))
        for key in ("id", "meta", "notes"):
            data.pop(key, None)
        for exp in data["expectations"]:
            exp.pop("id", None)
        data["name"] = table
        suites[table] = data
    for sub in ("suites", "validation_definitions", "checkpoints"):
        for path in (ROOT / sub).glob("*.json"):
            path.unlink()
    yml = ROOT / "great_expectations.yml"
    text = yml.read_text(encoding="utf-8")
    if "fluent_datasources:" in text:  # drop the old data source: it is rebuilt below
        yml.write_text(text[:text.index("fluent_datasources:")].rstrip() + "\n", encoding="utf-8")

    context = gx.get_context(mode="file", context_root_dir=str(ROOT),
                             runtime_environment={"CLAIMPULSE_DOCS_DIR": "/tmp/claimpulse-docs"})
    source = context.data_sources.add_pandas(DATASOURCE)
    for table in TABLE_ORDER:
        suite = context.suites.add(gx.ExpectationSuite(**suites[table]))
        if len(suite.expectations) != len(suites[table]["expectations"]):
            raise SystemExit(f"suite {table}: GX dropped invalid expectations")
        batch = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe("whole")
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=table, data=batch, suite=suite))
        context.checkpoints.add(gx.Checkpoint(
            name=table, validation_definitions=[definition], result_format=RESULT_FORMAT,
            actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs",
                                                        site_names=["claimpulse_docs"])]))
    print(f"GX project written under {ROOT}")


if __name__ == "__main__":
    main()
