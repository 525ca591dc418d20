"""The volume provisioner of the local control plane.

Binds every pending PVC to a new PV of the requested size, so StatefulSet pods can schedule:
- kwok only (default): a hostPath PV that nothing ever writes (kwok pods don't run);
- with the real node (RAGOPS_PV_ROOT, RAGOPS_PV_NODE; hack/cluster.sh sets them): a `local` PV on a real
  directory RAGOPS_PV_ROOT/<namespace>-<claim>-<uid>, pinned to that node, so data outlives its pod. `local`
  volumes, unlike hostPath, get the pod's fsGroup applied by the kubelet, as a CSI volume would.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time

from kubernetes import client, config, watch

PROVISIONER = os.environ.get("RAGOPS_PROVISIONER", "ragops.dev/fake-provisioner")
PV_ROOT = os.environ.get("RAGOPS_PV_ROOT", "")
PV_NODE = os.environ.get("RAGOPS_PV_NODE", "")
log = logging.getLogger("fake-provisioner")


def provision(core: client.CoreV1Api, pvc: client.V1PersistentVolumeClaim) -> None:
    meta = pvc.metadata
    name = f"pv-{meta.uid}"
    source: dict[str, object] = {
        "host_path": client.V1HostPathVolumeSource(path=f"/tmp/fake-pv/{meta.uid}"),
    }
    if PV_ROOT:
        directory = os.path.join(PV_ROOT, f"{meta.namespace}-{meta.name}-{meta.uid}")
        os.makedirs(directory, mode=0o755, exist_ok=True)
        term = client.V1NodeSelectorTerm(match_expressions=[client.V1NodeSelectorRequirement(
            key="kubernetes.io/hostname", operator="In", values=[PV_NODE])])
        source = {
            "local": client.V1LocalVolumeSource(path=directory),
            "node_affinity": client.V1VolumeNodeAffinity(required=client.V1NodeSelector(node_selector_terms=[term])),
        }
    pv = client.V1PersistentVolume(
        metadata=client.V1ObjectMeta(name=name, annotations={"pv.kubernetes.io/provisioned-by": PROVISIONER}),
        spec=client.V1PersistentVolumeSpec(
            capacity={"storage": pvc.spec.resources.requests["storage"]},
            access_modes=pvc.spec.access_modes,
            # Retain with the real node: a released volume's directory stays until the cluster goes down.
            persistent_volume_reclaim_policy="Retain" if PV_ROOT else "Delete",
            storage_class_name=pvc.spec.storage_class_name or "",
            **source,  # type: ignore[arg-type]
            claim_ref=client.V1ObjectReference(
                kind="PersistentVolumeClaim", namespace=meta.namespace, name=meta.name, uid=meta.uid
            ),
        ),
    )
    try:
        core.create_persistent_volume(pv)
        log.info("bound %s/%s to %s", meta.namespace, meta.name, name)
    except client.ApiException as error:
        if error.status != 409:
            raise


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    config.load_kube_config()
    core = client.CoreV1Api()
    while True:
        try:
            claims = core.list_persistent_volume_claim_for_all_namespaces
            for event in watch.Watch().stream(claims, timeout_seconds=300):
                pvc = event["object"]
                if event["type"] != "DELETED" and not pvc.spec.volume_name and pvc.status.phase == "Pending":
                    provision(core, pvc)
        except Exception as error:  # apiserver restarts in tests: keep trying
            log.warning("watch failed: %s", error)
            time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
