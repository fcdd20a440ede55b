#include "glance-loader/glance_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "glance-loader/fake_glance_client.h"
#include "glance-loader/hashing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace novadock::loader {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kId[] = "0b5c3e1a-9f0e-4c1d-8d2e-3a4b5c6d7e8f";
constexpr char kToken[] = "gAAAAABsecret-token-value";

constexpr char kRecord[] = R"({
  "id": "0b5c3e1a-9f0e-4c1d-8d2e-3a4b5c6d7e8f", "name": "busybox",
  "status": "active", "visibility": "shared", "protected": false,
  "container_format": "docker", "disk_format": "raw", "size": 3000000,
  "virtual_size": null, "min_ram": 0, "min_disk": 0, "owner": null,
  "checksum": "0123456789abcdef0123456789abcdef", "os_hash_algo": "sha512",
  "os_hash_value": "abc", "os_hidden": false, "tags": [],
  "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
  "self": "/v2/images/0b5c3e1a-9f0e-4c1d-8d2e-3a4b5c6d7e8f",
  "file": "/v2/images/0b5c3e1a-9f0e-4c1d-8d2e-3a4b5c6d7e8f/file",
  "schema": "/v2/schemas/image", "stores": "file",
  "novadock_ref": "busybox:latest", "hw_something": "x"})";

TEST(GlanceImageIdTest, AcceptsOnlyLowerCaseUuids) {
  EXPECT_TRUE(IsGlanceImageId(kId));
  for (const char* bad :
       {"", "0B5C3E1A-9F0E-4C1D-8D2E-3A4B5C6D7E8F",
        "0b5c3e1a9f0e4c1d8d2e3a4b5c6d7e8f", "../../../../etc/passwd",
        "0b5c3e1a-9f0e-4c1d-8d2e-3a4b5c6d7e8f/",
        "0b5c3e1a-9f0e-4c1d-8d2e-3a4b5c6d7e8g",
        "0b5c3e1a-9f0e-4c1d-8d2e_3a4b5c6d7e8f"}) {
    EXPECT_FALSE(IsGlanceImageId(bad)) << bad;
    EXPECT_TRUE(absl::IsInvalidArgument(ValidateGlanceImageId(bad))) << bad;
  }
}

TEST(ParseGlanceImageTest, ReadsBaseAndCustomProperties) {
  absl::StatusOr<GlanceImage> image = ParseGlanceImage(kRecord);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->id, kId);
  EXPECT_EQ(image->name, "busybox");
  EXPECT_EQ(image->status, "active");
  EXPECT_EQ(image->container_format, "docker");
  EXPECT_EQ(image->disk_format, "raw");
  EXPECT_EQ(image->size_bytes, 3000000);
  EXPECT_EQ(image->checksum, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(image->os_hash_algo, "sha512");
  EXPECT_EQ(image->os_hash_value, "abc");
  EXPECT_EQ(image->properties,
            (std::map<std::string, std::string>{
                {"hw_something", "x"}, {"novadock_ref", "busybox:latest"}}));
}

TEST(ParseGlanceImageTest, NullsBecomeEmpty) {
  absl::StatusOr<GlanceImage> image = ParseGlanceImage(
      R"({"id": "x", "status": "queued", "name": null, "size": null,
          "checksum": null, "os_hash_algo": null, "os_hash_value": null,
          "container_format": null, "disk_format": null, "n": 5})");
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->size_bytes, -1);
  EXPECT_EQ(image->name, "");
  EXPECT_EQ(image->checksum, "");
  EXPECT_TRUE(image->properties.empty());  // Non-string values are dropped.
}

