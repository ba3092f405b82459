"""The API's OpenAPI document, served at /api/v1/openapi.json.

Built with apispec from the marshmallow schemas the views validate with, so the document
and the validation cannot drift apart for request bodies. Domain modules add their paths
with ``add_paths(fn)``: ``fn(spec)`` is called when the document is built.
"""
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, current_app

bp = Blueprint("openapi", __name__)
# Callables fn(spec) that add paths and schemas: other subsystems append theirs.
contributors = []

_BEARER = [{"bearer": []}]


def _problem(description):
    return {"description": description,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def _json(schema_ref, description="OK"):
    return {"description": description, "content": {"application/json": {"schema": schema_ref}}}


def _body(schema, example=None):
    content = {"schema": schema}
    if example is not None:
        content["example"] = example
    return {"required": True, "content": {"application/json": content}}


def _schema_name(schema):
    """Component name of a nested schema: its class name without "Schema", prefixed by the
    subsystem for the domain packages (loops, legal and field each have a FindingSchema)."""
    cls = schema if isinstance(schema, type) else type(schema)
    base = cls.__name__.removesuffix("Schema") or cls.__name__
    package = cls.__module__.split(".")[0]
    return base if package in ("sync", "server") else f"{package}_{base}"


def build_spec():
    from server.api.admin import EnterpriseSchema
    from server.api.auth import LoginSchema, RefreshSchema

    from . import protocol, registry
    spec = APISpec(title="Danbing 单兵 API", version="1", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin(schema_name_resolver=_schema_name)],
                   info={"description": "Offline-first field operations: auth, sync protocol, admin. "
                                        "Errors are application/problem+json (RFC 9457)."})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Problem", {"type": "object", "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "errors": {"type": "object"}, "limit": {"type": "integer"}}})
    spec.components.schema("Login", schema=LoginSchema)
    spec.components.schema("Refresh", schema=RefreshSchema)
    spec.components.schema("Enterprise", schema=EnterpriseSchema)
    spec.components.schema("PushOp", schema=protocol.OpSchema)
    spec.components.schema("Push", schema=protocol.PushSchema)
    for name in registry.names():
        et = registry.get(name)
        spec.components.schema(f"{name}_data", schema=et.schema)
    spec.components.schema("PushResult", {"type": "object", "properties": {"results": {"type": "array", "items": {
        "type": "object", "properties": {
            "op_id": {"type": "string"},
            "status": {"type": "string", "enum": ["applied", "duplicate", "conflict", "rejected"]},
            "version": {"type": "integer", "nullable": True},
            "errors": {"type": "object", "nullable": True,
                       "description": "field -> messages (rejected: what to fix; conflict: what was overwritten)"},
            "original_status": {"type": "string", "description": "only on duplicate: the first result's status"},
            "current": {"type": "object", "nullable": True, "description":
                        "only when the op changed nothing and was rejected or lost a conflict: the server's copy "
                        "(a pull change; dropped: true when you may not see it; null when no such record) "
                        "to replace the optimistic local one"}}}}}})
    spec.components.schema("PullPage", {"type": "object", "properties": {
        "changes": {"type": "array", "items": {"type": "object", "properties": {
            "entity": {"type": "string", "enum": registry.names()}, "id": {"type": "string", "format": "uuid"},
            "version": {"type": "integer"}, "deleted": {"type": "boolean"},
            "data": {"type": "object", "nullable": True},
            "dropped": {"type": "boolean", "description": "true: moved out of your scope; drop it locally"}}}},
        "cursor": {"type": "string", "description": "opaque; send it back unchanged"},
        "has_more": {"type": "boolean"}}})

    auth_err = {"401": _problem("not logged in / token expired")}
    spec.path("/api/v1/auth/login", operations={"post": {
        "tags": ["auth"], "summary": "Log in on a device (device_id is client-generated)",
        "requestBody": _body({"$ref": "#/components/schemas/Login"}),
        "responses": {"200": _json({"type": "object"}, "access and refresh tokens, the user"),
                      "401": _problem("wrong username or password"), "429": _problem("too many failures")}}})
    spec.path("/api/v1/auth/refresh", operations={"post": {
        "tags": ["auth"], "summary": "Rotate the refresh token; a reused one ends the session",
        "requestBody": _body({"$ref": "#/components/schemas/Refresh"}),
        "responses": {"200": _json({"type": "object"}), **auth_err}}})
    spec.path("/api/v1/auth/logout", operations={"post": {
        "tags": ["auth"], "security": _BEARER, "responses": {"200": _json({"type": "object"}), **auth_err}}})
    spec.path("/api/v1/auth/me", operations={"get": {
        "tags": ["auth"], "security": _BEARER, "responses": {"200": _json({"type": "object"}), **auth_err}}})

    spec.path("/api/v1/sync/push", operations={"post": {
        "tags": ["sync"], "security": _BEARER,
        "summary": "Push a batch of offline ops; idempotent by op_id (see docs/sync-protocol.md)",
        "requestBody": _body({"$ref": "#/components/schemas/Push"}, {
            "device_id": "dev-7f3a9c21", "ops": [{
                "op_id": "8d0f3a52-3c1e-4d8e-9a55-0f7a1e2b9c10", "entity": "hazard",
                "id": "5b1c7a0e-2f4d-4a8b-9c3e-6d7f8a9b0c1d", "op": "upsert", "base_version": None,
                "data": {"title": "配电箱未上锁", "location": {"lat": 38.26, "lon": 114.2}}}]}),
        "responses": {"200": _json({"$ref": "#/components/schemas/PushResult"}, "one result per op, in order"),
                      "403": _problem("device_id is not the token's device"),
                      "413": _problem("too many ops or body too large; `limit` says the limit"),
                      "422": _problem("malformed envelope (errors per field)"), **auth_err}}})
    spec.path("/api/v1/sync/pull", operations={"get": {
        "tags": ["sync"], "security": _BEARER,
        "summary": "Changes you may see after the cursor, tombstones and scope drops included",
        "parameters": [{"name": "cursor", "in": "query", "schema": {"type": "string"}},
                       {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 500}}],
        "responses": {"200": _json({"$ref": "#/components/schemas/PullPage"}),
                      "400": _problem("bad cursor or limit"), **auth_err}}})
    spec.path("/api/v1/sync/conflicts", operations={"get": {
        "tags": ["sync"], "security": _BEARER, "summary": "Overwritten values in your jurisdiction (supervisors)",
        "parameters": [{"name": "record_id", "in": "query", "schema": {"type": "string"}},
                       {"name": "all", "in": "query", "schema": {"type": "string", "enum": ["1"]}},
                       {"name": "page", "in": "query", "schema": {"type": "integer"}},
                       {"name": "per_page", "in": "query", "schema": {"type": "integer"}}],
        "responses": {"200": _json({"type": "object"}), "403": _problem("not a supervisor"), **auth_err}}})
    spec.path("/api/v1/sync/conflicts/{conflict_id}/restore", operations={"post": {
        "tags": ["sync"], "security": _BEARER, "summary": "Put an overwritten value back (a new version)",
        "parameters": [{"name": "conflict_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
        "responses": {"200": _json({"type": "object"}), "403": _problem("not a supervisor"),
                      "404": _problem("no such conflict in your jurisdiction"),
                      "409": _problem("already restored"), **auth_err}}})

    spec.path("/api/v1/devices", operations={"get": {"tags": ["admin"], "security": _BEARER,
                                                     "responses": {"200": _json({"type": "object"}), **auth_err}}})
    spec.path("/api/v1/devices/{device_id}/revoke", operations={"post": {
        "tags": ["admin"], "security": _BEARER,
        "parameters": [{"name": "device_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": _json({"type": "object"}), "404": _problem("no such device"), **auth_err}}})
    spec.path("/api/v1/jurisdictions", operations={"get": {"tags": ["admin"], "security": _BEARER,
                                                           "responses": {"200": _json({"type": "object"})}}})
    spec.path("/api/v1/enterprises", operations={
        "get": {"tags": ["admin"], "security": _BEARER, "responses": {"200": _json({"type": "object"})}},
        "post": {"tags": ["admin"], "security": _BEARER,
                 "requestBody": _body({"$ref": "#/components/schemas/Enterprise"}),
                 "responses": {"201": _json({"type": "object"}), "409": _problem("credit code exists"),
                               "422": _problem("invalid")}}})
    spec.path("/api/v1/enterprises/{enterprise_id}", operations={"get": {
        "tags": ["admin"], "security": _BEARER,
        "parameters": [{"name": "enterprise_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": _json({"type": "object"}), "404": _problem("not found")}}})
    spec.path("/healthz", operations={"get": {"tags": ["health"], "responses": {"200": _json({"type": "object"})}}})
    spec.path("/readyz", operations={"get": {"tags": ["health"], "responses": {
        "200": _json({"type": "object"}), "503": _problem("database or Redis down")}}})
    for fn in contributors:
        fn(spec)
    return spec.to_dict()


@bp.get("/api/v1/openapi.json")
def openapi_json():
    doc = current_app.extensions.get("danbing_openapi")
    if doc is None:
        doc = current_app.extensions["danbing_openapi"] = build_spec()
    return doc


def add_paths(fn):
    """Register ``fn(spec)`` to add a subsystem's paths to the document."""
    contributors.append(fn)
    return fn


def init_app(app):
    app.register_blueprint(bp)
