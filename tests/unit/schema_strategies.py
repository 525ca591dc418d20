"""Hypothesis strategies for spec bodies, generated from the CRDs' structural schemas.

hypothesis-jsonschema 0.23.1 fails on the hypothesis this project pins (AttributeError: 'many' object has no
attribute 'more', from its object strategy), and structural schemas need only a small subset of JSON Schema:
types, enums, ranges, lengths, patterns, required properties and list-map keys. CEL rules are not applied:
what a generated body breaks of them, the API server refuses with the rule's message.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from ragops.crds import all_crds

FILES = {"VectorStore": "ragops.dev_vectorstores.yaml", "RagPipeline": "ragops.dev_ragpipelines.yaml"}
MAX_ITEMS = 3  # lists this long already cover uniqueness and per-item rules


def root_schema(kind: str) -> dict[str, Any]:
    crd = all_crds()[FILES[kind]]
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def spec_schema(kind: str) -> dict[str, Any]:
    schema: dict[str, Any] = root_schema(kind)["properties"]["spec"]
    return schema


def cel_messages(kind: str) -> set[str]:
    """Every CEL rule message of the kind's CRD."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            found.update(rule["message"] for rule in node.get("x-kubernetes-validations") or [])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(root_schema(kind))
    return found


def from_structural(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if schema.get("x-kubernetes-int-or-string"):
        return st.one_of(st.integers(0, 65535), st.text(max_size=8))
    kind = schema.get("type")
    if kind == "object" and "properties" not in schema and schema.get("x-kubernetes-preserve-unknown-fields"):
        # A passed-through object (a Kubernetes affinity section): any small JSON object.
        return st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=8)), max_size=2)
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        # A map (labels, say): keys that are label keys or any text, so that key rules get exercised both ways.
        label_keys = st.from_regex(r"([a-z]{1,6}\.)?[a-z]{1,6}/[a-z0-9]{1,8}|[a-z0-9]{1,8}", fullmatch=True)
        keys = st.one_of(label_keys, st.text())
        low, high = schema.get("minProperties", 0), min(schema.get("maxProperties", MAX_ITEMS), MAX_ITEMS)
        return st.dictionaries(keys, from_structural(schema["additionalProperties"]), min_size=low, max_size=high)
    if kind == "object":
        properties = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        return st.fixed_dictionaries(
            {name: from_structural(child) for name, child in properties.items() if name in required},
            optional={name: from_structural(child) for name, child in properties.items() if name not in required},
        )
    if kind == "array":
        items = from_structural(schema["items"])
        keys = schema.get("x-kubernetes-list-map-keys")
        low, high = schema.get("minItems", 0), min(schema.get("maxItems", MAX_ITEMS), MAX_ITEMS)
        unique = (lambda item: tuple(item.get(k) for k in keys)) if keys else None
        return st.lists(items, min_size=low, max_size=high, unique_by=unique)
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        low, high = schema.get("minLength", 0), schema.get("maxLength", 64)
        if "pattern" in schema:
            text = st.from_regex(schema["pattern"], fullmatch=True)
        else:
            text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=min(high, 64))
        return text.filter(lambda value: low <= len(value) <= high)
    raise AssertionError(f"no strategy for {schema}")


def specs(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """Specs as the schema allows them; half of the pipelines name provider keys, so that most of those get
    past the rule that OpenAI's public endpoint needs one and exercise the other rules too."""
    strategy: st.SearchStrategy[dict[str, Any]] = from_structural(spec_schema(kind))
    if kind == "RagPipeline":
        return st.one_of(strategy, strategy.map(_with_provider_keys))
    return strategy


def _with_provider_keys(spec: dict[str, Any]) -> dict[str, Any]:
    keyed = dict(spec)
    for section in ("embedding", "llm"):
        if section == "embedding" or section in spec:
            keyed[section] = {"apiKeySecretRef": {"name": "provider-key"}, **spec.get(section, {})}
    return keyed
