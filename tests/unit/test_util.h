// Helpers shared by unit tests: a sink that keeps outputs, the shipped
// defaults, and a temporary directory per test.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/output.h"

namespace cx::testing {

// The configuration with every default (config/config.cc's option table, the
// one place defaults live); option structs of tasks and processors are
// built from it with engine::...OptionsFrom.
inline const config::Config& Defaults() {
  static const config::Config c = config::DefaultConfig();
  return c;
}

// An empty directory named after the running test, removed with it.
class TestDir {
 public:
  explicit TestDir(const std::string& prefix)
      : path_(std::filesystem::temp_directory_path() /
              (prefix + "-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TestDir() { std::filesystem::remove_all(path_); }
  TestDir(const TestDir&) = delete;
  TestDir& operator=(const TestDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

class CollectingSink final : public OutputSink {
 public:
  void Emit(const OutputView& r) override { records.emplace_back(r); }

  std::vector<std::string> Values(Stream s) const {
    std::vector<std::string> out;
    for (const auto& r : records) {
      if (r.stream == s) out.push_back(r.value.value_or("<tombstone>"));
    }
    return out;
  }
  // "<subject_id>:<event>" of each SLA record of one metric, e.g. "v1:activate".
  std::vector<std::string> SlaEvents(const std::string& metric = "first_response") const {
    std::vector<std::string> out;
    for (const auto& v : Values(Stream::kSla)) {
      if (Field(v, "metric") == metric) out.push_back(Field(v, "subject_id") + ":" + Field(v, "event"));
    }
    return out;
  }
  // The SLA records of one metric and event.
  std::vector<std::string> Sla(const std::string& metric, const std::string& event) const {
    std::vector<std::string> out;
    for (const auto& v : Values(Stream::kSla)) {
      if (Field(v, "metric") == metric && Field(v, "event") == event) out.push_back(v);
    }
    return out;
  }
  // Crude field extraction for flat JSON written by JsonWriter.
  static std::string Field(const std::string& json, const std::string& name) {
    std::string pat = "\"" + name + "\":";
    auto p = json.find(pat);
    if (p == std::string::npos) return "";
    p += pat.size();
    if (json[p] == '"') {
      auto e = json.find('"', p + 1);
      return json.substr(p + 1, e - p - 1);
    }
    auto e = json.find_first_of(",}", p);
    return json.substr(p, e - p);
  }

  std::vector<OutputRecord> records;
};

}  // namespace cx::testing
