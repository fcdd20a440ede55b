#include "agent/request_validation.h"

#include <functional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace novadock::agent {
namespace {

using novadock::v1::CreateInstanceRequest;
using ::testing::StartsWith;

CreateInstanceRequest Good() {
  CreateInstanceRequest r;
  r.set_uuid("3f2a1c9e-0b7d-4e52-9a1f-2c3d4e5f6a7b");
  r.set_name("instance-0000002a");
  r.mutable_image()->set_name("busybox:latest");
  r.mutable_flavor()->set_memory_mb(64);
  r.mutable_flavor()->set_vcpus(1);
  return r;
}

TEST(RequestValidationTest, GoodRequestPasses) {
  EXPECT_TRUE(ValidateCreateInstance(Good()).ok());
  CreateInstanceRequest r = Good();
  r.set_hostname("web-1.example");
  (*r.mutable_env())["_PATH2"] = "multi\nline\tvalue";
  r.add_command("/bin/sh");
  r.add_command("-c");
  r.add_command("echo hi");
  r.mutable_image()->set_glance_id("aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee");
  r.mutable_image()->set_os_hash_algo("sha512");
  r.mutable_image()->set_os_hash_value(std::string(128, 'a'));
  r.mutable_flavor()->set_vcpus(1024);
  EXPECT_TRUE(ValidateCreateInstance(r).ok());
}

TEST(RequestValidationTest, EveryBadFieldIsNamed) {
  const struct {
    const char* field;  // Expected start of the message.
    std::function<void(CreateInstanceRequest&)> mutate;
  } kCases[] = {
      {"uuid", [](auto& r) { r.clear_uuid(); }},
      {"uuid", [](auto& r) { r.set_uuid("../../etc/passwd"); }},
      {"uuid",
       [](auto& r) { r.set_uuid("3F2A1C9E-0B7D-4E52-9A1F-2C3D4E5F6A7B"); }},
      {"uuid",
       [](auto& r) { r.set_uuid("3f2a1c9e-0b7d-4e52-9a1f-2c3d4e5f6a7b0"); }},
      {"name", [](auto& r) { r.clear_name(); }},
      {"name", [](auto& r) { r.set_name("a/../b"); }},
      {"name", [](auto& r) { r.set_name(std::string(256, 'a')); }},
      {"image", [](auto& r) { r.clear_image(); }},
      {"image", [](auto& r) { r.mutable_image()->clear_name(); }},
      {"image.glance_id",
       [](auto& r) { r.mutable_image()->set_glance_id("x"); }},
      {"image.name",
       [](auto& r) { r.mutable_image()->set_name(std::string("a\0b", 3)); }},
      {"image.name",
       [](auto& r) { r.mutable_image()->set_name("../../../etc/shadow"); }},
      {"image.name", [](auto& r) { r.mutable_image()->set_name("/etc/x"); }},
      {"image.name", [](auto& r) { r.mutable_image()->set_name("a/../b"); }},
      {"auth_token", [](auto& r) { r.set_auth_token("tok\r\nX-Evil: 1"); }},
      {"auth_token",
       [](auto& r) { r.set_auth_token(std::string(9 << 10, 't')); }},
      {"image.name",
       [](auto& r) { r.mutable_image()->set_name(std::string(300, 'a')); }},
      {"image.checksum",
       [](auto& r) { r.mutable_image()->set_checksum("zz"); }},
      {"image.os_hash_algo",
       [](auto& r) { r.mutable_image()->set_os_hash_algo("crc32"); }},
      {"image.os_hash_value",
       [](auto& r) {
         r.mutable_image()->set_os_hash_algo("sha256");
         r.mutable_image()->set_os_hash_value("not-hex");
       }},
      {"flavor", [](auto& r) { r.clear_flavor(); }},
      {"flavor.memory_mb",
       [](auto& r) { r.mutable_flavor()->set_memory_mb(5); }},
      {"flavor.memory_mb",
       [](auto& r) { r.mutable_flavor()->set_memory_mb(-64); }},
      {"flavor.memory_mb",
       [](auto& r) { r.mutable_flavor()->set_memory_mb(INT64_MAX); }},
      {"flavor.vcpus", [](auto& r) { r.mutable_flavor()->set_vcpus(0); }},
      {"flavor.vcpus", [](auto& r) { r.mutable_flavor()->set_vcpus(-1); }},
      {"flavor.vcpus", [](auto& r) { r.mutable_flavor()->set_vcpus(1025); }},
      {"flavor.disk_gb", [](auto& r) { r.mutable_flavor()->set_disk_gb(-1); }},
      {"flavor.name",
       [](auto& r) { r.mutable_flavor()->set_name("\x01tiny"); }},
      {"hostname", [](auto& r) { r.set_hostname("-bad"); }},
      {"hostname", [](auto& r) { r.set_hostname("a..b"); }},
      {"hostname", [](auto& r) { r.set_hostname("under_score"); }},
      {"hostname", [](auto& r) { r.set_hostname(std::string(64, 'a')); }},
      {"env", [](auto& r) { (*r.mutable_env())["A=B"] = "x"; }},
      {"env", [](auto& r) { (*r.mutable_env())[""] = "x"; }},
      {"env", [](auto& r) { (*r.mutable_env())["1ABC"] = "x"; }},
      {"env",
       [](auto& r) { (*r.mutable_env())[std::string("A\0B", 3)] = "x"; }},
      {"env[A]",
       [](auto& r) { (*r.mutable_env())["A"] = std::string("x\0y", 3); }},
      {"env[A]",
       [](auto& r) { (*r.mutable_env())["A"] = std::string(40 << 10, 'x'); }},
      {"env",
       [](auto& r) {
         for (int i = 0; i < 300; ++i) {
           (*r.mutable_env())["K" + std::to_string(i)] = "v";
         }
       }},
      {"command[0]", [](auto& r) { r.add_command(""); }},
      {"command[1]",
       [](auto& r) {
         r.add_command("sh");
         r.add_command(std::string("\0", 1));
       }},
      {"metadata",
       [](auto& r) {
         for (int i = 0; i < 200; ++i) {
           (*r.mutable_metadata())["k" + std::to_string(i)] = "v";
         }
       }},
      {"metadata[k]",
       [](auto& r) {
         (*r.mutable_metadata())["k"] = std::string(10 << 20, 'x');
       }},
      {"image.name", [](auto& r) { r.mutable_image()->set_name("\xff\xfe"); }},
      // Config drive paths: never outside the drive, never odd names.
      {"config_drive[../etc/passwd]",
       [](auto& r) { (*r.mutable_config_drive())["../etc/passwd"] = "x"; }},
      {"config_drive[/etc/passwd]",
       [](auto& r) { (*r.mutable_config_drive())["/etc/passwd"] = "x"; }},
      {"config_drive[a//b]",
       [](auto& r) { (*r.mutable_config_drive())["a//b"] = "x"; }},
      {"config_drive[a/./b]",
       [](auto& r) { (*r.mutable_config_drive())["a/./b"] = "x"; }},
      {"config_drive[a/]",
       [](auto& r) { (*r.mutable_config_drive())["a/"] = "x"; }},
      {"config_drive[a b]",
       [](auto& r) { (*r.mutable_config_drive())["a b"] = "x"; }},
      {"config_drive key",
       [](auto& r) {
         (*r.mutable_config_drive())[std::string("a\0b", 3)] = "x";
       }},
      {"config_drive key",
       [](auto& r) { (*r.mutable_config_drive())["\xff"] = "x"; }},
      {"config_drive[]",
       [](auto& r) { (*r.mutable_config_drive())[""] = "x"; }},
      {"config_drive[a/b/c/d/e/f/g/h/i]",
       [](auto& r) { (*r.mutable_config_drive())["a/b/c/d/e/f/g/h/i"] = "x"; }},
      {"config_drive[openstack/latest/user_data]",
       [](auto& r) {
         (*r.mutable_config_drive())["openstack/latest/user_data"] =
             std::string((1 << 20) + 1, 'x');
       }},
      {"config_drive",
       [](auto& r) {
         for (int i = 0; i < 4; ++i) {
           (*r.mutable_config_drive())["f" + std::to_string(i)] =
               std::string(1 << 20, 'x');
         }
       }},
      {"config_drive",
       [](auto& r) {
         for (int i = 0; i < 65; ++i) {
           (*r.mutable_config_drive())["f" + std::to_string(i)] = "";
         }
       }},
      {"config_drive[a/b]",
       [](auto& r) {
         (*r.mutable_config_drive())["a"] = "file";
         (*r.mutable_config_drive())["a/b"] = "inside a file";
       }},
      // Networks: user-defined only, addresses well-formed.
      {"network.name",
       [](auto& r) { r.mutable_network()->set_ipv4_address("10.0.0.5"); }},
      {"network.name", [](auto& r) { r.mutable_network()->set_name("host"); }},
      {"network.name", [](auto& r) { r.mutable_network()->set_name("none"); }},
      {"network.name",
       [](auto& r) { r.mutable_network()->set_name("container:abc"); }},
      {"network.name",
       [](auto& r) { r.mutable_network()->set_name("-dash-first"); }},
      {"network.name",
       [](auto& r) { r.mutable_network()->set_name(std::string(129, 'n')); }},
      {"network.ipv4_address",
       [](auto& r) {
         r.mutable_network()->set_name("tenant");
         r.mutable_network()->set_ipv4_address("10.0.0.256");
       }},
      {"network.ipv4_address",
       [](auto& r) {
         r.mutable_network()->set_name("tenant");
         r.mutable_network()->set_ipv4_address("::1");
       }},
      {"network.ipv6_address",
       [](auto& r) {
         r.mutable_network()->set_name("tenant");
         r.mutable_network()->set_ipv6_address("fd00::1::2");
       }},
      {"network.mac_address",
       [](auto& r) {
         r.mutable_network()->set_name("tenant");
         r.mutable_network()->set_mac_address("02:42:ac:11:00");
       }},
      {"network.mac_address",
       [](auto& r) {
         r.mutable_network()->set_name("tenant");
         r.mutable_network()->set_mac_address("01:00:5e:00:00:01");
       }},
      {"network.mac_address",
       [](auto& r) {
         r.mutable_network()->set_name("tenant");
         r.mutable_network()->set_mac_address("02:42:ac:11:00:zz");
       }},
  };
  for (const auto& c : kCases) {
    CreateInstanceRequest r = Good();
    c.mutate(r);
    absl::Status s = ValidateCreateInstance(r);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << c.field << ": " << s;
    EXPECT_THAT(std::string(s.message()), StartsWith(c.field)) << s;
  }
}

TEST(RequestValidationTest, GoodConfigDriveAndNetworkPass) {
  CreateInstanceRequest r = Good();
  auto& drive = *r.mutable_config_drive();
  drive["openstack/latest/meta_data.json"] = "{}";
  drive["openstack/latest/user_data"] = std::string(1 << 20, '\0');
  drive["openstack/content/0000"] = "binary\xff\x00";
  drive["openstack/latest/network_data.json"] = "{}";
  drive["a.b_c-d/..e"] = "dots inside a name are fine";
  r.mutable_network()->set_name("tenant-net.1");
  r.mutable_network()->set_ipv4_address("10.9.0.5");
  r.mutable_network()->set_ipv6_address("fd00:9::5");
  r.mutable_network()->set_mac_address("fa:16:3e:0a:0b:0c");
  absl::Status s = ValidateCreateInstance(r);
  EXPECT_TRUE(s.ok()) << s;
}

TEST(RequestValidationTest, GraceAndConsoleLimits) {
  EXPECT_TRUE(ValidateGracePeriod("g", 0).ok());
  EXPECT_TRUE(ValidateGracePeriod("g", 3600).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateGracePeriod("g", -1)));
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateGracePeriod("g", 3601)));
  novadock::v1::GetConsoleOutputRequest r;
  r.set_uuid("3f2a1c9e-0b7d-4e52-9a1f-2c3d4e5f6a7b");
  r.set_max_bytes(1 << 20);
  EXPECT_TRUE(ValidateConsoleRequest(r).ok());
  r.set_max_bytes((1 << 20) + 1);
  EXPECT_THAT(std::string(ValidateConsoleRequest(r).message()),
              StartsWith("max_bytes"));
  r.set_max_bytes(-1);
  EXPECT_FALSE(ValidateConsoleRequest(r).ok());
}

TEST(RequestValidationTest, DockerReferences) {
  for (const char* ok : {"busybox", "busybox:1.36", "novadock/glance:abc-1",
                         "registry.local:5000/a/b:tag", "a@sha256:0123abcd"}) {
    EXPECT_TRUE(IsDockerReference(ok)) << ok;
  }
  for (const char* bad :
       {"", "My Image", "../x", "a//b", "-x", "Busybox", "a\nb", "a b"}) {
    EXPECT_FALSE(IsDockerReference(bad)) << bad;
  }
}

}  // namespace
}  // namespace novadock::agent
