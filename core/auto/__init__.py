"""Auto mode: the fastest variant within an accuracy/fidelity and size budget.

Public API::

    from core.auto import AutoBudget, AutoSettings, auto_optimize
"""

from core.auto.budget import AutoBudget, BudgetCheck, check_budget
from core.auto.pareto import TIE_TOLERANCE, choose, dominates, pareto_front
from core.auto.results import FAILED, MEASURED, MISSES_BUDGET, PENDING, SKIPPED, AutoCandidate, AutoResult, AutoSettings
from core.auto.search import CANDIDATE_KIND, auto_optimize, candidate_variant

__all__ = [
    "AutoBudget",
    "AutoCandidate",
    "AutoResult",
    "AutoSettings",
    "BudgetCheck",
    "CANDIDATE_KIND",
    "FAILED",
    "MEASURED",
    "MISSES_BUDGET",
    "PENDING",
    "SKIPPED",
    "TIE_TOLERANCE",
    "auto_optimize",
    "candidate_variant",
    "check_budget",
    "choose",
    "dominates",
    "pareto_front",
]
