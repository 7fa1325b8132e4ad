"""What the cluster can offer and what is waiting for it, read from the GCS (no dashboard).

Used by the registry actor (it runs inside the cluster, so it reaches the GCS also when Airflow
connects through Ray Client) to refuse requests no node can ever satisfy, and to say, for a
task that waits, what is pending and what holds the resources. The GCS's cluster status is the
same data ``ray status`` prints; an autoscaler (v1 or v2) is detected so that a request no node
can satisfy *now* is left to it rather than refused.
"""

from __future__ import annotations

from typing import Any

import ray

# Resources Ray adds on its own, never requested by a user: left out of messages.
_INTERNAL_PREFIXES = ("node:", "object_store_memory", "accelerator_type:")


def _plain(resources: dict[str, float]) -> dict[str, float]:
    return {
        name: amount
        for name, amount in resources.items()
        if not name.startswith(_INTERNAL_PREFIXES) and not name.startswith("bundle_group_")
    }


def _autoscaler_v1_running() -> bool:
    """True when a v1 autoscaler with its own node types (KubeRay's, a cluster YAML) reports.

    Every head runs the monitor, which reports a status also for a manually started cluster;
    there, its read-only node provider names each node type after the node ("node_<id>").
    """
    import json

    from ray._private import ray_constants
    from ray.experimental import internal_kv

    try:
        raw = internal_kv._internal_kv_get(ray_constants.DEBUG_AUTOSCALING_STATUS)
        report = json.loads(raw or b"{}").get("autoscaler_report") or {}
    except Exception:
        return False
    types = (report.get("node_type_mapping") or {}).values()
    return any(not str(name).startswith("node_") for name in types)


def snapshot() -> dict[str, Any]:
    """Nodes (total/available), pending requests and whether an autoscaler is running."""
    from ray._raylet import GcsClient
    from ray.core.generated import autoscaler_pb2

    reply = autoscaler_pb2.GetClusterStatusReply()
    reply.ParseFromString(
        GcsClient(address=ray.get_runtime_context().gcs_address).get_cluster_status()
    )
    state = reply.cluster_resource_state
    nodes = [
        {
            "ip": node.node_ip_address,
            "type": node.ray_node_type_name,
            "total": _plain(dict(node.total_resources)),
            "available": _plain(dict(node.available_resources)),
        }
        for node in state.node_states
        if node.status in (autoscaler_pb2.NodeStatus.RUNNING, autoscaler_pb2.NodeStatus.IDLE)
    ]
    pending = [
        {"shape": _plain(dict(item.request.resources_bundle)), "count": item.count}
        for item in state.pending_resource_requests
    ]
    autoscaling = reply.autoscaling_state
    infeasible = [
        {"shape": _plain(dict(item.request.resources_bundle)), "count": item.count}
        for item in autoscaling.infeasible_resource_requests
    ]
    return {
        "nodes": nodes,
        "pending": pending,
        "infeasible": infeasible,
        "autoscaler": autoscaling.autoscaler_state_version > 0 or _autoscaler_v1_running(),
    }


def fits(request: dict[str, float], resources: dict[str, float]) -> bool:
    return all(resources.get(name, 0.0) >= amount for name, amount in request.items() if amount)


def request_of(options: dict[str, Any]) -> dict[str, float]:
    """The resource shape of Ray task options (as the scheduler sees it; 1 CPU by default)."""
    shape = {"CPU": float(options.get("num_cpus", 1))}
    if options.get("num_gpus"):
        shape["GPU"] = float(options["num_gpus"])
    if options.get("memory"):
        shape["memory"] = float(options["memory"])
    shape.update({k: float(v) for k, v in (options.get("resources") or {}).items()})
    return {k: v for k, v in shape.items() if v}


def holders() -> dict[str, int]:
    """Alive actors by class name: who holds resources besides tasks (GCS actor table)."""
    from ray._private.state import state

    try:
        actors = state.actor_table(None, actor_state_name="ALIVE")
    except Exception:
        return {}
    counts: dict[str, int] = {}
    for actor in actors.values():
        name = actor.get("ActorClassName") or "?"
        if name.endswith("ResultRegistry"):
            continue
        counts[name] = counts.get(name, 0) + 1
    return counts


