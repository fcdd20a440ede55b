// Fuzz target for the controller's agent list (controller/node_registry.h
// ParseAgentList: the --agents flag and the --agents_file an operator
// writes) and for the loopback test every --listen address goes through
// (proto/common/address.h). A list that parses must hold only valid, unique
// names and addresses, and print back to a list that parses to the same.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "controller/node_registry.h"
#include "proto/common/address.h"
#include "tests/fuzz/fuzz_target.h"

NOVADOCK_FUZZ_TARGET(AgentList) {
  using novadock::controller::AgentEntry;
  using novadock::fuzz::FuzzCheck;
  const absl::string_view text = novadock::fuzz::AsText(data, size);
  (void)novadock::IsLoopbackAddress(text);
  absl::StatusOr<std::vector<AgentEntry>> agents =
      novadock::controller::ParseAgentList(text, "fuzz");
  if (!agents.ok()) {
    FuzzCheck(agents.status().code() == absl::StatusCode::kInvalidArgument,
              "agent list error is not INVALID_ARGUMENT");
    FuzzCheck(absl::StartsWith(agents.status().message(), "fuzz: "),
              "agent list error does not name its source");
    return 0;
  }
  std::set<std::string> names, addresses;
  std::string printed;
  for (const AgentEntry& a : *agents) {
    FuzzCheck(!a.name.empty() && a.name.size() <= 63, "bad name length");
    FuzzCheck(a.name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                       "abcdefghijklmnopqrstuvwxyz"
                                       "0123456789._-") == std::string::npos,
              "bad name character");
    FuzzCheck(!a.address.empty(), "empty address");
    FuzzCheck(names.insert(a.name).second, "duplicate name");
    FuzzCheck(addresses.insert(a.address).second, "duplicate address");
    absl::StrAppend(&printed, printed.empty() ? "" : ",", a.name, "=",
                    a.address);
  }
  absl::StatusOr<std::vector<AgentEntry>> again =
      novadock::controller::ParseAgentList(printed, "printed");
  FuzzCheck(again.ok(), "a parsed list does not parse again");
  FuzzCheck(again->size() == agents->size(), "reparse changed the count");
  for (size_t i = 0; i < again->size(); ++i) {
    FuzzCheck((*again)[i].name == (*agents)[i].name &&
                  (*again)[i].address == (*agents)[i].address,
              "reparse changed an entry");
  }
  return 0;
}
