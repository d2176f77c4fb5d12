"""Which layer classes a file may name: deltaprop's own, found by themselves, and those users register.

A file names a class; it never carries code. So the set of classes a file can
ask for is fixed by the process that loads it: every public `Module` subclass
defined under ``deltaprop.nn`` (found by walking the subclasses, so a new
built-in layer needs no line here), plus the classes registered with
`register_module`.
"""

from __future__ import annotations

from deltaprop.nn.module import Module

_USER_CLASSES: dict[str, type[Module]] = {}


def _is_builtin(cls: type) -> bool:
    module = cls.__module__
    return (
        (module == "deltaprop.nn" or module.startswith("deltaprop.nn."))
        and not cls.__name__.startswith("_")
        and "<locals>" not in cls.__qualname__
    )


def builtin_classes() -> dict[str, type[Module]]:
    """Every public layer class of ``deltaprop.nn`` (and its sub-modules) by class name."""
    found: dict[str, type[Module]] = {}
    pending = [Module]
    while pending:
        for cls in pending.pop().__subclasses__():
            pending.append(cls)
            if _is_builtin(cls) and found.setdefault(cls.__name__, cls) is not cls:
                raise RuntimeError(  # a deltaprop bug, not a user error: two layers share a file name
                    f"two deltaprop layers are both called {cls.__name__} "
                    f"({found[cls.__name__].__module__} and {cls.__module__}); rename one"
                )
    return found


def class_for(name: str) -> type[Module] | None:
    """The class a file's ``"type"`` names, or None when this process does not know it."""
    return _USER_CLASSES.get(name) or builtin_classes().get(name)


def name_for(cls: type) -> str | None:
    """The name under which instances of exactly ``cls`` are saved, or None when it is not registered."""
    if _is_builtin(cls) and builtin_classes().get(cls.__name__) is cls:
        return cls.__name__
    for name, registered in _USER_CLASSES.items():
        if registered is cls:
            return name
    return None


def known_names() -> list[str]:
    return sorted({*builtin_classes(), *_USER_CLASSES})


def register_module(cls: type[Module], name: str | None = None) -> type[Module]:
    """Let `save`/`load` describe a layer of your own; usable as a class decorator.

    The layer describes itself through `Module.get_config` / `Module.from_config`
    (the defaults work when every ``__init__`` argument is kept as an attribute
    of the same name). Register the class in the process that loads the file
    too: the file names the class, it never carries its code. ``name``
    (default: the class name) is what the file records; it may not shadow a
    deltaprop layer. Registering a class again under the same name replaces
    the old one when it is the same class redefined (a re-run notebook cell).
    """
    if not (isinstance(cls, type) and issubclass(cls, Module)):
        raise TypeError(f"register_module: expected a Module subclass, got {cls!r}")
    name = cls.__name__ if name is None else name
    if not isinstance(name, str) or not name:
        raise ValueError(f"register_module: the name must be a non-empty string, got {name!r}")
    builtin = builtin_classes().get(name)
    if builtin is not None and builtin is not cls:
        raise ValueError(
            f"register_module: '{name}' is a deltaprop layer; register {cls.__qualname__} under "
            f"another name, e.g. register_module({cls.__name__}, name='my_{name}')"
        )
    previous = _USER_CLASSES.get(name)
    if previous is not None and previous is not cls and (
        (previous.__module__, previous.__qualname__) != (cls.__module__, cls.__qualname__)
    ):
        raise ValueError(
            f"register_module: the name '{name}' already belongs to {previous.__module__}."
            f"{previous.__qualname__}; register {cls.__module__}.{cls.__qualname__} with another name="
        )
    if builtin is None:
        _USER_CLASSES[name] = cls
    return cls


def unregister_module(name: str) -> None:
    """Forget a name given to `register_module` (tests, notebooks); unknown names are ignored."""
    _USER_CLASSES.pop(name, None)
