"""Find a strategy class from what a user typed: ``module:Class``, a ``.py`` file, or the name of
a bundled example."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import traceback
from pathlib import Path

from tradeloop.core.errors import ConfigError
from tradeloop.examples import EXAMPLES, load_example
from tradeloop.strategy.base import Strategy


def _strategy_classes(namespace: dict[str, object], module_name: str) -> list[type[Strategy]]:
    return [
        obj for obj in namespace.values()
        if inspect.isclass(obj) and issubclass(obj, Strategy) and obj is not Strategy
        and obj.__module__ == module_name
    ]


def _pick(classes: list[type[Strategy]], class_name: str | None, where: str) -> type[Strategy]:
    if class_name:
        for cls in classes:
            if cls.__name__ == class_name:
                return cls
        names = ", ".join(c.__name__ for c in classes) or "none"
        raise ConfigError(f"{where}: no Strategy subclass named {class_name!r} (found: {names})")
    if len(classes) == 1:
        return classes[0]
    if not classes:
        raise ConfigError(f"{where}: defines no subclass of tradeloop.strategy.Strategy")
    names = ", ".join(c.__name__ for c in classes)
    raise ConfigError(f"{where}: defines several strategies ({names}); name one as FILE:Class")


def _load_file(path: Path, class_name: str | None) -> type[Strategy]:
    if not path.is_file():
        raise ConfigError(f"strategy file {path} does not exist")
    module_name = f"tradeloop_user_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"strategy file {path} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        del sys.modules[module_name]  # leave no half-imported module behind
        raise ConfigError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except Exception as exc:
        del sys.modules[module_name]
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
        line = f":{frames[-1].lineno}" if frames else ""
        raise ConfigError(
            f"{path}{line}: importing the strategy failed: {type(exc).__name__}: {exc}"
        ) from None
    return _pick(_strategy_classes(vars(module), module_name), class_name, str(path))


def resolve_strategy(spec: str) -> type[Strategy]:
    """Return the strategy class ``spec`` names.

    Parameters
    ----------
    spec : str
        ``package.module:Class``, ``path/to/file.py`` (optionally ``:Class``), or a bundled
        example name such as ``sma_cross``.

    Raises
    ------
    ConfigError
        With the reason, when nothing matches.
    """
    text = spec.strip()
    if text in EXAMPLES:
        return load_example(text)
    target, _, class_name = text.partition(":")
    if target.endswith(".py") or "/" in target or Path(target).suffix == ".py":
        return _load_file(Path(target), class_name or None)
    if class_name:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise ConfigError(f"cannot import module {target!r}: {exc}") from None
        except Exception as exc:  # the module's own code raised: say where
            last = traceback.extract_tb(exc.__traceback__)[-1]
            raise ConfigError(
                f"cannot import module {target!r}: {type(exc).__name__}: {exc} "
                f"({last.filename}:{last.lineno})"
            ) from None
        found = getattr(module, class_name, None)
        if inspect.isclass(found) and issubclass(found, Strategy):
            return found
        return _pick(_strategy_classes(vars(module), module.__name__), class_name, target)
    return load_example(text)  # raises with a "did you mean" hint
