"""Outputs of an evaluation: the JSON file, the PNG plot (matplotlib, Agg, imported lazily) and the
short human-readable table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

JSON_NAME, PNG_NAME = "result.json", "curve.png"


def default_out_dir(dataset: str, router: str, route: str | None = None) -> Path:
    """eval-results/<name>-<router>[-<route>]: a path's file name only, so a file's results never
    land beside it; a live run's route (a strategy, or a route file's name) keeps runs of several
    routes apart."""
    name = Path(dataset).name
    for suffix in (".jsonl", ".json"):
        name = name.removesuffix(suffix)
    tail = ""
    if route:
        tail = "-" + Path(route).name.removesuffix(".yaml").removesuffix(".yml").removesuffix(".json")
    return Path("eval-results") / f"{name or 'data'}-{router}{tail}"


def make_out_dir(out: Path) -> list[Path]:
    """Create the output folder before a (possibly long) run, so that an unwritable one fails first;
    returns the folders it created (deepest first) for `remove_new_dirs`. Raises OSError."""
    missing = [d for d in (out, *out.parents) if not d.exists()]
    out.mkdir(parents=True, exist_ok=True)
    return missing


def remove_new_dirs(created: list[Path]) -> None:
    """Undo `make_out_dir` after a failed run (folders still empty only)."""
    for d in created:
        try:
            d.rmdir()
        except OSError:
            return


def out_error(out: Path, e: OSError) -> str:
    return f"--out {out}: cannot write there ({e.strerror or e})"


def write_outputs(result: dict[str, Any], out_dir: str | Path) -> dict[str, str]:
    """Write result.json and curve.png into `out_dir`; record and return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"json": str(out / JSON_NAME), "png": str(out / PNG_NAME)}
    result["files"] = files
    plot(result, files["png"])
    Path(files["json"]).write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    return files


