"""CustomResourceDefinitions generated from the pydantic models (`ragops crds`)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from ragops import GROUP, VERSION
from ragops.models.ragpipeline import RagPipelineSpec
from ragops.models.resource import name_message
from ragops.models.status import ResourceStatus
from ragops.models.vectorstore import VectorStoreSpec

_DROP = {"title", "additionalProperties", "$defs"}
_OPTIONAL = "x-ragops-optional"  # internal marker, removed before output


class SchemaError(ValueError):
    pass


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema rewritten as a Kubernetes structural schema."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    definitions = raw.get("$defs", {})
    return _convert(raw, definitions, path=model.__name__)


def _convert(node: dict[str, Any], definitions: dict[str, Any], path: str) -> dict[str, Any]:
    if "$ref" in node:
        target = copy.deepcopy(definitions[node["$ref"].split("/")[-1]])
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _convert(merged, definitions, path)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) != 1:
            raise SchemaError(f"{path}: unions other than Optional[X] are not structural")
        merged = {**options[0], **{k: v for k, v in node.items() if k != "anyOf"}}
        if merged.get("default", "unset") is None:
            # Optional with no default: absent means "off" or "from the profile"; never default it to {}.
            del merged["default"]
            merged[_OPTIONAL] = True
        return _convert(merged, definitions, path)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties":
            out["properties"] = {name: _convert(child, definitions, f"{path}.{name}") for name, child in value.items()}
        elif key == "items":
            out["items"] = _convert(value, definitions, f"{path}[]")
        elif key == "enum" and "type" not in node:
            out["enum"] = value
            out["type"] = "string"
        elif key == "const":
            out["enum"] = [value]
        elif key == "maxItems" and node.get("type") == "string":
            out["maxLength"] = value
        else:
            out[key] = value
    if node.get("type") == "object" and "properties" not in node:
        additional = node.get("additionalProperties")
        if isinstance(additional, dict):
            out["additionalProperties"] = _convert(additional, definitions, f"{path}{{}}")
    if out.get("type") == "object" and "properties" in out:
        _default_objects(out)
    if out.get("type") == "array" and isinstance(out.get("items"), dict):
        out["items"].pop(_OPTIONAL, None)
    if "description" not in out and not path.endswith(("[]", "{}")):  # items and map values: the field says
        raise SchemaError(f"{path}: every field needs a description (kubectl explain shows it)")
    return out


def _default_objects(schema: dict[str, Any]) -> None:
    """Nested objects default to {} so their own defaults (and transition rules) always apply."""
    required = set(schema.get("required", []))
    for name, child in schema["properties"].items():
        optional = child.pop(_OPTIONAL, False)
        is_section = child.get("type") == "object" and "properties" in child
        if (
            is_section
            and not optional
            and name not in required
            and "default" not in child
            and not child.get("required")
        ):
            child["default"] = {}


def _status_schema() -> dict[str, Any]:
    schema = structural_schema(ResourceStatus)
    schema["description"] = "Observed state, written by the operator."
    return schema


def _name_rule(kind: str, spec_model: type[BaseModel]) -> dict[str, Any]:
    """Names limited so that every child name the operator derives stays valid (the model's NAME_* limits)."""
    limit, pattern = getattr(spec_model, "NAME_MAX_LENGTH"), getattr(spec_model, "NAME_PATTERN")  # noqa: B009
    # Checked on create only (names are immutable): resources created before the limit stay updatable.
    return {
        "rule": f"oldSelf.hasValue() || (self.metadata.name.size() <= {limit} && "
        f"self.metadata.name.matches('{pattern}'))",
        "message": name_message(kind),
        "reason": "FieldValueInvalid",
        "optionalOldSelf": True,
    }


def crd(
    kind: str, plural: str, short: str, spec_model: type[BaseModel], extra_columns: list[dict[str, Any]]
) -> dict[str, Any]:
    spec_schema = structural_schema(spec_model)
    spec_schema["description"] = spec_model.__doc__ or kind
    columns = [
        {"name": "Profile", "type": "string", "jsonPath": ".spec.profile", "description": "Hardware profile"},
        {"name": "Ready", "type": "integer", "jsonPath": ".status.readyReplicas", "description": "Ready pods"},
        {"name": "Desired", "type": "integer", "jsonPath": ".status.replicas", "description": "Desired pods"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase", "description": "Lifecycle phase"},
        *extra_columns,
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{GROUP}",
            "labels": {"app.kubernetes.io/name": "ragops", "app.kubernetes.io/part-of": "ragops"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": [short],
                "categories": ["ragops"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": f"{kind}: {spec_model.__doc__ or ''}".strip(),
                            "required": ["spec"],
                            "x-kubernetes-validations": [_name_rule(kind, spec_model)],
                            "properties": {
                                "apiVersion": {"type": "string", "description": "API version of the object."},
                                "kind": {"type": "string", "description": "Kind of the object."},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": _status_schema(),
                            },
                        }
                    },
                }
            ],
        },
    }


def all_crds() -> dict[str, dict[str, Any]]:
    """File name -> CRD."""
    return {
        "ragops.dev_vectorstores.yaml": crd("VectorStore", "vectorstores", "vs", VectorStoreSpec, []),
        "ragops.dev_ragpipelines.yaml": crd(
            "RagPipeline",
            "ragpipelines",
            "rp",
            RagPipelineSpec,
            [{"name": "URL", "type": "string", "jsonPath": ".status.url", "description": "In-cluster gateway URL"}],
        ),
    }


def render(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, width=120)


def write_crds(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in all_crds().items():
        path = directory / name
        path.write_text("# Generated by `ragops crds` from the pydantic models. Do not edit.\n" + render(document))
        written.append(path)
    return written
