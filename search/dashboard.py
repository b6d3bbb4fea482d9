"""optuna-dashboard on a tricksearch storage, with the artifact store that ``run`` writes to."""

from __future__ import annotations

import sys

from search.storage import artifact_dir, open_storage, redact

__all__ = ["serve"]


def serve(
    storage_url: str, host: str = "127.0.0.1", port: int = 8080, artifacts: str | None = None
) -> None:
    """Start optuna-dashboard (blocking) and print its URL."""
    from optuna.artifacts import FileSystemArtifactStore
    from optuna_dashboard import run_server

    storage = open_storage(storage_url, heartbeat=False)
    folder = artifacts or str(artifact_dir(storage_url))
    import os

    os.makedirs(folder, exist_ok=True)
    print(
        f"optuna-dashboard for {redact(storage_url)} at http://{host}:{port}/dashboard/", flush=True
    )
    print("press Ctrl-C to stop", file=sys.stderr, flush=True)
    run_server(storage, host=host, port=port, artifact_store=FileSystemArtifactStore(folder))
