// cxstream: the one binary. Sub-commands are wired here; each does its work
// through the libraries (engine, config, ...), so this file stays thin.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/time.h"
#include "engine/replay.h"

namespace {

constexpr int kExitUsage = 2;
constexpr int kExitConfig = 3;

// Loads the configuration, or prints every error and returns nullopt.
std::optional<cx::config::Config> LoadOrReport(const std::string& path) {
  cx::config::LoadResult r =
      path.empty() ? cx::config::LoadResult{cx::config::DefaultConfig(), {}} : cx::config::LoadConfigFile(path);
  if (!r.ok()) {
    for (const auto& e : r.errors) std::cerr << "config error: " << e.ToString() << "\n";
    std::cerr << r.errors.size() << " configuration error(s) in " << path << "\n";
    return std::nullopt;
  }
  return r.config;
}

int ValidateConfig(const std::string& path, bool reference) {
  if (reference) {
    std::cout << cx::config::ReferenceMarkdown();
    return 0;
  }
  if (path.empty()) {
    std::cerr << "validate-config: --config FILE is required\n";
    return kExitUsage;
  }
  if (!LoadOrReport(path)) return kExitConfig;
  std::cout << path << ": OK\n";
  return 0;
}

int Replay(const std::string& config_path, const std::vector<std::string>& inputs,
           const std::string& until, const std::string& out_dir) {
  auto config = LoadOrReport(config_path);
  if (!config) return kExitConfig;
  cx::engine::ReplayOptions opts;
  opts.inputs = inputs;
  opts.out_dir = out_dir;
  if (!until.empty()) {
    std::string why;
    auto t = cx::ParseRfc3339(until, &why);
    if (!t) {
      std::cerr << "replay: --until: not an RFC 3339 date-time: " << why << "\n";
      return kExitUsage;
    }
    opts.until = *t;
  }
  auto result = cx::engine::RunReplay(*config, opts);
  if (!result.ok()) {
    std::cerr << "replay: " << result.status().message() << "\n";
    return kExitUsage;
  }
  std::cerr << cx::engine::FormatSummary(*result);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cxstream: real-time SLA, profiles, alerts and staffing for customer service"};
  app.require_subcommand(1);

  std::string config_path;
  bool reference = false;
  auto* validate = app.add_subcommand("validate-config", "Check a configuration file; print every error");
  validate->add_option("--config", config_path, "Configuration file (YAML)");
  validate->add_flag("--reference", reference, "Print the configuration reference (Markdown) and exit");

  std::vector<std::string> inputs;
  std::string until, out_dir;
  auto* replay = app.add_subcommand("replay", "Process NDJSON event files deterministically into NDJSON outputs");
  replay->add_option("--config", config_path, "Configuration file (YAML); defaults when omitted");
  replay->add_option("--input", inputs, "Input file of events, one JSON message per line (repeatable)")->required();
  replay->add_option("--until", until, "Move the watermark to this RFC 3339 time at the end of input");
  replay->add_option("--out", out_dir, "Output directory for sla/alerts/profiles/staffing/dlq.ndjson")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }

  if (validate->parsed()) return ValidateConfig(config_path, reference);
  if (replay->parsed()) return Replay(config_path, inputs, until, out_dir);
  return kExitUsage;
}
