"""A Qdrant STAND-IN for the local real node: NOT Qdrant.

No registry this project can reach serves a Qdrant binary or image, so `hack/build-images.sh` puts this module
in Qdrant's image layout (/qdrant/qdrant, /qdrant/entrypoint.sh, /qdrant/config) when RAGOPS_QDRANT_BINARY is
not given. It is qdrant-client's local mode (persisted under storage_path) behind the part of Qdrant's REST
API that the operator, the gateway and the backup jobs call. It says so in its logs, in `GET /` and in a
`server` header. Single node only: `--uri` / `--bootstrap` are accepted and ignored. See docs/real-node.md.
"""
