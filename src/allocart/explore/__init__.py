"""Interactive explorer: pick a product, dose, lymphodepletion and redose, see the model respond.

The computation (:mod:`allocart.explore.compute`) needs only the model and the population; the
web app (:mod:`allocart.explore.app`, ``allocart explore``) needs the optional ``explore`` extra
(Dash)::

    from allocart.explore import Choice, explore
    ex = explore(Choice(dose="3e6/kg", n=100, seed=1))
    [(r.label, r.k, r.n, r.ci95) for r in ex.rates]
"""

from allocart.explore.compute import Choice as Choice
from allocart.explore.compute import Exploration as Exploration
from allocart.explore.compute import explore as explore

__all__ = ["Choice", "Exploration", "explore"]
