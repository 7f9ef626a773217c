#!/usr/bin/env python3
"""A stand-in for `kubectl` with the Argo Rollouts plugin, for the argo driver's tests (no
Kubernetes API server can run here). It implements exactly what the driver uses, as the plugin's
and the Rollout CRD's documentation describe them (argoproj/argo-rollouts at 9f8d111, 2026-08-17):

  kubectl get rollout NAME [-n NS] -o json         the Rollout object: kind, metadata.name,
                                                   spec.strategy.canary.steps[] (setWeight, pause),
                                                   status.phase (Progressing|Paused|Healthy|Degraded),
                                                   status.currentStepIndex, status.abort, status.message,
                                                   status.canary.weights.canary.weight
  kubectl argo rollouts promote NAME [-n NS]        past the current indefinite pause
  kubectl argo rollouts promote NAME [-n NS] --full straight to 100% (Healthy)
  kubectl argo rollouts abort NAME [-n NS]          back to stable: status.abort, phase Degraded

The cluster is a JSON file (ARGO_STANDIN_STATE): {"rollout": {...}, "pending": null|"promote"|...,
"frozen": bool}. As the controller does, a promote or abort is only recorded when asked and
reconciled at the next read (`get`); a frozen cluster never reconciles. Every invocation is
appended to ARGO_STANDIN_LOG (one JSON array per line).
"""

import json
import os
import sys


def load():
    with open(os.environ["ARGO_STANDIN_STATE"]) as handle:
        return json.load(handle)


def save(cluster):
    path = os.environ["ARGO_STANDIN_STATE"]
    with open(path + ".tmp", "w") as handle:
        json.dump(cluster, handle)
    os.replace(path + ".tmp", path)


def fail(message, code=1):
    print(message, file=sys.stderr)
    sys.exit(code)


def run_steps(rollout, start):
    """The controller from step `start`: setWeight steps apply, an indefinite pause stops."""
    steps = rollout["spec"]["strategy"]["canary"]["steps"]
    status = rollout["status"]
    index = start
    while index < len(steps):
        step = steps[index]
        if "setWeight" in step:
            status["canary"]["weights"]["canary"]["weight"] = step["setWeight"]
        elif "pause" in step and not (step["pause"] or {}).get("duration"):
            status["currentStepIndex"], status["phase"] = index, "Paused"
            return
        index += 1
    status["currentStepIndex"], status["phase"] = len(steps), "Healthy"
    status["canary"]["weights"]["canary"]["weight"] = 100


def reconcile(cluster):
    rollout, pending = cluster["rollout"], cluster.get("pending")
    if cluster.get("frozen") or pending is None:
        return
    status = rollout["status"]
    if pending == "promote":
        run_steps(rollout, status["currentStepIndex"] + 1)
    elif pending == "promote-full":
        steps = rollout["spec"]["strategy"]["canary"]["steps"]
        status.update(currentStepIndex=len(steps), phase="Healthy")
        status["canary"]["weights"]["canary"]["weight"] = 100
    elif pending == "abort":
        status.update(abort=True, phase="Degraded", message="RolloutAborted: Rollout aborted update to revision 2")
        status["canary"]["weights"]["canary"]["weight"] = 0
    cluster["pending"] = None


def main(argv):
    with open(os.environ["ARGO_STANDIN_LOG"], "a") as log:
        log.write(json.dumps(argv) + "\n")
    args = list(argv)
    namespace = None
    if "-n" in args:
        at = args.index("-n")
        namespace = args[at + 1]
        del args[at:at + 2]
    cluster = load()
    rollout = cluster["rollout"]
    if namespace not in (None, rollout["metadata"]["namespace"]):
        fail(f'Error from server (NotFound): rollouts.argoproj.io "{args[-1]}" not found')
    if args[:2] == ["get", "rollout"] and len(args) == 5 and args[3:] == ["-o", "json"]:
        if args[2] != rollout["metadata"]["name"]:
            fail(f'Error from server (NotFound): rollouts.argoproj.io "{args[2]}" not found')
        reconcile(cluster)
        save(cluster)
        print(json.dumps(rollout, indent=2))
        return
    if args[:2] == ["argo", "rollouts"] and len(args) >= 4 and args[2] in ("promote", "abort"):
        verb, name, flags = args[2], args[3], args[4:]
        if name != rollout["metadata"]["name"]:
            fail(f'Error: rollouts.argoproj.io "{name}" not found')
        if verb == "abort" and not flags:
            cluster["pending"] = "abort"
        elif verb == "promote" and flags == ["--full"]:
            cluster["pending"] = "promote-full"
        elif verb == "promote" and not flags:
            if rollout["status"]["phase"] != "Paused":
                fail(f"Error: rollout '{name}' is not paused")
            cluster["pending"] = "promote"
        else:
            fail(f"Error: unknown flag: {' '.join(flags)}")
        save(cluster)
        print(f"rollout '{name}' {'promoted' if verb == 'promote' else 'aborted'}")
        return
    fail(f"error: unknown command {' '.join(argv)!r} for kubectl (stand-in)")


if __name__ == "__main__":
    main(sys.argv[1:])
