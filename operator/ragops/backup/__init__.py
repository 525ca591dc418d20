"""The `ragops backup` / `ragops restore` Job entrypoints: per-node Qdrant snapshots to a PVC or S3."""
