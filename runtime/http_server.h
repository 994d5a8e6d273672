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

#include "config/config.h"
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

  struct Options {
    std::string bind;
    int port = 0;  // 0: the OS chooses; see port()
    // Required as a bearer token on /v1/ when not empty.
    std::string api_token;
    // One thread per connection being served; a client has this long to
    // send its request (line and headers) and to read the answer, so slow
    // clients cannot hold the threads the probes need (http.threads,
    // http.request_timeout).
    int threads = 0;
    std::int64_t request_timeout_ms = 0;
  };
  Status Start(Options options);
  static Options OptionsFrom(const config::HttpConfig& c, std::string api_token = "") {
    return {c.bind, static_cast<int>(c.port), std::move(api_token), static_cast<int>(c.threads),
            c.request_timeout};
  }
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
