"""satisfice serve | check | models | report"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import orjson

from satisfice import __version__
from satisfice.config import CHOOSING, ConfigError, Settings, load_settings, printable_url
from satisfice.errors import ModelNotFound
from satisfice.shared_sqlite import file_problem

log = logging.getLogger("satisfice")
T = TypeVar("T")


def _settings(path: str | None) -> Settings:
    return load_settings(path or os.environ.get("SATISFICE_CONFIG"))


def banner(settings: Settings, host: str, port: int) -> str:
    lines = [f"Satisfice {__version__} on http://{host}:{port}/v1  (config: {settings.source})"]
    if settings.simulated:
        lines += [
            "",
            "  *** SIMULATED PROVIDER: no provider key is configured. ***",
            "  Answers come from a built-in simulator (real catalog prices, deterministic latency)",
            "  and say so.",
            "  Set OPENAI_API_KEY / ANTHROPIC_API_KEY / ... or pass --config to call real models.",
            "",
        ]
    for p in settings.providers:
        if p.dialect == "simulated":
            continue
        key = f"key from {p.key_source}" if p.api_key else "no key"
        lines.append(
            f"  provider {p.name:<12} {p.dialect:<9} {printable_url(p.base_url)}  "
            f"({key}{', passthrough' if p.passthrough else ''})"
        )
    for r in settings.routes:
        lines.append(f"  route    {r.name:<12} {r.strategy:<9} {len(r.candidates)} candidates")
    lines.append(f"  ledger   {settings.ledger_path if settings.ledger_enabled else 'off'}")
    learns = next(used for key, _, used in _store_files(settings) if key == "learning.path")
    idle = "off" if not settings.learn_enabled else "off (no auto, cascade or speculative route)"
    lines.append(f"  learning {settings.learn_path if learns else idle}")
    limits = settings.rate_limits
    if limits.rules:
        where = "in Redis, shared" if limits.store == "redis" else "in memory, per process"
        lines.append(f"  limits   {len(limits.rules)} rate limit rules, counted {where}")
    for k in settings.keys:
        lines.append(f"  key      {k.name:<12} knob {k.knob or 'of the route'}")
    if host not in ("127.0.0.1", "localhost", "::1"):
        lines.append(
            f"  warning: listening on {host}: anyone who can reach it spends your provider keys "
            "(caller keys choose knobs; they do not authenticate)"
        )
    return "\n".join(lines)


def settings_from(config: str | None) -> Settings:
    return _settings(config)


def run_server(
    settings: Settings, host: str | None, port: int | None, *, reuse_port: bool, quiet: bool
) -> None:
    """Build the gateway and serve until SIGINT/SIGTERM (one process)."""
    from aiohttp import web

    from satisfice.server.app import SHUTDOWN_GRACE_S, make_app
    from satisfice.wiring import build

    parts = build(settings)
    host = host or parts.settings.host
    port = port if port is not None else parts.settings.port
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    if not quiet:
        print(banner(parts.settings, host, port), flush=True)
    loop = asyncio.new_event_loop()
    if reuse_port:
        _stop_on_first_signal(loop)
    web.run_app(
        make_app(parts, other_workers=reuse_port),
        loop=loop,
        handle_signals=not reuse_port,
        host=host,
        port=port,
        access_log=None,
        print=None,
        handler_cancellation=True,  # a client that leaves cancels its handler and the upstream call
        # Streams still running after the grace get an error event (app.py), which may take up to
        # a second to write: aiohttp's own wait must outlast both, or it cancels them mid-write.
        shutdown_timeout=SHUTDOWN_GRACE_S + 2.0,
        reuse_port=reuse_port or None,
    )


def _stop_on_first_signal(loop: asyncio.AbstractEventLoop) -> None:
    """A worker stops gracefully on its first SIGINT or SIGTERM and ignores later ones. Ctrl-C in a
    terminal, or systemd stopping the service's cgroup, signals every worker and the parent, which
    then signals them again: with aiohttp's handlers that second signal broke off the graceful
    shutdown, cutting requests in flight and losing their ledger rows. (The parent kills a worker
    that has not stopped within its grace.)"""
    from aiohttp import web

    def stop() -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: None)
        raise web.GracefulExit()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args.config)
    if args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.workers == 1:
        run_server(settings, args.host, args.port, reuse_port=False, quiet=False)
        return 0
    from satisfice.server.workers import supervise

    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    if port == 0:
        print("error: --workers needs a fixed port (they share it)", file=sys.stderr)
        return 2
    from satisfice.wiring import build

    # What each worker will build, built once here first: a config error is one line, as with one
    # worker, not a traceback per worker after the banner.
    shown = build(settings, with_ledger=False).settings
    for key, path, used in _store_files(shown):  # the files that build skipped, checked without opening
        found = file_problem(path) if used else None
        if found:
            print(f"config error: {key}: cannot use {path!r} as its SQLite file: {found}", file=sys.stderr)
            return 2
    problem = _port_problem(host, port)
    if problem:
        print(f"error: cannot listen on {host}:{port}: {problem}", file=sys.stderr)
        return 2
    print(banner(shown, host, port) + f"\n  workers  {args.workers} processes on one port", flush=True)
    if settings.rate_limits.rules and settings.rate_limits.store == "memory":
        print(
            f"  warning: rate limits are counted per process, so each caller gets {args.workers}x its "
            "limits; set rate_limits.store: redis to share them",
            flush=True,
        )
    return supervise(args.config, host, port, args.workers)


def _port_problem(host: str, port: int) -> str | None:
    """Why the workers could not listen on host:port (a port another program holds), else None.
    The probe does not set SO_REUSEPORT: with it, it (and then the workers) could bind beside another
    program listening with SO_REUSEPORT, such as another `serve --workers`, and share its traffic."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as e:
        return e.strerror or str(e)
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as e:
            return e.strerror or str(e)
    return None


