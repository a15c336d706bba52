"""batch-deployment create/show/list/update/delete, registering model, code and environment."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from emulator import assets, documents, mlflow_models, schemas
from emulator.exceptions import NotSupportedError, ResourceNotFoundError, ValidationError
from emulator.specs import (
    DEPLOYMENT,
    apply_set_values,
    build_deployment,
    check_scoring_script,
    settings_to_mapping,
)
from emulator.uris import strip_type_prefix


class DeploymentOperations:
    # ================================================================== deployments

    def create_deployment(self, file: str, name: str | None = None,
                          endpoint_name: str | None = None, set_values: Iterable[str] = (),
                          set_default: bool = False, skip_script_validation: bool = False) -> dict:
        """Validate the YAML, register its model, code and environment, store the deployment."""
        return self.create_deployment_from(schemas.load_document(file), Path(file).resolve().parent,
                                           name, endpoint_name, set_values, set_default,
                                           skip_script_validation)

    def create_deployment_from(self, document: schemas.Document, base: Path,
                               name: str | None = None, endpoint_name: str | None = None,
                               set_values: Iterable[str] = (), set_default: bool = False,
                               skip_script_validation: bool = False) -> dict:
        """The same from a parsed document (a YAML file, or the REST body); local paths in it
        are relative to ``base``; code may also be a registered code asset."""
        file = document.source
        if not isinstance(document.data, dict):
            raise ValidationError(f"{file}: a batch deployment must be a mapping")
        identity = [f"name={name}"] if name else []
        identity += [f"endpoint_name={endpoint_name}"] if endpoint_name else []
        data = apply_set_values(document.data, [*set_values, *identity])
        code_reference = (data.get("code_configuration") or {}).get("code")
        if isinstance(code_reference, str) and assets.is_reference(code_reference):
            code = assets.resolve(self.store, "code", code_reference)
            data["code_configuration"]["code"] = code["local_path"]
        document = schemas.Document(data, document.source, document.lines)
        if data.get("type") == "pipeline":
            raise NotSupportedError(f"{file}: type: pipeline deployments are not supported by "
                                    "the emulator; use a model deployment (type: model)")
        schemas.validate(DEPLOYMENT, document)
        deployment = build_deployment(data, base, document)
        if not deployment.endpoint_name:
            raise ValidationError(f"{file}: the deployment needs an endpoint: pass "
                                  "--endpoint-name or set endpoint_name in the YAML")
        endpoint = self._endpoint(deployment.endpoint_name)
        if deployment.code_configuration is None:
            self._require_scriptless_model(deployment)
        elif not skip_script_validation:
            check_scoring_script(deployment.code_configuration)
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
        existing = self.store.get("model", name, version=model.version) if model.version else None
        if existing is not None:
            return f"azureml:{name}:{model.version}"
        document = {"name": name, "version": model.version, "path": str(model.path)}
        if model.type:
            document["type"] = model.type
        elif mlflow_models.is_mlflow_model(model.path):
            document["type"] = "mlflow_model"
        if document.get("type") == "mlflow_model":
            document["flavors"] = mlflow_models.flavors(model.path)
        asset = assets.register(self.store, "model", schemas.fill_defaults("model", document),
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
        version = environment.get("version")
        if version is not None and self.store.get("environment", name, version=str(version)):
            return f"azureml:{name}:{version}"
        return self._store_environment({**environment, "name": name}, base)

    def _store_environment(self, environment: dict, base: Path) -> str:
        conda = environment.get("conda_file")
        source = None
        if conda:
            source = (base / strip_type_prefix(conda)).resolve()
            if not source.is_file():
                raise ResourceNotFoundError(f"conda file {source} does not exist; fix "
                                            "environment.conda_file (relative to the YAML)")
        asset = assets.register(self.store, "environment", dict(environment), source)
        return f"azureml:{asset['name']}:{asset['version']}"

    def show_deployment(self, name: str, endpoint_name: str) -> dict:
        return documents.deployment(self.store, self._deployment(name, endpoint_name))

    def list_deployments(self, endpoint_name: str) -> list[dict]:
        endpoint = self._endpoint(endpoint_name)
        return [documents.deployment(self.store, body)
                for body in self.store.list("deployment", parent=endpoint["name"])]

    def update_deployment(self, name: str | None, endpoint_name: str | None,
                          file: str | None = None, set_values: Iterable[str] = (),
                          skip_script_validation: bool = False) -> dict:
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
        data = apply_set_values(current, set_values)
        for key in ("name", "endpoint_name"):
            if str(data[key]).lower() != str(current[key]).lower():
                raise ValidationError(f"cannot change {key} with update; create a new deployment")
        schemas.validate(DEPLOYMENT, schemas.Document(data, "--set", {}))
        deployment = build_deployment(data, Path("/"))
        data["settings"] = settings_to_mapping(deployment.settings)
        if data.get("model") != current.get("model"):
            assets.resolve(self.store, "model", data["model"])
        self.store.put("deployment", current["name"], data, parent=current["endpoint_name"])
        return documents.deployment(self.store, data)

    def delete_deployment(self, name: str, endpoint_name: str) -> None:
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

    def _deployment(self, name: str, endpoint_name: str) -> dict:
        endpoint = self._endpoint(endpoint_name)
        body = self.store.get("deployment", name, parent=endpoint["name"])
        if body is None:
            known = ", ".join(d["name"] for d in self.store.list("deployment",
                                                                 parent=endpoint["name"]))
            raise ResourceNotFoundError(
                f"deployment {name!r} does not exist under endpoint {endpoint['name']!r} "
                f"(deployments: {known or 'none'}); create it with 'batch-deployment create'")
        return body
