"""RouterBench: can a cascade that checks cheap models' agreement reach GPT-4's accuracy at <= $1 per 1k?

    python scripts/routerbench_agreement.py

Offline, over RouterBench's recorded answers (satisfice.data: `routerbench`, its own train/test split).
A policy sees only what a gateway sees at request time: the prompt, the answers as they come back
(the multiple-choice letter, read by the self-consistency verifier's `_letter`) and the costs.
It asks cheap models one after another and stops as soon as the answers so far settle a letter;
if they never do, GPT-4 answers. Coding prompts (MBPP: no tests in the prompt, no answer to compare)
go to one fixed cheap model.

Two stopping rules:
- `agree m`: some letter has m votes (escalate as soon as no letter can reach m);
- `weighted t`: after two or more answers, the leading letter's summed weight beats the runner-up by
  t, a model's weight being the log-odds of its train accuracy on multiple-choice prompts.

Every subset of 2-5 of the 8 models cheaper than $0.50 per 1k is tried, ordered by cost or by weight.
Settings are chosen on the train split; the train Pareto front is printed with each point's test
figures, then the per-family reason (agreement accuracy against GPT-4's on the same prompts).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from satisfice.data.records import Record
from satisfice.data.shared import load_shared
from satisfice.verify.self_consistency import _letter

STRONG = "gpt-4-1106-preview"
CODE_MODEL = "gpt-3.5-turbo-1106"  # best train accuracy on MBPP among the cheap models
CHEAP = (
    "mistral-7b-instruct",
    "wizardlm-13b",
    "mixtral-8x7b-instruct",
    "codellama-34b-instruct",
    "yi-34b-chat",
    "claude-instant-1.2",
    "llama-2-70b-chat",
    "gpt-3.5-turbo-1106",
)
LETTERS = "ABCDEFGH"


class Split:
    def __init__(self, records: Sequence[Record], models: Sequence[str]) -> None:
        self.models = list(models)
        self.family = np.array([r.family for r in records])
        self.quality = np.array([[r.outcomes[m].quality for m in models] for r in records])
        self.cost = np.array([[r.outcomes[m].cost_usd or 0.0 for m in models] for r in records])
        self.letter = np.array(
            [[LETTERS.find(_letter(r.outcomes[m].response or "") or "?") for m in models] for r in records]
        )
        # The right letter: the one a correct model gave (-2 when no model is right: nothing matches).
        right = np.where(self.quality == 1, self.letter, -1).max(axis=1)
        self.gold = np.where(right >= 0, right, -2)
        self.mc = self.family != "mbpp"

    def col(self, model: str) -> int:
        return self.models.index(model)


def run(s: Split, order: Sequence[str], rule: str, t: float, w: np.ndarray) -> tuple[float, float, float]:
    """(accuracy, $ per 1k prompts, share escalated to the strong model) over all prompts."""
    n = len(s.gold)
    cols = [s.col(m) for m in order]
    votes = np.zeros((n, len(LETTERS)))
    cost = np.zeros(n)
    correct = np.zeros(n)
    pending = s.mc.copy()  # multiple-choice prompts not settled yet; coding prompts are handled below
    escalate = np.zeros(n, dtype=bool)
    for k, j in enumerate(cols):
        cost[pending] += s.cost[pending, j]
        has = pending & (s.letter[:, j] >= 0)
        votes[has, s.letter[has, j]] += 1.0 if rule == "agree" else w[j]
        top = np.sort(votes, axis=1)
        if rule == "agree":
            settle = pending & (top[:, -1] >= t)
            give_up = pending & ~settle & (top[:, -1] + len(cols) - k - 1 < t)
        else:
            settle = pending & (k >= 1) & (top[:, -1] - top[:, -2] >= t)
            give_up = np.zeros(n, dtype=bool)
        correct[settle] = votes[settle].argmax(axis=1) == s.gold[settle]
        escalate |= give_up
        pending &= ~(settle | give_up)
    escalate |= pending
    g = s.col(STRONG)
    cost[escalate] += s.cost[escalate, g]
    correct[escalate] = s.quality[escalate, g]
    code = ~s.mc
    cost[code] = s.cost[code, s.col(CODE_MODEL)]
    correct[code] = s.quality[code, s.col(CODE_MODEL)]
    return float(correct.mean()), float(cost.mean() * 1000), float(escalate.mean())


def main() -> None:
    data = load_shared("routerbench")
    train = Split(data.split("train"), data.models)
    test = Split(data.split("test"), data.models)
    acc = train.quality[train.mc].mean(axis=0)
    w = np.log(acc / (1 - acc))
    mc_cost = train.cost[train.mc].mean(axis=0)
    for name, s in (("train", train), ("test", test)):
        g = s.col(STRONG)
        print(f"{name}: GPT-4 alone {s.quality[:, g].mean():.3f} at ${s.cost[:, g].mean() * 1000:.2f} per 1k")
    points = []
    for k in range(2, 6):
        for subset in itertools.combinations(CHEAP, k):
            orders = {
                tuple(sorted(subset, key=lambda m: mc_cost[train.col(m)])),
                tuple(sorted(subset, key=lambda m: -w[train.col(m)])),
            }
            for order in orders:
                for m in range(2, k + 1):
                    points.append((run(train, order, "agree", m, w), order, "agree", float(m)))
                for t in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.5):
                    points.append((run(train, order, "weighted", t, w), order, "weighted", t))
    points.sort(key=lambda p: (p[0][1], -p[0][0]))
    print("\ntrain Pareto front -> the same settings on test")
    print(
        f"{'train acc':>9} {'$/1k':>5} | {'test acc':>8} {'$/1k':>5} {'GPT-4':>6}"
        " | rule, models in asking order"
    )
    best = -1.0
    for (a, c, _), order, rule, t in points:
        if a <= best:
            continue
        best = a
        ta, tc, te = run(test, order, rule, t, w)
        short = " ".join(m.split("-")[0] for m in order)
        print(f"{a:9.3f} {c:5.2f} | {ta:8.3f} {tc:5.2f} {te:6.1%} | {rule} {t:g}: {short}")
    print("\nwhy: when cheap models agree, are they right as often as GPT-4 on those prompts? (test)")
    for fam in ("arc-challenge", "winogrande"):
        rows = test.family == fam
        for pair in (
            ("mixtral-8x7b-instruct", "yi-34b-chat"),
            ("mixtral-8x7b-instruct", "yi-34b-chat", "llama-2-70b-chat"),
        ):
            letters = test.letter[:, [test.col(m) for m in pair]]
            agree = rows & (letters == letters[:, :1]).all(axis=1) & (letters[:, 0] >= 0)
            right = (letters[agree, 0] == test.gold[agree]).mean()
            strong = test.quality[agree, test.col(STRONG)].mean()
            print(
                f"  {fam:13s} {'+'.join(m.split('-')[0] for m in pair):18s}"
                f" agree on {agree.sum() / rows.sum():.0%}:"
                f" right {right:.3f}, GPT-4 {strong:.3f} on the same prompts"
            )


if __name__ == "__main__":
    main()