TEST(ParseGlanceImageTest, RejectsWrongTypes) {
  for (const char* bad :
       {"", "[]", "nonsense", R"({"status": "active"})",
        R"({"id": 1, "status": "active"})", R"({"id": "x"})",
        R"({"id": "x", "status": "active", "size": "12"})",
        R"({"id": "x", "status": "active", "size": -1})",
        R"({"id": "x", "status": "active", "size": 1.5})",
        R"({"id": "x", "status": "active", "checksum": 5})",
        R"({"id": "x", "status": "active", "container_format": []})",
        R"({"id": "x", "status": "active", "os_hash_value": {}})"}) {
    absl::StatusOr<GlanceImage> image = ParseGlanceImage(bad);
    EXPECT_TRUE(absl::IsInternal(image.status()))
        << bad << ": " << image.status();
  }
}

TEST(CurlGlanceClientTest, CreateValidatesOptions) {
  const auto create = [](std::string endpoint, std::string ca_file = "") {
    CurlGlanceClient::Options options;
    options.endpoint = std::move(endpoint);
    options.ca_file = std::move(ca_file);
    return CurlGlanceClient::Create(options).status();
  };
  EXPECT_TRUE(create("http://127.0.0.1:9292").ok());
  EXPECT_TRUE(create("https://glance.example:9292/image/").ok());
  EXPECT_TRUE(absl::IsInvalidArgument(create("ftp://127.0.0.1")));
  EXPECT_TRUE(absl::IsInvalidArgument(create("127.0.0.1:9292")));
  EXPECT_TRUE(absl::IsInvalidArgument(create("http://")));
  EXPECT_TRUE(absl::IsInvalidArgument(create("http://h/?a=b")));
  absl::Status creds = create("http://user:pw@127.0.0.1:9292");
  EXPECT_TRUE(absl::IsInvalidArgument(creds));
  EXPECT_THAT(creds.message(), Not(HasSubstr("pw")));
  EXPECT_TRUE(absl::IsInvalidArgument(create("http://h:1", "/etc/hostname")));
  EXPECT_TRUE(absl::IsInvalidArgument(create("https://h:1", "/no/such/ca")));
  CurlGlanceClient::Options options;
  options.request_timeout = absl::ZeroDuration();
  EXPECT_TRUE(
      absl::IsInvalidArgument(CurlGlanceClient::Create(options).status()));
  options = {};
  options.low_speed_timeout = absl::Milliseconds(10);
  EXPECT_TRUE(
      absl::IsInvalidArgument(CurlGlanceClient::Create(options).status()));
  options = {};
  options.endpoint = "http://127.0.0.1:9292///";
  absl::StatusOr<std::unique_ptr<CurlGlanceClient>> client =
      CurlGlanceClient::Create(options);
  ASSERT_TRUE(client.ok());
  EXPECT_EQ((*client)->endpoint(), "http://127.0.0.1:9292");
}

// A loopback HTTP server that answers each connection with the next canned
// response (or with nothing, to make the client time out) and records the
// request heads. Serves on its own thread, joined on destruction.
class CannedHttpServer {
 public:
  explicit CannedHttpServer(std::vector<std::string> responses)
      : responses_(std::move(responses)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(fd_, 8) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot listen on 127.0.0.1:0";
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~CannedHttpServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    close(fd_);
  }

  std::string endpoint() const {
    return absl::StrCat("http://127.0.0.1:", port_);
  }
  std::vector<std::string> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

 private:
  void Serve() {
    for (const std::string& response : responses_) {
      int conn = -1;
      // Bounded: 100 ms polls until stopped.
      while (!stop_ && conn < 0) {
        pollfd p = {fd_, POLLIN, 0};
        if (poll(&p, 1, 100) == 1) conn = accept4(fd_, nullptr, nullptr, 0);
      }
      if (conn < 0) return;
      std::string head;
      char buf[4096];
      while (!RequestComplete(head)) {
        pollfd p = {conn, POLLIN, 0};
        if (poll(&p, 1, 5000) != 1) break;
        const ssize_t n = read(conn, buf, sizeof(buf));
        if (n <= 0) break;
        head.append(buf, static_cast<size_t>(n));
      }
      {
        absl::MutexLock lock(&mu_);
        requests_.push_back(head);
      }
      if (response.empty()) {  // Say nothing until the client gives up.
        while (!stop_) {
          pollfd p = {conn, POLLIN, 0};
          if (poll(&p, 1, 100) == 1 && read(conn, buf, sizeof(buf)) <= 0) {
            break;
          }
        }
      } else {
        size_t off = 0;
        while (off < response.size()) {
          const ssize_t n = send(conn, response.data() + off,
                                 response.size() - off, MSG_NOSIGNAL);
          if (n <= 0) break;
          off += static_cast<size_t>(n);
        }
      }
      close(conn);
    }
  }

