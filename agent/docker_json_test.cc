#include "agent/docker_json.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"

namespace novadock::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

MATCHER_P2(IsError, code, substring, "") {
  return arg.code() == code &&
         absl::StrContains(arg.message(), absl::string_view(substring));
}

// Builder output parsed back, for structural checks.
rapidjson::Document Json(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str());
  EXPECT_FALSE(doc.HasParseError()) << text;
  return doc;
}

TEST(UrlEscapeTest, KeepsUnreservedAndEscapesTheRest) {
  EXPECT_EQ(UrlEscape("nova-x_1.2~"), "nova-x_1.2~");
  EXPECT_EQ(UrlEscape("repo/img:1"), "repo%2Fimg%3A1");
  EXPECT_EQ(UrlEscape("{\"label\":[\"a=b c&d\"]}"),
            "%7B%22label%22%3A%5B%22a%3Db%20c%26d%22%5D%7D");
  EXPECT_EQ(UrlEscape("\xff"), "%FF");
}

TEST(VersionedPathTest, PrefixesVersion) {
  EXPECT_EQ(VersionedPath("1.41", "/containers/json"),
            "/v1.41/containers/json");
}

TEST(ParseDockerTimeTest, Rfc3339Nano) {
  absl::StatusOr<absl::Time> t =
      ParseDockerTime("2024-05-01T10:00:00.123456789Z");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t,
            absl::FromUnixSeconds(1714557600) + absl::Nanoseconds(123456789));
}

TEST(ParseDockerTimeTest, Offset) {
  absl::StatusOr<absl::Time> t = ParseDockerTime("2024-05-01T12:00:00+02:00");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, absl::FromUnixSeconds(1714557600));
}

TEST(ParseDockerTimeTest, ZeroTimeAndEmptyMeanNever) {
  EXPECT_EQ(*ParseDockerTime("0001-01-01T00:00:00Z"), absl::InfinitePast());
  EXPECT_EQ(*ParseDockerTime(""), absl::InfinitePast());
}

TEST(ParseDockerTimeTest, GarbageIsInternal) {
  EXPECT_THAT(ParseDockerTime("yesterday").status(),
              IsError(absl::StatusCode::kInternal, "yesterday"));
}

TEST(FormatEventsSinceTest, SecondsDotNanos) {
  EXPECT_EQ(FormatEventsSince(1714557600000000001), "1714557600.000000001");
  EXPECT_EQ(FormatEventsSince(5), "0.000000005");
}

TEST(BuildCreateContainerBodyTest, SendsLimitsAndNoPrivileges) {
  ContainerSpec spec;
  spec.name = "nova-x";
  spec.image = "novadock-test:latest";
  spec.hostname = "vm1";
  spec.cmd = {"sh", "-c", "sleep 1"};
  spec.env = {"A=1"};
  spec.labels = {{"novadock.uuid", "u1"}};
  spec.memory_bytes = 64 << 20;
  spec.memory_swap_bytes = 128 << 20;
  spec.nano_cpus = 500000000;
  spec.cpu_shares = 512;
  spec.pids_limit = 100;
  rapidjson::Document doc = Json(BuildCreateContainerBody(spec));
  EXPECT_STREQ(doc["Image"].GetString(), "novadock-test:latest");
  EXPECT_STREQ(doc["Hostname"].GetString(), "vm1");
  EXPECT_EQ(doc["Cmd"].Size(), 3u);
  EXPECT_STREQ(doc["Env"][0].GetString(), "A=1");
  EXPECT_STREQ(doc["Labels"]["novadock.uuid"].GetString(), "u1");
  EXPECT_FALSE(doc["Tty"].GetBool());
  const rapidjson::Value& host = doc["HostConfig"];
  ASSERT_TRUE(host["Privileged"].IsBool());
  EXPECT_FALSE(host["Privileged"].GetBool());
  EXPECT_STREQ(host["NetworkMode"].GetString(), "none");
  EXPECT_EQ(host["Memory"].GetInt64(), 64 << 20);
  EXPECT_EQ(host["MemorySwap"].GetInt64(), 128 << 20);
  EXPECT_EQ(host["NanoCpus"].GetInt64(), 500000000);
  EXPECT_EQ(host["CpuShares"].GetInt64(), 512);
  EXPECT_EQ(host["PidsLimit"].GetInt64(), 100);
  EXPECT_STREQ(host["LogConfig"]["Type"].GetString(), "json-file");
  EXPECT_STREQ(host["LogConfig"]["Config"]["max-size"].GetString(), "10m");
  EXPECT_STREQ(host["LogConfig"]["Config"]["max-file"].GetString(), "3");
  ASSERT_EQ(host["SecurityOpt"].Size(), 1u);
  EXPECT_STREQ(host["SecurityOpt"][0].GetString(), "no-new-privileges");
  for (const char* forbidden :
       {"Binds", "Mounts", "CapAdd", "Devices", "PidMode", "IpcMode", "UTSMode",
        "UsernsMode", "CgroupnsMode", "VolumesFrom"}) {
    EXPECT_FALSE(host.HasMember(forbidden)) << forbidden;
  }
  EXPECT_FALSE(doc.HasMember("Volumes"));
}

