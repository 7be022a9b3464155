"""Units of the model's quantities for the SBML export: parsed, multiplied, written as SBML.

A :class:`Unit` is a product of powers of the base units the model uses (day, item, gram,
litre, metre) times a factor, e.g. ``1e9/L`` is ``item * litre^-1`` times 1e9. The unit of
every parameter, state and read-out comes from its unit string (parameter table,
:class:`~allocart.model.equations.State`, :class:`~allocart.model.equations.Observable`);
the unit of a derived parameter or intermediate quantity is computed from its expression
(:func:`unit_of`). :func:`add_unit_definition` writes a unit as an SBML ``UnitDefinition``
(``day`` is 86 400 seconds).

International units (IU, anti-dsDNA activity) have no SBML base unit: they are counted as
dimensionless, so IU/mL is ``litre^-1`` scaled by 1e3. Cells and assay copies are ``item``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction

import libsbml
import sympy as sp

from allocart.errors import ModelError

__all__ = ["Unit", "parse_unit", "unit_of", "add_unit_definition", "DIMENSIONLESS"]


@dataclass(frozen=True)
class Unit:
    """A product of base-unit powers times a factor.

    Attributes
    ----------
    exps : tuple of (str, Fraction)
        Base unit and exponent, sorted by base, no zero exponent.
    factor : float
        Multiplier (e.g. 1e9 for ``1e9/L``, 1e-12 for picogram).
    """

    exps: tuple[tuple[str, Fraction], ...] = ()
    factor: float = 1.0

    def __mul__(self, other: Unit) -> Unit:
        d = dict(self.exps)
        for b, e in other.exps:
            d[b] = d.get(b, Fraction(0)) + e
        return Unit(_norm(d), self.factor * other.factor)

    def __truediv__(self, other: Unit) -> Unit:
        return self * other ** Fraction(-1)

    def __pow__(self, e: Fraction) -> Unit:
        return Unit(_norm({b: x * e for b, x in self.exps}), self.factor ** float(e))

    @property
    def dimensionless(self) -> bool:
        return not self.exps

    def same_kind(self, other: Unit) -> bool:
        """Same base-unit powers (the factor may differ)."""
        return self.exps == other.exps

    @property
    def sbml_id(self) -> str:
        """An SBML id naming the unit, e.g. ``u_item_litre_m1_x1e9``."""
        if not self.exps and math.isclose(self.factor, 1.0):
            return "dimensionless"
        if self.exps == (("day", Fraction(1)),) and math.isclose(self.factor, 1.0):
            return "day"
        parts = []
        for b, e in self.exps:
            tag = "" if e == 1 else "_m" + str(-e) if e < 0 else "_" + str(e)
            parts.append(b + tag.replace("/", "o"))
        if not math.isclose(self.factor, 1.0):
            parts.append("x" + f"{self.factor:.6g}".replace(".", "p").replace("-", "m"))
        return "u_" + "_".join(parts or ["one"]).replace("+", "")


def _norm(d: Mapping[str, Fraction]) -> tuple[tuple[str, Fraction], ...]:
    return tuple(sorted((b, Fraction(e)) for b, e in d.items() if e != 0))


DIMENSIONLESS = Unit()


def _u(factor: float = 1.0, **exps: int) -> Unit:
    return Unit(_norm({b: Fraction(e) for b, e in exps.items()}), factor)


_ATOMS: dict[str, Unit] = {
    "1": DIMENSIONLESS,
    "": DIMENSIONLESS,
    "%": _u(0.01),
    "IU": DIMENSIONLESS,
    "day": _u(day=1),
    "h": _u(1 / 24, day=1),
    "cells": _u(item=1),
    "copies": _u(item=1),
    "ug DNA": _u(1e-6, gram=1),
    "g": _u(gram=1),
    "mg": _u(1e-3, gram=1),
    "ug": _u(1e-6, gram=1),
    "pg": _u(1e-12, gram=1),
    "kg": _u(1e3, gram=1),
    "L": _u(litre=1),
    "mL": _u(1e-3, litre=1),
    "uL": _u(1e-6, litre=1),
    "m2": _u(metre=2),
    "1e9": _u(1e9),
    "1e6": _u(1e6),
}

#: Unit strings read whole: a blood count in 1e9/L counts cells (10^9 cells per litre).
_WHOLE: dict[str, Unit] = {u: _u(1e9, item=1, litre=-1) for u in ("1e9/L", "10^9/L", "G/L")}

_TOKEN = re.compile(r"\s*(\(|\)|/|\*|[^()/*\s]+(?:\s+DNA)?)")


def parse_unit(text: str) -> Unit:
    """The :class:`Unit` of a unit string of the parameter table or the model definition.

    Accepts products and quotients of the atoms above with parentheses (``1/(mg/m2)``,
    ``pg/mL/day``, ``1e9 cells``), the blood-count unit ``1e9/L`` (10^9 cells per litre) and the table's ``copies/ug per cells/L`` (a qPCR calibration:
    copies per ug of DNA per cell per litre of blood).

    Raises
    ------
    ModelError
        If the string holds a unit the SBML export does not know.
    """
    if text in _WHOLE:
        return _WHOLE[text]
    if " per " in text:
        num, den = text.split(" per ", 1)
        return parse_unit(num) / parse_unit(den)
    tokens = [t for t in _TOKEN.findall(text) if t.strip()]
    pos = 0

    def atom() -> Unit:
        nonlocal pos
        if pos >= len(tokens):
            raise ModelError(f"SBML export: unit {text!r} ends too early")
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            u = expr()
            pos += 1  # ")"
            return u
        if tok not in _ATOMS:
            raise ModelError(
                f"SBML export: unit {text!r} has {tok!r}, which has no SBML definition; "
                f"use one of {sorted(k for k in _ATOMS if k)}"
            )
        return _ATOMS[tok]

    def expr() -> Unit:
        nonlocal pos
        u = atom()
        while pos < len(tokens) and tokens[pos] != ")":
            op = tokens[pos]
            if op in ("/", "*"):
                pos += 1
            v = atom()  # two atoms side by side multiply (1e9 cells)
            u = u / v if op == "/" else u * v
        return u

    out = expr()
    if pos != len(tokens):
        raise ModelError(f"SBML export: cannot read the unit {text!r} (unbalanced parentheses)")
    return out


def unit_of(expr: sp.Expr, units: Callable[[str], Unit]) -> Unit:
    """Unit of ``expr`` given the unit of each symbol (``units(name)``).

    Numbers are dimensionless; a sum takes the unit of its first term that is not a number;
    ``exp`` and ``log`` give dimensionless results.
    """
    if expr.is_Number:
        return DIMENSIONLESS
    if expr.is_Symbol:
        return units(expr.name)
    if expr.is_Add:
        for a in expr.args:
            if not a.is_Number:
                return unit_of(a, units)
        return DIMENSIONLESS
    if expr.is_Mul:
        out = DIMENSIONLESS
        for a in expr.args:
            out = out * unit_of(a, units)
        return out
    if expr.is_Pow:
        base, e = expr.as_base_exp()
        ub = unit_of(base, units)
        if ub.dimensionless:
            return ub if e.is_Number else DIMENSIONLESS
        if not e.is_Rational:
            raise ModelError(f"SBML export: {expr} raises a quantity with units to a non-number")
        return ub ** Fraction(int(e.p), int(e.q))
    return DIMENSIONLESS  # exp, log and other functions of dimensionless arguments


_KINDS = {
    "day": (libsbml.UNIT_KIND_SECOND, 86400.0),
    "item": (libsbml.UNIT_KIND_ITEM, 1.0),
    "gram": (libsbml.UNIT_KIND_GRAM, 1.0),
    "litre": (libsbml.UNIT_KIND_LITRE, 1.0),
    "metre": (libsbml.UNIT_KIND_METRE, 1.0),
}


def add_unit_definition(model: libsbml.Model, unit: Unit) -> str:
    """Add ``unit`` to ``model`` as a UnitDefinition (once) and return its id."""
    uid = unit.sbml_id
    if uid == "dimensionless" or model.getUnitDefinition(uid) is not None:
        return uid
    ud = model.createUnitDefinition()
    ud.setId(uid)
    parts = list(unit.exps) or [("", Fraction(1))]
    for k, (base, e) in enumerate(parts):
        u = ud.createUnit()
        kind, mult = _KINDS.get(base, (libsbml.UNIT_KIND_DIMENSIONLESS, 1.0))
        u.setKind(kind)
        u.setExponent(float(e))
        u.setScale(0)
        # (multiplier * kind)^exponent: the factor goes into the first unit.
        u.setMultiplier(mult * (unit.factor ** (1.0 / float(e)) if k == 0 else 1.0))
    return uid
