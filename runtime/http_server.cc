#include "runtime/http_server.h"

#include <civetweb.h>
#include <prometheus/text_serializer.h>

#include <string_view>
#include <vector>

namespace cx::runtime {
namespace {

const char* Reason(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 421:
      return "Misdirected Request";
    case 500:
      return "Internal Server Error";
    default:
      return "Service Unavailable";
  }
}

void Reply(mg_connection* conn, int code, const char* type, const std::string& body,
           const char* extra_headers = "") {
  mg_printf(conn, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
            code, Reason(code), type, body.size(), extra_headers);
  mg_write(conn, body.data(), body.size());
}

// Probes and metrics answer GET (and HEAD); anything else is refused.
bool ReadOnly(mg_connection* conn) {
  const std::string_view method = mg_get_request_info(conn)->request_method;
  if (method == "GET" || method == "HEAD") return true;
  Reply(conn, 405, "text/plain", "only GET\n", "Allow: GET, HEAD\r\n");
  return false;
}

// Compares without leaking, through timing, how much of the token matched
// (the length is not secret).
bool SameToken(std::string_view got, std::string_view want) {
  if (got.size() != want.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < got.size(); ++i) diff |= static_cast<unsigned char>(got[i] ^ want[i]);
  return diff == 0;
}

}  // namespace

HttpServer::~HttpServer() {
  if (ctx_) mg_stop(ctx_);
}

Status HttpServer::Start(Options o) {
  api_token_ = std::move(o.api_token);
  mg_init_library(0);
  std::string ports = (o.bind.empty() ? std::string() : o.bind + ":") + std::to_string(o.port);
  const std::string threads = std::to_string(o.threads);
  const std::string timeout = std::to_string(o.request_timeout_ms);
  // No keep-alive: every answer closes its connection, so an idle client
  // holds no thread.
  const char* options[] = {
      "listening_ports", ports.c_str(),       "num_threads", threads.c_str(), "request_timeout_ms",
      timeout.c_str(),   "enable_keep_alive", "no",          nullptr};
  mg_callbacks callbacks{};
  ctx_ = mg_start(&callbacks, this, options);
  if (!ctx_) return Status::Fatal("cannot listen for HTTP on " + ports);
  mg_set_request_handler(ctx_, "/metrics$", &HttpServer::HandleMetrics, this);
  mg_set_request_handler(ctx_, "/healthz$", &HttpServer::HandleHealth, this);
  mg_set_request_handler(ctx_, "/readyz$", &HttpServer::HandleReady, this);
  mg_set_request_handler(ctx_, "/v1/customers/", &HttpServer::HandleCustomer, this);
  mg_server_port sp[4];
  int n = mg_get_server_ports(ctx_, 4, sp);
  port_ = n > 0 ? sp[0].port : o.port;
  return Status::Ok();
}

int HttpServer::HandleMetrics(mg_connection* conn, void* self) {
  if (!ReadOnly(conn)) return 405;
  auto* s = static_cast<HttpServer*>(self);
  prometheus::TextSerializer serializer;
  Reply(conn, 200, "text/plain; version=0.0.4", serializer.Serialize(s->registry_.Collect()));
  return 200;
}

int HttpServer::HandleHealth(mg_connection* conn, void* self) {
  if (!ReadOnly(conn)) return 405;
  auto* s = static_cast<HttpServer*>(self);
  bool ok = !s->probes_.healthy || s->probes_.healthy();
  Reply(conn, ok ? 200 : 503, "text/plain", ok ? "ok\n" : "unhealthy\n");
  return ok ? 200 : 503;
}

int HttpServer::HandleCustomer(mg_connection* conn, void* self) {
  auto* s = static_cast<HttpServer*>(self);
  const mg_request_info* info = mg_get_request_info(conn);
  const char* json = "application/json";
  if (std::string_view(info->request_method) != "GET") {
    Reply(conn, 405, json,
          R"({"error":"method","reason":"only GET"})"
          "\n",
          "Allow: GET\r\n");
    return 405;
  }
  if (!s->api_token_.empty()) {
    const char* auth = mg_get_header(conn, "Authorization");
    const std::string want = "Bearer " + s->api_token_;
    if (!auth || !SameToken(auth, want)) {
      Reply(conn, 401, json,
            R"({"error":"unauthorized","reason":"a bearer token is required"})"
            "\n",
            "WWW-Authenticate: Bearer\r\n");
      return 401;
    }
  }
  const std::string_view uri = info->local_uri;
  constexpr std::string_view kPrefix = "/v1/customers/";
  std::string id(uri.substr(std::min(uri.size(), kPrefix.size())));
  // local_uri is already URL-decoded by civetweb.
  if (id.empty() || id.find('/') != std::string::npos || id.size() > 1024) {
    Reply(conn, 400, json,
          R"({"error":"bad_id","reason":"expected /v1/customers/{customer_id}"})"
          "\n");
    return 400;
  }
  if (!s->probes_.profile) {
    Reply(conn, 503, json,
          R"({"error":"unavailable"})"
          "\n");
    return 503;
  }
  auto [code, body] = s->probes_.profile(id);
  body.push_back('\n');
  Reply(conn, code, json, body);
  return code;
}

int HttpServer::HandleReady(mg_connection* conn, void* self) {
  if (!ReadOnly(conn)) return 405;
  auto* s = static_cast<HttpServer*>(self);
  bool ok = s->probes_.ready && s->probes_.ready();
  Reply(conn, ok ? 200 : 503, "text/plain", ok ? "ready\n" : "not ready\n");
  return ok ? 200 : 503;
}

}  // namespace cx::runtime