def cmd_check(args: argparse.Namespace) -> int:
    from satisfice.catalog import CatalogError
    from satisfice.wiring import build

    try:
        settings = _settings(args.config)
        parts = build(settings, with_ledger=False)
    except CatalogError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    problems = 0
    for route in parts.settings.routes:
        for cand in route.candidates:
            try:
                parts.directory.targets(cand)
            except ModelNotFound as e:
                print(f"warning: routes.{route.name}: candidate {cand!r} is not servable: {e.message}")
                problems += 1
        judge = route.cascade.judge_model if route.cascade is not None else None
        if judge:
            try:
                parts.directory.targets(judge)
            except ModelNotFound as e:
                where = f"routes.{route.name}.cascade.judge_model"
                print(f"warning: {where}: {judge!r} is not servable: {e.message}")
                problems += 1
        if not parts.planner.servable_candidates(route.name):
            print(f"config error: routes.{route.name}: no candidate is servable", file=sys.stderr)
            return 2
    for i, entry in enumerate(parts.settings.models):
        qualified = f"{entry.get('provider')}/{entry.get('id')}"
        try:
            parts.directory.targets(qualified)
        except ModelNotFound:
            print(f"warning: models[{i}]: {qualified!r} is served by no configured provider")
            problems += 1
    for p in parts.settings.providers:
        for header in p.unset_headers:
            print(f"warning: provider {p.name!r}: header {header!r} is not sent: its variable is unset")
            problems += 1
        served = {t.dep.model for t in parts.directory.servable() if t.dep.provider == p.name}
        for public, _ in () if p.passthrough else p.model_map:
            if public not in served:
                print(
                    f"warning: provider {p.name!r}: model_map key {public!r} is never used: it is not a "
                    "model the provider serves (keys are catalog ids, or names in the provider's models:)"
                )
                problems += 1
    for key, path, used in _store_files(parts.settings):
        found = file_problem(path) if used else None
        if found:
            print(f"warning: {key}: {path!r}: {found}")
            problems += 1
    problem = _rate_limit_store_problem(parts.settings)
    if problem:
        print(f"warning: rate_limits: {problem}")
        problems += 1
    print(banner(parts.settings, parts.settings.host, parts.settings.port))
    print(
        f"ok: {len(parts.directory.servable())} models servable, {len(parts.settings.routes)} routes"
        + (f", {problems} warnings" if problems else "")
    )
    return 0


