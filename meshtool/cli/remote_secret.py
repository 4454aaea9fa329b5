"""`meshtool create-remote-secret`: let the primary control plane read a remote cluster."""

from __future__ import annotations

import re
import sys

import click

from meshtool.cli.options import kube_options

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@click.command("create-remote-secret")
@kube_options
@click.option("--name", default=None, metavar="NAME",
              help="The remote cluster's name (default: the context's name); endpoints of the "
                   "cluster are labelled topology.meshtool.io/cluster=NAME.")
@click.option("--control-plane-namespace", "namespace", default="meshtool-system",
              show_default=True, metavar="NS",
              help="The namespace of the reader in the remote cluster and of the Secret in the "
                   "primary one.")
def create_remote_secret(kubeconfig: str | None, context: str | None, name: str | None,
                         namespace: str) -> int:
    """Print a Secret that lets the primary control plane watch a remote cluster.

    \b
    In the remote cluster (--context) it creates a read-only ServiceAccount, meshtool-reader,
    allowed to get/list/watch Services, Pods, Namespaces and Nodes, and a token for it (one
    year). The Secret it prints holds a kubeconfig with that token, labelled
    multicluster.meshtool.io/cluster=true: apply it in the primary cluster, where a control
    plane started with --cluster-name picks it up within a second; delete it to forget the
    cluster.

    \b
    Examples:
      meshtool create-remote-secret --context cluster2 > remote.yaml
      meshtool create-remote-secret --context cluster2 --name cluster2 | kubectl --context cluster1 apply -f -
    """
    import yaml

    from meshtool.errors import UsageError
    from meshtool.kube.client import connect
    from meshtool.kube.remote import create_remote_secret as make

    cluster = connect(kubeconfig, context)
    name = name or cluster.context or "remote"
    if not _NAME.match(name):
        raise UsageError(f"--name {name!r}: use lowercase letters, digits, '-' and '.' "
                         f"(it names a Secret and a label value)")
    secret = make(cluster.api_client, name, namespace)
    sys.stdout.write(yaml.safe_dump(secret, sort_keys=False))
    return 0
