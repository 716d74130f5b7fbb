"""A cheaper constructor for the frozen dataclasses built once per request (claims, case, verdict).

A frozen dataclass's generated `__init__` stores each field through `object.__setattr__`, several times slower
than storing it through the slot itself; for a type with a dozen fields, built for every target of every cycle,
that was a tenth of a prediction. `slot_init` gives such a class an `__init__` with the same signature (names,
order, defaults) that stores each field through its slot. Instances stay frozen: assigning a field still raises
FrozenInstanceError, and `dataclasses.replace`, equality, hashing and repr are the dataclass's own.
"""

from __future__ import annotations

from dataclasses import MISSING, fields, is_dataclass
from typing import Any


def slot_init[T](cls: type[T]) -> type[T]:
    """Replace the `__init__` of a frozen, slotted dataclass whose fields are all plain init fields."""
    params = getattr(cls, "__dataclass_params__", None)
    if not is_dataclass(cls) or params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__}: slot_init is for frozen dataclasses with slots")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: slot_init cannot run __post_init__")
    namespace: dict[str, Any] = {}
    parameters: list[str] = []
    body: list[str] = []
    for item in fields(cls):
        if not item.init or item.kw_only or item.default_factory is not MISSING:
            raise TypeError(f"{cls.__name__}.{item.name}: slot_init takes plain init fields only")
        # Each slot's own setter; it does not go through the class's refusing __setattr__.
        namespace[f"_store_{item.name}"] = cls.__dict__[item.name].__set__
        if item.default is MISSING:
            parameters.append(item.name)
        else:
            namespace[f"_default_{item.name}"] = item.default
            parameters.append(f"{item.name}=_default_{item.name}")
        body.append(f"    _store_{item.name}(self, {item.name})")
    source = f"def __init__(self, {', '.join(parameters)}) -> None:\n" + "\n".join(body or ["    pass"]) + "\n"
    exec(source, namespace)  # noqa: S102 - the text is made above from the class's own field names only
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    type.__setattr__(cls, "__init__", init)
    return cls
