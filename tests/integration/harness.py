"""Test harness: runs the real cxstream binary (devbroker, workers, produce,
dump, replay) as processes on loopback, with ports chosen by the OS. Every
wait is bounded; every process is killed at the end."""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request


class Failure(Exception):
    pass


class Skipped(Exception):
    """The test cannot run here (the reason says why); reported as skipped,
    never as passed."""


# The contract's topics as a user creates them on a real cluster; the worker
# creates its changelog and repartition topics itself.
COMPACTED_OUTPUTS = ("cx.alerts", "cx.profiles")
INPUTS = ("cx.chat", "cx.orders", "cx.aftersales", "cx.agents")
OUTPUTS = ("cx.sla", "cx.alerts", "cx.profiles", "cx.staffing", "cx.dlq")


def wait_for(what, predicate, timeout, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = predicate()
        if v:
            return v
        time.sleep(interval)
    raise Failure(f"timed out after {timeout}s waiting for {what}")


class Env:
    def __init__(self, binary, source):
        self.bin = binary
        # The binary of the workers (`cxstream run`) when it is another build
        # than the broker's and the tools' (scripts/tsan: a ThreadSanitizer
        # worker against a plain devbroker).
        self.worker_bin = os.environ.get("CXSTREAM_WORKER_BIN", binary)
        self.src = source
        self.dir = tempfile.mkdtemp(prefix="cx-it-")
        self.procs = []
        self.broker = None
        self.bootstrap = None
        # CX_BROKER=kafka: a real Apache Kafka started by scripts/kafka;
        # otherwise the devbroker (librdkafka's mock cluster).
        self.kafka = os.environ.get("CX_BROKER") == "kafka"
        self.kafka_dir = os.path.join(self.dir, "kafka")

    def close(self):
        if self.kafka and os.path.exists(self.kafka_dir):
            self.kafka_script("stop", check=False)
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if os.environ.get("CX_KEEP"):
            print(f"kept {self.dir} (CX_KEEP)")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def kafka_script(self, *args, check=True, timeout=120):
        r = subprocess.run([os.path.join(self.src, "scripts", "kafka"), args[0], "--dir", self.kafka_dir,
                            *args[1:]], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=timeout)
        if r.returncode == 3:
            raise Skipped("Apache Kafka could not be resolved with Maven:\n" + r.stdout[-3000:])
        if check and r.returncode != 0:
            raise Failure(f"scripts/kafka {' '.join(args)}: exit {r.returncode}\n{r.stdout[-3000:]}")
        return r.stdout

    def create_topics(self, specs):
        """Real Kafka only: NAME:PARTITIONS[:RF][:key=value,...] each."""
        self.kafka_script("topics", *specs)

    def start_broker(self, partitions=6, brokers=1, topics=(), contract_topics=True):
        bf = self.path("bootstrap")
        if self.kafka:
            self.kafka_script("start", "--bootstrap-file", bf, "--brokers", str(brokers), timeout=180)
            self.bootstrap = open(bf).read().strip()
            if not contract_topics:
                return
            # What the devbroker has from the start, but the worker's own
            # topics: on a real cluster the worker creates those.
            names = list(INPUTS) + list(OUTPUTS) + [t for t in topics if not t.endswith(("-changelog",
                                                                                         "-repartition"))]
            self.create_topics([f"{t}:{partitions}" + (":cleanup.policy=compact" if t in COMPACTED_OUTPUTS else "")
                                for t in names])
            return
        extra = [arg for t in topics for arg in ("--topic", f"{t}:{partitions}")]
        self.broker = subprocess.Popen([self.bin, "devbroker", "--partitions", str(partitions), "--brokers",
                                        str(brokers), "--bootstrap-file", bf] + extra,
                                       stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                       stderr=open(self.path("broker.log"), "w"), text=True)
        self.procs.append(self.broker)
        wait_for("the devbroker", lambda: os.path.exists(bf), 10)
        self.bootstrap = open(bf).read().strip()

    def broker_command(self, line):
        if self.kafka:
            if line.startswith("rtt "):
                return  # pacing only: a real broker is paced by small fetches
            raise Failure(f"devbroker fault injection ({line}) on a real broker: this test is devbroker-only")
        self.broker.stdin.write(line + "\n")
        self.broker.stdin.flush()

    def produce(self, *files, max_batch=0):
        if self.kafka and max_batch == 1:
            # One record per message set paces a consumer with small fetches;
            # on a replicated real cluster (acks=all) that takes 40 s for
            # 14,000 records, 20 per set 8 s and paces almost as well.
            max_batch = 20
        args = [self.bin, "produce", "--bootstrap", self.bootstrap, "--max-batch", str(max_batch)]
        for f in files:
            args += ["--input", f]
        subprocess.run(args, check=True, stderr=subprocess.DEVNULL, timeout=120)

    def dump(self, topic, idle_ms=1000, with_keys=False, isolation="read_committed"):
        out = self.path("dump")
        subprocess.run([self.bin, "dump", "--bootstrap", self.bootstrap, "--topic", topic, "--out", out,
                        "--idle-ms", str(idle_ms), "--isolation", isolation] + (["--with-keys"] if with_keys else []),
                       check=True, timeout=120)
        with open(os.path.join(out, topic + ".ndjson")) as f:
            return [line.rstrip("\n") for line in f]

    def replay(self, inputs, until):
        out = self.path("replay")
        args = [self.bin, "replay", "--until", until, "--out", out]
        for f in inputs:
            args += ["--input", f]
        subprocess.run(args, check=True, stderr=subprocess.DEVNULL, timeout=120)
        with open(os.path.join(out, "sla.ndjson")) as f:
            sla = [line.rstrip("\n") for line in f]
        with open(os.path.join(out, "dlq.ndjson")) as f:
            dlq = [line.rstrip("\n") for line in f]
        with open(os.path.join(out, "staffing.ndjson")) as f:
            self.replay_staffing = [line.rstrip("\n") for line in f]
        with open(os.path.join(out, "alerts.ndjson")) as f:
            self.replay_alerts = [line.rstrip("\n") for line in f]
        with open(os.path.join(out, "profiles.ndjson")) as f:
            self.replay_profiles = [line.rstrip("\n") for line in f]
        self.replay_until = until
        return sla, dlq

    def worker(self, name, extra_yaml="", properties=None, application_id="cxstream", **settings):
        return Worker(self, name, extra_yaml, properties or {}, application_id, **settings)


class Worker:
    def __init__(self, env, name, extra_yaml, properties, application_id="cxstream", budget="64MiB",
                 commit="500ms", log_level="debug", restore_threads=None):
        self.env = env
        self.name = name
        self.config = env.path(name + ".yaml")
        # processing.threads from CX_PROCESSING_THREADS (CTest runs the fault
        # suite with 1 and with 2); the worker's default otherwise.
        threads = os.environ.get("CX_PROCESSING_THREADS")
        if threads:
            if "processing:" in extra_yaml:
                extra_yaml = extra_yaml.replace("processing:", f"processing:\n  threads: {threads}", 1)
            else:
                extra_yaml = f"processing:\n  threads: {threads}\n" + extra_yaml
        with open(self.config, "w") as f:
            f.write(f"""kafka:
  bootstrap_servers: {env.bootstrap}
  application_id: {application_id}
  properties:
    consumer.session.timeout.ms: "6000"
    consumer.heartbeat.interval.ms: "500"
{''.join(f'    {k}: "{v}"' + chr(10) for k, v in properties.items())}state:
  dir: {env.path(name + '-state')}
  memory_budget_bytes: {budget}
{f'  restore_threads: {restore_threads}' + chr(10) if restore_threads is not None else ''}commit:
  interval: {commit}
http:
  port: 0
log:
  level: {log_level}
{extra_yaml}""")
        self.proc = None
        self.port = None
        self.log = env.path(name + ".log")
        self.starts = 0

    def start(self, env=None):
        self.starts += 1
        self.logfile = open(self.log, "a")
        start_pos = os.path.getsize(self.log)
        self.proc = subprocess.Popen([self.env.worker_bin, "run", "--config", self.config],
                                     stdout=subprocess.DEVNULL, stderr=self.logfile,
                                     env=dict(os.environ, **(env or {})))
        self.env.procs.append(self.proc)

        def port():
            if self.proc.poll() is not None:
                raise Failure(f"{self.name} exited with {self.proc.returncode} at start-up")
            with open(self.log) as f:
                f.seek(start_pos)
                m = re.search(r'"msg":"listening","port":(\d+)', f.read())
            return int(m.group(1)) if m else None
        self.port = wait_for(f"{self.name} to listen", port, 15)
        return self

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout=20):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def metrics(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return None
        values = {}
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
        return values

    def get(self, path, headers=None):
        """(status, parsed JSON body or None)."""
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read().decode())
        except urllib.error.HTTPError as e:
            body = e.read().decode()
            return e.code, (json.loads(body) if body.strip() else None)

    def status(self, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return None


def metric_sum(values, prefix):
    return sum(v for k, v in (values or {}).items() if k == prefix or k.startswith(prefix + "{"))


def ids(lines):
    return [json.loads(line)["id"] for line in lines]


def check_complete(run_lines, replay_lines, what):
    """Every replay output is in run's output; run has nothing else; a
    duplicate carries an id already sent."""
    run, want = ids(run_lines), set(ids(replay_lines))
    missing = want - set(run)
    extra = set(run) - want
    if missing or extra:
        raise Failure(f"{what}: {len(missing)} missing (e.g. {sorted(missing)[:3]}), "
                      f"{len(extra)} unexpected (e.g. {sorted(extra)[:3]})")
    return len(run) - len(set(run))


def check_same_records(run_lines, replay_lines, until, what):
    """Run wrote exactly the records replay wrote (byte for byte), apart from
    repeats of one already sent (after a restart) and records of after
    `until` (RFC 3339: run goes on with the wall clock); returns the
    repeats. For streams without an `id`: alerts and profiles."""
    def ts(line):
        return json.loads(line).get("ts", "")
    want = set(replay_lines)
    got = [line for line in run_lines if ts(line) <= until]
    missing = want - set(got)
    extra = set(got) - want
    if missing or extra:
        raise Failure(f"{what}: {len(missing)} of {len(want)} records missing (e.g. {sorted(missing)[:1]}), "
                      f"{len(extra)} unexpected (e.g. {sorted(extra)[:1]})")
    return len(got) - len(set(got))


def check_dead_letters(run_dlq, replay_dlq, what="cx.dlq"):
    """The records run dead-lettered (original bytes) are exactly those replay
    dead-lettered (its envelopes carry them in `value`); re-sends after a
    restart may repeat one."""
    want = set(json.loads(line)["value"] for line in replay_dlq)
    got = set(run_dlq)
    if got != want:
        extra = sorted(got - want)
        raise Failure(f"{what}: {len(extra)} records dead-lettered that replay accepts (e.g. {extra[:2]}), "
                      f"{len(want - got)} not dead-lettered that replay rejects")
