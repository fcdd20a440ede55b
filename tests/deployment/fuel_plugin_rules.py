"""fuel-plugin-builder's rules for a package_version 4.0.0 plugin, written
down for novadock's tests (the builder itself is a Python 2 tool that
Debian does not package). The rules follow the builder's v4 validator:
which files, which keys, which patterns, which task types, and that the
paths a plugin names exist. check_plugin(dir) returns every violation as
"FILE: where: what" strings; an empty list means the plugin passes.

Run with Debian's /usr/bin/python3 (python3-yaml, python3-jsonschema).
"""

import os
import re

import jsonschema
import yaml

PACKAGE_VERSION = "4.0.0"
MIN_FUEL_VERSION = (8, 0)  # The oldest Fuel that reads 4.0.0 plugins.

PLUGIN_NAME = r"^[a-z0-9_-]+$"
TASK_ID = r"^[0-9a-zA-Z_-]+$"
TASK_ROLE = r"^[0-9a-zA-Z_-]+$|^\*$"
TASK_VERSION = r"^\d+.\d+.\d+$"
STAGE = r"^(post_deployment|pre_deployment)(/[-+]?([0-9]*\.[0-9]+|[0-9]+))?$"
FILE_MODE = r"^[0-7]{4}$"
_KINDS = "hypervisor|network|storage|additional_service"
COMPONENT_NAME = r"^(%s):([0-9a-z_-]+:)*[0-9a-z_-]+$" % _KINDS
COMPONENT_REF = r"^(%s):([0-9a-z_-]+:)*([0-9a-z_-]+|(\*)?)$" % _KINDS
TASK_TYPES = ("puppet", "shell", "group", "skipped", "copy_files", "sync",
              "upload_file", "stage", "reboot")
GROUPS = ("network", "storage", "storage::cinder", "storage::glance",
          "hypervisor", "monitoring", "equipment")
SETTINGS_GROUPS = ("general", "security", "compute", "network", "storage",
                   "logging", "openstack_services", "other")

_STRINGS = {"type": "array", "items": {"type": "string"}}

METADATA = {
    "type": "object",
    "required": ["name", "title", "version", "package_version",
                 "description", "fuel_version", "licenses", "authors",
                 "homepage", "releases", "groups", "is_hotpluggable"],
    "properties": {
        "name": {"type": "string", "pattern": PLUGIN_NAME},
        "title": {"type": "string"},
        "version": {"type": "string"},
        "package_version": {"enum": [PACKAGE_VERSION]},
        "description": {"type": "string"},
        "fuel_version": _STRINGS,
        "licenses": _STRINGS,
        "authors": _STRINGS,
        "homepage": {"type": "string"},
        "is_hotpluggable": {"type": "boolean"},
        "groups": {"type": "array", "uniqueItems": True,
                   "items": {"enum": list(GROUPS)}},
        "releases": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["version", "os", "mode"],
                "properties": {
                    "version": {"type": "string"},
                    "os": {"enum": ["ubuntu", "centos"]},
                    "deployment_scripts_path": {"type": "string"},
                    "repository_path": {"type": "string"},
                    "mode": {"type": "array",
                             "items": {"enum": ["ha", "multinode"]}}}}},
    },
}

_RESTRICTIONS = {
    "type": "array", "minItems": 1,
    "items": {"anyOf": [
        {"type": "string"},
        {"type": "object", "required": ["condition"],
         "properties": {"condition": {"type": "string"},
                        "message": {"type": "string"},
                        "action": {"type": "string"}}},
        {"type": "object", "minProperties": 1, "maxProperties": 1}]}}

SETTINGS_ROOT = {
    "type": "object",
    "properties": {"attributes": {
        "type": "object",
        "properties": {"metadata": {
            "type": "object",
            "properties": {"group": {"enum": list(SETTINGS_GROUPS)}}}}}},
}

