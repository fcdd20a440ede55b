#include "controller/request_checks.h"

#include <cstdint>
#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace novadock::controller {
namespace {

using ::testing::StartsWith;

constexpr char kUuid[] = "3f2a1c9e-0b7d-4e52-9a1f-2c3d4e5f6a7b";

void ExpectInvalid(const absl::Status& s, const std::string& field) {
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(std::string(s.message()), StartsWith(field)) << s;
}

TEST(RequestChecksTest, GoodValuesPass) {
  EXPECT_TRUE(CheckUuid("uuid", kUuid).ok());
  EXPECT_TRUE(CheckNodeName("node", "", false).ok());
  EXPECT_TRUE(CheckNodeName("node", "compute-docker-1.a_b", true).ok());
  EXPECT_TRUE(CheckGrace(0).ok());
  EXPECT_TRUE(CheckGrace(3600).ok());
  EXPECT_TRUE(CheckToken("").ok());
  EXPECT_TRUE(CheckToken("gAAAAABk-token_0123").ok());
  EXPECT_TRUE(CheckImageName("").ok());
  EXPECT_TRUE(CheckImageName("registry:5000/novadock/snap:v1.2").ok());
  EXPECT_TRUE(CheckFileName("image-1.tar").ok());
  novadock::v1::Flavor f;
  f.set_memory_mb(64);
  f.set_vcpus(1);
  EXPECT_TRUE(CheckFlavor(f).ok());
}

TEST(RequestChecksTest, BadValuesNameTheirField) {
  ExpectInvalid(CheckUuid("uuid", "../../x"), "uuid");
  ExpectInvalid(CheckUuid("instance.uuid", ""), "instance.uuid");
  ExpectInvalid(CheckNodeName("name", "", true), "name");
  ExpectInvalid(CheckNodeName("node", "../x", false), "node");
  ExpectInvalid(CheckNodeName("node", std::string(64, 'a'), false), "node");
  ExpectInvalid(CheckGrace(-1), "grace_period_seconds");
  ExpectInvalid(CheckGrace(std::numeric_limits<int32_t>::max()),
                "grace_period_seconds");
  ExpectInvalid(CheckToken("tok\r\nX-Evil: 1"), "auth_token");
  ExpectInvalid(CheckToken(std::string(9 << 10, 't')), "auth_token");
  ExpectInvalid(CheckImageName("../../x"), "image_name");
  ExpectInvalid(CheckImageName("/abs"), "image_name");
  ExpectInvalid(CheckImageName("Upper"), "image_name");
  ExpectInvalid(CheckFileName("../etc/passwd"), "file_name");
  ExpectInvalid(CheckFileName(".hidden.tar"), "file_name");
  novadock::v1::InstanceCallRequest call;
  call.set_uuid(kUuid);
  call.set_grace_period_seconds(-5);
  ExpectInvalid(CheckCall(call), "grace_period_seconds");
}

TEST(RequestChecksTest, FlavorSizesAreBoundedBeforeAnyArithmetic) {
  const struct {
    int64_t memory_mb;
    int32_t vcpus;
    int64_t disk_gb;
    const char* field;
  } kCases[] = {
      {0, 1, 0, "instance.flavor.memory_mb"},
      {-64, 1, 0, "instance.flavor.memory_mb"},
      {std::numeric_limits<int64_t>::max(), 1, 0, "instance.flavor.memory_mb"},
      {64, 0, 0, "instance.flavor.vcpus"},
      {64, std::numeric_limits<int32_t>::max(), 0, "instance.flavor.vcpus"},
      {64, 1, -1, "instance.flavor.disk_gb"},
      {64, 1, std::numeric_limits<int64_t>::max(), "instance.flavor.disk_gb"},
  };
  for (const auto& c : kCases) {
    novadock::v1::Flavor f;
    f.set_memory_mb(c.memory_mb);
    f.set_vcpus(c.vcpus);
    f.set_disk_gb(c.disk_gb);
    ExpectInvalid(CheckFlavor(f), c.field);
  }
}

}  // namespace
}  // namespace novadock::controller
