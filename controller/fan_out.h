// FanOut: runs one call per node in parallel and joins them all, so one
// slow agent costs its own deadline, never the others' time.
#ifndef NOVADOCK_CONTROLLER_FAN_OUT_H_
#define NOVADOCK_CONTROLLER_FAN_OUT_H_

#include <thread>
#include <utility>
#include <vector>

namespace novadock::controller {

// Calls fn(items[i]) for every item on its own thread and returns the
// results in the items' order. Blocks until every call returns.
template <typename Item, typename Fn>
auto FanOut(const std::vector<Item>& items, Fn fn)
    -> std::vector<decltype(fn(items[0]))> {
  using Result = decltype(fn(items[0]));
  std::vector<Result> results(items.size());
  std::vector<std::thread> threads;
  threads.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = fn(items[i]); });
  }
  for (std::thread& t : threads) t.join();
  return results;
}

}  // namespace novadock::controller

#endif  // NOVADOCK_CONTROLLER_FAN_OUT_H_
