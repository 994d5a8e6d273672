#include "processors/staffing/erlang.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace cx::processors {

double ErlangB(int agents, double traffic) {
  if (agents <= 0) return 1.0;
  if (traffic <= 0) return 0.0;
  // B(0) = 1; B(n) = A B(n-1) / (n + A B(n-1)). Each step stays in [0, 1].
  double b = 1.0;
  for (int n = 1; n <= agents; ++n) b = traffic * b / (n + traffic * b);
  return b;
}

double ErlangC(int agents, double traffic) {
  if (traffic <= 0) return 0.0;
  if (agents <= traffic) return 1.0;
  const double b = ErlangB(agents, traffic);
  return agents * b / (agents - traffic * (1 - b));
}

ErlangCResult ErlangCFigures(int agents, double traffic, double aht_s, double threshold_s) {
  ErlangCResult r;
  if (agents <= 0) return r;
  r.occupancy = traffic / agents;
  if (agents <= traffic) {
    r.asa_s = std::numeric_limits<double>::infinity();
    return r;  // unstable: every contact waits, the queue grows
  }
  r.wait_probability = ErlangC(agents, traffic);
  r.service_level = 1 - r.wait_probability * std::exp(-(agents - traffic) * threshold_s / aht_s);
  r.asa_s = r.wait_probability * aht_s / (agents - traffic);
  return r;
}

std::optional<int> RequiredAgents(double traffic, double aht_s, const StaffingTarget& t, int max_agents) {
  if (!(traffic > 0) || !std::isfinite(traffic) || !(aht_s > 0)) return std::nullopt;
  // Start at the first count that can be stable and within the occupancy cap;
  // service level grows with every agent added, so the first count that meets
  // it is the answer.
  int n = static_cast<int>(std::floor(traffic)) + 1;
  if (t.max_occupancy > 0 && t.max_occupancy < 1) {
    n = std::max(n, static_cast<int>(std::ceil(traffic / t.max_occupancy - 1e-9)));
  }
  for (; n <= max_agents; ++n) {
    if (ErlangCFigures(n, traffic, aht_s, t.threshold_s).service_level >= t.service_level) return n;
  }
  return std::nullopt;
}

namespace {

bool Positive(double x) { return x > 0 && std::isfinite(x); }

// log(a + b) from log a and log b.
double LogAdd(double la, double lb) {
  if (la < lb) std::swap(la, lb);
  if (lb == -std::numeric_limits<double>::infinity()) return la;
  return la + std::log1p(std::exp(lb - la));
}

}  // namespace

std::optional<ErlangAResult> ErlangAFigures(int n, double lambda, double aht_s, double patience_s,
                                            double threshold_s) {
  if (n <= 0 || !Positive(lambda) || !Positive(aht_s) || !Positive(patience_s) || !(threshold_s >= 0))
    return std::nullopt;
  const double mu = 1 / aht_s, theta = 1 / patience_s, a = lambda / mu;
  const double kInf = std::numeric_limits<double>::infinity();

  // Stationary distribution of the number in system, in log space.
  // k <= n: w_k = a^k / k!; k = n + j: w_{n+j} = w_{n+j-1} * lambda / (n mu + j theta).
  std::vector<double> lw;  // lw[k]
  lw.reserve(static_cast<std::size_t>(n) + 64);
  double l = 0;
  lw.push_back(0);
  const double log_a = std::log(a), log_lambda = std::log(lambda);
  for (int k = 1; k <= n; ++k) {
    l += log_a - std::log(static_cast<double>(k));
    lw.push_back(l);
  }
  double peak = *std::max_element(lw.begin(), lw.end());
  // The queue part rises while lambda > n mu + j theta, then falls at least
  // geometrically; stop once it is 1e-15 below the largest weight.
  constexpr std::size_t kMaxQueue = 2'000'000;
  for (std::size_t j = 1; j < kMaxQueue; ++j) {
    l += log_lambda - std::log(n * mu + static_cast<double>(j) * theta);
    lw.push_back(l);
    peak = std::max(peak, l);
    if (lambda < n * mu + static_cast<double>(j) * theta && l < peak - 35) break;
  }
  const std::size_t q_states = lw.size() - static_cast<std::size_t>(n) - 1;  // j = 1 .. q_states
  double lz = -kInf;
  for (double x : lw) lz = LogAdd(lz, x);
  auto pi = [&](std::size_t k) { return std::exp(lw[k] - lz); };

  ErlangAResult r;
  double p_busy = 0, mean_queue = 0, p_free = 0;
  for (std::size_t k = 0; k < lw.size(); ++k) {
    const double p = pi(k);
    if (k < static_cast<std::size_t>(n))
      p_free += p;
    else
      p_busy += p;
    if (k > static_cast<std::size_t>(n))
      mean_queue += static_cast<double>(k - static_cast<std::size_t>(n)) * p;
  }
  r.wait_probability = p_busy;
  r.abandon_probability = std::min(1.0, theta * mean_queue / lambda);  // Little: abandon rate = theta E[Q]
  r.asa_s = mean_queue / lambda;                                       // Little: E[W] = E[Q] / lambda
  r.occupancy = std::min(1.0, a * (1 - r.abandon_probability) / n);

  // An arrival that finds i contacts waiting (all servers busy) waits through
  // phases i, i-1, ..., 0: in phase m the queue ahead moves at rate
  // n mu + m theta, and the contact itself abandons at rate theta; from
  // phase 0 it is answered at rate n mu. P(answered within t) by
  // uniformization: a Poisson number of steps of the discrete chain.
  double answered_in_time = p_free;
  if (threshold_s > 0 && p_busy > 0) {
    const std::size_t phases = q_states + 1;  // i = 0 .. q_states
    std::vector<double> p(phases), next(phases);
    for (std::size_t i = 0; i < phases; ++i) p[i] = pi(static_cast<std::size_t>(n) + i);
    const double big_lambda = n * mu + static_cast<double>(phases) * theta;  // the largest exit rate
    const double lt = big_lambda * threshold_s;
    double answered = 0;  // mass answered within the steps so far
    double weight = 0;    // Poisson mass used so far
    double result = 0;
    const double log_lt = std::log(lt);
    // The Poisson(lt) tail beyond 12 standard deviations is below 1e-30.
    const auto last = static_cast<std::size_t>(lt + 12 * std::sqrt(lt) + 30);
    // Per phase, what every step uses, computed once with the same
    // operations in the same order (the figures do not change by a bit):
    // the share that stays, and the rate from the phase above.
    std::vector<double> stay(phases), down(phases, 0.0);
    for (std::size_t i = 0; i < phases; ++i) {
      const double out = n * mu + static_cast<double>(i) * theta + theta;
      stay[i] = 1 - out / big_lambda;
      if (i + 1 < phases) down[i] = n * mu + static_cast<double>(i + 1) * theta;
    }
    for (std::size_t m = 0;; ++m) {
      const double pm =
          std::exp(-lt + static_cast<double>(m) * log_lt - std::lgamma(static_cast<double>(m) + 1));
      result += pm * answered;
      weight += pm;
      if (m >= last) break;
      // One uniformized step.
      answered += p[0] * n * mu / big_lambda;
      for (std::size_t i = 0; i + 1 < phases; ++i) next[i] = p[i] * stay[i] + p[i + 1] * down[i] / big_lambda;
      next[phases - 1] = p[phases - 1] * stay[phases - 1];
      p.swap(next);
    }
    answered_in_time += result + std::max(0.0, 1 - weight) * answered;
  }
  r.service_level = std::min(1.0, answered_in_time);
  return r;
}

