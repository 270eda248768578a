"""Contract: sandbox 200 answers obey `DockerArtifactDetail` of the shared OpenAPI files.

The SaaS excerpt is the only place `pushedBy` is defined; the open-source spec
is checked too. API-NOTES §4 allows `pushedBy: null`, which the schema does
not spell out (no `nullable`): that one value is accepted explicitly.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

yaml = pytest.importorskip("yaml", reason="pyyaml is needed to read the OpenAPI files")

OPENAPI = Path(__file__).resolve().parents[2] / ".." / "shared" / "har" / "openapi"
SAAS = OPENAPI / "saas-docker-details-excerpt.yaml"
OSS = OPENAPI / "harness-registry-api.yaml"
TYPES = {"string": str, "integer": int, "boolean": bool, "object": dict, "array": list}


def load(path: Path) -> dict[str, Any]:
    if not path.exists():
        pytest.skip(f"OpenAPI file {path.resolve()} is absent (shared/har/openapi not beside the repo)")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)


def resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        node: Any = doc
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def violations(doc: dict, schema: dict, value: Any, where: str = "") -> list[str]:
    """Type, required, enum and additionalProperties problems of `value` (a small subset of JSON Schema)."""
    schema = resolve(doc, schema)
    out: list[str] = []
    kind = schema.get("type")
    if kind:
        ok = isinstance(value, TYPES[kind]) and not (kind == "integer" and isinstance(value, bool))
        if not ok:
            return [f"{where or 'value'}: expected {kind}, got {type(value).__name__} {value!r}"]
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{where}: {value!r} not in enum")
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                out.append(f"{where}.{name}: required but absent")
        props = schema.get("properties", {})
        for name, sub in value.items():
            if name in props:
                out += violations(doc, props[name], sub, f"{where}.{name}")
            elif schema.get("additionalProperties") is False:
                out.append(f"{where}.{name}: not allowed")
    return out


def fetch_all(sb, urls: list[str]) -> list[tuple[int, Any]]:
    async def go():
        async with aiohttp.ClientSession(headers={"x-api-key": sb.api_key}) as session:
            out = []
            for u in urls:
                async with session.get(URL(u, encoded=True)) as resp:
                    out.append((resp.status, await resp.json()))
            return out

    return asyncio.run(go())


def every_details_url(sb) -> list[str]:
    ds, urls = sb.dataset, []
    for image, m in ds.iter_manifests():
        if ds.registry(image.registry_ref).forbidden:
            continue
        base = f"{sb.base_url}/registry/{image.registry_ref}/+/artifact/{image.name}/+/version/"
        urls.append(f"{base}{m.digest}/docker/details?digest={m.digest}&version_type=DIGEST")
        urls += [f"{base}{t}/docker/details?digest={m.digest}&version_type=TAG" for t in image.tags_of(m.digest)]
    return urls


@pytest.mark.parametrize("spec_path, schema_path", [
    (SAAS, "#/components/responses/DockerArtifactDetailResponse"),
    (OSS, "#/components/schemas/DockerArtifactDetail"),
])
def test_every_200_answer_obeys_the_schema(sandbox, spec_path, schema_path):
    doc = load(spec_path)
    node = resolve(doc, {"$ref": schema_path})
    whole_body = "content" in node  # a response object: its schema covers {status, data}
    if whole_body:
        node = node["content"]["application/json"]["schema"]
    answers = fetch_all(sandbox, every_details_url(sandbox))
    assert answers and all(status == 200 for status, _ in answers)
    problems = []
    for _, body in answers:
        # API-NOTES §4: `pushedBy` may be null, which the schema does not spell out
        data = {k: v for k, v in body["data"].items() if not (k == "pushedBy" and v is None)}
        problems += violations(doc, node, {**body, "data": data} if whole_body else data)
    assert problems == []
    assert any(isinstance(body["data"].get("pushedBy"), dict) for _, body in answers)


def test_pushed_by_fields_are_those_of_the_saas_user_info():
    doc = load(SAAS)
    detail = resolve(doc, {"$ref": "#/components/schemas/DockerArtifactDetail"})
    user_info = resolve(doc, detail["properties"]["pushedBy"])
    assert set(user_info["properties"]) == {"uid", "display_name", "email", "type"}


def test_error_bodies_obey_the_error_schema(sandbox, raw_get):
    doc = load(SAAS)
    error = {"$ref": "#/components/schemas/RegistryError"}
    image = next(i for i in sandbox.dataset.images if not sandbox.dataset.registry(i.registry_ref).forbidden)
    base = f"{sandbox.base_url}/registry/{image.registry_ref}/+/artifact/{image.name}/+/version/x/docker/details"
    for url, key in [(base + "?digest=sha256:00&version_type=TAG", sandbox.api_key),
                     (base.replace(image.registry_ref, "acme/none") + "?digest=sha256:00", sandbox.api_key),
                     (base + "?digest=sha256:00", "wrong")]:
        resp = raw_get(url, key)
        assert resp.status in (400, 401, 500)
        assert violations(doc, error, resp.json()) == []


def test_the_checker_flags_a_broken_answer():
    doc = load(SAAS)
    detail = {"$ref": "#/components/schemas/DockerArtifactDetail"}
    broken = {"imageName": "web", "version": "1", "packageType": "OCI", "url": "u",
              "size": 12, "downloadsCount": "3", "pushedBy": {"uid": 7}}
    assert sorted(violations(doc, detail, broken)) == [
        ".downloadsCount: expected integer, got str '3'",
        ".packageType: 'OCI' not in enum",
        ".pushedBy.uid: expected string, got int 7",
        ".registryPath: required but absent",
        ".size: expected string, got int 12",
    ]