TEST(BuildCreateContainerBodyTest, ConfigDriveIsTheOneReadOnlyMount) {
  ContainerSpec spec;
  spec.image = "img";
  spec.config_source = "/var/lib/novadock/config-drive/u1";
  spec.config_target = "/var/lib/cloud/seed/config_drive";
  rapidjson::Document doc = Json(BuildCreateContainerBody(spec));
  const rapidjson::Value& host = doc["HostConfig"];
  EXPECT_FALSE(host.HasMember("Binds"));
  ASSERT_EQ(host["Mounts"].Size(), 1u);
  const rapidjson::Value& m = host["Mounts"][0];
  EXPECT_STREQ(m["Type"].GetString(), "bind");
  EXPECT_STREQ(m["Source"].GetString(), "/var/lib/novadock/config-drive/u1");
  EXPECT_STREQ(m["Target"].GetString(), "/var/lib/cloud/seed/config_drive");
  EXPECT_TRUE(m["ReadOnly"].GetBool());
  EXPECT_FALSE(doc.HasMember("NetworkingConfig"));
  EXPECT_FALSE(doc.HasMember("MacAddress"));
}

TEST(BuildCreateContainerBodyTest, StaticAddressesGoToTheNetworksEndpoint) {
  ContainerSpec spec;
  spec.image = "img";
  spec.network_mode = "tenant";
  spec.ipv4_address = "10.9.0.5";
  spec.ipv6_address = "fd00:9::5";
  spec.mac_address = "fa:16:3e:0a:0b:0c";
  rapidjson::Document doc = Json(BuildCreateContainerBody(spec));
  EXPECT_STREQ(doc["HostConfig"]["NetworkMode"].GetString(), "tenant");
  EXPECT_FALSE(doc["HostConfig"].HasMember("Mounts"));
  const rapidjson::Value& ipam =
      doc["NetworkingConfig"]["EndpointsConfig"]["tenant"]["IPAMConfig"];
  EXPECT_STREQ(ipam["IPv4Address"].GetString(), "10.9.0.5");
  EXPECT_STREQ(ipam["IPv6Address"].GetString(), "fd00:9::5");
  EXPECT_STREQ(doc["MacAddress"].GetString(), "fa:16:3e:0a:0b:0c");
}

TEST(BuildCreateContainerBodyTest, OmitsEmptyCmdAndHostname) {
  ContainerSpec spec;
  spec.image = "img";
  spec.no_new_privileges = false;
  spec.network_mode = "bridge";
  rapidjson::Document doc = Json(BuildCreateContainerBody(spec));
  EXPECT_FALSE(doc.HasMember("Cmd"));
  EXPECT_FALSE(doc.HasMember("Hostname"));
  EXPECT_EQ(doc["HostConfig"]["SecurityOpt"].Size(), 0u);
  EXPECT_STREQ(doc["HostConfig"]["NetworkMode"].GetString(), "bridge");
  EXPECT_FALSE(doc["HostConfig"]["Privileged"].GetBool());
}

