// Stable 64-bit hashing (FNV-1a). Stable across builds and platforms, so it
// may be persisted in state (std::hash may not).
#pragma once

#include <cstdint>
#include <string_view>

namespace cx {

// StableHash64 of a string given in parts (no string to join them into).
class StableHasher {
 public:
  StableHasher& Add(std::string_view s) {
    for (unsigned char c : s) {
      h_ ^= c;
      h_ *= 1099511628211ull;
    }
    return *this;
  }
  std::uint64_t Finish() const {
    // Final avalanche (from MurmurHash3's fmix64) so near-identical ids spread.
    std::uint64_t h = h_;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
  }

 private:
  std::uint64_t h_ = 1469598103934665603ull;
};

inline std::uint64_t StableHash64(std::string_view s) { return StableHasher().Add(s).Finish(); }

}  // namespace cx
