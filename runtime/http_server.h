// The worker's HTTP endpoint (civetweb): /metrics (Prometheus text format),
// /healthz (the process is alive and its loop is turning), /readyz (every
// assigned task is restored and processing). Runs on civetweb's threads.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "core/status.h"
#include "runtime/metrics.h"

struct mg_context;
struct mg_connection;

namespace cx::runtime {

class HttpServer {
 public:
  struct Probes {
    std::function<bool()> healthy;
    std::function<bool()> ready;
  };

  HttpServer(Metrics& metrics, Probes probes) : metrics_(metrics), probes_(std::move(probes)) {}
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Listens on bind:port (port 0: the OS chooses; see port()).
  Status Start(const std::string& bind, int port);
  int port() const { return port_; }

 private:
  static int HandleMetrics(mg_connection* conn, void* self);
  static int HandleHealth(mg_connection* conn, void* self);
  static int HandleReady(mg_connection* conn, void* self);

  Metrics& metrics_;
  Probes probes_;
  mg_context* ctx_ = nullptr;
  int port_ = 0;
};

}  // namespace cx::runtime