TEST(BuildCreateContainerBodyTest, EscapesStrings) {
  ContainerSpec spec;
  spec.image = "img";
  spec.env = {"Q=\"quoted\"\n\\"};
  rapidjson::Document doc = Json(BuildCreateContainerBody(spec));
  EXPECT_STREQ(doc["Env"][0].GetString(), "Q=\"quoted\"\n\\");
}

TEST(BuildFiltersJsonTest, MapOfArrays) {
  EXPECT_EQ(BuildFiltersJson({}), "{}");
  EXPECT_EQ(
      BuildFiltersJson({{"label", {"a=b", "c"}}, {"type", {"container"}}}),
      R"({"label":["a=b","c"],"type":["container"]})");
  EXPECT_EQ(UrlEscape(BuildFiltersJson({{"label", {"k=v&x"}}})),
            "%7B%22label%22%3A%5B%22k%3Dv%26x%22%5D%7D");
}

TEST(ParseVersionTest, Good) {
  absl::StatusOr<DockerVersion> v = ParseVersion(
      R"({"Version":"20.10.24+dfsg1","ApiVersion":"1.41","Os":"linux",
          "Arch":"amd64","KernelVersion":"6.1.0","Components":[]})");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->version, "20.10.24+dfsg1");
  EXPECT_EQ(v->api_version, "1.41");
  EXPECT_EQ(v->os, "linux");
  EXPECT_EQ(v->arch, "amd64");
  EXPECT_EQ(v->kernel_version, "6.1.0");
}

TEST(ParseVersionTest, Malformed) {
  EXPECT_THAT(ParseVersion("").status(),
              IsError(absl::StatusCode::kInternal, "invalid JSON"));
  EXPECT_THAT(ParseVersion("[]").status(),
              IsError(absl::StatusCode::kInternal, "not a JSON object"));
  EXPECT_THAT(ParseVersion(R"({"Version":"1"})").status(),
              IsError(absl::StatusCode::kInternal, "ApiVersion is missing"));
  EXPECT_THAT(ParseVersion(R"({"Version":1,"ApiVersion":"1.41"})").status(),
              IsError(absl::StatusCode::kInternal, "Version is not a string"));
}

TEST(ParseInfoTest, GoodAndMalformed) {
  absl::StatusOr<DockerInfo> info = ParseInfo(
      R"({"Name":"vm","MemTotal":25276510208,"NCPU":2,
          "DockerRootDir":"/var/lib/docker"})");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->name, "vm");
  EXPECT_EQ(info->mem_total_bytes, 25276510208);
  EXPECT_EQ(info->ncpu, 2);
  EXPECT_EQ(info->docker_root_dir, "/var/lib/docker");
  EXPECT_THAT(ParseInfo(R"({"NCPU":"2"})").status(),
              IsError(absl::StatusCode::kInternal,
                      "docker info response: NCPU is not a 32-bit integer"));
  EXPECT_THAT(ParseInfo(R"({"MemTotal":1.5})").status(),
              IsError(absl::StatusCode::kInternal, "MemTotal"));
}

TEST(ParseImageInspectTest, GoodAndMalformed) {
  absl::StatusOr<ImageDetails> image = ParseImageInspect(
      R"({"Id":"sha256:cf2a","RepoTags":["novadock-test:latest"],
          "Size":1982284})");
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->id, "sha256:cf2a");
  EXPECT_THAT(image->repo_tags, ElementsAre("novadock-test:latest"));
  EXPECT_EQ(image->size_bytes, 1982284);
  // Untagged images have RepoTags null or [].
  EXPECT_TRUE(ParseImageInspect(R"({"Id":"x","RepoTags":null})").ok());
  EXPECT_THAT(ParseImageInspect(R"({"Id":"x","RepoTags":[1]})").status(),
              IsError(absl::StatusCode::kInternal, "RepoTags"));
  EXPECT_THAT(ParseImageInspect(R"({"RepoTags":[]})").status(),
              IsError(absl::StatusCode::kInternal, "Id is missing"));
}

