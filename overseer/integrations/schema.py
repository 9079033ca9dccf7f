"""JSON Schema -> pydantic ``Args`` model, for tools that describe their
arguments only as JSON Schema (MCP tools, LangChain tools with a dict schema).

The broker validates every call with ``tool.Args`` before the policy sees it,
so a foreign tool needs a real pydantic model. The common shapes (scalars,
enums, arrays, nullable unions, defaults, ``$ref``) become typed fields, so
approvers and the log see canonical values; anything the mapping cannot
express (``minItems``, ``pattern``, nested object shapes...) is still checked
by validating the whole call against the original schema with ``jsonschema``.

Unknown keys are refused unless the schema explicitly allows them: a call that
carries an argument the policy cannot see must not run.
"""

from __future__ import annotations

import keyword
import re
from typing import Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

# BaseModel attributes a field may not shadow; such fields get a Python name
# and keep the schema's name as their alias.
_RESERVED = set(dir(BaseModel)) | {"model_config", "model_fields"}
_MAX_DEPTH = 8


class SchemaArgs(BaseModel):
    """Base of every generated model: the original schema is kept for the
    extra checks and for ``payload`` (what is sent to the tool)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    json_schema_source: ClassVar[dict[str, Any]] = {}
    # Optional fields the schema does not allow to be null: left out of the
    # payload when they are None, so the tool sees "not given", not null.
    omit_if_none: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _check_full_schema(self) -> SchemaArgs:
        schema = type(self).json_schema_source
        if schema:
            problem = schema_problem(schema, payload(self))
            if problem:
                raise ValueError(problem)
        return self

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        # What the agent and `overseer tools --json` see is the tool's own schema.
        return dict(cls.json_schema_source) or super().model_json_schema(*args, **kwargs)


class OpenSchemaArgs(SchemaArgs):
    """For schemas whose ``additionalProperties`` explicitly allows more keys."""

    model_config = ConfigDict(extra="allow")


def payload(args: BaseModel) -> dict[str, Any]:
    """The arguments as the tool expects them: schema names, unset optionals left out."""
    data = args.model_dump(mode="json", by_alias=True)
    omit: frozenset[str] = getattr(type(args), "omit_if_none", frozenset())
    return {k: v for k, v in data.items() if not (v is None and k in omit)}


def schema_problem(schema: dict[str, Any], instance: Any) -> str | None:
    """The first way ``instance`` breaks ``schema``, or None (also when jsonschema is missing)."""
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - jsonschema comes with mcp
        return None
    try:
        cls = jsonschema.validators.validator_for(schema)
        error = jsonschema.exceptions.best_match(cls(schema).iter_errors(instance))
    except jsonschema.exceptions.SchemaError:
        return None  # a broken schema is reported when the model is built, not per call
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{where}: {error.message}" if where else error.message


class SchemaConversionError(ValueError):
    """The schema cannot describe a tool's arguments (not an object schema...)."""


def _python_name(name: str, taken: set[str]) -> str:
    base = re.sub(r"\W", "_", name) or "arg"
    if base[0].isdigit() or base.startswith("_"):
        base = f"f{base}" if not base.startswith("_") else f"f{base}"
    if keyword.iskeyword(base) or base in _RESERVED:
        base = f"{base}_"
    out, n = base, 1
    while out in taken:
        n += 1
        out = f"{base}{n}"
    return out


def _resolve(ref: str, root: dict[str, Any]) -> dict[str, Any] | None:
    if not ref.startswith("#/"):
        return None
    node: Any = root
    for part in ref[2:].split("/"):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, dict) else None