  // True once `request` holds the head and the whole body (by
  // Content-Length, or up to the last chunk of a chunked body).
  static bool RequestComplete(const std::string& request) {
    const size_t end = request.find("\r\n\r\n");
    if (end == std::string::npos) return false;
    const std::string head = absl::AsciiStrToLower(request.substr(0, end));
    const size_t body = request.size() - end - 4;
    if (absl::StrContains(head, "transfer-encoding: chunked")) {
      return absl::EndsWith(request, "\r\n0\r\n\r\n");
    }
    constexpr char kLength[] = "content-length: ";
    constexpr size_t kLengthSize = sizeof(kLength) - 1;
    const size_t at = head.find(kLength);
    if (at == std::string::npos) return true;
    size_t length = 0;
    const size_t eol = head.find("\r\n", at);
    return absl::SimpleAtoi(
               head.substr(at + kLengthSize, eol - at - kLengthSize),
               &length) &&
           body >= length;
  }

  const std::vector<std::string> responses_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  absl::Mutex mu_;  // Guards requests_.
  std::vector<std::string> requests_ ABSL_GUARDED_BY(mu_);
};

std::string Response(int code, absl::string_view body,
                     absl::string_view extra_headers = "") {
  return absl::StrCat("HTTP/1.1 ", code, " X\r\nContent-Length: ", body.size(),
                      "\r\nConnection: close\r\n", extra_headers, "\r\n", body);
}

std::unique_ptr<CurlGlanceClient> ClientFor(const std::string& endpoint) {
  CurlGlanceClient::Options options;
  options.endpoint = endpoint;
  options.request_timeout = absl::Seconds(5);
  options.low_speed_timeout = absl::Seconds(1);
  absl::StatusOr<std::unique_ptr<CurlGlanceClient>> client =
      CurlGlanceClient::Create(options);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

TEST(CurlGlanceClientTest, GetImageSendsTokenAndParses) {
  CannedHttpServer server({Response(200, kRecord), Response(200, kRecord)});
  auto client = ClientFor(server.endpoint());
  absl::StatusOr<GlanceImage> image = client->GetImage(kId, kToken);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->name, "busybox");
  ASSERT_TRUE(client->GetImage(kId, "").ok());
  const std::vector<std::string> requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_THAT(requests[0],
              HasSubstr(absl::StrCat("GET /v2/images/", kId, " HTTP/1.1\r\n")));
  EXPECT_THAT(requests[0], HasSubstr(absl::StrCat("X-Auth-Token: ", kToken)));
  EXPECT_THAT(requests[1], Not(HasSubstr("X-Auth-Token")));
}

TEST(CurlGlanceClientTest, GetImageRejectsAnotherImagesRecord) {
  CannedHttpServer server({Response(
      200,
      R"({"id": "11111111-2222-3333-4444-555555555555", "status": "active"})")});
  auto client = ClientFor(server.endpoint());
  EXPECT_TRUE(absl::IsInternal(client->GetImage(kId, "").status()));
}

