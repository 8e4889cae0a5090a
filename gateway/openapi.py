"""Request bodies the routes read themselves (JSON or multipart), documented in the OpenAPI.

A route that parses its own body (to accept both JSON and a multipart upload) declares it with
`request_body(Model)`; the model's nested definitions are put under `components/schemas`, where
the `$ref`s point, when the document is built (`install`)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

__all__ = ["install", "request_body"]

_REF = "#/components/schemas/{model}"
_definitions: dict[str, Any] = {}


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=_REF)
    _definitions.update(schema.pop("$defs", {}))
    _definitions[model.__name__] = schema
    return {"$ref": _REF.format(model=model.__name__)}


def request_body(
    model: type[BaseModel], *, multipart: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`openapi_extra` for a route whose JSON body is `model` (and, optionally, a multipart
    form with the given properties)."""
    content: dict[str, Any] = {"application/json": {"schema": _schema(model)}}
    if multipart is not None:
        content["multipart/form-data"] = {"schema": {"type": "object", **multipart}}
    return {"requestBody": {"required": True, "content": content}}


_ERROR = {
    "title": "ErrorResponse",
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "stable, e.g. VALUE_OUT_OF_RANGE"},
                "message": {"type": "string"},
                "check": {"type": "string", "description": "verification: the failed check"},
                "details": {
                    "type": "array",
                    "description": "422: each problem found in the request",
                    "items": {
                        "type": "object",
                        "properties": {
                            "loc": {"type": "array", "items": {"type": "string"}},
                            "msg": {"type": "string"},
                            "code": {"type": "string"},
                        },
                    },
                },
            },
        }
    },
}


def _declare_errors(document: dict[str, Any]) -> None:
    """Every error is `ErrorResponse` (gateway/errors.py): declared for 422 (in place of
    FastAPI's `HTTPValidationError`, which the gateway never sends), for any other 4xx, and for
    503 (a database fault; `/healthz` declares its own 503)."""
    schemas = document["components"]["schemas"]
    schemas["ErrorResponse"] = _ERROR
    error = {
        "description": "refused: {error: {code, message}}",
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorResponse")}}},
    }
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses["422"] = {**error, "description": "invalid input, or a rule refused it"}
            responses.setdefault("4XX", error)
            responses.setdefault(
                "503",
                {
                    **error,
                    "description": "the database is down, read-only, full or locked "
                    "(DATABASE_*, with Retry-After): retry later",
                },
            )
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)


def install(app: FastAPI) -> None:
    """Builds the OpenAPI document with the registered definitions in its components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in _definitions.items():
                schemas.setdefault(name, schema)
            _declare_errors(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
