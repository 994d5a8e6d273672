// Stable 64-bit hashing (FNV-1a). Stable across builds and platforms, so it
// may be persisted in state (std::hash may not).
#pragma once

#include <cstdint>
#include <string_view>

namespace cx {

inline std::uint64_t StableHash64(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  // Final avalanche (from MurmurHash3's fmix64) so near-identical ids spread.
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

}  // namespace cx