SETTING = {
    "type": "object",
    "required": ["type", "label", "weight", "value"],
    "properties": {
        "type": {"type": "string"},
        "weight": {"type": "integer"},
        "label": {"type": "string"},
        "value": {"anyOf": [
            {"type": "string"}, {"type": "boolean"},
            {"type": "object",
             "properties": {"generator": {"type": "string"}}},
            {"type": "array",
             "items": {"anyOf": [{"type": "string"}, {"type": "boolean"}]}},
        ]},
        "restrictions": _RESTRICTIONS,
        "values": {"type": "array", "items": {
            "type": "object", "required": ["data", "label"],
            "properties": {"data": {"type": "string"},
                           "label": {"type": "string"}}}},
    },
}

SETTINGS_METADATA = {
    "type": "object",
    "properties": {"label": {"type": "string"},
                   "weight": {"type": "integer"},
                   "toggleable": {"type": "boolean"},
                   "enabled": {"type": "boolean"},
                   "restrictions": _RESTRICTIONS},
}

_COMPONENT_REFS = {
    "type": "array",
    "items": {"type": "object", "required": ["name"],
              "properties": {"name": {"type": "string",
                                      "pattern": COMPONENT_REF},
                             "message": {"type": "string"}}}}

COMPONENTS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["name", "label"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "pattern": COMPONENT_NAME},
            "label": {"type": "string"},
            "description": {"type": "string"},
            "compatible": _COMPONENT_REFS,
            "requires": _COMPONENT_REFS,
            "incompatible": _COMPONENT_REFS,
            "bind": {"type": "array"},
        },
    },
}

_YAQL = {"type": "object", "required": ["yaql_exp"],
         "properties": {"yaql_exp": {"type": "string"}}}
_ROLE = {"oneOf": [{"type": "string", "format": "fuel_task_role"},
                   {"type": "array", "items": {"type": "string",
                                               "format": "fuel_task_role"}}]}
_TASK_LIST = {"type": "array",
              "items": {"type": "string", "pattern": TASK_ID}}
_RELATIONS = {"oneOf": [
    {"type": "array", "items": {
        "type": "object", "required": ["name"],
        "properties": {
            "name": {"oneOf": [{"type": "string"}, _YAQL]},
            "role": {"oneOf": [{"type": "string"}, {"type": "array"},
                               _YAQL]},
            "policy": {"enum": ["all", "any"]}}}},
    _YAQL]}
_STRATEGY = {"type": "object", "required": ["type"],
             "properties": {"type": {"enum": ["parallel", "one_by_one"]},
                            "amount": {"oneOf": [{"type": "integer"},
                                                 _YAQL]}}}

# Per type: required parameters and their types.
TASK_PARAMETERS = {
    "puppet": {"required": ["puppet_manifest", "puppet_modules", "timeout"],
               "properties": {
                   "puppet_manifest": {"type": "string", "minLength": 1},
                   "puppet_modules": {"type": "string", "minLength": 1},
                   "timeout": {"type": "integer"},
                   "retries": {"type": "integer"}}},
    "shell": {"required": ["cmd"],
              "properties": {"cmd": {"type": "string"},
                             "retries": {"type": "integer"},
                             "interval": {"type": "integer"},
                             "timeout": {"type": "integer"}}},
    "reboot": {"properties": {"timeout": {"type": "integer"}}},
    "copy_files": {"required": ["files"],
                   "properties": {
                       "files": {"type": "array", "minItems": 1, "items": {
                           "type": "object", "required": ["src", "dst"],
                           "properties": {"src": {"type": "string"},
                                          "dst": {"type": "string"}}}},
                       "permissions": {"type": "string",
                                       "pattern": FILE_MODE},
                       "dir_permissions": {"type": "string",
                                           "pattern": FILE_MODE}}},
    "sync": {"required": ["src", "dst"],
             "properties": {"src": {"type": "string"},
                            "dst": {"type": "string"},
                            "timeout": {"type": "integer"}}},
    "upload_file": {"required": ["path", "data"],
                    "properties": {"path": {"type": "string"},
                                   "data": {"type": "string"}}},
}
TASKS_NEEDING_PARAMETERS = ("copy_files", "sync", "upload_file")


