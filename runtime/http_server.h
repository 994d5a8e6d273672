// The worker's HTTP endpoint (civetweb): /metrics (Prometheus text format),
// /healthz (the process is alive and its loop is turning), /readyz (every
// assigned task is restored and processing). Runs on civetweb's threads.
#pragma once

#include <prometheus/registry.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "core/status.h"

struct mg_context;
struct mg_connection;

namespace cx::runtime {

class HttpServer {
 public:
  struct Probes {
    std::function<bool()> healthy;
    std::function<bool()> ready;
    // GET /v1/customers/{id}: status and JSON body.
    std::function<std::pair<int, std::string>(const std::string& customer_id)> profile;
  };

  HttpServer(prometheus::Registry& registry, Probes probes)
      : registry_(registry), probes_(std::move(probes)) {}
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Listens on bind:port (port 0: the OS chooses; see port()). A non-empty
  // `api_token` is required as a bearer token on /v1/.
  Status Start(const std::string& bind, int port, std::string api_token = "");
  int port() const { return port_; }

 private:
  static int HandleMetrics(mg_connection* conn, void* self);
  static int HandleHealth(mg_connection* conn, void* self);
  static int HandleReady(mg_connection* conn, void* self);
  static int HandleCustomer(mg_connection* conn, void* self);

  prometheus::Registry& registry_;
  Probes probes_;
  std::string api_token_;
  mg_context* ctx_ = nullptr;
  int port_ = 0;
};

}  // namespace cx::runtime
