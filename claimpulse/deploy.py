"""Deployment steps (prefect.yaml): where a worker runs the flows from.

`prefect deploy` runs `checkout` (a build step) in the repository root and stores the folder
in the deployment's pull step; at run time `set_home` (the pull step) changes into it, so a
`process` worker started on the same machine needs no extra variable. CLAIMPULSE_HOME, when
set on the worker, overrides the folder (a worker on another machine, another checkout). A
folder without the flows is an error naming it, instead of a FileNotFoundError from a
temporary folder.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "CLAIMPULSE_HOME"
MARKER = Path("flows") / "nightly.py"


class CheckoutNotFound(FileNotFoundError):
    """The folder a deployment should run from holds no ClaimPulse checkout."""


def checkout() -> dict[str, str]:
    """Build step, at deploy time: the repository root `prefect deploy` runs in."""
    here = Path.cwd().resolve()
    if not (here / MARKER).is_file():
        raise CheckoutNotFound(f"run `prefect deploy` from the ClaimPulse repository root: {here} has no {MARKER}")
    return {"directory": str(here)}


def set_home(directory: str | None = None) -> dict[str, str]:
    """Pull step, at run time: change into $CLAIMPULSE_HOME if set, else `directory`."""
    override = os.environ.get(ENV_VAR, "").strip()
    folder = Path(override or directory or "").expanduser()
    origin = f"${ENV_VAR}" if override else "the folder `prefect deploy` ran in"
    if not str(folder) or not (folder / MARKER).is_file():
        raise CheckoutNotFound(
            f"ClaimPulse checkout not found: {folder or '(none)'} ({origin}) has no {MARKER}; set "
            f"{ENV_VAR} on the worker to the repository root it should run from"
            + (", or unset it to use the folder the deployment was registered from" if override else ""))
    os.chdir(folder)
    return {"directory": str(folder.resolve())}