TEST(ParseCreateResponseTest, GoodAndMalformed) {
  EXPECT_EQ(*ParseCreateResponse(R"({"Id":"bb6c","Warnings":[]})"), "bb6c");
  EXPECT_THAT(ParseCreateResponse(R"({"Warnings":[]})").status(),
              IsError(absl::StatusCode::kInternal, "Id is missing"));
}

constexpr char kInspectJson[] = R"({
  "Id":"bb6c","Created":"2026-11-23T12:16:37.03369494Z","Name":"/nova-x",
  "Image":"sha256:cf2a",
  "State":{"Status":"exited","Running":false,"Paused":false,"Pid":0,
           "ExitCode":137,"StartedAt":"2026-11-23T12:16:37.225389857Z",
           "FinishedAt":"0001-01-01T00:00:00Z"},
  "Config":{"Hostname":"vm1","Labels":{"a":"b"}},
  "HostConfig":{"Memory":67108864,"MemorySwap":134217728,"NanoCpus":0,
                "CpuShares":0,"PidsLimit":null,"Privileged":false,
                "NetworkMode":"none"}})";

TEST(ParseContainerInspectTest, Good) {
  absl::StatusOr<ContainerDetails> d = ParseContainerInspect(kInspectJson);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->id, "bb6c");
  EXPECT_EQ(d->name, "nova-x");
  EXPECT_EQ(d->image_id, "sha256:cf2a");
  EXPECT_EQ(d->hostname, "vm1");
  EXPECT_THAT(d->labels, ElementsAre(Pair("a", "b")));
  EXPECT_EQ(d->created, *ParseDockerTime("2026-11-23T12:16:37.03369494Z"));
  EXPECT_EQ(d->state.status, "exited");
  EXPECT_FALSE(d->state.running);
  EXPECT_EQ(d->state.exit_code, 137);
  EXPECT_NE(d->state.started_at, absl::InfinitePast());
  EXPECT_EQ(d->state.finished_at, absl::InfinitePast());
  EXPECT_EQ(d->memory_bytes, 67108864);
  EXPECT_EQ(d->memory_swap_bytes, 134217728);
  EXPECT_EQ(d->pids_limit, 0);  // null: unlimited.
  EXPECT_FALSE(d->privileged);
  EXPECT_EQ(d->network_mode, "none");
}

TEST(ParseContainerInspectTest, NetworksAndMounts) {
  absl::StatusOr<ContainerDetails> d = ParseContainerInspect(R"({
    "Id": "x",
    "Mounts": [{"Type": "bind", "Source": "/cd/u1",
                "Destination": "/var/lib/cloud/seed/config_drive",
                "Mode": "", "RW": false, "Propagation": "rprivate"}],
    "NetworkSettings": {"Networks": {
      "tenant": {"IPAddress": "10.9.0.5", "GlobalIPv6Address": "fd00:9::5",
                 "MacAddress": "fa:16:3e:0a:0b:0c", "IPAMConfig": null},
      "none": {"IPAddress": "", "MacAddress": ""}}}})");
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->networks.size(), 1u);  // "none" is no network.
  EXPECT_EQ(d->networks[0].name, "tenant");
  EXPECT_EQ(d->networks[0].ipv4_address, "10.9.0.5");
  EXPECT_EQ(d->networks[0].ipv6_address, "fd00:9::5");
  EXPECT_EQ(d->networks[0].mac_address, "fa:16:3e:0a:0b:0c");
  ASSERT_EQ(d->mounts.size(), 1u);
  EXPECT_EQ(d->mounts[0].type, "bind");
  EXPECT_EQ(d->mounts[0].source, "/cd/u1");
  EXPECT_EQ(d->mounts[0].destination, "/var/lib/cloud/seed/config_drive");
  EXPECT_FALSE(d->mounts[0].read_write);

  EXPECT_THAT(ParseContainerInspect(
                  R"({"Id":"x","NetworkSettings":{"Networks":{"n":1}}})")
                  .status()
                  .message(),
              HasSubstr("NetworkSettings.Networks"));
  EXPECT_THAT(ParseContainerInspect(R"({"Id":"x","Mounts":[{"RW":"yes"}]})")
                  .status()
                  .message(),
              HasSubstr("Mounts[0].RW"));
  EXPECT_THAT(
      ParseContainerInspect(R"({"Id":"x","Mounts":{}})").status().message(),
      HasSubstr("Mounts is not an array"));
}

