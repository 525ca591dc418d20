"""Qdrant API access: the collections the operator ensures, and per-node snapshot REST calls."""