std::optional<int> RequiredAgentsErlangA(double lambda, double aht_s, double patience_s,
                                         const StaffingTarget& t, int max_agents) {
  auto meets = [&](int n) {
    auto f = ErlangAFigures(n, lambda, aht_s, patience_s, t.threshold_s);
    return f && f->service_level >= t.service_level &&
           (t.max_occupancy >= 1 || f->occupancy <= t.max_occupancy);
  };
  if (!Positive(lambda) || !Positive(aht_s) || !Positive(patience_s)) return std::nullopt;
  // A lower bound that needs no evaluation: abandoned contacts miss the
  // target, so the answered share (1 - P(abandon)) is at least the service
  // level, and the answered load (1 - P(abandon)) x traffic is at most n.
  // Below traffic x service level nothing can meet the target (and the
  // chain of a heavily overloaded queue is long to evaluate).
  const double traffic = lambda * aht_s;
  int lo = std::max(0, static_cast<int>(std::ceil(traffic * t.service_level)) - 1);  // fails
  if (lo >= max_agents) return std::nullopt;
  int step = 1, hi = lo + 1;
  while (!meets(hi)) {
    if (hi >= max_agents) return std::nullopt;
    lo = hi;
    step *= 2;
    hi = std::min(max_agents, hi + step);
  }
  while (hi - lo > 1) {
    const int mid = lo + (hi - lo) / 2;
    (meets(mid) ? hi : lo) = mid;
  }
  return hi;
}

StaffingResult StaffingFor(const StaffingInput& in) {
  StaffingResult r;
  const int c = std::max(1, in.concurrency);
  if (!(in.arrivals > 0) || !Positive(in.interval_s) || !Positive(in.aht_s)) {
    // No traffic: nobody is needed, nothing waits.
    r.erlang_c = StaffingModel{};
    if (in.patience_s > 0) r.erlang_a = StaffingModel{};
    return r;
  }
  const double lambda = in.arrivals / in.interval_s;
  r.traffic_erlangs = lambda * in.aht_s;
  auto agents_for = [c](int servers) { return (servers + c - 1) / c; };
  if (auto servers = RequiredAgents(r.traffic_erlangs, in.aht_s, in.target)) {
    StaffingModel m;
    m.raw_agents = agents_for(*servers);
    m.scheduled_agents = ScheduledAgents(m.raw_agents, in.shrinkage);
    const ErlangCResult f =
        ErlangCFigures(m.raw_agents * c, r.traffic_erlangs, in.aht_s, in.target.threshold_s);
    m.service_level = f.service_level;
    m.occupancy = f.occupancy;
    m.wait_probability = f.wait_probability;
    m.asa_s = f.asa_s;
    r.erlang_c = m;
  }
  if (in.patience_s > 0) {
    if (auto servers = RequiredAgentsErlangA(lambda, in.aht_s, in.patience_s, in.target)) {
      StaffingModel m;
      m.raw_agents = agents_for(*servers);
      m.scheduled_agents = ScheduledAgents(m.raw_agents, in.shrinkage);
      if (auto f = ErlangAFigures(m.raw_agents * c, lambda, in.aht_s, in.patience_s, in.target.threshold_s)) {
        m.service_level = f->service_level;
        m.occupancy = f->occupancy;
        m.wait_probability = f->wait_probability;
        m.asa_s = f->asa_s;
        m.abandon_probability = f->abandon_probability;
      }
      r.erlang_a = m;
    }
  }
  return r;
}

int ScheduledAgents(int raw, double shrinkage) {
  if (shrinkage <= 0) return raw;
  if (shrinkage >= 1) return std::numeric_limits<int>::max();
  return static_cast<int>(std::ceil(raw / (1 - shrinkage) - 1e-9));
}

}  // namespace cx::processors