TEST(ParseContainerInspectTest, MalformedFieldsAreNamed) {
  EXPECT_THAT(
      ParseContainerInspect(R"({"Id":"x","State":{"Pid":"12"}})").status(),
      IsError(absl::StatusCode::kInternal,
              "docker container inspect response: State.Pid is not"));
  EXPECT_THAT(ParseContainerInspect(R"({"Id":"x","State":[]})").status(),
              IsError(absl::StatusCode::kInternal, "State is not an object"));
  EXPECT_THAT(
      ParseContainerInspect(R"({"Id":"x","Config":{"Labels":{"a":1}}})")
          .status(),
      IsError(absl::StatusCode::kInternal, "Config.Labels member \"a\""));
  EXPECT_THAT(
      ParseContainerInspect(R"({"Id":"x","HostConfig":{"Privileged":"no"}})")
          .status(),
      IsError(absl::StatusCode::kInternal, "HostConfig.Privileged"));
  EXPECT_THAT(
      ParseContainerInspect(R"({"Id":"x","Created":"soon"})").status(),
      IsError(absl::StatusCode::kInternal, "Created timestamp \"soon\""));
  EXPECT_THAT(ParseContainerInspect(R"({"Id":"x",)").status(),
              IsError(absl::StatusCode::kInternal, "invalid JSON"));
}

TEST(ParseContainerListTest, Good) {
  absl::StatusOr<std::vector<ContainerSummary>> list = ParseContainerList(
      R"([{"Id":"bb6c","Names":["/nova-x"],"Image":"novadock-test:latest",
           "Created":1795436197,"Labels":{"a":"b"},"State":"running",
           "Status":"Up 1 second"},
          {"Id":"cc7d","Names":null,"Labels":null,"Created":0}])");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, "bb6c");
  EXPECT_EQ((*list)[0].name, "nova-x");
  EXPECT_EQ((*list)[0].image, "novadock-test:latest");
  EXPECT_EQ((*list)[0].state, "running");
  EXPECT_EQ((*list)[0].created, absl::FromUnixSeconds(1795436197));
  EXPECT_THAT((*list)[0].labels, ElementsAre(Pair("a", "b")));
  EXPECT_EQ((*list)[1].name, "");
  EXPECT_EQ((*list)[1].created, absl::InfinitePast());
  EXPECT_TRUE(ParseContainerList("[]")->empty());
}

TEST(ParseContainerListTest, Malformed) {
  EXPECT_THAT(ParseContainerList("{}").status(),
              IsError(absl::StatusCode::kInternal, "not a JSON array"));
  EXPECT_THAT(ParseContainerList(R"([{"Id":"a"},3])").status(),
              IsError(absl::StatusCode::kInternal, "element 1"));
  EXPECT_THAT(
      ParseContainerList(R"([{"Id":"a","Created":"yesterday"}])").status(),
      IsError(absl::StatusCode::kInternal, "[0].Created is not an integer"));
  EXPECT_THAT(ParseContainerList(R"([{"Id":"a","Names":"/x"}])").status(),
              IsError(absl::StatusCode::kInternal, "[0].Names"));
}

TEST(ParseContainerStatsTest, Running) {
  absl::StatusOr<ContainerStats> s = ParseContainerStats(
      R"({"read":"2026-11-23T12:16:47.887300442Z","pids_stats":{"current":1},
          "cpu_stats":{"cpu_usage":{"total_usage":17745557}},
          "memory_stats":{"usage":770048,"limit":67108864}})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->cpu_total_nanos, 17745557u);
  EXPECT_EQ(s->memory_usage_bytes, 770048u);
  EXPECT_EQ(s->memory_limit_bytes, 67108864u);
  EXPECT_EQ(s->pids_current, 1u);
  EXPECT_NE(s->read, absl::InfinitePast());
}