def task_schema(task_type):
    params = dict(TASK_PARAMETERS.get(task_type, {}))
    params["type"] = "object"
    params["properties"] = dict(params.get("properties", {}),
                                strategy=_STRATEGY)
    required = ["id", "type"]
    if task_type in TASKS_NEEDING_PARAMETERS:
        required.append("parameters")
    return {
        "type": "object",
        "required": required,
        "properties": {
            "type": {"enum": [task_type]},
            "id": {"type": "string", "pattern": TASK_ID},
            "version": {"type": "string", "pattern": TASK_VERSION},
            "role": _ROLE, "groups": _ROLE, "roles": _ROLE,
            "requires": _TASK_LIST, "required_for": _TASK_LIST,
            "cross-depends": _RELATIONS, "cross-depended-by": _RELATIONS,
            "stage": {"type": "string", "pattern": STAGE},
            "tasks": {"type": "array",
                      "items": {"type": "string", "pattern": TASK_ROLE}},
            "reexecute_on": {"type": "array",
                             "items": {"enum": ["deploy_changes"]}},
            "parameters": params,
        },
    }


_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("fuel_task_role", raises=ValueError)
def _task_role(value):
    """A role is a name, '*', or a regular expression between slashes."""
    if not isinstance(value, str):
        return True
    if len(value) > 1 and value.startswith("/") and value.endswith("/"):
        try:
            re.compile(value[1:-1])
        except re.error as e:
            raise ValueError("role %r: bad regular expression: %s" %
                             (value, e))
        return True
    if re.match(TASK_ROLE, value):
        return True
    raise ValueError("role %r: want a name, '*' or /regexp/" % value)


def _violations(data, schema, where):
    validator = jsonschema.Draft4Validator(schema, format_checker=_FORMATS)
    out = []
    for err in sorted(validator.iter_errors(data), key=lambda e: e.path):
        path = " -> ".join(str(p) for p in err.absolute_path) or "(top)"
        message = err.message
        if err.context:  # oneOf/anyOf: the deepest reason says most.
            best = max(err.context, key=lambda e: len(e.absolute_path))
            message = best.message
        out.append("%s: %s: %s" % (where, path, message))
    return out


def _load(plugin, name, required):
    path = os.path.join(plugin, name)
    if not os.path.exists(path):
        return None, ([] if not required else
                      ["%s: missing (required)" % name])
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as e:
        return None, ["%s: not YAML: %s" % (name, e)]
    return data, []


def _version_tuple(text):
    m = re.match(r"^(\d+)\.(\d+)$", str(text))
    return (int(m.group(1)), int(m.group(2))) if m else None


def check_metadata(plugin):
    meta, errors = _load(plugin, "metadata.yaml", True)
    if meta is None:
        return None, errors or ["metadata.yaml: empty"]
    errors += _violations(meta, METADATA, "metadata.yaml")
    for fuel in meta.get("fuel_version") or []:
        v = _version_tuple(fuel)
        if v is None or v < MIN_FUEL_VERSION:
            errors.append("metadata.yaml: fuel_version %r: package_version "
                          "4.0.0 needs Fuel 8.0 or later" % fuel)
    for i, release in enumerate(meta.get("releases") or []):
        if not isinstance(release, dict):
            continue
        for key in ("deployment_scripts_path", "repository_path"):
            rel = release.get(key)
            if not rel:
                errors.append("metadata.yaml: releases -> %d: no %s" %
                              (i, key))
            elif not os.path.isdir(os.path.join(plugin, rel)):
                errors.append("metadata.yaml: releases -> %d: %s %r: no "
                              "such directory" % (i, key, rel))
    return meta, errors


def check_settings(plugin):
    config, errors = _load(plugin, "environment_config.yaml", False)
    if not config:
        return errors
    errors += _violations(config, SETTINGS_ROOT, "environment_config.yaml")
    attrs = config.get("attributes") or {}
    if not isinstance(attrs, dict):
        return errors + ["environment_config.yaml: attributes: not a map"]
    for name, attr in attrs.items():
        schema = SETTINGS_METADATA if name == "metadata" else SETTING
        errors += _violations(attr, schema,
                              "environment_config.yaml: attributes -> " +
                              name)
        regex = (attr or {}).get("regex") if isinstance(attr, dict) else None
        if isinstance(regex, dict) and "source" in regex:
            try:
                pattern = re.compile(regex["source"])
            except re.error as e:
                errors.append("environment_config.yaml: attributes -> %s: "
                              "regex: %s" % (name, e))
                continue
            value = attr.get("value")
            if isinstance(value, str) and not pattern.search(value):
                errors.append("environment_config.yaml: attributes -> %s: "
                              "default %r does not match its own regex" %
                              (name, value))
    return errors


