#!/usr/bin/python3
"""Validates every shipped config against `gatehouse --print-schema` with a real JSON Schema
validator (Debian's python3-jsonschema, draft 2020-12), and checks that the schema rejects what
the loader rejects: an unknown key, a bad duration, a wrong enum word, a missing required key.

usage: validate_configs.py GATEHOUSE_BINARY [SCHEMA.schema.json] CONFIG_FILE...
"""
import copy
import json
import re
import subprocess
import sys

import jsonschema
import yaml


class Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2 booleans (true/false only), as yaml-cpp and the YAML language server read them:
    PyYAML's 1.1 rules would turn the key `on` of retry into True."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                   list("tTfF"))

# What the shipped configs read from the environment (bench configs take ports from proxybench).
ENV = {"PATH": "/usr/bin:/bin", "PROXY_PORT": "18080", "PROXY_TLS_PORT": "18443", "UPSTREAM_PORT": "19000",
       "GATEHOUSE_ADMIN_TOKEN": "0123456789abcdef0123", "REDIS_PORT": "16379"}


def main():
    binary, files = sys.argv[1], sys.argv[2:]
    printed = subprocess.run([binary, "--print-schema"], check=True, capture_output=True).stdout
    schema = json.loads(printed)
    # The copy in the repository (editors open it through the yaml-language-server line at the top
    # of each shipped config) is the binary's, byte for byte.
    committed = [f for f in files if f.endswith(".schema.json")]
    files = [f for f in files if not f.endswith(".schema.json")]
    for path in committed:
        with open(path, "rb") as f:
            if f.read() != printed:
                print(f"{path} differs from --print-schema: run gatehouse --print-schema > {path}")
                return 1
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    failed = 0
    documents = {}
    for path in files:
        with open(path, encoding="utf-8") as f:
            doc = yaml.load(f, Loader=Yaml12Loader)
        documents[path] = doc
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        for e in errors:
            print(f"{path}: {'.'.join(str(p) for p in e.absolute_path)}: {e.message[:300]}")
            failed += 1
        # And the loader agrees that it is valid.
        run = subprocess.run([binary, "--validate", path], capture_output=True, text=True, env=ENV)
        # Certificates named by the TLS examples are not on this machine; anything else counts.
        refused = [line for line in run.stderr.splitlines()
                   if ": " in line and "cannot read" not in line and "PROXYBENCH_" not in line]
        if run.returncode != 0 and refused:
            print(f"{path}: the loader refuses it: {refused}")
            failed += 1
    print(f"{len(files)} files checked against the schema")

    # The schema must refuse what the loader refuses.
    base = documents.get(next((p for p in files if p.endswith("gatehouse.yaml")), files[0]))
    mutations = {
        "unknown root key": lambda d: d.__setitem__("servers", {}),
        "unknown server key": lambda d: d.setdefault("server", {}).__setitem__("listen_on", ":80"),
        "bad duration": lambda d: d.setdefault("server", {}).setdefault("timeouts", {}).__setitem__("idle", "10"),
        "bad size": lambda d: d.setdefault("server", {}).setdefault("limits", {}).__setitem__("max_body", "10 MB"),
        "bad enum": lambda d: d.setdefault("logging", {}).__setitem__("level", "verbose"),
        "missing routes": lambda d: d.pop("routes"),
        "route without name": lambda d: d["routes"][0].pop("name"),
        "unknown filter type": lambda d: d.setdefault("filters", {}).__setitem__("x", {"type": "nope"}),
        "filter key of another type": lambda d: d.setdefault("filters", {}).__setitem__(
            "x", {"type": "cors", "allow_origins": "*", "limits": []}),
        "integer out of range": lambda d: d.setdefault("server", {}).__setitem__("workers", 1000),
    }
    for name, mutate in mutations.items():
        doc = copy.deepcopy(base)
        mutate(doc)
        if validator.is_valid(doc):
            print(f"the schema accepts a config with {name}")
            failed += 1
    if failed:
        print(f"{failed} problems")
        return 1
    print("the schema refuses all", len(mutations), "broken configs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
