"""A constraint between parameters, such as ``fast < slow`` or ``slow >= 2 * fast and k != 0``.

The expression is parsed once and evaluated by walking its syntax tree: only parameter names,
numbers, strings, arithmetic (``+ - * / // %``), comparisons (chains too) and ``and``, ``or``,
``not`` are allowed. Nothing is handed to ``eval``.
"""

from __future__ import annotations

import ast
import difflib
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tradeloop.core.errors import ConfigError

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}
_ARITHMETIC: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
}


class Constraint:
    """A boolean expression over parameter names.

    Parameters
    ----------
    expression : str
    names : sequence of str
        The parameters it may name.

    Raises
    ------
    ConfigError
        For a syntax error, a construct that is not allowed, or an unknown name (with the
        closest known one).
    """

    def __init__(self, expression: str, names: Sequence[str]) -> None:
        self.expression = expression.strip()
        self._names = list(names)
        try:
            tree = ast.parse(self.expression, mode="eval")
        except SyntaxError as exc:
            raise ConfigError(f"--constraint {expression!r} is not an expression: "
                              f"{exc.msg}") from None
        self._check(tree.body)
        self._tree = tree.body

    def __str__(self) -> str:
        return self.expression

    def holds(self, params: Mapping[str, Any]) -> bool:
        """Whether ``params`` meets the constraint (a division by zero does not)."""
        try:
            return bool(self._eval(self._tree, params))
        except ZeroDivisionError:
            return False
        except TypeError as exc:
            raise ConfigError(f"--constraint {self.expression!r} cannot be evaluated for "
                              f"{dict(params)}: {exc}") from None

    def _check(self, node: ast.AST) -> None:
        if isinstance(node, ast.Name):
            if node.id not in self._names:
                close = difflib.get_close_matches(node.id, self._names, n=1)
                hint = (f", did you mean {close[0]!r}?" if close
                        else f" (parameters: {', '.join(self._names)})")
                raise ConfigError(f"--constraint {self.expression!r}: unknown parameter "
                                  f"{node.id!r}{hint}")
            return
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float | str):
                raise ConfigError(f"--constraint {self.expression!r}: {node.value!r} is not "
                                  "allowed (numbers and strings only)")
            return
        allowed = (
            (isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops))
            or (isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC)
            or isinstance(node, ast.BoolOp)
            or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub))
        )
        if not allowed:
            raise ConfigError(f"--constraint {self.expression!r}: "
                              f"{ast.unparse(node)!r} is not allowed; use parameter names, "
                              "numbers, + - * / // %, comparisons, and, or, not")
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self._check(child)

    def _eval(self, node: ast.expr, params: Mapping[str, Any]) -> Any:
        if isinstance(node, ast.Name):
            return params[node.id]
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.BinOp):
            return _ARITHMETIC[type(node.op)](self._eval(node.left, params),
                                              self._eval(node.right, params))
        if isinstance(node, ast.UnaryOp):
            value = self._eval(node.operand, params)
            return (not value) if isinstance(node.op, ast.Not) else -value
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                return all(self._eval(v, params) for v in node.values)
            return any(self._eval(v, params) for v in node.values)
        assert isinstance(node, ast.Compare)
        left = self._eval(node.left, params)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self._eval(right_node, params)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
