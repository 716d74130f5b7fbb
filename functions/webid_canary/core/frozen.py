"""A cheaper way to build the frozen dataclasses made once per request (claims, case, verdict).

A frozen dataclass's generated `__init__` stores each field through `object.__setattr__`, several times slower
than a plain attribute store; for a type with a dozen fields, built for every target of every cycle, that was a
fifth of a prediction. `builder(cls)` returns a function that takes every field's value, positionally in field
order, and makes the instance the way an unfrozen class would: it creates an instance of a twin class that has
exactly the same slots and no `__setattr__` of its own, stores each field with a plain attribute store, then
makes the instance a `cls` (assigning `__class__` is allowed between classes whose layouts are the same).

The result is an ordinary instance of `cls`: assigning a field raises FrozenInstanceError, and equality,
hashing, repr, `dataclasses.replace` and `__init__` are the dataclass's own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, is_dataclass
from typing import Any


def builder[T](cls: type[T]) -> Callable[..., T]:
    """A positional constructor of a frozen, slotted dataclass whose fields are all plain init fields and that
    has no `__post_init__`: `builder(C)(*values)` equals `C(*values)`."""
    params = getattr(cls, "__dataclass_params__", None)
    if not is_dataclass(cls) or params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__}: builder is for frozen dataclasses with slots")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: builder cannot run __post_init__")
    names = [item.name for item in fields(cls)]
    if any(not item.init or item.kw_only for item in fields(cls)) or tuple(names) != tuple(cls.__dict__["__slots__"]):
        raise TypeError(f"{cls.__name__}: builder takes plain init fields held in the class's own slots only")
    # Same bases and slots as cls, so an instance may change from one class to the other; unfrozen.
    twin = type(f"_{cls.__name__}Fields", cls.__bases__, {"__slots__": cls.__dict__["__slots__"]})
    namespace: dict[str, Any] = {"_new": object.__new__, "_twin": twin, "_cls": cls}
    lines = [f"def build({', '.join(names)}):", "    self = _new(_twin)"]
    lines += [f"    self.{name} = {name}" for name in names]
    lines += ["    self.__class__ = _cls", "    return self"]
    source = "\n".join(lines) + "\n"
    exec(source, namespace)  # noqa: S102 - the text is made above from the class's own field names only
    build: Callable[..., T] = namespace["build"]
    build.__qualname__ = build.__name__ = f"build_{cls.__name__}"
    build.__module__ = cls.__module__
    build.__doc__ = f"A {cls.__name__} from the value of each of its fields, in order."
    return build
