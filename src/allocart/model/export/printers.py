"""Expression printers of the exports: R (rxode2), C++ (mrgsolve), NONMEM abbreviated code.

Each prints a sympy expression of the model definition in the target language, with every
number written as the shortest decimal that reads back as the same double (``repr``), so an
export carries the parameter values and constants bit for bit.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.c import C99CodePrinter
from sympy.printing.rcode import RCodePrinter
from sympy.printing.str import StrPrinter

__all__ = ["r_code", "cpp_code", "nonmem_code", "number"]


def number(x: float) -> str:
    """``x`` as the shortest decimal that reads back as the same double."""
    return repr(float(x))


class _RPrinter(RCodePrinter):
    """R syntax as rxode2's model block reads it (``^``, ``exp``, ``log``, ``sqrt``)."""

    def _print_Float(self, expr: sp.Float) -> str:
        return number(expr)

    def _print_Rational(self, expr: sp.Rational) -> str:
        return number(expr)

    def _print_Integer(self, expr: sp.Integer) -> str:
        return str(int(expr))


class _CppPrinter(C99CodePrinter):
    """C++ as mrgsolve compiles it (``pow``, ``exp``, ``log``, ``sqrt``; no integer division)."""

    def _print_Float(self, expr: sp.Float) -> str:
        return number(expr)

    def _print_Rational(self, expr: sp.Rational) -> str:
        return number(expr)

    def _print_Integer(self, expr: sp.Integer) -> str:
        # A double literal everywhere: C++ would divide two integer literals as integers.
        return number(expr)


class _NonmemPrinter(StrPrinter):
    """NONMEM abbreviated code (Fortran-like): ``**``, ``EXP``, ``LOG``, ``SQRT``."""

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        base, exp = expr.as_base_exp()
        b = self.parenthesize(base, sp.printing.precedence.PRECEDENCE["Pow"], strict=True)
        if exp == sp.S.Half:
            return f"SQRT({self._print(base)})"
        if exp == -1:
            return f"1.0/{b}"
        if exp.is_Integer and int(exp) > 0:
            return f"{b}**{int(exp)}"
        return f"{b}**({self._print(exp)})"

    def _print_exp(self, expr: sp.exp) -> str:
        return f"EXP({self._print(expr.args[0])})"

    def _print_log(self, expr: sp.log) -> str:
        return f"LOG({self._print(expr.args[0])})"

    def _print_Float(self, expr: sp.Float) -> str:
        return number(expr).upper()

    def _print_Rational(self, expr: sp.Rational) -> str:
        return number(expr).upper()

    def _print_Integer(self, expr: sp.Integer) -> str:
        return number(expr)


def r_code(expr: sp.Expr) -> str:
    """``expr`` in R syntax (rxode2)."""
    return _RPrinter().doprint(expr)


def cpp_code(expr: sp.Expr) -> str:
    """``expr`` in C++ (mrgsolve)."""
    return _CppPrinter().doprint(expr)


def nonmem_code(expr: sp.Expr) -> str:
    """``expr`` in NONMEM abbreviated code."""
    return _NonmemPrinter().doprint(expr)
