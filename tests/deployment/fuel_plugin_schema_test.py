#!/usr/bin/python3
"""The Fuel plugin (fuel-plugin/) against fuel-plugin-builder's rules for
package_version 4.0.0 (fuel_plugin_rules.py): every YAML file, its keys,
patterns and task types, and that the paths it names exist. Then the same
check on broken copies of the plugin, one fault each, to show that the
check catches what it claims to."""

import os
import shutil
import sys
import tempfile
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fuel_plugin_rules as rules  # noqa: E402

PLUGIN = os.path.join(os.path.dirname(os.path.dirname(HERE)), "fuel-plugin")


def load(name):
    with open(os.path.join(PLUGIN, name)) as f:
        return yaml.safe_load(f)


class PluginTest(unittest.TestCase):

    def test_plugin_passes(self):
        self.assertEqual(rules.check_plugin(PLUGIN), [])

    def test_what_the_issue_asks_for(self):
        meta = load("metadata.yaml")
        self.assertEqual(meta["name"], "novadock")
        self.assertEqual(meta["package_version"], "4.0.0")
        self.assertIn("hypervisor", meta["groups"])
        ubuntu = [r for r in meta["releases"] if r["os"] == "ubuntu"]
        self.assertTrue(ubuntu)
        self.assertEqual(ubuntu[0]["repository_path"], "repositories/ubuntu")
        components = load("components.yaml")
        self.assertIn("hypervisor:novadock", [c["name"] for c in components])
        attrs = load("environment_config.yaml")["attributes"]
        self.assertEqual(attrs["node_pattern"]["value"], "docker")
        for setting in ("image_dir", "glance_fetch", "tls",
                        "reserved_memory_mb", "reserved_vcpus",
                        "reserved_disk_gb"):
            self.assertIn(setting, attrs)
        tasks = {t["id"]: t for t in load("deployment_tasks.yaml")}
        for task in tasks.values():
            self.assertEqual(task["version"], "2.0.0")
            self.assertIn("timeout", task["parameters"])
            self.assertTrue(task.get("requires"))
            self.assertTrue(task.get("required_for"))
        self.assertEqual(tasks["novadock-compute"]["groups"], ["compute"])
        self.assertEqual(sorted(tasks["novadock-controller"]["groups"]),
                         ["controller", "primary-controller"])
        # The hook that fills repositories/ubuntu is there and executable.
        self.assertTrue(os.access(os.path.join(PLUGIN, "pre_build_hook"),
                                  os.X_OK))


