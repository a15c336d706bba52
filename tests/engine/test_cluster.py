"""Compute targets: how a kubernetes compute becomes the ``DaskCluster`` resource a job asks
the Dask operator for. No cluster here (this machine has no Kubernetes): the resource is
built as data and validated against the CRD schema dask-kubernetes ships
(``operator/customresources/daskcluster.yaml``), whose pod specs refer to Kubernetes'
``PodSpec``; that schema is made from the ``kubernetes`` client's models, which
dask-kubernetes installs."""

from __future__ import annotations

import copy
import inspect
import re
import sys
from functools import cache
from pathlib import Path

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource

from emulator.engine.cluster import (
    WORKER_SCRATCH,
    ClusterSpec,
    job_instances,
    kubernetes_cluster,
)
from emulator.exceptions import ClusterError
from emulator.model import schemas
from tests.helpers import FIXTURES

VALID_COMPUTES = FIXTURES / "yaml" / "valid" / "compute"
K8S_DEFINITIONS = "python://k8s_crd_resolver/schemata/k8s-1.21.1.json"
SCALARS = {"str": {"type": "string"}, "bytes": {"type": "string"}, "int": {"type": "integer"},
           "bool": {"type": "boolean"}, "float": {"type": "number"}, "object": {},
           "datetime": {"type": "string"}, "date": {"type": "string"}}


def kubernetes_computes() -> list[tuple[str, dict]]:
    """Every kubernetes compute of the tests' valid documents, and the bare minimum, with the
    schema's defaults filled as the service stores them."""
    found = [("minimal", {"name": "k8s", "type": "kubernetes"})]
    for path in sorted(VALID_COMPUTES.glob("*.yml")):
        document = yaml.safe_load(path.read_text())
        if document.get("type") == "kubernetes":
            document.pop("$schema", None)
            found.append((path.stem, document))
    return [(name, schemas.fill_defaults("compute", document)) for name, document in found]


# ------------------------------------------------------------------ the CRD's schema


