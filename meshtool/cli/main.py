"""The `meshtool` entry point: a lazily loaded command group and the one error handler.

Commands are listed in COMMANDS with their short help so that `meshtool --help` imports
no command module (and so none of kubernetes, mitmproxy, jsonschema or rich).
"""

from __future__ import annotations

import gc

# Start-up is mostly imports, which allocate objects by the thousand that live as long as the
# process: a cyclic collection during them frees nothing (see entry()). Back on at the end of
# this module, so importers (tests calling main() in-process) keep their collector.
_collecting = gc.isenabled()
gc.disable()

import os  # noqa: E402
import sys  # noqa: E402

import click  # noqa: E402

from meshtool import __version__
from meshtool.cli.lazy import LazyGroup, Registry
from meshtool.errors import ExitCode, MeshtoolError

# name -> (module, attribute, short help), grouped by what a user is doing; --help shows them so.
SECTIONS: dict[str, Registry] = {
    "Manifests": {
        "kube-inject": ("meshtool.cli.kube_inject", "kube_inject", "Add the sidecar to Kubernetes manifests (offline, exact)"),
        "uninject": ("meshtool.cli.kube_inject", "uninject", "Remove what kube-inject added, byte for byte"),
    },
    "Rules": {
        "validate": ("meshtool.cli.validate", "validate", "Check rule files offline: schema, semantics, conversion"),
        "create": ("meshtool.cli.create", "create", "Create rules in the config store (-f FILE|DIR|-)"),
        "replace": ("meshtool.cli.replace", "replace", "Replace stored rules, refusing stale resourceVersions"),
        "apply": ("meshtool.cli.apply", "apply", "Create or update rules (-f FILE|DIR|-), in one transaction"),
        "diff": ("meshtool.cli.diff", "diff", "Show what apply -f would change"),
        "delete": ("meshtool.cli.delete", "delete", "Delete rules by -f FILE or KIND NAME..."),
        "get": ("meshtool.cli.get", "get", "Show stored rules: table, wide, yaml, json, name, jsonpath"),
        "describe": ("meshtool.cli.describe", "describe", "One rule: its conditions and which proxies hold it"),
        "convert": ("meshtool.cli.convert", "convert", "Print Istio/Kuma rules in the native form"),
        "analyze": ("meshtool.cli.analyze", "analyze", "Check rules, Services and workloads together (CI)"),
    },
    "Mesh": {
        "demo": ("meshtool.cli.demo", "demo", "Run a scenario (canary, egress, helloworld, mtls) end to end"),
        "up": ("meshtool.cli.up", "up", "Start a local mesh (control plane, services, sidecars)"),
        "down": ("meshtool.cli.up", "down", "Stop the local mesh started by `up`"),
        "control-plane": ("meshtool.cli.control_plane", "control_plane", "Run the control plane: push rules to the sidecars"),
        "simulate": ("meshtool.cli.simulate", "simulate", "Where would this request go, and why (the sidecar's own code)"),
        "proxy-status": ("meshtool.cli.proxy_status", "proxy_status", "Which proxies have the latest config"),
        "proxy-config": ("meshtool.cli.proxy_config", "proxy_config", "What a sidecar holds: its workload certificate (secret)"),
        "graph": ("meshtool.cli.graph", "graph", "The service graph: rates, errors, latency per edge"),
        "dashboard": ("meshtool.cli.dashboard", "dashboard", "Open the web dashboard (:5681/gui)"),
        "proxy": ("meshtool.cli.proxy", "proxy", "Sidecar commands: init (traffic redirect), run (the proxy)"),
        "gateway": ("meshtool.cli.gateway", "gateway", "Ingress gateway commands: run (the edge proxy)"),
    },
    "Kubernetes": {
        "install": ("meshtool.cli.install", "install", "Install the CRDs, control plane and webhook"),
        "check": ("meshtool.cli.install", "check", "Check the cluster and the install"),
        "uninstall": ("meshtool.cli.install", "uninstall", "Remove what install wrote, and nothing else"),
        "webhook": ("meshtool.cli.webhook", "webhook", "Serve the sidecar injection webhook (HTTPS)"),
        "create-remote-secret": ("meshtool.cli.remote_secret", "create_remote_secret", "Let the control plane watch a remote cluster"),
    },
    "Shell": {
        "version": ("meshtool.cli.version", "version", "Print meshtool's and the control plane's versions"),
        "completion": ("meshtool.cli.completion", "completion", "Print the shell completion script (bash|zsh|fish)"),
    },
}
COMMANDS: Registry = {name: entry for section in SECTIONS.values() for name, entry in section.items()}


@click.group(cls=LazyGroup, registry=COMMANDS, sections=SECTIONS, context_settings={"help_option_names": ["-h", "--help"],
                                               "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="meshtool",
                      message="%(prog)s %(version)s")
def cli() -> None:
    """meshtool: a declarative service-mesh toolkit.

    \b
    Rewrite manifests to add a sidecar, validate and store routing rules,
    push them to mitmproxy-based sidecars and see who has them.

    \b
    Examples:
      meshtool kube-inject -f app.yaml | kubectl apply -f -
      meshtool validate -f samples/
      meshtool create -f samples/canary/rules/route-90-10.yaml
      meshtool get routerules -o yaml

    Exit codes: 0 ok, 1 error, 64 usage, 65 bad input data, 79 analysis found issues.
    """


def _fail(lines: list[str], code: int) -> None:
    for i, line in enumerate(lines):
        prefix = "error: " if i == 0 else "  "
        if line.startswith("hint: "):
            prefix = ""
        click.echo(f"{prefix}{line}", err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; map every outcome to a documented exit code."""
    try:
        rv = cli.main(args=argv, prog_name="meshtool", standalone_mode=False)
    except MeshtoolError as exc:
        _fail(exc.lines(), int(exc.exit_code))
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:  # usage errors: bad flag, missing argument, bad choice
        exc.show()
        sys.exit(int(ExitCode.USAGE) if isinstance(exc, click.UsageError) else int(ExitCode.ERROR))
    except KeyboardInterrupt:
        sys.exit(130)
    except RecursionError:  # past every parser's own guard: input nested absurdly deep
        _fail(["input nested too deeply to process (thousands of levels); nothing was written"],
              int(ExitCode.DATAERR))
    except BrokenPipeError:  # `meshtool get ... | head`: the reader left, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(int(ExitCode.OK))
    except Exception as exc:  # noqa: BLE001 - a bug: say so plainly
        if os.environ.get("MESHTOOL_DEBUG"):
            raise
        click.echo(f"internal error: {type(exc).__name__}: {exc}", err=True)
        click.echo("this is a bug in meshtool; rerun with MESHTOOL_DEBUG=1 for the traceback "
                   "and report it", err=True)
        sys.exit(int(ExitCode.ERROR))
    sys.exit(int(rv or 0))


def entry() -> None:
    """The console script and `python -m meshtool`: main(), with the collector off until the
    command's module is imported (collections during imports free nothing and cost ~5 ms of the
    ~80 ms of CPU of `kube-inject -f FILE`, bench/bench_startup.py); then gc.freeze() moves
    what start-up made out of the collector's sight (otherwise every full collection, and the
    one at exit, scans it again) and the collector comes back on for the command itself, which
    may run for days (control-plane, proxy run). Not done in main(), which tests call
    in-process: there a freeze would keep the test run's garbage for ever."""
    gc.disable()
    cli.after_import = _collect_from_here
    main()


def _collect_from_here() -> None:
    gc.freeze()
    gc.enable()


if _collecting:
    gc.enable()
