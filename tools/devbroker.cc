#include "tools/devbroker.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/kafka.h"

using cx::runtime::KafkaConf;
using cx::runtime::KafkaHandle;

namespace cx::tools {
namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

void Command(rd_kafka_mock_cluster_t* mc, const std::string& line) {
  std::istringstream in(line);
  std::string cmd;
  in >> cmd;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  if (cmd == "down" || cmd == "up") {
    int broker = -1;
    in >> broker;
    err = cmd == "down" ? rd_kafka_mock_broker_set_down(mc, broker) : rd_kafka_mock_broker_set_up(mc, broker);
  } else if (cmd == "leader") {
    std::string topic;
    int partition = 0, broker = 1;
    in >> topic >> partition >> broker;
    err = rd_kafka_mock_partition_set_leader(mc, topic.c_str(), partition, broker);
  } else if (cmd == "rtt") {
    int broker = 1, ms = 0;
    in >> broker >> ms;
    err = rd_kafka_mock_broker_set_rtt(mc, broker, ms);
  } else if (!cmd.empty()) {
    std::cerr << "devbroker: unknown command \"" << cmd << "\" (down, up, leader, rtt)\n";
    return;
  }
  if (err)
    std::cerr << "devbroker: " << line << ": " << rd_kafka_err2str(err) << "\n";
  else if (!cmd.empty())
    std::cerr << "devbroker: " << line << ": done\n";
}

}  // namespace

MockCluster::~MockCluster() {
  if (mc_) rd_kafka_mock_cluster_destroy(mc_);
}

std::unique_ptr<MockCluster> MockCluster::Start(const DevBrokerOptions& o, std::string& why) {
  if (o.brokers < 1 || o.brokers > 16 || o.partitions < 1 || o.partitions > 1024) {
    why = "--brokers must be 1..16 and --partitions 1..1024";
    return nullptr;
  }
  auto m = std::unique_ptr<MockCluster>(new MockCluster());
  KafkaConf conf(rd_kafka_conf_new());
  char err[256];
  // The handle only hosts the mock cluster: it has no cluster of its own to
  // connect to, and nothing it would log is of interest.
  rd_kafka_conf_set(conf.get(), "log_level", "0", err, sizeof err);
  // The mock cluster needs a client handle for its bookkeeping only.
  m->rk_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.release(), err, sizeof err));
  if (!m->rk_) {
    why = err;
    return nullptr;
  }
  m->mc_ = rd_kafka_mock_cluster_new(m->rk_.get(), o.brokers);
  if (!m->mc_) {
    why = "cannot start the mock cluster";
    return nullptr;
  }
  const int replicas = std::min(o.brokers, 3);
  std::vector<std::string> topics = {"cx.chat",
                                     "cx.orders",
                                     "cx.aftersales",
                                     "cx.agents",
                                     "cx.sla",
                                     "cx.alerts",
                                     "cx.profiles",
                                     "cx.staffing",
                                     "cx.dlq",
                                     o.application_id + "-customer-changelog",
                                     o.application_id + "-staffing-repartition"};
  std::vector<std::pair<std::string, int>> specs;
  for (const auto& t : topics) specs.emplace_back(t, o.partitions);
  for (const auto& spec : o.extra_topics) {
    auto colon = spec.rfind(':');
    int n = colon == std::string::npos ? o.partitions : std::atoi(spec.c_str() + colon + 1);
    if (n < 1) {
      why = "--topic " + spec + ": expected NAME:PARTITIONS";
      return nullptr;
    }
    specs.emplace_back(spec.substr(0, colon), n);
  }
  for (const auto& [t, n] : specs) {
    if (auto e = rd_kafka_mock_topic_create(m->mc_, t.c_str(), n, replicas)) {
      why = "create " + t + ": " + rd_kafka_err2str(e);
      return nullptr;
    }
  }
  m->topics_ = static_cast<int>(specs.size());
  m->bootstrap_ = rd_kafka_mock_cluster_bootstraps(m->mc_);
  return m;
}

int RunDevBroker(const DevBrokerOptions& o) {
  std::string why;
  std::unique_ptr<MockCluster> cluster = MockCluster::Start(o, why);
  if (!cluster) {
    std::cerr << "devbroker: " << why << "\n";
    return why.find("--") == 0 ? 2 : 1;
  }
  rd_kafka_mock_cluster_t* mc = cluster->mock();
  const std::string bootstrap = cluster->bootstrap();
  if (!o.bootstrap_file.empty()) {
    // Written whole, then renamed: a reader never sees half an address.
    std::string tmp = o.bootstrap_file + ".tmp";
    std::ofstream(tmp) << bootstrap << "\n";
    std::rename(tmp.c_str(), o.bootstrap_file.c_str());
  }
  std::cout << bootstrap << std::endl;
  std::cerr << "devbroker: " << o.brokers << " broker(s), " << cluster->topics() << " topics of "
            << o.partitions << " partitions at " << bootstrap << "; Ctrl-C to stop\n";

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  std::string pending;
  bool stdin_open = true;
  while (!g_stop.load()) {
    pollfd p{0, POLLIN, 0};
    int n = stdin_open ? ::poll(&p, 1, 200) : (::usleep(200'000), 0);
    if (n > 0) {
      char buf[512];
      ssize_t r = ::read(0, buf, sizeof buf);
      if (r <= 0) {
        stdin_open = false;  // no controller: keep serving
        continue;
      }
      pending.append(buf, static_cast<std::size_t>(r));
      std::size_t nl;
      while ((nl = pending.find('\n')) != std::string::npos) {
        Command(mc, pending.substr(0, nl));
        pending.erase(0, nl + 1);
      }
    }
  }
  std::cerr << "devbroker: stopping\n";
  cluster.reset();
  if (!o.bootstrap_file.empty()) std::remove(o.bootstrap_file.c_str());
  return 0;
}

}  // namespace cx::tools
