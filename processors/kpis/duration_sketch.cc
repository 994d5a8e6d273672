#include "processors/kpis/duration_sketch.h"

#include <algorithm>
#include <cmath>

namespace cx::processors {
namespace {

constexpr std::uint8_t kFormat = 1;
constexpr DurationMs kMax = DurationMs{1} << 40;

// Upper(i) for every bucket, made once: the same integers in every
// process (integer arithmetic only).
const std::vector<DurationMs>& Uppers() {
  static const std::vector<DurationMs> uppers = [] {
    std::vector<DurationMs> u{0};
    while (u.back() < kMax) u.push_back(std::max(u.back() + 1, u.back() * 102 / 100));
    return u;
  }();
  return uppers;
}

}  // namespace

std::uint32_t DurationSketch::BucketCount() { return static_cast<std::uint32_t>(Uppers().size()); }

std::uint32_t DurationSketch::BucketOf(DurationMs d) {
  if (d <= 0) return 0;
  if (d <= 100) return static_cast<std::uint32_t>(d);  // one value per bucket: Upper(i) == i
  const auto& u = Uppers();
  if (d >= u.back()) return static_cast<std::uint32_t>(u.size() - 1);
  return static_cast<std::uint32_t>(std::lower_bound(u.begin(), u.end(), d) - u.begin());
}

DurationMs DurationSketch::Upper(std::uint32_t bucket) { return Uppers()[bucket]; }
DurationMs DurationSketch::Lower(std::uint32_t bucket) { return bucket == 0 ? 0 : Uppers()[bucket - 1] + 1; }

void DurationSketch::Add(DurationMs d, std::int64_t count) {
  if (count <= 0) return;
  const std::uint32_t b = BucketOf(d);
  auto it = std::lower_bound(buckets_.begin(), buckets_.end(), b,
                             [](const Bucket& x, std::uint32_t v) { return x.first < v; });
  if (it != buckets_.end() && it->first == b)
    it->second += count;
  else
    buckets_.insert(it, {b, count});
  count_ += count;
}

void DurationSketch::Merge(const DurationSketch& other) {
  if (other.empty()) return;
  std::vector<Bucket> merged;
  merged.reserve(buckets_.size() + other.buckets_.size());
  auto a = buckets_.cbegin();
  auto b = other.buckets_.cbegin();
  while (a != buckets_.cend() || b != other.buckets_.cend()) {
    if (b == other.buckets_.cend() || (a != buckets_.cend() && a->first < b->first)) {
      merged.push_back(*a++);
    } else if (a == buckets_.cend() || b->first < a->first) {
      merged.push_back(*b++);
    } else {
      merged.emplace_back(a->first, a->second + b->second);
      ++a;
      ++b;
    }
  }
  buckets_ = std::move(merged);
  count_ += other.count_;
}

DurationMs DurationSketch::Quantile(double q) const {
  if (count_ == 0) return 0;
  // The nearest rank: the ceil(q n)-th smallest, at least the first.
  const auto rank = std::max<std::int64_t>(
      1,
      std::min<std::int64_t>(count_, static_cast<std::int64_t>(std::ceil(q * static_cast<double>(count_)))));
  std::int64_t seen = 0;
  for (const auto& [bucket, n] : buckets_) {
    seen += n;
    if (seen >= rank) return (Lower(bucket) + Upper(bucket)) / 2;
  }
  return Upper(buckets_.back().first);  // not reached: the counts add up to count_
}

void DurationSketch::EncodeTo(std::string& out) const {
  out.push_back(static_cast<char>(kFormat));
  PutVarint(out, buckets_.size());
  std::uint32_t previous = 0;
  for (const auto& [bucket, n] : buckets_) {
    PutVarint(out, bucket - previous);  // buckets in order: small steps
    PutVarint(out, static_cast<std::uint64_t>(n));
    previous = bucket;
  }
}

bool DurationSketch::DecodeFrom(Reader& r) {
  buckets_.clear();
  count_ = 0;
  if (r.Byte() != kFormat) return false;
  const std::uint64_t size = r.Varint();
  if (!r.ok() || size > BucketCount()) return false;
  buckets_.reserve(size);
  std::uint64_t bucket = 0;
  for (std::uint64_t i = 0; i < size; ++i) {
    const std::uint64_t step = r.Varint();
    const std::uint64_t n = r.Varint();
    bucket += step;
    // In order, distinct (a step of 0 only first), within range, counted.
    if (!r.ok() || (i > 0 && step == 0) || bucket >= BucketCount() || n == 0 ||
        n > static_cast<std::uint64_t>(INT64_MAX - count_))
      return false;
    buckets_.emplace_back(static_cast<std::uint32_t>(bucket), static_cast<std::int64_t>(n));
    count_ += static_cast<std::int64_t>(n);
  }
  return true;
}

}  // namespace cx::processors