TEST(ParseContainerStatsTest, StoppedContainerHasEmptySections) {
  // What dockerd 20.10 answers for a stopped container.
  absl::StatusOr<ContainerStats> s = ParseContainerStats(
      R"({"read":"0001-01-01T00:00:00Z","pids_stats":{},
          "cpu_stats":{"cpu_usage":{"total_usage":0}},"memory_stats":{}})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->read, absl::InfinitePast());
  EXPECT_EQ(s->memory_usage_bytes, 0u);
}

TEST(ParseContainerStatsTest, Malformed) {
  EXPECT_THAT(ParseContainerStats(R"({"memory_stats":{"usage":-1}})").status(),
              IsError(absl::StatusCode::kInternal,
                      "memory_stats.usage is not an unsigned integer"));
  EXPECT_THAT(ParseContainerStats(R"({"cpu_stats":{"cpu_usage":7}})").status(),
              IsError(absl::StatusCode::kInternal,
                      "cpu_stats.cpu_usage is not an object"));
}

TEST(ParseEventTest, Good) {
  absl::StatusOr<DockerEvent> e = ParseEvent(
      R"({"status":"die","id":"bb6c","from":"img","Type":"container",
          "Action":"die","Actor":{"ID":"bb6c","Attributes":{"exitCode":"137",
          "name":"nova-x"}},"scope":"local","time":1795436212,
          "timeNano":1795436212035219430})");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->type, "container");
  EXPECT_EQ(e->action, "die");
  EXPECT_EQ(e->id, "bb6c");
  EXPECT_THAT(e->attributes, UnorderedElementsAre(Pair("exitCode", "137"),
                                                  Pair("name", "nova-x")));
  EXPECT_EQ(e->time_unix_nanos, 1795436212035219430);
}

TEST(ParseEventTest, OldFormatFallsBackToStatusAndId) {
  absl::StatusOr<DockerEvent> e =
      ParseEvent(R"({"status":"start","id":"bb6c","time":1})");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->action, "start");
  EXPECT_EQ(e->id, "bb6c");
}

TEST(ParseEventTest, Malformed) {
  EXPECT_THAT(ParseEvent(R"({"Type":"container"})").status(),
              IsError(absl::StatusCode::kInternal, "Action is missing"));
  EXPECT_THAT(ParseEvent(R"({"Action":"x","Actor":{"ID":5}})").status(),
              IsError(absl::StatusCode::kInternal, "Actor.ID"));
  EXPECT_THAT(ParseEvent(R"({"Action":"x","timeNano":"1"})").status(),
              IsError(absl::StatusCode::kInternal, "timeNano"));
}

TEST(ParseErrorMessageTest, GoodAndMalformed) {
  EXPECT_EQ(*ParseErrorMessage(R"({"message":"No such container: x"})"),
            "No such container: x");
  EXPECT_FALSE(ParseErrorMessage("404 page not found").ok());
  EXPECT_FALSE(ParseErrorMessage(R"({"message":3})").ok());
  EXPECT_FALSE(ParseErrorMessage(R"({})").ok());
}

std::string Frame(char stream, absl::string_view payload) {
  std::string out(8, '\0');
  out[0] = stream;
  const uint32_t n = payload.size();
  out[4] = static_cast<char>(n >> 24);
  out[5] = static_cast<char>(n >> 16);
  out[6] = static_cast<char>(n >> 8);
  out[7] = static_cast<char>(n);
  return absl::StrCat(out, payload);
}

