"""Finding the settings model behind a key path, for errors that suggest the right key."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel


def model_at(root: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model that holds the keys at ``loc`` below ``root`` (list indices and the names in
    a table of tables, such as ``risk.symbols.EURUSD``, are stepped over), or None."""
    model: type[BaseModel] | None = root
    in_mapping = False
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        if in_mapping:
            in_mapping = False
            continue
        fields = {info.alias or name: info for name, info in model.model_fields.items()}
        fields.update(model.model_fields)
        info = fields.get(part)
        if info is None:
            return None
        annotation = info.annotation
        if typing.get_origin(annotation) is dict:
            annotation, in_mapping = typing.get_args(annotation)[1], True
        model = _unwrap_model(annotation)
    return model


def _unwrap_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _unwrap_model(arg)
            if found is not None:
                return found
    return None