class BrokenPluginTest(unittest.TestCase):
    """Each case breaks one rule in a copy and expects the check to say so,
    naming the file and the reason."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ndfuel.")
        self.plugin = os.path.join(self.dir, "fuel-plugin")
        shutil.copytree(PLUGIN, self.plugin, symlinks=True)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def edit(self, name, change):
        path = os.path.join(self.plugin, name)
        with open(path) as f:
            data = yaml.safe_load(f)
        change(data)  # Mutates data in place.
        with open(path, "w") as f:
            yaml.safe_dump(data, f)

    def assertRejected(self, *fragments):
        errors = rules.check_plugin(self.plugin)
        joined = "\n".join(errors)
        for fragment in fragments:
            self.assertIn(fragment, joined)

    def test_missing_metadata_key(self):
        self.edit("metadata.yaml", lambda m: m.pop("is_hotpluggable"))
        self.assertRejected("metadata.yaml", "'is_hotpluggable' is a "
                            "required property")

    def test_wrong_package_version(self):
        self.edit("metadata.yaml",
                  lambda m: m.update(package_version="3.0.0"))
        self.assertRejected("metadata.yaml: package_version", "'3.0.0'")

    def test_bad_plugin_name(self):
        self.edit("metadata.yaml", lambda m: m.update(name="Nova Dock"))
        self.assertRejected("metadata.yaml: name", "does not match")

    def test_old_fuel_version(self):
        self.edit("metadata.yaml", lambda m: m.update(fuel_version=["7.0"]))
        self.assertRejected("fuel_version '7.0'", "Fuel 8.0")

    def test_unknown_group(self):
        self.edit("metadata.yaml", lambda m: m.update(groups=["docker"]))
        self.assertRejected("metadata.yaml: groups -> 0")

    def test_missing_repository_path(self):
        shutil.rmtree(os.path.join(self.plugin, "repositories"))
        self.assertRejected("repository_path 'repositories/ubuntu': no such "
                            "directory")

    def test_setting_without_weight(self):
        self.edit("environment_config.yaml",
                  lambda c: c["attributes"]["tls"].pop("weight"))
        self.assertRejected("attributes -> tls", "'weight' is a required")

    def test_setting_with_number_value(self):
        self.edit("environment_config.yaml", lambda c: c["attributes"][
            "max_instances"].update(value=100))
        self.assertRejected("attributes -> max_instances", "value")

    def test_setting_default_breaks_its_regex(self):
        self.edit("environment_config.yaml", lambda c: c["attributes"][
            "reserved_vcpus"].update(value="two"))
        self.assertRejected("reserved_vcpus: default 'two' does not match")

    def test_unknown_settings_group(self):
        self.edit("environment_config.yaml", lambda c: c["attributes"][
            "metadata"].update(group="docker"))
        self.assertRejected("environment_config.yaml: attributes -> "
                            "metadata -> group")

    def test_bad_component_name(self):
        self.edit("components.yaml", lambda c: c[0].update(name="novadock"))
        self.assertRejected("components.yaml: 0 -> name", "does not match")

    def test_component_unknown_key(self):
        self.edit("components.yaml", lambda c: c[0].update(colour="blue"))
        self.assertRejected("components.yaml", "colour")

    def test_unknown_task_type(self):
        self.edit("deployment_tasks.yaml",
                  lambda t: t[0].update(type="ansible"))
        self.assertRejected("type 'ansible': no such task type")

    def test_puppet_task_without_timeout(self):
        self.edit("deployment_tasks.yaml",
                  lambda t: t[1]["parameters"].pop("timeout"))
        self.assertRejected("novadock-compute", "'timeout' is a required")

    def test_bad_task_id(self):
        self.edit("deployment_tasks.yaml",
                  lambda t: t[0].update(id="novadock controller"))
        self.assertRejected("id", "does not match")

    def test_bad_task_version(self):
        self.edit("deployment_tasks.yaml",
                  lambda t: t[0].update(version="2"))
        self.assertRejected("version", "does not match")

    def test_bad_role_regexp(self):
        self.edit("deployment_tasks.yaml",
                  lambda t: t[1].update(groups=["/comp(ute/"]))
        self.assertRejected("groups", "/comp(ute/")

    def test_manifest_missing(self):
        os.remove(os.path.join(self.plugin, "deployment_scripts",
                               "compute.pp"))
        self.assertRejected("puppet_manifest 'compute.pp': not in "
                            "deployment_scripts")

    def test_modules_dir_missing(self):
        shutil.rmtree(os.path.join(self.plugin, "deployment_scripts",
                                   "modules"))
        self.assertRejected("puppet_modules 'modules': not in")

    def test_unknown_dependency(self):
        self.edit("deployment_tasks.yaml", lambda t: t[0].update(
            requires=["no-such-task"]))
        self.assertRejected("requires 'no-such-task'")

    def test_duplicate_task_id(self):
        self.edit("deployment_tasks.yaml", lambda t: t[1].update(
            id=t[0]["id"]))
        self.assertRejected("task id 'novadock-controller' twice")

    def test_task_without_roles(self):
        self.edit("deployment_tasks.yaml", lambda t: t[1].pop("groups"))
        self.assertRejected("novadock-compute", "would run on no node")


def main():
    result = unittest.TextTestRunner(verbosity=2).run(
        unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__]))
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
