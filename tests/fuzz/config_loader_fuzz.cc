// libFuzzer target: any text given to the configuration loader must yield
// either a configuration or errors that each name a reason, never a crash,
// an uncaught yaml-cpp exception or a sanitizer report; what it accepts
// keeps the invariants the worker relies on. Run with scripts/fuzz.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/config.h"

namespace {
// No real environment: ${VAR} resolves to a fixed value or nothing, so a
// run does not depend on the machine.
const char* FakeEnv(const char* name) { return std::string_view(name) == "SET" ? "value" : nullptr; }
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string yaml(reinterpret_cast<const char*>(data), size);
  cx::config::LoadResult r = cx::config::LoadConfigText(yaml, FakeEnv);
  for (const auto& e : r.errors) {
    if (e.message.empty()) std::abort();  // every error says why
  }
  if (r.ok()) {
    // Invariants the rest of the program relies on.
    const auto& c = r.config;
    if (c.state.memory_budget_bytes < (16u << 20)) std::abort();
    if (c.commit.interval <= 0) std::abort();
  }
  return 0;
}
