// Fuzz target for the two Docker stream decoders (agent/docker_json.h): the
// newline-delimited JSON of GET /events and the 8-byte-header frames of
// GET /containers/{id}/logs. The first byte picks the decoder, the second
// seeds where the rest is cut into chunks. Beyond "no crash", the result
// must not depend on how the bytes were cut: the same events (or payload
// bytes) and the same verdict as when fed in one piece.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/docker_api.h"
#include "agent/docker_json.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

using novadock::agent::ChunkCallback;
using novadock::agent::DockerEvent;
using novadock::agent::EventCallback;
using novadock::fuzz::FuzzCheck;

// Splits `input` into chunks of 1..16 bytes, sizes drawn from `seed`.
std::vector<absl::string_view> Cut(absl::string_view input, uint8_t seed) {
  std::vector<absl::string_view> chunks;
  uint32_t state = seed * 2654435761u + 1;
  while (!input.empty()) {
    state = state * 1103515245u + 12345u;
    const size_t n = std::min<size_t>(1 + (state >> 16) % 16, input.size());
    chunks.push_back(input.substr(0, n));
    input.remove_prefix(n);
  }
  return chunks;
}

struct EventsResult {
  std::string events;  // One line per event delivered.
  bool ok = true;
};

EventsResult DecodeEvents(const std::vector<absl::string_view>& chunks) {
  EventsResult result;
  const EventCallback on_event = [&result](const DockerEvent& e) {
    absl::StrAppend(&result.events, e.type, "|", e.action, "|", e.id, "|",
                    e.time_unix_nanos, "|", e.attributes.size(), "\n");
    return true;
  };
  novadock::agent::EventStreamDecoder decoder(on_event);
  for (absl::string_view chunk : chunks) {
    if (!decoder.Feed(chunk).ok()) {
      result.ok = false;
      break;
    }
  }
  return result;
}

struct LogsResult {
  std::string payload;
  bool ok = true;
};

LogsResult DecodeLogs(const std::vector<absl::string_view>& chunks) {
  LogsResult result;
  const ChunkCallback on_payload = [&result](absl::string_view bytes) {
    result.payload.append(bytes.data(), bytes.size());
    return true;
  };
  novadock::agent::LogFrameDemuxer demuxer(on_payload);
  for (absl::string_view chunk : chunks) {
    if (!demuxer.Feed(chunk).ok()) {
      result.ok = false;
      return result;
    }
  }
  result.ok = demuxer.Finish().ok();
  return result;
}

}  // namespace

NOVADOCK_FUZZ_TARGET(DockerStream) {
  if (size < 2) return 0;
  const absl::string_view input = novadock::fuzz::AsText(data + 2, size - 2);
  const std::vector<absl::string_view> whole = {input};
  const std::vector<absl::string_view> cut = Cut(input, data[1]);
  if (data[0] % 2 == 0) {
    const EventsResult a = DecodeEvents(whole);
    const EventsResult b = DecodeEvents(cut);
    FuzzCheck(a.ok == b.ok, "event verdict depends on chunking");
    // An error stops delivery at the bad line in both cases.
    FuzzCheck(a.events == b.events, "events depend on chunking");
  } else {
    const LogsResult a = DecodeLogs(whole);
    const LogsResult b = DecodeLogs(cut);
    FuzzCheck(a.ok == b.ok, "log verdict depends on chunking");
    FuzzCheck(a.payload == b.payload, "log payload depends on chunking");
  }
  return 0;
}