def _f(v: float | None, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _money(v: float) -> str:
    return f"{v:.4f}" if v < 0.1 else f"{v:.2f}"


def _top(shares: dict[str, float], k: int = 3) -> str:
    best = sorted(shares.items(), key=lambda kv: -kv[1])[:k]
    return ", ".join(f"{m} {s:.0%}" for m, s in best if s > 0)


def render_text(result: dict[str, Any]) -> str:
    lines = [
        f"satisfice eval: {result['dataset']}  router {result['router']} (predictor: {result['predictor']})",
        f"protocol: {result['protocol']}",
    ]
    if result.get("trained_on_data"):
        lines.append("WARNING: the packaged artifact was trained on this dataset: not a held-out score")
    elif result.get("may_have_seen_data"):
        lines.append(
            "CAUTION: the packaged artifact is used as is; a held-out score only if it never saw these "
            "prompts (--router learned refits without them)"
        )
    if result["kind"] == "pairwise":
        lines += _pairwise_lines(result)
    else:
        dropped = result.get("n_dropped_incomplete") or 0
        lines.append(
            f"{result['n_prompts']} prompts x {len(result['models'])} models"
            + (f" ({dropped} prompts lacking an outcome for one of them dropped)" if dropped else "")
            + f"; cost: {result['cost_source']}"
        )
        lines += _two_model_lines(result) if result["kind"] == "two-model" else _n_model_lines(result)
        if result.get("n_errors"):  # `eval --live`: requests the gateway failed score 0
            lines.append(
                f"WARNING: {result['n_errors']} of {result['n_requests']} requests failed (scored 0); "
                "their statuses and errors are in requests.jsonl"
            )
            lines += [f"  {e['requests']} x {e['status']}: {e['error']}" for e in result.get("errors", [])]
        if result.get("learning"):
            lines += _learning_lines(result["learning"], result["kind"] == "two-model")
    files = result.get("files")
    if files:
        lines.append(f"wrote {files['json']} and {files['png']}")
    return "\n".join(lines)


def _baseline_rows(result: dict[str, Any]) -> list[str]:
    base = result["baselines"]
    rows = [f"  {'baseline':<34} {'quality':>8} {'$/1k prompts':>13} {'strong share':>13}"]
    models = sorted(base["models"].items(), key=lambda kv: kv[1]["cost_per_1k"])
    for name, b in models:
        share = 1.0 if name == result["strong_model"] else 0.0
        rows.append(
            f"  {name[:34]:<34} {_f(b['quality']):>8} {_money(b['cost_per_1k']):>13} {_f(share, 2):>13}"
        )
    for key, label in (
        ("random", "random (uniform over models)"),
        ("oracle", "oracle (cheapest best per prompt)"),
    ):
        b = base[key]
        share = b["model_shares"].get(result["strong_model"], 0.0)
        rows.append(f"  {label:<34} {_f(b['quality']):>8} {_money(b['cost_per_1k']):>13} {_f(share, 2):>13}")
    return rows


def _point_rows(points: list[dict[str, Any]], extra: bool) -> list[str]:
    live = any("escalation_rate" in p for p in points)  # `eval --live`: the gateway's own figures
    head = f"  {'knob (reported points)':<20} {'quality':>8} {'$/1k':>9} {'strong':>7}"
    head += f" {'called':>7} {'escalated':>9} {'added ms p50/p90':>16}" if live else ""
    rows = [head + ("  PGR" if extra else "  top models")]
    for p in points:
        if not p.get("reported"):
            continue
        tail = f"  {_f(p.get('pgr'))}" if extra else f"  {_top(p['model_shares'])}"
        rows.append(
            f"  {p['knob']:<20} {_f(p['quality']):>8} {_money(p['cost_per_1k']):>9}"
            f" {_f(p['strong_share'], 2):>7}" + (_live_cells(p) if live else "") + tail
        )
    return rows


def _live_cells(point: dict[str, Any]) -> str:
    """The strong model's share of calls (answered or not), the escalation rate and the gateway's
    added latency of one `eval --live` point."""
    lat = point.get("added_latency_ms") or {}
    ms = f"{_f(lat.get('p50'), 1)}/{_f(lat.get('p90'), 1)}"
    return f" {_f(point.get('strong_calls'), 2):>7} {_f(point.get('escalation_rate'), 2):>9} {ms:>16}"


def _learning_lines(learning: dict[str, Any], two: bool) -> list[str]:
    lines = ["", "the same scored prompts on a gateway that did not learn (control):"]
    lines += _point_rows(learning["control_points"], two)[1:]
    for f in learning["folds"]:
        g = f["gate"]
        lines.append(
            f"fold {f['fold']}: {f['taught_requests']} teaching requests, {f['feedback_accepted']} feedback "
            f"accepted; gate {'promoted' if g['promoted'] else 'kept the old statistics'} "
            f"({g['segments_promoted']} segments promoted, {g['segments_blocked']} blocked; estimated value "
            f"{_f(g['promoted_value'])} -> {_f(g['candidate_value'])} on {g['decisions_checked']} decisions)"
        )
    return lines


def _cheapest(result: dict[str, Any]) -> list[str]:
    c = result.get("cheapest_at_95")
    if c is None:
        return [f"no knob setting reaches 95% of {result['strong_model']}'s quality"]
    return [
        f"cheapest setting with >= 95% of {result['strong_model']}'s quality: {c['knob']} "
        f"(quality {_f(c['quality'])}, ${_money(c['cost_per_1k'])}/1k, "
        f"strong share {_f(c['strong_share'], 2)})"
    ]


def _two_model_lines(result: dict[str, Any]) -> list[str]:
    base = result["baselines"]
    axis = (
        "calls to the strong model, answer used or not" if result.get("share_axis") else "strong-call share"
    )
    lines = [f"strong {result['strong_model']}, weak {result['weak_model']}; cost metric: {axis}", ""]
    lines += [*_baseline_rows(result), ""]
    lines.append(
        f"  {'RouteLLM metrics':<20} {'APGR':>7} {'CPT(50%)':>9} {'CPT(80%)':>9} {'share for 95%':>14}"
    )
    for label, m in (("router", result), ("random", base["random"]), ("oracle", base["oracle"])):
        lines.append(
            f"  {label:<20} {_f(m.get('apgr')):>7} {_f(m.get('cpt50')):>9} {_f(m.get('cpt80')):>9}"
            f" {_f(m.get('share_for_95')):>14}"
        )
    if result.get("warning"):
        lines.append(f"  warning: {result['warning']}")
    return [*lines, "", *_point_rows(result["points"], True), *_cheapest(result)]


def _n_model_lines(result: dict[str, Any]) -> list[str]:
    lines = [f"strong (best single) model: {result['strong_model']}", ""]
    return [*lines, *_baseline_rows(result), "", *_point_rows(result["points"], False), *_cheapest(result)]


def _pairwise_lines(result: dict[str, Any]) -> list[str]:
    b = result["baselines"]
    return [
        "pairwise data: one human vote between two models per prompt, so it cannot be replayed as a",
        "cost-quality sweep. Measured instead: " + result["metric"] + ".",
        f"{result['n_decisive']} decisive battles ({result['n_ties']} ties left out), "
        f"{len(result['models'])} models",
        f"  {'router':<34} {_f(result['agreement'])}",
        f"  {'random (coin flip)':<34} {_f(b['random'])}",
        f"  {'the dearer model wins':<34} {_f(b['dearer_wins'])}",
        f"  {'the higher catalog prior wins':<34} {_f(b['prior_wins'])}",
    ]


def plot(result: dict[str, Any], path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    try:
        if result["kind"] == "pairwise":
            b = result["baselines"]
            labels = ["router", "coin flip", "dearer wins", "higher prior wins"]
            ax.barh(labels, [result["agreement"], b["random"], b["dearer_wins"], b["prior_wins"]])
            ax.set_xlim(0, 1)
            ax.set_xlabel("agreement with the human vote (decisive battles)")
        elif result["kind"] == "two-model":
            _plot_two(ax, result)
        else:
            _plot_n(ax, result)
        live = f" / live, route {result['gateway']['route']}" if result.get("live") else ""
        ax.set_title(f"{result['dataset']} / {result['router']}{live}\n{result['protocol']}", fontsize=9)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)


def _plot_two(ax: Any, result: dict[str, Any]) -> None:
    x = result.get("share_axis", "strong_share")  # live: the calls to the strong model, as APGR reads
    pts = sorted(result["points"], key=lambda p: (p[x], p["quality"]))
    base = result["baselines"]
    weak_q = base["models"][result["weak_model"]]["quality"]
    strong_q = base["models"][result["strong_model"]]["quality"]
    ax.plot(
        [p[x] for p in pts], [p["quality"] for p in pts], ".-", label=f"router (APGR {_f(result['apgr'])})"
    )
    rep = [p for p in pts if p["reported"]]
    ax.plot([p[x] for p in rep], [p["quality"] for p in rep], "o", color="C0", fillstyle="none")
    _plot_control(ax, result, x)
    ax.plot([0, 1], [weak_q, strong_q], "--", color="grey", label="random router (APGR 0.500)")
    oc = base["oracle"]["curve"]
    ax.plot(
        oc["strong_share"],
        oc["quality"],
        ":",
        color="green",
        label=f"oracle (APGR {_f(base['oracle']['apgr'])})",
    )
    ax.axhline(weak_q, color="grey", lw=0.8, label=f"{result['weak_model']} {weak_q:.3f}")
    ax.axhline(strong_q, color="red", lw=0.8, label=f"{result['strong_model']} {strong_q:.3f}")
    ax.set_xlabel("strong-model call share")
    ax.set_ylabel("quality (mean)")
    ax.legend(fontsize=8, loc="lower right")


def _plot_control(ax: Any, result: dict[str, Any], x: str) -> None:
    """`eval --live --learn`: the same knobs on the gateway that did not learn, beside the curve."""
    control = (result.get("learning") or {}).get("control_points") or []
    if control:
        ax.plot(
            [p[x] for p in control],
            [p["quality"] for p in control],
            "^",
            color="C4",
            label="control: no learning",
        )


def _plot_n(ax: Any, result: dict[str, Any]) -> None:
    base = result["baselines"]
    sweep = [p for p in result["points"] if p["knob"].startswith("quality=")]  # in knob order
    if sweep:
        ax.plot(
            [p["cost_per_1k"] for p in sweep], [p["quality"] for p in sweep], ".-", label="router quality="
        )
    for kind, mark in (("wtp=", "s"), ("loss=", "v"), ("share=", "P")):  # every other knob form
        pts = [p for p in result["points"] if p["knob"].startswith(kind)]
        if pts:
            ax.plot(
                [p["cost_per_1k"] for p in pts], [p["quality"] for p in pts], mark, label=f"router {kind}"
            )
    for p in (p for p in result["points"] if p["reported"]):
        ax.annotate(p["knob"], (p["cost_per_1k"], p["quality"]), fontsize=6, alpha=0.7)
    _plot_control(ax, result, "cost_per_1k")
    for name, b in base["models"].items():
        ax.plot(b["cost_per_1k"], b["quality"], "x", color="grey")
        ax.annotate(name, (b["cost_per_1k"], b["quality"]), fontsize=6, color="grey")
    ax.plot(
        base["oracle"]["cost_per_1k"], base["oracle"]["quality"], "*", color="green", ms=12, label="oracle"
    )
    ax.plot(base["random"]["cost_per_1k"], base["random"]["quality"], "D", color="grey", label="random")
    costs = [p["cost_per_1k"] for p in result["points"]] + [b["cost_per_1k"] for b in base["models"].values()]
    log = min(costs) > 0
    ax.set_xscale("log" if log else "linear")
    ax.set_xlabel("cost per 1,000 prompts (USD" + (", log)" if log else ")"))
    ax.set_ylabel("quality (mean)")
    ax.legend(fontsize=8, loc="lower right")
