#include "tools/staffing_cli.h"

#include <iostream>

#include "core/json_writer.h"
#include "processors/staffing/erlang.h"

namespace cx::tools {
namespace {

void WriteModel(JsonWriter& w, const processors::StaffingModel& m, bool erlang_a) {
  w.Field("raw_agents", m.raw_agents)
      .Field("scheduled_agents", m.scheduled_agents)
      .Field("service_level", m.service_level)
      .Field("occupancy", m.occupancy)
      .Field("wait_probability", m.wait_probability)
      .Field("asa_s", m.asa_s);
  if (erlang_a) w.Field("abandon_probability", m.abandon_probability);
}

}  // namespace

int RunStaffing(const StaffingCliOptions& o) {
  processors::StaffingInput in;
  in.arrivals = o.arrivals;
  in.interval_s = o.interval_s;
  in.aht_s = o.aht_s;
  in.target = {o.sl_target, o.sl_threshold_s, o.max_occupancy};
  in.shrinkage = o.shrinkage;
  in.concurrency = o.concurrency;
  in.patience_s = o.patience_s.value_or(0);
  const processors::StaffingResult r = processors::StaffingFor(in);

  JsonWriter w;
  w.BeginObject()
      .Field("arrivals", o.arrivals)
      .Field("interval_s", o.interval_s)
      .Field("aht_s", o.aht_s)
      .Field("traffic_erlangs", r.traffic_erlangs)
      .Field("concurrency", o.concurrency)
      .Field("shrinkage", o.shrinkage);
  w.Key("target")
      .BeginObject()
      .Field("service_level", o.sl_target)
      .Field("threshold_s", o.sl_threshold_s)
      .Field("max_occupancy", o.max_occupancy)
      .EndObject();
  bool met = true;
  w.Key("erlang_c");
  if (r.erlang_c) {
    w.BeginObject();
    WriteModel(w, *r.erlang_c, false);
    w.EndObject();
  } else {
    w.Null();
    met = false;
  }
  if (o.patience_s) {
    w.Field("patience_s", *o.patience_s);
    w.Key("erlang_a");
    if (r.erlang_a) {
      w.BeginObject();
      WriteModel(w, *r.erlang_a, true);
      w.EndObject();
    } else {
      w.Null();
      met = false;
    }
  }
  w.EndObject();
  std::cout << w.Take() << "\n";
  if (!met) std::cerr << "staffing: no number of agents up to 100000 meets the target\n";
  return met ? 0 : 1;
}

}  // namespace cx::tools
