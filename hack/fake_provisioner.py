"""A fake volume provisioner for the local control plane (kwok fakes nodes; this fakes storage).

Binds every pending PVC of the `standard` StorageClass (or without a class) to a new hostPath PV of
the requested size, so StatefulSet pods can schedule. No data is ever written: kwok pods don't run.
"""

from __future__ import annotations

import logging
import signal
import sys
import time

from kubernetes import client, config, watch

PROVISIONER = "ragops.dev/fake-provisioner"
log = logging.getLogger("fake-provisioner")


def provision(core: client.CoreV1Api, pvc: client.V1PersistentVolumeClaim) -> None:
    meta = pvc.metadata
    name = f"pv-{meta.uid}"
    pv = client.V1PersistentVolume(
        metadata=client.V1ObjectMeta(name=name, annotations={"pv.kubernetes.io/provisioned-by": PROVISIONER}),
        spec=client.V1PersistentVolumeSpec(
            capacity={"storage": pvc.spec.resources.requests["storage"]},
            access_modes=pvc.spec.access_modes,
            persistent_volume_reclaim_policy="Delete",
            storage_class_name=pvc.spec.storage_class_name or "",
            host_path=client.V1HostPathVolumeSource(path=f"/tmp/fake-pv/{meta.uid}"),
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