def _store_files(settings: Settings) -> list[tuple[str, str, bool]]:
    """(setting, path, whether serving would open it) for the SQLite files the gateway writes."""
    learns = settings.learn_enabled and any(r.strategy in CHOOSING for r in settings.routes)
    return [
        ("ledger.path", settings.ledger_path, settings.ledger_enabled),
        ("learning.path", settings.learn_path, learns),
        ("cache.path", settings.cache_store.path, settings.cache_store.backend == "sqlite"),
    ]


def _rate_limit_store_problem(settings: Settings) -> str | None:
    """Whether the configured Redis answers a PING (None: it does, or limits are not in Redis)."""
    limits = settings.rate_limits
    if not limits.rules or limits.store != "redis":
        return None
    import asyncio

    from satisfice.ratelimit.resp import RedisClient

    client = RedisClient(limits.redis_url)

    async def ping() -> None:
        try:
            async with asyncio.timeout(2.0):
                await client.call("PING")
        finally:
            await client.close()

    try:
        asyncio.run(ping())
    except Exception as e:
        what = "timed out" if isinstance(e, TimeoutError) else f"{type(e).__name__}: {e}"
        then = "served without limits" if limits.on_store_error == "allow" else "refused with 503"
        where = client.path if client.scheme == "unix" else f"{client.host}:{client.port}"
        return f"Redis at {where} does not answer ({what}); requests would be {then}"
    return None


def cmd_models(args: argparse.Namespace) -> int:
    from satisfice.wiring import build

    parts = build(_settings(args.config), with_ledger=False)
    rows: list[dict[str, Any]] = []
    for name, route in parts.directory.routes.items():
        rows.append(
            {
                "id": name,
                "kind": "route",
                "provider": "satisfice",
                "strategy": route.strategy,
                "candidates": list(route.candidates),
            }
        )
    for t in sorted(parts.directory.servable(), key=lambda t: (t.dep.provider, t.dep.model)):
        info = t.info
        rows.append(
            {
                "id": t.dep.model,
                "kind": info.kind if info else "chat",
                "provider": t.dep.provider,
                "upstream_id": t.dep.upstream_model,
                "input_per_mtok": info.input_per_mtok if info else None,
                "output_per_mtok": info.output_per_mtok if info else None,
                "context_window": info.context_window if info else None,
            }
        )
    if args.json:
        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    print(f"{'id':<40} {'provider':<12} {'in $/M':>8} {'out $/M':>8} {'context':>9}")
    for r in rows:
        if r["kind"] == "route":
            print(
                f"{r['id']:<40} {'(route)':<12} {r['strategy']}: {', '.join(r['candidates'][:6])}"
                + (" ..." if len(r["candidates"]) > 6 else "")
            )
            continue
        print(
            f"{r['id'][:40]:<40} {r['provider']:<12} "
            f"{fmt(r['input_per_mtok']):>8} {fmt(r['output_per_mtok']):>8} "
            f"{fmt(r['context_window']):>9}"
        )
    return 0


def fmt(value: float | None) -> str:
    """A price as the shortest decimal, a whole count (a context window) with no exponent."""
    if value is None:
        return "?"
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def cmd_gate_checks(args: argparse.Namespace) -> int:
    from satisfice.learn.checks import ChecksError, checks_json, read_checks, render_checks

    path = args.learning or _settings(args.config).learn_path
    return _show(args, lambda: read_checks(path, args.limit), ChecksError, checks_json, render_checks)


def cmd_report(args: argparse.Namespace) -> int:
    from satisfice.ledger.report import LedgerError, render_table, summarize

    if args.gate:
        return cmd_gate_checks(args)
    path = args.ledger or _settings(args.config).ledger_path
    return _show(args, lambda: summarize(path), LedgerError, lambda summary: summary, render_table)


