#!/bin/bash
# /qdrant/entrypoint.sh of the images hack/build-images.sh makes: the official image's contract
# (WORKDIR /qdrant, arguments passed on to ./qdrant, e.g. --uri/--bootstrap for a distributed store).
# The server is the real Qdrant when RAGOPS_QDRANT_BINARY was given, else the ragops stand-in.
set -e
cd /qdrant
exec ./qdrant "$@"