@cache
def daskcluster_validator() -> jsonschema.protocols.Validator:
    operator = pytest.importorskip("dask_kubernetes.operator",
                                   reason="the CRD schemas come with dask-kubernetes")
    pytest.importorskip("kubernetes", reason="Kubernetes' PodSpec comes with its client")
    crd = yaml.safe_load((Path(operator.__file__).parent / "customresources" /
                          "daskcluster.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    registry = Registry(retrieve=_retrieve)
    return jsonschema.Draft7Validator(schema, registry=registry)


def _retrieve(uri: str) -> Resource:
    """``python://PACKAGE/PATH`` as the CRD's build resolves it; Kubernetes' definitions
    from the client's models."""
    if uri == K8S_DEFINITIONS:
        return Resource.from_contents({"definitions": kubernetes_definitions()},
                                      default_specification=_draft7())
    package, _, path = uri.removeprefix("python://").partition("/")
    module = sys.modules.get(package) or __import__(package)
    contents = yaml.safe_load((Path(module.__file__).parent / path).read_text())
    return Resource.from_contents(contents, default_specification=_draft7())


def _draft7():
    from referencing.jsonschema import DRAFT7

    return DRAFT7


@cache
def kubernetes_definitions() -> dict:
    """``io.k8s.api.core.v1.<Kind>``: a JSON Schema per model of the Kubernetes client,
    closed (no unknown keys), with the fields the model refuses to be None required."""
    from kubernetes.client import models

    definitions: dict = {}

    def define(model_name: str) -> str:
        key = "io.k8s.api.core.v1." + model_name.removeprefix("V1")
        if key in definitions:
            return key
        definitions[key] = {}  # before the fields: models refer to themselves
        model = getattr(models, model_name)
        properties = {model.attribute_map[field]: type_schema(kind)
                      for field, kind in model.openapi_types.items()}
        required = [model.attribute_map[field] for field in model.openapi_types
                    if _required(model, field)]
        definitions[key] = {"type": "object", "properties": properties,
                            "additionalProperties": False, "required": required}
        return key

    def type_schema(kind: str) -> dict:
        if kind in SCALARS:
            return SCALARS[kind]
        if match := re.fullmatch(r"[Ll]ist\[(.+)\]", kind):
            return {"type": "array", "items": type_schema(match[1])}
        if match := re.fullmatch(r"(?:dict\(str, (.+)\)|Dict\[str, (.+)\])", kind):
            return {"type": "object", "additionalProperties": type_schema(match[1] or match[2])}
        return {"$ref": f"#/definitions/{define(kind)}"}

    define("V1PodSpec")
    define("V1ServiceSpec")
    return definitions


def _required(model, field: str) -> bool:
    """Whether the model refuses to be without ``field``: pydantic models (client 35 and
    later) say so; older ones raise in the setter."""
    if hasattr(model, "model_fields"):  # a keyword's field is var_<name> there
        fields = model.model_fields
        found = fields.get(field) or fields.get("var_" + field.lstrip("_"))
        return found is not None and found.is_required()
    return "must not be `None`" in inspect.getsource(getattr(model, field).fset)


def valid(resource: dict) -> list[str]:
    """The schema's complaints about ``resource`` (none: valid)."""
    return [f"{'.'.join(map(str, error.absolute_path))}: {error.message}"
            for error in daskcluster_validator().iter_errors(resource)]


# ------------------------------------------------------------------------ the tests


@pytest.mark.parametrize("name,compute", kubernetes_computes(), ids=lambda v: str(v)[:20])
@pytest.mark.parametrize("instances,threads", [(1, 1), (3, 4)])
def test_every_kubernetes_compute_makes_a_daskcluster_the_crd_accepts(name, compute,
                                                                       instances, threads):
    resource = kubernetes_cluster({**compute, "image": "registry.example/scoring:1.2"},
                                  "batchjob-1234_ABCD", instances, threads)
    assert valid(resource) == []
    assert resource["kind"] == "DaskCluster"
    assert resource["metadata"]["name"] == "batch-batchjob-1234_abcd"
    assert resource["metadata"]["labels"]["batch-emulator/job"] == "batchjob-1234_ABCD"
    worker = resource["spec"]["worker"]
    assert worker["replicas"] == instances
    container = worker["spec"]["containers"][0]
    assert container["image"] == "registry.example/scoring:1.2"
    assert container["args"][:5] == ["dask-worker", "--nthreads", str(threads),
                                     "--memory-limit", "0"]
    requested = compute.get("resources") or {}
    assert container["resources"] == {key: {unit: str(amount) for unit, amount in value.items()}
                                      for key, value in requested.items()}
    assert {"name": "DASK_TEMPORARY_DIRECTORY", "value": WORKER_SCRATCH} in container["env"]
    assert container["volumeMounts"] == [{"name": "emulator-cache", "mountPath": WORKER_SCRATCH}]
    assert worker["spec"]["volumes"] == [{"name": "emulator-cache", "emptyDir": {}}]


def test_defaults_and_name_limits():
    compute = schemas.fill_defaults("compute", {"name": "k8s", "type": "kubernetes"})
    resource = kubernetes_cluster(compute, "x" * 80 + "_Y", 1, 1)
    assert valid(resource) == []
    assert len(resource["metadata"]["name"]) <= 63
    assert len(resource["metadata"]["labels"]["batch-emulator/job"]) <= 63
    assert resource["spec"]["worker"]["spec"]["containers"][0]["image"] == \
        "ghcr.io/dask/dask:latest"


@pytest.mark.parametrize("break_it,complaint", [
    (lambda r: r["spec"]["worker"].update(replicas="three"), "'three' is not of type"),
    (lambda r: r["spec"]["worker"]["spec"]["containers"][0].pop("name"), "'name' is a required"),
    (lambda r: r["spec"]["worker"]["spec"]["containers"][0].update(volumeMount=[]),
     "Additional properties"),
    (lambda r: r["spec"].pop("scheduler"), "'scheduler' is a required"),
    (lambda r: r["spec"]["worker"]["spec"]["containers"][0]["resources"].update(
        limits={"cpu": 2}), "2 is not of type 'string'"),
])
def test_the_schema_refuses_what_the_operator_would(break_it, complaint):
    compute = kubernetes_computes()[-1][1]
    resource = copy.deepcopy(kubernetes_cluster(compute, "job", 1, 1))
    break_it(resource)
    assert any(complaint in problem for problem in valid(resource)), valid(resource)


def test_a_kubernetes_compute_without_the_extra_says_what_to_install(monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setitem(sys.modules, "dask_kubernetes", None)  # import fails as if absent
    monkeypatch.setitem(sys.modules, "dask_kubernetes.operator", None)
    expected = r"pip install 'batch-endpoint-emulator\[kubernetes\]'"
    with pytest.raises(ClusterError, match=expected), \
            job_instances(ClusterSpec(kubernetes={"image": "x", "namespace": "default"}),
                          1, 1, []):
        pass
