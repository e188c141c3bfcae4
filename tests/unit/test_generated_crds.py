"""The ClusterSyncedSecret CRD embeds the SyncedSecret spec schema: generated, never edited by hand."""

from __future__ import annotations

from hack.render_crds import TARGET, render


def test_the_cluster_synced_secret_crd_is_current() -> None:
    assert TARGET.read_text() == render(), "crds/clustersyncedsecrets.stashsync.dev.yaml is stale: run `make docs`"