def _amounts(resources: dict[str, float]) -> str:
    parts = []
    for name in sorted(resources):
        value = resources[name]
        if name == "memory":
            parts.append(f"memory {value / 2**30:.1f} GiB")
        else:
            parts.append(f"{name} {value:g}")
    return ", ".join(parts) or "nothing"


def largest_node(nodes: list[dict[str, Any]]) -> str:
    if not nodes:
        return "no alive node"
    best = max(nodes, key=lambda n: (n["total"].get("GPU", 0), n["total"].get("CPU", 0)))
    return f"{best['ip']} ({_amounts(best['total'])})"


def describe_nodes(nodes: list[dict[str, Any]], key: str = "total") -> str:
    return "; ".join(f"{n['ip']}: {_amounts(n[key])}" for n in nodes) or "no alive node"


def describe_shape(shape: dict[str, float]) -> str:
    return "{" + _amounts(shape) + "}"


def fits_some_node(snapshot: dict[str, Any], shape: dict[str, float], key: str = "total") -> bool:
    return any(fits(shape, node[key]) for node in snapshot["nodes"])


def infeasible_message(
    snapshot: dict[str, Any], shape: dict[str, float], label: str, autoscaler: bool
) -> str:
    """A request no node has: an error without an autoscaler, a warning with one."""
    nodes = snapshot["nodes"]
    fact = (
        f"{label} asks for {describe_shape(shape)}, more than any node of the Ray cluster has "
        f"(largest: {largest_node(nodes)}; nodes: {describe_nodes(nodes)})"
    )
    if autoscaler:
        return (
            f"{fact}. No node offers that now; the cluster's autoscaler may add one (the task "
            "fails after the connection's pending_timeout_seconds if none comes)."
        )
    return (
        f"{fact} and no autoscaler can add one. Lower num_cpus/num_gpus/memory/resources on the "
        "task, or add a node (a worker group) that offers them."
    )


def pending_message(
    snapshot: dict[str, Any], shape: dict[str, float], label: str, waited: float
) -> str:
    return (
        f"{label} waited {waited:.0f}s for a Ray worker with {describe_shape(shape)} and never "
        f"started. Free now: {describe_nodes(snapshot['nodes'], 'available')}. "
        f"{_held(snapshot)} Free those resources, give the cluster more (a bigger worker group, "
        "an autoscaler's max replicas), or lower what the task asks for; the connection's "
        "pending_timeout_seconds sets how long a task may wait."
    )


def stall_message(snapshot: dict[str, Any], shape: dict[str, float], label: str) -> str | None:
    """For a running task: work waiting for resources no node has free, or ``None``."""
    waiting = [
        p
        for p in snapshot["pending"]
        if p["count"] and not fits_some_node(snapshot, p["shape"], "available")
    ]
    if not waiting:
        return None
    demands = ", ".join(f"{p['count']} x {describe_shape(p['shape'])}" for p in waiting)
    return (
        f"{label} is running, and Ray work is waiting for resources that no node has free: "
        f"{demands}. Free now: {describe_nodes(snapshot['nodes'], 'available')}. "
        f"{_held(snapshot)} This task asked for {describe_shape(shape)}. If the waiting work "
        "is this task's own (actors or tasks it starts, e.g. xgboost-ray's training actors or "
        "modin's partitions), it waits for ever: use fewer actors (num_actors) or fewer CPUs per "
        "actor (cpus_per_actor), pandas frames instead of modin, num_cpus=0 on this @task.ray "
        "task so its CPU is free for its actors, or a bigger worker group."
    )


def _held(snapshot: dict[str, Any]) -> str:
    in_use = [
        {**node, "used": {k: v - node["available"].get(k, 0.0) for k, v in node["total"].items()}}
        for node in snapshot["nodes"]
    ]
    used = "; ".join(
        f"{n['ip']}: {_amounts({k: v for k, v in n['used'].items() if v})}" for n in in_use
    )
    actors = ", ".join(
        f"{name} x{count}" for name, count in sorted(snapshot.get("holders", {}).items())
    )
    return f"In use: {used or 'nothing'}; alive actors: {actors or 'none'}."
