#include "runtime/http_server.h"

#include <civetweb.h>
#include <prometheus/text_serializer.h>

#include <vector>

namespace cx::runtime {
namespace {

void Reply(mg_connection* conn, int code, const char* type, const std::string& body) {
  mg_printf(conn, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
            code, code == 200 ? "OK" : "Service Unavailable", type, body.size());
  mg_write(conn, body.data(), body.size());
}

}  // namespace

HttpServer::~HttpServer() {
  if (ctx_) mg_stop(ctx_);
}

Status HttpServer::Start(const std::string& bind, int port) {
  mg_init_library(0);
  std::string ports = (bind.empty() ? std::string() : bind + ":") + std::to_string(port);
  const char* options[] = {"listening_ports", ports.c_str(), "num_threads", "4", nullptr};
  mg_callbacks callbacks{};
  ctx_ = mg_start(&callbacks, this, options);
  if (!ctx_) return Status::Fatal("cannot listen for HTTP on " + ports);
  mg_set_request_handler(ctx_, "/metrics$", &HttpServer::HandleMetrics, this);
  mg_set_request_handler(ctx_, "/healthz$", &HttpServer::HandleHealth, this);
  mg_set_request_handler(ctx_, "/readyz$", &HttpServer::HandleReady, this);
  mg_server_port sp[4];
  int n = mg_get_server_ports(ctx_, 4, sp);
  port_ = n > 0 ? sp[0].port : port;
  return Status::Ok();
}

int HttpServer::HandleMetrics(mg_connection* conn, void* self) {
  auto* s = static_cast<HttpServer*>(self);
  prometheus::TextSerializer serializer;
  Reply(conn, 200, "text/plain; version=0.0.4", serializer.Serialize(s->metrics_.registry().Collect()));
  return 200;
}

int HttpServer::HandleHealth(mg_connection* conn, void* self) {
  auto* s = static_cast<HttpServer*>(self);
  bool ok = !s->probes_.healthy || s->probes_.healthy();
  Reply(conn, ok ? 200 : 503, "text/plain", ok ? "ok\n" : "unhealthy\n");
  return ok ? 200 : 503;
}

int HttpServer::HandleReady(mg_connection* conn, void* self) {
  auto* s = static_cast<HttpServer*>(self);
  bool ok = s->probes_.ready && s->probes_.ready();
  Reply(conn, ok ? 200 : 503, "text/plain", ok ? "ready\n" : "not ready\n");
  return ok ? 200 : 503;
}

}  // namespace cx::runtime