def check_components(plugin):
    components, errors = _load(plugin, "components.yaml", False)
    if components is None:
        return errors
    return errors + _violations(components, COMPONENTS, "components.yaml")


def check_tasks(plugin, meta, known_anchors):
    tasks, errors = _load(plugin, "deployment_tasks.yaml", True)
    if errors:
        return errors
    if not isinstance(tasks, list):
        return ["deployment_tasks.yaml: not a list of tasks"]
    ids = [t.get("id") for t in tasks if isinstance(t, dict)]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        errors.append("deployment_tasks.yaml: task id %r twice" % dup)
    scripts_dirs = [os.path.join(plugin, r["deployment_scripts_path"])
                    for r in (meta or {}).get("releases") or []
                    if isinstance(r, dict) and
                    r.get("deployment_scripts_path")]
    for i, task in enumerate(tasks):
        where = "deployment_tasks.yaml: %d (%s)" % (
            i, task.get("id") if isinstance(task, dict) else "?")
        if not isinstance(task, dict):
            errors.append(where + ": not a map")
            continue
        ttype = task.get("type")
        if ttype not in TASK_TYPES:
            errors.append("%s: type %r: no such task type (want one of %s)"
                          % (where, ttype, ", ".join(TASK_TYPES)))
            continue
        errors += _violations(task, task_schema(ttype), where)
        if ttype != "stage" and not any(task.get(k) for k in
                                        ("roles", "groups", "role")):
            errors.append(where + ": no roles/groups/role: it would run on "
                          "no node")
        for key in ("requires", "required_for"):
            for dep in task.get(key) or []:
                if dep not in ids and dep not in known_anchors:
                    errors.append("%s: %s %r: neither a task of this plugin "
                                  "nor a known Fuel task" % (where, key, dep))
        for rel in task.get("cross-depends") or []:
            name = rel.get("name") if isinstance(rel, dict) else None
            if isinstance(name, str) and name not in ids and \
                    name not in known_anchors:
                errors.append("%s: cross-depends %r: no such task" %
                              (where, name))
        params = task.get("parameters") or {}
        if ttype == "puppet" and isinstance(params, dict):
            for scripts in scripts_dirs:
                manifest = params.get("puppet_manifest")
                if isinstance(manifest, str) and not os.path.isfile(
                        os.path.join(scripts, manifest)):
                    errors.append("%s: puppet_manifest %r: not in %s" %
                                  (where, manifest,
                                   os.path.relpath(scripts, plugin)))
                modules = params.get("puppet_modules")
                for mod in (modules.split(":")
                            if isinstance(modules, str) else []):
                    # Absolute paths are on the target node (Fuel's own
                    # modules); relative ones ship with the plugin.
                    if mod and not os.path.isabs(mod) and not os.path.isdir(
                            os.path.join(scripts, mod)):
                        errors.append("%s: puppet_modules %r: not in %s" %
                                      (where, mod,
                                       os.path.relpath(scripts, plugin)))
    return errors


# Fuel 9 anchors and tasks a plugin may hang its tasks on.
FUEL_ANCHORS = frozenset((
    "deploy_start", "deploy_end", "pre_deployment_start",
    "pre_deployment_end", "post_deployment_start", "post_deployment_end",
    "primary-controller", "controller", "compute", "netconfig", "hiera",
    "globals", "openstack-controller", "glance", "top-role-compute",
    "connectivity_tests"))


def check_plugin(plugin, known_anchors=FUEL_ANCHORS):
    """Every rule violation of the plugin in directory `plugin`."""
    meta, errors = check_metadata(plugin)
    errors += check_settings(plugin)
    errors += check_components(plugin)
    errors += check_tasks(plugin, meta, known_anchors)
    return errors
