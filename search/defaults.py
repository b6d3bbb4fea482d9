"""Defaults shared by the command line and the study files (no imports: ``--help`` stays fast)."""

DEFAULT_STORAGE = "sqlite:///tricksearch.db"
ENV_STORAGE = "TRICKSEARCH_STORAGE"  # a storage URL for every command that takes --storage
ENV_THREADS = "TRICKSEARCH_THREADS"  # torch threads of one worker
ENV_CHECKPOINT_DIR = "TRICKSEARCH_CHECKPOINT_DIR"  # --checkpoint-dir for every command
ENV_ARTIFACT_DIR = "TRICKSEARCH_ARTIFACT_DIR"  # --artifact-dir for every command
CHECKPOINT_EVERY = 30.0  # seconds between a running trial's checkpoints (run --checkpoint-every)
