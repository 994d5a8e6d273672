#!/usr/bin/env python3
"""Checks deploy/k8s without a cluster: every manifest parses, the objects a
deployment needs are there with their required fields, the container's
arguments are the real command line's, the configuration it mounts
validates, and the pieces agree with each other (secrets, ports, volumes,
memory budget, replicas against partitions).

usage: k8s_test.py CXSTREAM SOURCE_DIR
"""
import os
import re
import subprocess
import sys

import yaml

binary, source = sys.argv[1], sys.argv[2]
base = os.path.join(source, "deploy", "k8s")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


kustomization = yaml.safe_load(open(os.path.join(base, "kustomization.yaml")))
objects = {}
for res in kustomization["resources"]:
    for doc in yaml.safe_load_all(open(os.path.join(base, res))):
        if doc:
            check("apiVersion" in doc and "kind" in doc and "name" in doc.get("metadata", {}),
                  f"{res}: apiVersion, kind and metadata.name are required")
            objects[(doc["kind"], doc["metadata"]["name"])] = doc
secret_example = yaml.safe_load(open(os.path.join(base, "secret.example.yaml")))
secrets = {secret_example["metadata"]["name"]: secret_example}
for (kind, name), doc in objects.items():
    if kind == "Secret":
        secrets[name] = doc

for kind in ["Namespace", "ConfigMap", "Service", "StatefulSet", "PodDisruptionBudget", "PodMonitor", "NetworkPolicy",
             "ScaledObject", "TriggerAuthentication", "Job"]:
    check(any(k == kind for k, _ in objects), f"no {kind}")

# The topics Job runs create-topics.sh (the README's recipe, tested against
# a real Kafka by runtime_kafka.kafka_readme_recipe) from a generated ConfigMap.
job_spec = objects[("Job", "cxstream-topics")]["spec"]["template"]["spec"]
generated = {g["name"]: g["files"] for g in kustomization.get("configMapGenerator", [])}
mounted = [v["configMap"]["name"] for v in job_spec.get("volumes", []) if "configMap" in v]
check(mounted and all(m in generated for m in mounted), "the topics Job mounts a ConfigMap kustomize does not generate")
check(all(os.path.exists(os.path.join(base, f)) for fs in generated.values() for f in fs),
      "a configMapGenerator file is missing")
check("create-topics.sh" in " ".join(job_spec["containers"][0]["command"]), "the topics Job must run create-topics.sh")

sts = objects[("StatefulSet", "cxstream")]
spec = sts["spec"]["template"]["spec"]
c = spec["containers"][0]
svc = objects[("Service", "cxstream")]
check(svc["spec"].get("clusterIP") == "None", "the Service must be headless (clusterIP: None)")
check(sts["spec"]["serviceName"] == "cxstream", "StatefulSet.serviceName must be the headless Service")
check(spec.get("securityContext", {}).get("runAsNonRoot") is True, "pods must run as non-root")
check("podAntiAffinity" in spec.get("affinity", {}), "anti-affinity between workers is required")

# Probes on the real endpoints, on a declared port.
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
check(c["readinessProbe"]["httpGet"]["path"] == "/readyz", "readiness must probe /readyz")
check(c["livenessProbe"]["httpGet"]["path"] == "/healthz", "liveness must probe /healthz")
for probe in ("readinessProbe", "livenessProbe"):
    check(c[probe]["httpGet"]["port"] in ports, f"{probe} port is not a container port")

# The pod name is the static member id.
env = {e["name"]: e for e in c["env"]}
check(env.get("POD_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name",
      "POD_NAME must come from metadata.name")
cm = objects[("ConfigMap", "cxstream-config")]
config_text = cm["data"]["cxstream.yaml"]
cfg = yaml.safe_load(config_text)
check(cfg["kafka"]["group_instance_id"] == "${POD_NAME}", "kafka.group_instance_id must be ${POD_NAME}")

# Secrets: every reference names an existing secret and key.
for e in c["env"]:
    ref = e.get("valueFrom", {}).get("secretKeyRef")
    if ref:
        check(ref["name"] in secrets and ref["key"] in secrets[ref["name"]].get("stringData", {}),
              f"env {e['name']}: secret {ref['name']}/{ref['key']} is not defined")
check("${KAFKA_SASL_PASSWORD}" in config_text and "sasl_password: change" not in config_text,
      "the password must come from the environment")

# The state volume is mounted where the configuration puts the state.
mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
claims = [t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]]
check("state" in claims and mounts.get("state") == cfg["state"]["dir"],
      "a persistent volume must be mounted at state.dir")

# The container's arguments are the real command line's, and the mounted
# configuration validates (with the environment the pod gives it).
args = c["args"]
help_text = subprocess.run([binary, "run", "--help"], capture_output=True, text=True).stdout
for a in args:
    if a.startswith("--"):
        check(a in help_text, f"cxstream run has no option {a}")