def _show(
    args: argparse.Namespace,
    read: Callable[[], T],
    unreadable: type[Exception],
    as_json: Callable[[T], Any],
    as_text: Callable[[T], str],
) -> int:
    """A report from a store file: JSON or text; exit 1 when the file is missing, 2 when it is not
    a store this version can read."""
    try:
        found = read()
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except unreadable as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.write(orjson.dumps(as_json(found), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(as_text(found))
    return 0


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="satisfice",
        description="An LLM gateway that routes each request to the cheapest model that can answer it well.",
    )
    p.add_argument("--version", action="version", version=f"satisfice {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the gateway")
    s.add_argument(
        "--config", help="config file (YAML or JSON); default $SATISFICE_CONFIG or the environment"
    )
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the port (default 1; e.g. one per core)",
    )
    s.set_defaults(func=cmd_serve)
    c = sub.add_parser("check", help="validate a config without serving")
    c.add_argument("--config")
    c.set_defaults(func=cmd_check)
    m = sub.add_parser("models", help="what the gateway can serve")
    m.add_argument("--config")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_models)
    r = sub.add_parser("report", help="totals from the ledger")
    r.add_argument("--config")
    r.add_argument("--ledger", help="ledger file (default: the config's ledger.path)")
    r.add_argument("--json", action="store_true")
    r.add_argument(
        "--gate", action="store_true", help="the promotion gate's recent checks instead of the totals"
    )
    r.add_argument("--learning", help="learning store for --gate (default: the config's learning.path)")
    r.add_argument(
        "--limit", type=positive_int, default=20, help="how many of the newest checks --gate shows"
    )
    r.set_defaults(func=cmd_report)
    from satisfice.evals import add_data_parser, add_eval_parser
    from satisfice.predict import add_train_parser
    from satisfice.router_cli import add_predict_parser, add_route_parser

    add_route_parser(sub)
    add_predict_parser(sub)
    add_train_parser(sub)
    add_eval_parser(sub)
    add_data_parser(sub)
    return p


def configure_logging() -> None:
    """Log lines with time, level, process and logger, at $SATISFICE_LOG_LEVEL (any case; an
    unknown level falls back to WARNING and says so). Called in every process, workers included."""
    wanted = os.environ.get("SATISFICE_LOG_LEVEL", "WARNING").strip().upper()
    known = logging.getLevelNamesMapping()
    logging.basicConfig(
        level=known.get(wanted, logging.WARNING),
        format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s",
    )
    if wanted not in known:
        logging.getLogger("satisfice").warning(
            "SATISFICE_LOG_LEVEL=%r is not a log level: using WARNING", wanted
        )


def closed_stream(command: str) -> str | None:
    """What is wrong when the shell closed a standard stream the command needs (`<&-`, `>&-`): Python
    then has None for it, which would fail as a traceback, and a closed stdout would lose the output.
    Only `serve` runs without stdout; only `predict` reads stdin."""
    if command == "predict" and sys.stdin is None:
        return "standard input is closed; give the prompts on it (< prompts.jsonl)"
    if command != "serve" and sys.stdout is None:
        return "standard output is closed; redirect it (> FILE, or > /dev/null to discard it)"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging()
    args = parser().parse_args(argv)
    closed = closed_stream(args.command)
    if closed:
        print(f"satisfice {args.command}: {closed}", file=sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except BrokenPipeError:  # `satisfice ... | head`: the reader left, which is not an error
        # stdout now points nowhere, so that the interpreter's flush at exit does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:  # a config's `models:` entry the catalog refuses, read by any command
        from satisfice.catalog import CatalogError  # (imported here: most commands never need it)

        if not isinstance(e, CatalogError):
            raise
        print(f"config error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # ^C during an eval or a training run: stopped, as asked
        print(f"satisfice {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # a full disk under `> out.jsonl`, a file gone: one line, not a traceback
        where = f" {e.filename}" if e.filename is not None else ""
        print(f"satisfice {args.command}:{where} {e.strerror or e}", file=sys.stderr)
        try:
            sys.stdout.flush()
        except OSError:  # stdout itself failed: the interpreter's flush at exit must not fail again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
