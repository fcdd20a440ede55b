// Fuzz target for the Docker Engine API response parsers (agent/
// docker_json.h): the first byte picks the parser, the rest is the body
// dockerd sent. Any body must give a value or an error with the documented
// code (INTERNAL; INVALID_ARGUMENT for an image load Docker refused) and a
// message, never a crash, leak or undefined behaviour.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/docker_json.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

using novadock::fuzz::FuzzCheck;

// Checks the contract of an error: INTERNAL (or `also`) with a message.
void CheckError(const absl::Status& s,
                absl::StatusCode also = absl::StatusCode::kInternal) {
  if (s.ok()) return;
  FuzzCheck(s.code() == absl::StatusCode::kInternal || s.code() == also,
            "parser error with an undocumented code");
  FuzzCheck(!s.message().empty(), "parser error without a message");
}

template <typename T>
void Check(const absl::StatusOr<T>& r) {
  CheckError(r.status());
}

}  // namespace

NOVADOCK_FUZZ_TARGET(DockerJson) {
  namespace agent = novadock::agent;
  if (size == 0) return 0;
  const absl::string_view body = novadock::fuzz::AsText(data + 1, size - 1);
  switch (data[0] % 14) {
    case 0:
      Check(agent::ParseVersion(body));
      break;
    case 1:
      Check(agent::ParseInfo(body));
      break;
    case 2: {
      auto image = agent::ParseImageInspect(body);
      Check(image);
      if (image.ok()) FuzzCheck(!image->id.empty(), "image without Id");
      break;
    }
    case 3:
      Check(agent::ParseImageList(body));
      break;
    case 4: {
      auto loaded = agent::ParseLoadStream(body);
      CheckError(loaded.status(), absl::StatusCode::kInvalidArgument);
      if (loaded.ok()) FuzzCheck(!loaded->empty(), "load loaded nothing");
      break;
    }
    case 5: {
      auto id = agent::ParseCreateResponse(body);
      Check(id);
      if (id.ok()) FuzzCheck(!id->empty(), "create without Id");
      break;
    }
    case 6: {
      auto id = agent::ParseCommitResponse(body);
      Check(id);
      if (id.ok()) FuzzCheck(!id->empty(), "commit without Id");
      break;
    }
    case 7: {
      auto details = agent::ParseContainerInspect(body);
      Check(details);
      if (details.ok()) FuzzCheck(!details->id.empty(), "inspect without Id");
      break;
    }
    case 8: {
      auto list = agent::ParseContainerList(body);
      Check(list);
      if (list.ok()) {
        for (const auto& c : *list) {
          FuzzCheck(!c.id.empty(), "listed container without Id");
        }
      }
      break;
    }
    case 9:
      Check(agent::ParseContainerStats(body));
      break;
    case 10: {
      auto event = agent::ParseEvent(body);
      Check(event);
      if (event.ok()) FuzzCheck(!event->action.empty(), "event w/o action");
      break;
    }
    case 11:
      Check(agent::ParseErrorMessage(body));
      break;
    case 12:
      Check(agent::ParseDockerTime(body));
      break;
    default: {
      // Paths and query values built from what dockerd returned (ids).
      const std::string escaped = agent::UrlEscape(body);
      FuzzCheck(escaped.find_first_not_of(
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                    "0123456789-._~%") == std::string::npos,
                "UrlEscape left a reserved character");
      break;
    }
  }
  return 0;
}