check("--config" in args, "the container must pass --config")
conf_path = args[args.index("--config") + 1] if "--config" in args else ""
check(mounts.get("config") == os.path.dirname(conf_path), "--config must point into the mounted ConfigMap")
tmp = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"cx-k8s-{os.getpid()}.yaml")
with open(tmp, "w") as f:
    f.write(config_text)
r = subprocess.run([binary, "validate-config", "--config", tmp], capture_output=True, text=True,
                   env=dict(os.environ, KAFKA_BOOTSTRAP_SERVERS="b:9093", POD_NAME="cxstream-0",
                            KAFKA_SASL_USERNAME="u", KAFKA_SASL_PASSWORD="p"))
os.remove(tmp)
check(r.returncode == 0, "the ConfigMap's configuration does not validate: " + r.stdout + r.stderr)


def size(text):
    m = re.fullmatch(r"(\d+)(Mi|Gi|MiB|GiB)", str(text))
    return int(m.group(1)) * (1 << 20 if m.group(2).startswith("M") else 1 << 30)


# Memory: the limit holds the budget plus room for the process.
limit = size(c["resources"]["limits"]["memory"])
budget = size(cfg["state"]["memory_budget_bytes"])
check(limit >= budget * 1.2, f"memory limit {limit} leaves too little above the budget {budget}")
check(c["resources"]["requests"]["memory"] == c["resources"]["limits"]["memory"],
      "memory request must equal the limit (no eviction surprise)")

# Termination: longer than a commit, a producer flush (10 s) and leaving.
commit_ms = int(str(cfg["commit"]["interval"]).rstrip("ms"))
check(spec["terminationGracePeriodSeconds"] > commit_ms / 1000 + 10 + 5,
      "terminationGracePeriodSeconds must exceed commit + flush + leave")

# Scaling: never more group members than partitions.
job = objects[("Job", "cxstream-topics")]
jenv = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
partitions = int(jenv["PARTITIONS"]["value"])
so = objects[("ScaledObject", "cxstream")]
# Each processing thread is a group member that takes whole partitions.
threads = int(cfg.get("processing", {}).get("threads", 0))
check(threads > 0, "the ConfigMap must set processing.threads (else a node's cores decide it)")
cpu = float(str(c["resources"]["requests"]["cpu"]))
check(cpu >= threads, f"the pod requests {cpu} cores for {threads} processing threads")
check(so["spec"]["maxReplicaCount"] * threads <= partitions,
      "maxReplicaCount x processing.threads must not exceed the partition count")
check(so["spec"]["scaleTargetRef"]["name"] == "cxstream", "the ScaledObject must target the StatefulSet")
check(so["spec"]["triggers"][0]["authenticationRef"]["name"] in
      [n for k, n in objects if k == "TriggerAuthentication"], "KEDA's authenticationRef is not defined")
job_script = open(os.path.join(base, "create-topics.sh")).read().replace("$APP", "cxstream")
for topic in ["cx.chat", "cx.orders", "cx.aftersales", "cx.agents", "cxstream-customer-changelog",
              "cxstream-staffing-repartition", "cx.profiles", "cx.alerts", "cx.sla", "cx.staffing", "cx.dlq"]:
    check(topic in job_script, f"the topics Job does not create {topic}")
check("create \"cxstream-customer-changelog\" --config cleanup.policy=compact" in job_script,
      "the changelog must be compacted")
np = objects[("NetworkPolicy", "cxstream")]
np_ports = {p["port"] for rule in np["spec"]["ingress"] for p in rule["ports"]}
check(np["spec"]["podSelector"]["matchLabels"] == sts["spec"]["selector"]["matchLabels"],
      "the NetworkPolicy must select the workers")
check(np_ports == set(ports.values()), "the NetworkPolicy must let in the container's HTTP port and nothing else")
pm = objects[("PodMonitor", "cxstream")]
check(pm["spec"]["podMetricsEndpoints"][0]["port"] in ports, "the PodMonitor must scrape a declared port")
# The rules and the dashboard select job="cxstream": the PodMonitor must name
# the job after a pod label whose value is that.
rules_text = open(os.path.join(source, "deploy", "prometheus", "cxstream-rules.yaml")).read()
job_label = pm["spec"].get("jobLabel")
pod_labels = sts["spec"]["template"]["metadata"]["labels"]
check(job_label in pod_labels and f'job="{pod_labels[job_label]}"' in rules_text,
      "PodMonitor.jobLabel must give the job name the Prometheus rules select (job=\"cxstream\")")
check(objects[("PodDisruptionBudget", "cxstream")]["spec"].get("maxUnavailable") == 1, "PDB: maxUnavailable 1")

for f in failures:
    print("FAIL:", f)
print(f"k8s: {len(objects)} objects checked" if not failures else "k8s: FAILED")
sys.exit(1 if failures else 0)