TEST(CurlGlanceClientTest, MapsHttpErrors) {
  struct Case {
    int http;
    absl::StatusCode code;
  };
  const std::vector<Case> cases = {
      {400, absl::StatusCode::kInvalidArgument},
      {401, absl::StatusCode::kUnauthenticated},
      {403, absl::StatusCode::kPermissionDenied},
      {404, absl::StatusCode::kNotFound},
      {409, absl::StatusCode::kInternal},
      {500, absl::StatusCode::kUnavailable},
      {503, absl::StatusCode::kUnavailable},
  };
  std::vector<std::string> responses;
  responses.reserve(cases.size());
  for (const Case& c : cases) {
    // An error body that (wrongly) echoes the token must not leak it.
    responses.push_back(Response(
        c.http, absl::StrCat("<html>\n  failure for ", kToken, "\n</html>"),
        "X-Openstack-Request-Id: req-test-1\r\n"));
  }
  CannedHttpServer server(responses);
  auto client = ClientFor(server.endpoint());
  for (const Case& c : cases) {
    const absl::Status s = client->GetImage(kId, kToken).status();
    EXPECT_EQ(s.code(), c.code) << c.http << ": " << s;
    EXPECT_THAT(s.message(), Not(HasSubstr(kToken)));
    if (c.http == 404) {
      EXPECT_EQ(s.message(), absl::StrCat("glance image ", kId, " not found"));
    } else {
      EXPECT_THAT(s.message(),
                  HasSubstr(absl::StrCat(": failure for *** (HTTP ", c.http,
                                         ", request req-test-1)")));
    }
  }
}

TEST(CurlGlanceClientTest, NoConnectionIsUnavailableNamingTheEndpoint) {
  std::string endpoint;
  {
    CannedHttpServer server({});  // Reserve a port, then free it.
    endpoint = server.endpoint();
  }
  auto client = ClientFor(endpoint);
  const absl::Status s = client->GetImage(kId, kToken).status();
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr(endpoint));
  EXPECT_THAT(s.message(), Not(HasSubstr(kToken)));
  EXPECT_TRUE(absl::IsUnavailable(client->Download(
      kId, kToken, [](absl::string_view) { return absl::OkStatus(); })));
}

TEST(CurlGlanceClientTest, SilentServerIsDeadlineExceeded) {
  CannedHttpServer server({"", ""});
  CurlGlanceClient::Options options;
  options.endpoint = server.endpoint();
  options.request_timeout = absl::Milliseconds(300);
  options.low_speed_timeout = absl::Seconds(1);
  auto client = CurlGlanceClient::Create(options);
  ASSERT_TRUE(client.ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded((*client)->GetImage(kId, "").status()));
  EXPECT_TRUE(absl::IsDeadlineExceeded((*client)->Download(
      kId, "", [](absl::string_view) { return absl::OkStatus(); })));
}

