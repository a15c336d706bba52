"""batch-deployment create/show/list/update/delete, registering model, code and environment."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from emulator.exceptions import ResourceNotFoundError, ValidationError
from emulator.model import mlflow_models, references, schemas
from emulator.model.loader import load_deployment
from emulator.model.specs import Updates, settings_to_mapping
from emulator.service import documents
from emulator.workspace import assets


class DeploymentOperations:
    # ================================================================== deployments

    def create_deployment(self, file: str | Path | schemas.Document, name: str | None = None,
                          endpoint_name: str | None = None, set_values: Iterable[str] = (),
                          set_default: bool = False, skip_script_validation: bool = False,
                          base: Path | None = None) -> dict:
        """Validate the deployment (a YAML file, or a parsed document such as a REST body,
        whose local paths are relative to ``base``), register its model, code and
        environment, and store it. Code may also name a registered code asset."""
        if not isinstance(file, schemas.Document):  # read once, whichever kind it is
            base = base or Path(file).resolve().parent
            file = schemas.load_document(file)
        if isinstance(file.data, dict) and file.data.get("type") == "pipeline":
            return self._create_pipeline_deployment(file, base or Path.cwd(), name,
                                                    endpoint_name, set_values, set_default)
        identity = [f"name={name}"] if name else []
        identity += [f"endpoint_name={endpoint_name}"] if endpoint_name else []
        deployment = load_deployment(file, [*set_values, *identity], base=base,
                                     resolve=self._resolve_code,
                                     skip_script_validation=skip_script_validation)
        if not deployment.endpoint_name:
            raise ValidationError(f"{deployment.source or 'the deployment'}: the deployment needs "
                                  "an endpoint: pass --endpoint-name or set endpoint_name in the "
                                  "YAML")
        endpoint = self._endpoint(deployment.endpoint_name)
        self._check_compute(deployment.compute, deployment.name)
        if deployment.code_configuration is None:
            self._require_scriptless_model(deployment)
        model_reference = self._register_model(deployment)
        environment = self._register_environment(deployment)
        code = None
        if deployment.code_configuration is not None:
            code = {"code": str(assets.register_code(self.store,
                                                     deployment.code_configuration.code)),
                    "scoring_script": deployment.code_configuration.scoring_script}
        body = {
            "name": deployment.name,
            "endpoint_name": endpoint["name"],
            "type": "model",
            "description": deployment.description,
            "tags": dict(deployment.tags),
            "model": model_reference,
            "code_configuration": code,
            "environment": environment,
            "compute": deployment.compute,
            "resources": {"instance_count": deployment.instance_count},
            "settings": settings_to_mapping(deployment.settings),
        }
        self.store.put("deployment", deployment.name, body, parent=endpoint["name"])
        if set_default:
            self.update_endpoint(endpoint["name"], set_values=[
                f"defaults.deployment_name={deployment.name}"])
        return documents.deployment(self.store, body)

    def _check_compute(self, compute: str | None, deployment_name: str) -> None:
        """Azure refuses a deployment whose compute does not exist; so does the emulator."""
        if compute and self.store.get("compute", references.compute_name(compute)) is None:
            name = references.compute_name(compute)
            raise ResourceNotFoundError(
                f"compute {name!r} of deployment {deployment_name!r} does not exist in workspace "
                f"{self.workspace.name!r}; create it first: 'batch-emulator ml compute create -n "
                f"{name} --type amlcompute' (or --type dask with --set scheduler_address=...)")

    def _resolve_code(self, data: dict) -> dict:
        """``code: azureml:<code>:<version>`` (REST bodies) becomes the registered folder."""
        code_reference = (data.get("code_configuration") or {}).get("code")
        if isinstance(code_reference, str) and references.is_reference(code_reference):
            code = assets.resolve(self.store, "code", code_reference)
            data["code_configuration"]["code"] = code["local_path"]
        return data

    def _require_scriptless_model(self, deployment) -> None:
        """Without a scoring script the model must be an MLflow python_function model."""
        model = deployment.model
        if model.reference:
            asset = assets.resolve(self.store, "model", model.reference)
            path, name = Path(asset["local_path"]), f"{asset['name']}:{asset['version']}"
        else:
            path, name = model.path, model.name or str(model.path)
        if path is None or not mlflow_models.is_mlflow_model(path):
            raise ValidationError(f"deployment {deployment.name!r} has no code_configuration and "
                                  f"model {name} is not an MLflow model; add code_configuration "
                                  "(code and scoring_script) or deploy an MLflow model")
        mlflow_models.require_pyfunc(path, name)

    def _register_model(self, deployment) -> str:
        model = deployment.model
        if model.reference:
            asset = assets.resolve(self.store, "model", model.reference)
            return f"azureml:{asset['name']}:{asset['version']}"
        if model.path is None or not model.path.exists():
            raise ResourceNotFoundError(f"model path {model.path} does not exist; fix model.path "
                                        "(relative to the deployment YAML)")
        name = model.name or f"{deployment.name}-model"
        document = {"name": name, "version": model.version, "path": str(model.path)}
        if model.type:
            document["type"] = model.type
        elif mlflow_models.is_mlflow_model(model.path):
            document["type"] = "mlflow_model"
        if document.get("type") == "mlflow_model":
            document["flavors"] = mlflow_models.flavors(model.path)
        asset, _ = assets.register(self.store, "model", schemas.fill_defaults("model", document),
                                   model.path)
        return f"azureml:{asset['name']}:{asset['version']}"

    def _register_environment(self, deployment) -> str | None:
        environment = deployment.environment
        if environment is None:
            return None
        if isinstance(environment, str):
            asset = assets.resolve(self.store, "environment", environment)
            return f"azureml:{asset['name']}:{asset['version']}"
        base = deployment.source.parent if deployment.source else Path.cwd()
        name = environment.get("name") or f"{deployment.name}-env"
        return self._register_environment_version({**environment, "name": name}, base)

    def show_deployment(self, name: str, endpoint_name: str) -> dict:
        return documents.deployment(self.store, self._deployment(name, endpoint_name))

    def list_deployments(self, endpoint_name: str) -> list[dict]:
        endpoint = self._endpoint(endpoint_name)
        return [documents.deployment(self.store, body)
                for body in self.store.list("deployment", parent=endpoint["name"])]

    def update_deployment(self, name: str | None, endpoint_name: str | None,
                          file: str | None = None, set_values: Iterable[str] = (),
                          skip_script_validation: bool = False,
                          add: Iterable[Sequence[str]] = (), remove: Iterable[Sequence[str]] = (),
                          force_string: bool = False) -> dict:
        """A YAML file (the deployment is created again from it), or az's generic update."""
        if file:
            data = schemas.load_document(file).data or {}
            name = name or data.get("name")
            endpoint_name = endpoint_name or data.get("endpoint_name")
            if not name or not endpoint_name:
                raise ValidationError("update needs the deployment's --name and --endpoint-name")
            self._deployment(name, endpoint_name)
            return self.create_deployment(file, name, endpoint_name, set_values,
                                          skip_script_validation=skip_script_validation)
        if not name or not endpoint_name:
            raise ValidationError("update needs --name and --endpoint-name (or --file)")
        current = self._deployment(name, endpoint_name)
        data = Updates.of(set_values, add, remove, force_string).apply(current)
        for key in ("name", "endpoint_name"):
            if str(data[key]).lower() != str(current[key]).lower():
                raise ValidationError(f"cannot change {key} with update; create a new deployment")
        deployment = load_deployment(schemas.Document(data, "--set", {}), base=Path("/"),
                                     skip_script_validation=True)
        data["settings"] = settings_to_mapping(deployment.settings)
        if data.get("compute") != current.get("compute"):
            self._check_compute(data.get("compute"), current["name"])
        if data.get("model") != current.get("model"):
            assets.resolve(self.store, "model", data["model"])
        self.store.put("deployment", current["name"], data, parent=current["endpoint_name"])
        return documents.deployment(self.store, data)

    def put_deployment(self, document: schemas.Document, base: Path) -> tuple[dict, bool]:
        """Create or replace a deployment from a parsed document (an ARM PUT): (the
        deployment, whether it is new)."""
        data = document.data if isinstance(document.data, dict) else {}
        created = not self._deployment_exists(str(data.get("name", "")),
                                              str(data.get("endpoint_name", "")))
        return self.create_deployment(document, base=base), created

    def _deployment_exists(self, name: str, endpoint_name: str) -> bool:
        endpoint = self.store.get("endpoint", endpoint_name)
        return endpoint is not None and \
            self.store.get("deployment", name, parent=endpoint["name"]) is not None

    def delete_deployment(self, name: str, endpoint_name: str, missing_ok: bool = False) -> bool:
        """Delete a deployment (its jobs stay). False when there was nothing to delete and
        ``missing_ok``."""
        if missing_ok and not self._deployment_exists(name, endpoint_name):
            return False
        deployment = self._deployment(name, endpoint_name)
        endpoint = self._endpoint(endpoint_name)
        with self.store.transaction() as connection:
            if (endpoint.get("defaults") or {}).get("deployment_name", "").lower() == name.lower():
                endpoint["defaults"].pop("deployment_name")
                self.store.put("endpoint", endpoint["name"], endpoint, connection=connection)
                self.warnings.append(
                    f"deployment {deployment['name']!r} was the default of endpoint "
                    f"{endpoint['name']!r}; the endpoint has no default deployment now: set one "
                    "with 'batch-endpoint update --set defaults.deployment_name=NAME'")
            self.store.delete("deployment", name, parent=endpoint["name"], connection=connection)
        return True

