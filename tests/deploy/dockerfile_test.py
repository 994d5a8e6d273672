#!/usr/bin/env python3
"""What can be checked of deploy/Dockerfile without a Docker engine:

- every package the Dockerfile installs exists in Debian bookworm (the apt
  lists of this bookworm machine);
- every shared library the built binary loads (ldd) belongs to a package
  that the runtime stage installs, or to one they depend on (apt's
  dependency closure);
- the runtime stage runs as a non-root user with `cxstream run` as its
  entrypoint, and its default arguments are accepted by the real command
  line.

usage: dockerfile_test.py CXSTREAM SOURCE_DIR
"""
import os
import re
import subprocess
import sys

binary, source = sys.argv[1], sys.argv[2]
dockerfile = open(os.path.join(source, "deploy", "Dockerfile")).read()
failures = []

stages = re.split(r"^FROM ", dockerfile, flags=re.M)[1:]
if len(stages) != 2 or not stages[0].startswith("debian:bookworm") or not stages[1].startswith("debian:bookworm"):
    failures.append("expected two stages, both on debian:bookworm")


def installed(stage):
    m = re.search(r"apt-get install -y --no-install-recommends\s*\\\n(.*?)(?:&&|\Z)", stage, flags=re.S)
    return m.group(1).replace("\\", " ").split() if m else []


build_pkgs, runtime_pkgs = installed(stages[0]), installed(stages[1])
for p in build_pkgs + runtime_pkgs:
    r = subprocess.run(["apt-cache", "show", "--no-all-versions", p], capture_output=True, text=True)
    if r.returncode != 0 or "Package: " + p not in r.stdout:
        failures.append(f"package {p} is not in this machine's bookworm lists")

# The runtime packages and everything they pull in.
closure = set(runtime_pkgs)
r = subprocess.run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
                    "--no-breaks", "--no-replaces", "--no-enhances", "--no-pre-depends"] + runtime_pkgs,
                   capture_output=True, text=True, check=True)
for line in r.stdout.splitlines():
    line = line.strip()
    if line.startswith("Depends:"):
        closure.add(line.split()[-1].strip("<>").split(":")[0])
    elif line and not line.startswith(("|", "Depends", "PreDepends")) and " " not in line:
        closure.add(line.split(":")[0])


def owner(path):
    for candidate in (path, os.path.realpath(path), "/usr" + path, path.replace("/usr/", "/", 1)):
        r = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":")[0]
    return None


libs = [line.split("=>")[1].split("(")[0].strip() for line in
        subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout.splitlines()
        if "=>" in line and "/" in line.split("=>")[1]]
for lib in libs:
    pkg = owner(lib)
    if pkg is None:
        failures.append(f"{lib}: no Debian package owns it")
    elif pkg not in closure:
        failures.append(f"{lib} comes from {pkg}, which the runtime stage does not install")

runtime = stages[1]
if not re.search(r"^USER 10001", runtime, flags=re.M):
    failures.append("the runtime stage must run as the non-root user 10001")
ep = re.search(r'^ENTRYPOINT \["/usr/local/bin/cxstream", "run"\]', runtime, flags=re.M)
cmd = re.search(r"^CMD \[(.*)\]", runtime, flags=re.M)
if not ep or not cmd:
    failures.append("ENTRYPOINT must be cxstream run, with CMD its arguments")
else:
    args = [a.strip().strip('"') for a in cmd.group(1).split(",")]
    # The real command line accepts them: validate-config takes the same
    # --config, and the file the image copies is the shipped one.
    if args[0] != "--config":
        failures.append(f"CMD {args}: expected --config FILE")
    help_text = subprocess.run([binary, "run", "--help"], capture_output=True, text=True).stdout
    if "--config" not in help_text:
        failures.append("cxstream run has no --config option")
    if "COPY config/cxstream.yaml " + args[1] not in runtime:
        failures.append(f"the image does not hold {args[1]}")
    r = subprocess.run([binary, "validate-config", "--config", os.path.join(source, "config", "cxstream.yaml")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        failures.append("the shipped configuration the image uses does not validate: " + r.stdout + r.stderr)

for f in failures:
    print("FAIL:", f)
print(f"dockerfile: {len(build_pkgs)} build and {len(runtime_pkgs)} runtime packages exist in bookworm; "
      f"{len(libs)} libraries of the binary provided by the runtime stage" if not failures else "dockerfile: FAILED")
sys.exit(1 if failures else 0)
