"""Learning from failures: outcomes update decayed Beta statistics per (route, prompt cluster, model),
which shift the router's predictions once a promotion gate has checked them on logged outcomes.

    cluster_of(messages, features=None) -> int          the prompt cluster (learned predictor centroids)
    Learner(store, ...)                                  record_decision / observe / adjust / run_gate
    MemoryLearnStore(), SQLiteLearnStore(path)           the LearnStore implementations
"""

from satisfice.learn.cluster import cluster_of
from satisfice.learn.learner import Learner
from satisfice.learn.records import SOURCES, BetaStat, Decision, GateResult, Outcome
from satisfice.learn.sqlite import SQLiteLearnStore
from satisfice.learn.store import LearnStore, MemoryLearnStore

__all__ = [
    "SOURCES",
    "BetaStat",
    "Decision",
    "GateResult",
    "LearnStore",
    "Learner",
    "MemoryLearnStore",
    "Outcome",
    "SQLiteLearnStore",
    "cluster_of",
]
