// DurationSketch: the distribution of durations (whole milliseconds) as
// counts per bucket, from which quantiles (p50, p90) are read with a
// bounded relative error, and which merges exactly: the sketch of two sets
// of durations is the bucket-by-bucket sum of their sketches, whatever way
// the durations were split between tasks or workers (docs/kpis.md).
//
// Buckets are fixed ranges of integers, the same in every process: bucket
// 0 holds 0 (and negative durations, clamped), bucket i >= 1 holds
// [Upper(i-1) + 1, Upper(i)], where Upper(i) = max(Upper(i-1) + 1,
// floor(Upper(i-1) * 1.02)): each value is a bucket of its own up to
// 100 ms, and buckets are 2% wide after that, up to 2^40 ms (35 years;
// longer durations count in the last bucket). A quantile is read as the
// middle of its bucket, so it is within 1% of the exact value (the
// nearest-rank quantile of the durations counted) whatever they are, and
// exact up to 100 ms.
//
// Counts are kept sparse, by bucket, in bucket order: a sketch of n
// durations holds at most min(n, BucketCount()) buckets (about 1,300).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/encoding.h"
#include "core/time.h"

namespace cx::processors {

class DurationSketch {
 public:
  // The relative error bound of Quantile, as documented.
  static constexpr double kRelativeError = 0.01;

  void Add(DurationMs d, std::int64_t count = 1);
  void Merge(const DurationSketch& other);

  std::int64_t count() const { return count_; }
  bool empty() const { return count_ == 0; }
  // The q-quantile (0 < q <= 1) by the nearest-rank method: the smallest
  // duration such that at least q of the durations are at most it, read
  // as its bucket's middle. 0 when empty.
  DurationMs Quantile(double q) const;

  // Binary, versioned; Decode is false on bytes that are not a sketch.
  void EncodeTo(std::string& out) const;
  bool DecodeFrom(Reader& r);
  std::size_t MemoryBytes() const { return sizeof(*this) + buckets_.capacity() * sizeof(Bucket); }

  friend bool operator==(const DurationSketch& a, const DurationSketch& b) {
    return a.count_ == b.count_ && a.buckets_ == b.buckets_;
  }

  // The bucket of `d`, and a bucket's bounds (for tests and docs).
  static std::uint32_t BucketOf(DurationMs d);
  static DurationMs Lower(std::uint32_t bucket);  // inclusive
  static DurationMs Upper(std::uint32_t bucket);  // inclusive
  static std::uint32_t BucketCount();

 private:
  using Bucket = std::pair<std::uint32_t, std::int64_t>;  // (bucket, count)
  std::vector<Bucket> buckets_;                           // in bucket order, counts > 0
  std::int64_t count_ = 0;
};

}  // namespace cx::processors
