"""Pydantic's validation errors, reworded for a technician.

Pydantic speaks of its own internals ("Input should be a valid dictionary or instance of
MeterSettings", "Input tag 'x' found using 'type' does not match any of the expected tags").
A technician needs what is wrong in the file and what is accepted instead. This module turns
one pydantic error (its `type`, `ctx`, and the model it happened in) into such a sentence;
`agent.config` adds the file, line and key path.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel


def _quoted(text: str) -> list[str]:
    """`"'a', 'b' or 'c'"` or `"0 or 1"` (pydantic's list of expected values) -> items."""
    items = [part.strip() for part in re.split(r",| or ", text) if part.strip()]
    return [item[1:-1] if len(item) >= 2 and item[0] == item[-1] == "'" else item for item in items]


# Patterns of the agent's own models, said in words (the regex itself helps nobody on site);
# the parts add theirs (`SettingsPart.pattern_words`).
_PATTERN_WORDS = {
    r"^[A-Za-z0-9][A-Za-z0-9._:@/-]*$": "an id starts with a letter or digit and uses letters, digits and . _ : @ / - (no spaces)",
    r"^[a-z][a-z0-9_]*$": "expected snake_case: lowercase letters, digits and _ (starting with a letter)",
}


def _pattern_words(pattern: str, words: Mapping[str, str]) -> str:
    return {**_PATTERN_WORDS, **words}.get(pattern, f"does not have the expected form (pattern {pattern})")


def _one_of(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def reword(err: dict[str, Any], model: type[BaseModel] | None, key: Any, pattern_words: Mapping[str, str] | None = None,
           root: type[BaseModel] | None = None) -> str:
    """One sentence for one pydantic error. `model` is the model the failing key belongs to
    (None when unknown); `key` is the last key the user wrote; `pattern_words` says the
    parts' patterns in words; `root` is the file's model (a model named in the error is
    looked up under it first: composed models of one name may exist more than once)."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    msg = str(err["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        return unknown_key(str(key), model)
    if kind == "missing":
        return "required key is missing"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        fields = accepted_keys(model_of_error(ctx, model, root)) if kind == "model_type" else []
        hint = f" with keys such as {', '.join(fields[:8])}" if fields else ""
        return f"expected a mapping (KEY: value lines){hint}"
    if kind == "union_tag_invalid":
        tags = _one_of(_quoted(str(ctx.get("expected_tags", ""))))
        return f"unknown {ctx.get('discriminator', 'type').strip(chr(39))} {ctx.get('tag')!r}: accepted values are {tags}"
    if kind == "union_tag_not_found":
        return f"required key {ctx.get('discriminator', 'type')!s} is missing".replace("'", "")
    if kind == "literal_error":
        return f"accepted values are {_one_of(_quoted(str(ctx.get('expected', ''))))}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "expected a whole number (a valid integer)"
    if kind in ("float_parsing", "float_type"):
        return "expected a number"
    if kind in ("bool_parsing", "bool_type"):
        return "expected true or false"
    if kind in ("string_type",):
        return "expected text (put it in quotes if it looks like a number or a date)"
    if kind in ("list_type", "tuple_type", "set_type"):
        return "expected a list (lines starting with '- ', or [a, b])"
    if kind == "string_pattern_mismatch":
        return _pattern_words(str(ctx.get("pattern", "")), pattern_words or {})
    if kind == "byte_size_unit" or kind == "byte_size":
        return "expected a size such as 512MiB, 2GiB or a number of bytes"
    if kind == "path_type":
        return "expected a file or directory path"
    if kind in ("too_short", "string_too_short"):
        return "must not be empty"
    msg = msg.replace("Input should be", "must be").replace("Value should have", "must have")
    return msg


def unknown_key(key: str, model: type[BaseModel] | None) -> str:
    keys = accepted_keys(model)
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
    if close:
        return f"unknown key {key!r}: did you mean {close[0]!r}?"
    if keys:
        return f"unknown key {key!r}: accepted keys here are {', '.join(keys)}"
    return f"unknown key {key!r} (check the spelling; see the sample configuration)"


def accepted_keys(model: type[BaseModel] | None) -> list[str]:
    """Keys a user may write in this model: fields, `x_file` for secrets, and aliases."""
    if model is None:
        return []
    keys: list[str] = []
    for name, info in model.model_fields.items():
        keys.append(name)
        if "SecretStr" in repr(info.annotation):
            keys.append(f"{name}_file")
    if "profiles" in model.model_fields:
        keys.append("profile")
    return keys


def model_of_error(ctx: dict[str, Any], fallback: type[BaseModel] | None,
                   root: type[BaseModel] | None = None) -> type[BaseModel] | None:
    name = ctx.get("class_name")
    if not name:
        return fallback
    for cls in [*(_models_under(root) if root is not None else []), *_all_models(BaseModel)]:
        if cls.__name__ == name:
            return cls
    return fallback


def _models_under(root: type[BaseModel]) -> list[type[BaseModel]]:
    """`root` and every model its fields hold, through lists, dicts, unions and Annotated."""
    found: list[type[BaseModel]] = []

    def visit(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp in found:
                return
            found.append(tp)
            for info in tp.model_fields.values():
                visit(info.annotation)
            return
        for arg in get_args(tp):
            visit(arg)

    visit(root)
    return found


def _all_models(root: type[BaseModel]) -> list[type[BaseModel]]:
    out: list[type[BaseModel]] = []
    todo = list(root.__subclasses__())
    while todo:
        cls = todo.pop()
        out.append(cls)
        todo.extend(cls.__subclasses__())
    return out


def model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model that owns the last key of a pydantic error location (None if not a model).

    Walks field annotations through Optional, lists, dicts and tagged unions (pydantic puts
    the union tag, e.g. `influxdb2`, in the location)."""
    current: Any = root
    for part in loc[:-1]:
        current = _step(current, part)
        if current is None:
            return None
    model = _unwrap_model(current, None)
    return model


def _step(current: Any, part: Any) -> Any:
    model = _unwrap_model(current, part)
    if model is not None and isinstance(part, str) and part in model.model_fields:
        return model.model_fields[part].annotation
    origin = get_origin(current)
    if origin in (list, tuple, set) and isinstance(part, int):
        return get_args(current)[0]
    if origin is dict:
        return get_args(current)[1]
    if isinstance(part, str) and _is_union(current):
        for arg in get_args(current):
            m = _unwrap_model(arg, None)
            if m is not None and _tag_of(m) == part:
                return m
    if origin is Annotated:
        return _step(get_args(current)[0], part)
    if _is_union(current):
        for arg in get_args(current):
            if arg is type(None):
                continue
            nxt = _step(arg, part)
            if nxt is not None:
                return nxt
    return None


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _tag_of(model: type[BaseModel]) -> str | None:
    info = model.model_fields.get("type")
    if info is None or get_origin(info.annotation) is not Literal:
        return None
    return str(get_args(info.annotation)[0])


def _unwrap_model(tp: Any, part: Any) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    if get_origin(tp) is Annotated:
        return _unwrap_model(get_args(tp)[0], part)
    if _is_union(tp):
        models = [m for m in (_unwrap_model(a, part) for a in get_args(tp)) if m is not None]
        if len(models) == 1:
            return models[0]
    return None