TEST(CurlGlanceClientTest, DownloadStreamsIntoTheSink) {
  std::string data(3 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  CannedHttpServer server({Response(200, data), Response(200, data)});
  auto client = ClientFor(server.endpoint());
  std::string got;
  size_t largest_chunk = 0;
  ASSERT_TRUE(client
                  ->Download(kId, kToken,
                             [&](absl::string_view chunk) {
                               got.append(chunk.data(), chunk.size());
                               largest_chunk =
                                   std::max(largest_chunk, chunk.size());
                               return absl::OkStatus();
                             })
                  .ok());
  EXPECT_EQ(got, data);
  EXPECT_LE(largest_chunk, size_t{256} << 10);
  EXPECT_THAT(server.requests()[0],
              HasSubstr(absl::StrCat("GET /v2/images/", kId, "/file ")));
  // A sink error ends the transfer and is returned unchanged.
  int calls = 0;
  const absl::Status s = client->Download(kId, kToken, [&](absl::string_view) {
    ++calls;
    return absl::ResourceExhaustedError("disk full");
  });
  EXPECT_EQ(s, absl::ResourceExhaustedError("disk full"));
  EXPECT_EQ(calls, 1);
}

TEST(CurlGlanceClientTest, DownloadErrors) {
  CannedHttpServer server({
      Response(204, ""),
      // Declares 1000 bytes, sends 10, closes.
      "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789",
      Response(404, "404 Not Found"),
  });
  auto client = ClientFor(server.endpoint());
  const auto sink = [](absl::string_view) { return absl::OkStatus(); };
  const absl::Status no_data = client->Download(kId, "", sink);
  EXPECT_TRUE(absl::IsFailedPrecondition(no_data)) << no_data;
  const absl::Status short_read = client->Download(kId, "", sink);
  EXPECT_TRUE(absl::IsUnavailable(short_read)) << short_read;
  EXPECT_TRUE(absl::IsNotFound(client->Download(kId, "", sink)));
}

TEST(CurlGlanceClientTest, RefusesBadIdsAndTokensWithoutSending) {
  CannedHttpServer server({});
  auto client = ClientFor(server.endpoint());
  EXPECT_TRUE(absl::IsInvalidArgument(
      client->GetImage("../../v2/schemas", "").status()));
  const absl::Status s = client->GetImage(kId, "abc\r\nX-Evil: 1").status();
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(s.message(), Not(HasSubstr("abc")));
  EXPECT_TRUE(server.requests().empty());
}

// Gives `data` in pieces of at most 7000 bytes (odd, to cross buffers).
UploadReader ReaderOf(const std::string& data, size_t* offset) {
  return [&data, offset](char* buffer,
                         size_t capacity) -> absl::StatusOr<size_t> {
    const size_t n = std::min({capacity, data.size() - *offset, size_t{7000}});
    std::copy_n(data.data() + *offset, n, buffer);
    *offset += n;
    return n;
  };
}

std::string Body(const std::string& request) {
  return request.substr(request.find("\r\n\r\n") + 4);
}

TEST(CurlGlanceClientTest, UploadStreamsThePutBody) {
  std::string data(3 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 13);
  CannedHttpServer server({Response(204, ""), Response(204, "")});
  auto client = ClientFor(server.endpoint());
  size_t offset = 0;
  ASSERT_TRUE(client
                  ->Upload(kId, kToken, ReaderOf(data, &offset),
                           static_cast<int64_t>(data.size()))
                  .ok());
  EXPECT_EQ(offset, data.size());
  offset = 0;
  ASSERT_TRUE(client->Upload(kId, "", ReaderOf(data, &offset), -1).ok());
  const std::vector<std::string> requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_THAT(requests[0], HasSubstr(absl::StrCat("PUT /v2/images/", kId,
                                                  "/file HTTP/1.1\r\n")));
  EXPECT_THAT(requests[0],
              HasSubstr("Content-Type: application/octet-stream\r\n"));
  EXPECT_THAT(requests[0],
              HasSubstr(absl::StrCat("Content-Length: ", data.size())));
  EXPECT_THAT(requests[0], HasSubstr(absl::StrCat("X-Auth-Token: ", kToken)));
  EXPECT_TRUE(Body(requests[0]) == data) << "body differs from the data";
  // Without a size: chunked, and no token header without a token.
  EXPECT_THAT(requests[1], HasSubstr("Transfer-Encoding: chunked"));
  EXPECT_THAT(requests[1], Not(HasSubstr("X-Auth-Token")));
}

TEST(CurlGlanceClientTest, UploadMapsHttpErrors) {
  struct Case {
    int http;
    absl::StatusCode code;
  };
  const std::vector<Case> cases = {
      {409, absl::StatusCode::kFailedPrecondition},
      {413, absl::StatusCode::kResourceExhausted},
      {401, absl::StatusCode::kUnauthenticated},
      {404, absl::StatusCode::kNotFound},
      {503, absl::StatusCode::kUnavailable},
  };
  std::vector<std::string> responses;
  for (const Case& c : cases) {
    responses.push_back(
        Response(c.http, absl::StrCat("<html>refused ", kToken, "</html>")));
  }
  CannedHttpServer server(responses);
  auto client = ClientFor(server.endpoint());
  const std::string data = "snapshot bytes";
  for (const Case& c : cases) {
    size_t offset = 0;
    const absl::Status s = client->Upload(kId, kToken, ReaderOf(data, &offset),
                                          static_cast<int64_t>(data.size()));
    EXPECT_EQ(s.code(), c.code) << c.http << ": " << s;
    EXPECT_THAT(s.message(), Not(HasSubstr(kToken)));
    if (c.http == 409) {
      EXPECT_THAT(s.message(), HasSubstr("not in queued state"));
    }
  }
}

TEST(CurlGlanceClientTest, UploadReaderErrorsEndTheUpload) {
  CannedHttpServer server({Response(204, ""), Response(204, "")});
  auto client = ClientFor(server.endpoint());
  int calls = 0;
  const absl::Status s = client->Upload(
      kId, kToken,
      [&](char* buffer, size_t capacity) -> absl::StatusOr<size_t> {
        if (++calls > 2) return absl::DataLossError("archive changed");
        std::fill_n(buffer, std::min<size_t>(capacity, 100), 'x');
        return std::min<size_t>(capacity, 100);
      },
      1 << 20);
  EXPECT_EQ(s, absl::DataLossError("archive changed"));
  // Fewer bytes than the size given.
  const std::string data = "short";
  size_t offset = 0;
  const absl::Status short_data =
      client->Upload(kId, kToken, ReaderOf(data, &offset), 100);
  EXPECT_TRUE(absl::IsInvalidArgument(short_data)) << short_data;
  EXPECT_TRUE(absl::IsInvalidArgument(
      client->Upload("../x", kToken, ReaderOf(data, &offset), 5)));
}

TEST(FakeGlanceClientTest, UploadMakesAQueuedImageActiveOnce) {
  FakeGlanceClient fake;
  const std::string data = "snapshot archive";
  size_t offset = 0;
  EXPECT_TRUE(
      absl::IsNotFound(fake.Upload(kId, "t", ReaderOf(data, &offset), -1)));
  fake.AddQueuedImage(kId);
  offset = 0;
  ASSERT_TRUE(fake.Upload(kId, "t", ReaderOf(data, &offset),
                          static_cast<int64_t>(data.size()))
                  .ok());
  absl::StatusOr<GlanceImage> image = fake.GetImage(kId, "t");
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(image->status, "active");
  EXPECT_EQ(image->size_bytes, static_cast<int64_t>(data.size()));
  EXPECT_EQ(image->os_hash_value, *HexDigest(HashAlgorithm::kSha512, data));
  EXPECT_EQ(fake.DataForTest(kId), data);
  offset = 0;
  EXPECT_TRUE(absl::IsFailedPrecondition(
      fake.Upload(kId, "t", ReaderOf(data, &offset), -1)));
  EXPECT_EQ(fake.upload_calls(), 3);
}

TEST(FakeGlanceClientTest, KeepsImagesAndInjectsErrors) {
  FakeGlanceClient fake;
  const GlanceImage added = fake.AddActiveImage(kId, "data");
  EXPECT_EQ(added.size_bytes, 4);
  EXPECT_EQ(added.checksum, "8d777f385d3dfec8815d20f7496026dc");
  absl::StatusOr<GlanceImage> image = fake.GetImage(kId, "t");
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(image->os_hash_algo, "sha512");
  std::string got;
  ASSERT_TRUE(fake.Download(kId, "t",
                            [&](absl::string_view c) {
                              got.append(c.data(), c.size());
                              return absl::OkStatus();
                            })
                  .ok());
  EXPECT_EQ(got, "data");
  EXPECT_TRUE(absl::IsNotFound(
      fake.GetImage("11111111-2222-3333-4444-555555555555", "").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(fake.GetImage("nope", "").status()));
  fake.InjectError(FakeGlanceClient::Op::kGetImage,
                   absl::UnavailableError("down"));
  EXPECT_TRUE(absl::IsUnavailable(fake.GetImage(kId, "").status()));
  fake.InjectError(FakeGlanceClient::Op::kGetImage, absl::OkStatus());
  EXPECT_TRUE(fake.GetImage(kId, "").ok());
  EXPECT_EQ(fake.get_image_calls(), 4);
  EXPECT_EQ(fake.download_calls(), 1);
}

}  // namespace
}  // namespace novadock::loader