TEST(LogFrameDemuxerTest, SplitsAcrossEveryChunkBoundary) {
  const std::string stream = Frame(1, "out\n") + Frame(2, "err\n") +
                             Frame(1, "") + Frame(1, std::string(300, 'x'));
  const std::string want = "out\nerr\n" + std::string(300, 'x');
  for (size_t chunk = 1; chunk <= stream.size(); ++chunk) {
    std::string got;
    ChunkCallback cb = [&](absl::string_view s) {
      got.append(s.data(), s.size());
      return true;
    };
    LogFrameDemuxer demuxer(cb);
    for (size_t i = 0; i < stream.size(); i += chunk) {
      ASSERT_TRUE(
          demuxer.Feed(absl::string_view(stream).substr(i, chunk)).ok());
    }
    EXPECT_TRUE(demuxer.Finish().ok());
    EXPECT_EQ(got, want) << "chunk size " << chunk;
  }
}

TEST(LogFrameDemuxerTest, BadHeaderIsInternal) {
  ChunkCallback cb = [](absl::string_view) { return true; };
  LogFrameDemuxer demuxer(cb);
  EXPECT_THAT(demuxer.Feed("hello, raw tty output\n"),
              IsError(absl::StatusCode::kInternal, "bad header"));
}

TEST(LogFrameDemuxerTest, TruncatedFrameIsInternal) {
  ChunkCallback cb = [](absl::string_view) { return true; };
  LogFrameDemuxer demuxer(cb);
  ASSERT_TRUE(demuxer.Feed(Frame(1, "abcdef").substr(0, 10)).ok());
  EXPECT_THAT(demuxer.Finish(), IsError(absl::StatusCode::kInternal, "ended"));
}

TEST(LogFrameDemuxerTest, CallbackStops) {
  int calls = 0;
  ChunkCallback cb = [&](absl::string_view) { return ++calls < 1; };
  LogFrameDemuxer demuxer(cb);
  ASSERT_TRUE(demuxer.Feed(Frame(1, "a") + Frame(1, "b")).ok());
  EXPECT_TRUE(demuxer.stopped());
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(demuxer.Finish().ok());
}

TEST(EventStreamDecoderTest, ParsesLinesAcrossChunks) {
  const std::string stream =
      "{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"a\"}}\n"
      "\n"
      "{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"a\"}}"
      "\r\n";
  for (size_t chunk = 1; chunk <= stream.size(); ++chunk) {
    std::vector<std::string> actions;
    EventCallback cb = [&](const DockerEvent& e) {
      actions.push_back(e.action);
      return true;
    };
    EventStreamDecoder decoder(cb);
    for (size_t i = 0; i < stream.size(); i += chunk) {
      ASSERT_TRUE(
          decoder.Feed(absl::string_view(stream).substr(i, chunk)).ok());
    }
    EXPECT_THAT(actions, ElementsAre("start", "die")) << "chunk " << chunk;
  }
}

TEST(EventStreamDecoderTest, StopsWhenCallbackSaysSo) {
  int calls = 0;
  EventCallback cb = [&](const DockerEvent&) {
    ++calls;
    return false;
  };
  EventStreamDecoder decoder(cb);
  ASSERT_TRUE(decoder
                  .Feed("{\"Action\":\"start\"}\n{\"Action\":\"die\"}\n"
                        "{\"Action\":\"destroy\"}\n")
                  .ok());
  EXPECT_TRUE(decoder.stopped());
  EXPECT_EQ(calls, 1);
}

TEST(EventStreamDecoderTest, GarbageIsInternal) {
  EventCallback cb = [](const DockerEvent&) { return true; };
  EventStreamDecoder decoder(cb);
  EXPECT_THAT(decoder.Feed("not json\n"),
              IsError(absl::StatusCode::kInternal, "docker event"));
}

TEST(EventStreamDecoderTest, OverlongLineIsInternal) {
  EventCallback cb = [](const DockerEvent&) { return true; };
  EventStreamDecoder decoder(cb);
  const std::string big(EventStreamDecoder::kMaxLineBytes / 2 + 1, 'x');
  ASSERT_TRUE(decoder.Feed(big).ok());
  EXPECT_THAT(decoder.Feed(big),
              IsError(absl::StatusCode::kInternal, "longer than"));
}

}  // namespace
}  // namespace novadock::agent