def _annotation(schema: Any, root: dict[str, Any], depth: int = 0) -> Any:
    """A Python type for one property schema; ``Any`` when it cannot say more
    (the jsonschema check still applies)."""
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return Any
    if "$ref" in schema:
        target = _resolve(str(schema["$ref"]), root)
        return _annotation(target, root, depth + 1) if target is not None else Any
    if "const" in schema and isinstance(schema["const"], str | int | float | bool):
        return Literal[schema["const"]]  # type: ignore[valid-type]
    enum = schema.get("enum")
    if (
        isinstance(enum, list)
        and enum
        and all(isinstance(v, str | int | float | bool) or v is None for v in enum)
    ):
        values = tuple(v for v in enum if v is not None)
        lit: Any = Literal[values] if values else type(None)  # type: ignore[valid-type]
        return lit | None if None in enum and values else lit
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            types = [_annotation(o, root, depth + 1) for o in options]
            if Any in types:
                return Any
            return Union[tuple(dict.fromkeys(types))]  # noqa: UP007 - built at run time
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1:
        return _annotation(all_of[0], root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        types = [_annotation({**schema, "type": k}, root, depth + 1) for k in kind]
        return Any if Any in types else Union[tuple(dict.fromkeys(types))]  # noqa: UP007
    simple = {"string": str, "integer": int, "number": float, "boolean": bool, "null": type(None)}
    if kind in simple:
        return simple[kind]
    if kind == "array":
        return list[_annotation(schema.get("items"), root, depth + 1)]  # type: ignore[misc]
    if kind == "object":
        return dict[str, Any]
    return Any


def _allows_null(schema: Any, root: dict[str, Any]) -> bool:
    if not isinstance(schema, dict):
        return True
    if "$ref" in schema:
        target = _resolve(str(schema["$ref"]), root)
        return _allows_null(target, root) if target is not None else True
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    if isinstance(schema.get("enum"), list) and None in schema["enum"]:
        return True
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list) and any(_allows_null(o, root) for o in schema[key]):
            return True
    return kind is None and not any(
        k in schema for k in ("anyOf", "oneOf", "enum", "const", "$ref")
    )


def model_from_schema(name: str, schema: Any, *, description: str = "") -> type[SchemaArgs]:
    """Build the ``Args`` model for a tool whose arguments are ``schema``.

    Raises ``SchemaConversionError`` when the schema is not an object schema
    (a tool's arguments are always an object).
    """
    if schema in (None, {}):
        schema = {"type": "object", "properties": {}}
    if not isinstance(schema, dict):
        raise SchemaConversionError(f"input schema is a {type(schema).__name__}, not a JSON object")
    if schema.get("type", "object") != "object":
        raise SchemaConversionError(
            f"input schema has type {schema.get('type')!r}; tool arguments must be an object"
        )
    props = schema.get("properties") or {}
    if not isinstance(props, dict):
        raise SchemaConversionError("input schema 'properties' is not an object")
    required = set(schema.get("required") or [])
    try:
        import jsonschema

        jsonschema.validators.validator_for(schema).check_schema(schema)
    except ImportError:  # pragma: no cover
        pass
    except Exception as exc:  # noqa: BLE001 - jsonschema.SchemaError and friends
        raise SchemaConversionError(
            f"input schema is not valid JSON Schema: {getattr(exc, 'message', exc)}"
        ) from exc

    fields: dict[str, Any] = {}
    omit: set[str] = set()
    taken: set[str] = set()
    for key, prop in props.items():
        key = str(key)
        pyname = _python_name(key, taken)
        taken.add(pyname)
        ann = _annotation(prop, schema)
        desc = prop.get("description") if isinstance(prop, dict) else None
        extra: dict[str, Any] = {"description": desc} if isinstance(desc, str) else {}
        if pyname != key:
            extra["alias"] = key
        if key in required:
            fields[pyname] = (ann, Field(..., **extra))
        elif isinstance(prop, dict) and prop.get("default") is not None:
            fields[pyname] = (ann, Field(default=prop["default"], validate_default=False, **extra))
        else:
            fields[pyname] = (ann | None if ann is not Any else Any, Field(default=None, **extra))
            if not _allows_null(prop, schema):
                omit.add(key)
    open_ = schema.get("additionalProperties") not in (None, False)
    model: type[SchemaArgs] = create_model(  # type: ignore[call-overload]
        re.sub(r"\W", "_", name) + "_args",
        __base__=OpenSchemaArgs if open_ else SchemaArgs,
        __doc__=description or None,
        **fields,
    )
    model.json_schema_source = schema
    model.omit_if_none = frozenset(omit)
    return model
