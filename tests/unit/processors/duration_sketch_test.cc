#include "processors/kpis/duration_sketch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace cx::processors {
namespace {

// The nearest-rank q-quantile of `v`: the ceil(q n)-th smallest.
DurationMs Exact(std::vector<DurationMs> v, double q) {
  std::sort(v.begin(), v.end());
  const auto rank =
      std::max<std::size_t>(1, static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size()))));
  return v[std::min(rank, v.size()) - 1];
}

TEST(DurationSketchTest, BucketsCoverEveryDurationOnce) {
  EXPECT_EQ(DurationSketch::BucketOf(-5), 0u);
  EXPECT_EQ(DurationSketch::BucketOf(0), 0u);
  EXPECT_LT(DurationSketch::BucketCount(), 1400u);
  for (std::uint32_t b = 1; b < DurationSketch::BucketCount(); ++b) {
    ASSERT_EQ(DurationSketch::Lower(b), DurationSketch::Upper(b - 1) + 1);
    ASSERT_EQ(DurationSketch::BucketOf(DurationSketch::Lower(b)), b);
    ASSERT_EQ(DurationSketch::BucketOf(DurationSketch::Upper(b)), b);
    // At most 2% wide.
    ASSERT_LE(DurationSketch::Upper(b) - DurationSketch::Lower(b),
              static_cast<DurationMs>(0.02 * static_cast<double>(DurationSketch::Lower(b))));
  }
  EXPECT_GE(DurationSketch::Upper(DurationSketch::BucketCount() - 1), DurationMs{1} << 40);
  EXPECT_EQ(DurationSketch::BucketOf(DurationMs{1} << 50), DurationSketch::BucketCount() - 1);
}

TEST(DurationSketchTest, ExactUpTo100Ms) {
  DurationSketch s;
  std::vector<DurationMs> v;
  for (DurationMs d = 0; d <= 100; d += 3) {
    s.Add(d);
    v.push_back(d);
  }
  for (double q : {0.01, 0.25, 0.5, 0.9, 0.99, 1.0}) EXPECT_EQ(s.Quantile(q), Exact(v, q)) << q;
  EXPECT_EQ(DurationSketch().Quantile(0.5), 0);
}

// Within 1% of the exact nearest-rank quantile, for durations spread over
// milliseconds to weeks and for a chat-like mix (seconds to an hour).
TEST(DurationSketchTest, QuantilesWithinTheStatedError) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> log_uniform(0, std::log(1e9));
  std::lognormal_distribution<double> chat(std::log(90'000), 1.0);
  for (int mix = 0; mix < 2; ++mix) {
    for (int n : {1, 7, 100, 5000}) {
      DurationSketch s;
      std::vector<DurationMs> v;
      for (int i = 0; i < n; ++i) {
        const auto d = static_cast<DurationMs>(mix == 0 ? std::exp(log_uniform(rng)) : chat(rng));
        s.Add(d);
        v.push_back(d);
      }
      ASSERT_EQ(s.count(), n);
      for (double q : {0.5, 0.9, 0.99}) {
        const double exact = static_cast<double>(Exact(v, q));
        const double got = static_cast<double>(s.Quantile(q));
        EXPECT_LE(std::abs(got - exact), DurationSketch::kRelativeError * exact)
            << "mix " << mix << " n " << n << " q " << q << " exact " << exact << " got " << got;
      }
    }
  }
}

// Partial sketches from any split of the durations merge into the sketch
// of them all, bucket for bucket: many tasks' figures combine exactly.
TEST(DurationSketchTest, MergeOfPartsIsTheWhole) {
  std::mt19937_64 rng(3);
  std::lognormal_distribution<double> dist(std::log(60'000), 1.5);
  DurationSketch whole;
  std::vector<DurationSketch> parts(5);
  for (int i = 0; i < 20000; ++i) {
    const auto d = static_cast<DurationMs>(dist(rng));
    whole.Add(d);
    parts[rng() % parts.size()].Add(d);
  }
  DurationSketch left, right;  // merged in two different orders
  for (std::size_t i = 0; i < parts.size(); ++i) left.Merge(parts[i]);
  for (std::size_t i = parts.size(); i-- > 0;) right.Merge(parts[i]);
  EXPECT_EQ(left, whole);
  EXPECT_EQ(right, whole);
  EXPECT_EQ(left.Quantile(0.9), whole.Quantile(0.9));
  DurationSketch empty;
  empty.Merge(DurationSketch());
  EXPECT_TRUE(empty.empty());
}

TEST(DurationSketchTest, EncodesAndDecodes) {
  DurationSketch s;
  for (DurationMs d : {DurationMs{0}, DurationMs{5}, DurationMs{5}, DurationMs{120}, DurationMs{61'000},
                       DurationMs{3'600'000}, DurationMs{1} << 45})
    s.Add(d);
  std::string bytes;
  s.EncodeTo(bytes);
  bytes += "tail";
  Reader r(bytes);
  DurationSketch back;
  ASSERT_TRUE(back.DecodeFrom(r));
  EXPECT_EQ(back, s);
  EXPECT_EQ(r.String().size(), 0u);  // the reader stops at the sketch's end ("tail" is not a string)

  std::string empty_bytes;
  DurationSketch().EncodeTo(empty_bytes);
  Reader er(empty_bytes);
  ASSERT_TRUE(back.DecodeFrom(er));
  EXPECT_TRUE(back.empty());
}

TEST(DurationSketchTest, RefusesWhatIsNotASketch) {
  DurationSketch s;
  s.Add(10);
  s.Add(200);
  std::string good;
  s.EncodeTo(good);
  auto decodes = [](std::string bytes) {
    Reader r(bytes);
    DurationSketch x;
    return x.DecodeFrom(r);
  };
  EXPECT_TRUE(decodes(good));
  EXPECT_FALSE(decodes(good.substr(0, good.size() - 1)));  // cut
  std::string other_format = good;
  other_format[0] = 2;
  EXPECT_FALSE(decodes(other_format));
  // Two entries of one bucket (a step of 0 after the first), a zero count,
  // a bucket beyond the last.
  EXPECT_FALSE(decodes(std::string("\x01\x02\x0a\x01\x00\x01", 6)));
  EXPECT_FALSE(decodes(std::string("\x01\x01\x0a\x00", 4)));
  std::string far = "\x01\x01";
  PutVarint(far, DurationSketch::BucketCount());
  far.push_back('\x01');
  EXPECT_FALSE(decodes(far));
}

}  // namespace
}  // namespace cx::processors
